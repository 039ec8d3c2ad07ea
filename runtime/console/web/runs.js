// The runs page: a table of runs with filters kept in the URL (so a view
// can be shared), cursor paging, new runs announced ("3 new") instead of
// rows jumping, and bulk cancel, retry, pause and resume that show the
// dry-run count first.
import { api, follow, link } from "./api.js";
import { h, replace, statusBadge, formatTime, errorBox } from "./dom.js";
import { formatDuration } from "./layout.js";

const STATUSES = ["pending", "running", "suspended", "completed", "failed", "cancelled", "timed_out"];
/** The URL parameters that are the API's filters, as the API names them. */
const FILTERS = ["workflow", "queue", "status", "text", "parent", "created_from", "created_until", "unserved", "paused"];
/** The filters that are a checkbox, `true` when set. */
const FLAGS = ["unserved", "paused"];
const PAGE_SIZE = 50;

/** The API query of the page's URL parameters (and a cursor). */
function query(params, extra = {}) {
  const out = new URLSearchParams();
  for (const key of FILTERS) if (params.get(key)) out.set(key, params.get(key));
  for (const [key, value] of Object.entries(extra)) if (value != null) out.set(key, value);
  return out;
}

/** The filters as a bulk action's `filter` object. */
function filterObject(params) {
  const filter = {};
  for (const key of FILTERS) if (params.get(key)) filter[key] = key === "status" ? params.get(key).split(",") : params.get(key);
  for (const flag of FLAGS) if (filter[flag]) filter[flag] = filter[flag] === "true";
  return filter;
}

// A datetime-local input's value and ms since the epoch, both ways.
const toLocalInput = (ms) => (ms ? new Date(Number(ms) - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 16) : "");
const fromLocalInput = (text) => (text ? String(new Date(text).getTime()) : "");

function filterForm(params, workflows) {
  const statuses = new Set((params.get("status") || "").split(",").filter(Boolean));
  // The queues the catalog knows, as suggestions; any name may be typed.
  const queues = [...new Set(workflows.map((wf) => wf.queue).filter(Boolean))].sort();
  const form = h("form", { class: "filters", "aria-label": "Filter runs" },
    h("label", {}, "Workflow ", h("input", { name: "workflow", list: "workflow-names", value: params.get("workflow") || "", placeholder: "any" })),
    h("datalist", { id: "workflow-names" }, workflows.map((wf) => h("option", { value: wf.name }))),
    h("label", {}, "Queue ", h("input", { name: "queue", list: "queue-names", value: params.get("queue") || "", placeholder: "any", size: 10 })),
    h("datalist", { id: "queue-names" }, queues.map((queue) => h("option", { value: queue }))),
    h("label", {}, "Text ", h("input", { name: "text", type: "search", value: params.get("text") || "", placeholder: "in input, output, error" })),
    h("label", {}, "Parent ", h("input", { name: "parent", value: params.get("parent") || "", placeholder: "run id", size: 12 })),
    h("label", {}, "Created from ", h("input", { name: "created_from", type: "datetime-local", value: toLocalInput(params.get("created_from")) })),
    h("label", {}, "until ", h("input", { name: "created_until", type: "datetime-local", value: toLocalInput(params.get("created_until")) })),
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "unserved", value: "true", checked: params.get("unserved") === "true" }),
      " Only runs waiting for a version no worker serves"),
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "paused", value: "true", checked: params.get("paused") === "true" }),
      " Only paused runs"),
    h("fieldset", { class: "statuses" }, h("legend", {}, "Status"),
      STATUSES.map((status) => h("label", {}, h("input", { type: "checkbox", name: "status", value: status, checked: statuses.has(status) }), ` ${status.replace("_", " ")}`))),
    h("div", { class: "buttons" },
      h("button", { type: "submit" }, "Apply"),
      h("a", { class: "button secondary", href: "#/runs" }, "Clear")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const next = new URLSearchParams();
    for (const key of ["workflow", "queue", "text", "parent"]) if (data.get(key)) next.set(key, data.get(key).trim());
    for (const key of ["created_from", "created_until"]) if (data.get(key)) next.set(key, fromLocalInput(data.get(key)));
    const picked = data.getAll("status");
    if (picked.length) next.set("status", picked.join(","));
    for (const flag of FLAGS) if (data.get(flag)) next.set(flag, "true");
    location.hash = link("runs", [], next);
  });
  return form;
}

function runRow(run, selected) {
  const duration = run.finished_at && run.started_at ? formatDuration(run.finished_at - run.started_at) : "—";
  const box = h("input", { type: "checkbox", "aria-label": `select run ${run.id}`, checked: selected.has(run.id) });
  box.addEventListener("change", () => (box.checked ? selected.add(run.id) : selected.delete(run.id)));
  const paused = run.paused_at != null;
  return h("tr", { "data-run": run.id, "data-status": run.status, "data-queue": run.queue, "data-paused": paused ? "true" : null },
    h("td", {}, box),
    h("td", {}, h("a", { href: link("run", [run.id]), class: "mono" }, run.id.slice(0, 8) + "…"), h("span", { class: "sr-only" }, run.id)),
    h("td", {}, run.workflow),
    h("td", { class: "mono" }, run.queue ?? "—"),
    h("td", {}, statusBadge(run.status), paused ? h("span", { class: "muted paused-mark", title: `paused since ${formatTime(run.paused_at)}` }, " (paused)") : null),
    h("td", {}, formatTime(run.created_at)),
    h("td", {}, duration),
    h("td", {}, run.parent ? h("a", { href: link("run", [run.parent]), class: "mono" }, run.parent.slice(0, 8) + "…") : "—"));
}

/** What a bulk action does to a run, in words. */
const DONE = { cancel: "cancelled", retry: "retried", pause: "paused", resume: "resumed" };

/** The bulk bar: cancel, retry, pause or resume the selected runs, or all that match. */
function bulkBar(params, selected, after) {
  const out = h("div", { class: "bulk-result", "aria-live": "polite" });
  const act = async (action, target) => {
    const body = target === "selected" ? { ids: [...selected] } : { filter: filterObject(params) };
    if (target === "selected" && !selected.size) return replace(out, "Select runs first.");
    try {
      const dry = await api(`/runs/${action}`, { body: { ...body, dry_run: true } });
      const confirm = h("button", { class: action === "cancel" ? "danger" : null, "data-confirm": action }, `Yes, ${action} ${dry.matched}`);
      const keep = h("button", { class: "secondary" }, "No, keep them");
      replace(out, h("span", { "data-dry-run": dry.matched }, `${dry.matched} run${dry.matched === 1 ? "" : "s"} would be ${DONE[action]}. `), confirm, " ", keep);
      confirm.focus();
      keep.addEventListener("click", () => replace(out, "Nothing was changed."));
      confirm.addEventListener("click", async () => {
        const done = await api(`/runs/${action}`, { body: { ...body, dry_run: false } });
        replace(out, h("span", { "data-done": action }, `${action}: ${done.matched} matched, ${done.succeeded} succeeded, ${done.failed} failed.`),
          ...(done.errors || []).slice(0, 5).map((e) => h("div", { class: "muted" }, JSON.stringify(e))));
        after();
      });
    } catch (error) {
      replace(out, errorBox(error));
    }
  };
  const button = (action, target, label) => h("button", { class: target === "filter" ? "secondary" : null, "data-bulk": `${action}-${target}`, onclick: () => act(action, target) }, label);
  return h("div", { class: "bulk" },
    button("cancel", "selected", "Cancel selected"),
    button("retry", "selected", "Retry selected"),
    button("cancel", "filter", "Cancel all matching"),
    button("retry", "filter", "Retry all matching"),
    button("pause", "selected", "Pause selected"),
    button("resume", "selected", "Resume selected"),
    button("pause", "filter", "Pause all matching"),
    button("resume", "filter", "Resume all matching"),
    out);
}

/** Draws the runs page for the URL's filters. */
export async function runsPage(main, _parts, params) {
  const selected = new Set();
  const after = params.get("after");
  const [page, workflows] = await Promise.all([
    api(`/runs?${query(params, { limit: PAGE_SIZE, after })}`),
    api("/workflows").catch(() => ({ workflows: [] })),
  ]);
  const tbody = h("tbody", {});
  const fresh = h("div", { class: "fresh", "aria-live": "polite" });
  let shown = page.runs;
  const drawRows = () => replace(tbody, shown.length ? shown.map((run) => runRow(run, selected))
    : h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No run matches.")));
  drawRows();
  const reload = async () => {
    const again = await api(`/runs?${query(params, { limit: PAGE_SIZE, after })}`);
    shown = again.runs;
    drawRows();
    replace(fresh);
  };
  const nextParams = new URLSearchParams(params);
  if (page.next) nextParams.set("after", page.next);
  const firstParams = new URLSearchParams(params);
  firstParams.delete("after");
  replace(main,
    h("h1", {}, "Runs"),
    filterForm(params, workflows.workflows || []),
    bulkBar(params, selected, reload),
    fresh,
    h("div", { class: "scroll" }, h("table", { class: "runs" },
      h("thead", {}, h("tr", {}, ["", "run", "workflow", "queue", "status", "created", "took", "parent"].map((t) => h("th", { scope: "col" }, t)))),
      tbody)),
    h("nav", { class: "pager", "aria-label": "Pages of runs" },
      after ? h("a", { href: link("runs", [], firstParams) }, "← First page") : null,
      page.next ? h("a", { href: link("runs", [], nextParams), rel: "next" }, "Next page →") : h("span", { class: "muted" }, "End of the list")));
  if (after) return () => {};
  // On the first page, runs that arrive are counted, not inserted: the rows
  // stay where the reader is until they ask for the new ones.
  const check = async () => {
    const latest = await api(`/runs?${query(params, { limit: PAGE_SIZE })}`).catch(() => null);
    if (!latest) return;
    const known = new Set(shown.map((run) => run.id));
    const newest = shown[0]?.created_at ?? 0;
    const count = latest.runs.filter((run) => !known.has(run.id) && run.created_at >= newest).length;
    // Runs that changed status are redrawn in place (the row stays).
    const byId = new Map(latest.runs.map((run) => [run.id, run]));
    let changed = false;
    shown = shown.map((run) => {
      const now = byId.get(run.id);
      if (now && (now.status !== run.status || now.paused_at !== run.paused_at)) changed = true;
      return now || run;
    });
    if (changed) drawRows();
    replace(fresh, count ? h("button", { class: "secondary", "data-new": count, onclick: reload }, `${count} new — show`) : null);
  };
  return follow("/runs/events", check);
}
