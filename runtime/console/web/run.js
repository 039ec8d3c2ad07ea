// The run inspector: one run's status, times, queue (and whether a live
// worker serves it), input, output or error, parent and children; its steps, timeline, graph and logs; and the
// actions an operator takes on it (cancel, retry, pause, resume, send an
// event, signal).
// A run that has not ended follows the server's events, or polls.
import { api, optional, follow, link } from "./api.js";
import { h, replace, statusBadge, formatTime, previewBlock, errorBox } from "./dom.js";
import { formatDuration } from "./layout.js";
import { stepsView, timelineView, graphView, logsView } from "./views.js";

const VIEWS = ["steps", "timeline", "graph", "logs"];
const ENDED = new Set(["completed", "failed", "cancelled", "timed_out"]);
const WAITS_FOR_EVENT = "wait_for_event";

/**
 * Whether a live worker serves `queue`: true, false, or null where the
 * server lists no workers. A worker of an older durable serves "default".
 */
export function queueServed(queue, workers) {
  if (!Array.isArray(workers)) return null;
  return workers.some((worker) => !worker.stale && (worker.queues ?? ["default"]).includes(queue));
}

function facts(run, served) {
  const took = run.started_at && run.finished_at ? formatDuration(run.finished_at - run.started_at) : run.started_at ? `${formatDuration(Date.now() - run.started_at)} so far` : "not started";
  return h("dl", { class: "facts" },
    h("dt", {}, "status"), h("dd", { id: "run-status" }, statusBadge(run.status),
      run.paused_at != null ? h("span", { class: "muted", "data-paused": "" }, ` paused since ${formatTime(run.paused_at)}`) : null),
    h("dt", {}, "workflow"), h("dd", {}, h("a", { href: link("runs", [], new URLSearchParams({ workflow: run.workflow })) }, run.workflow)),
    h("dt", {}, "queue"), h("dd", { id: "run-queue" }, h("a", { href: link("runs", [], new URLSearchParams({ queue: run.queue })), class: "mono" }, run.queue),
      // Only a run that still waits for a worker is held up by it.
      served === false && !ENDED.has(run.status) ? h("span", { class: "unserved-queue", role: "status", "data-unserved-queue": run.queue },
        ` ⚠ queue ${run.queue}: no worker serves it`) : null),
    h("dt", {}, "created"), h("dd", {}, formatTime(run.created_at)),
    h("dt", {}, "started"), h("dd", {}, formatTime(run.started_at)),
    h("dt", {}, "finished"), h("dd", {}, formatTime(run.finished_at)),
    h("dt", {}, "took"), h("dd", {}, took),
    h("dt", {}, "deadline"), h("dd", {}, formatTime(run.deadline_at)),
    h("dt", {}, "executions"), h("dd", {}, String(run.executions)),
    h("dt", {}, "idempotency key"), h("dd", {}, run.idempotency_key || "—"),
    h("dt", {}, "parent"), h("dd", {}, run.parent ? h("a", { href: link("run", [run.parent]), class: "mono" }, run.parent) : "—"),
    run.forked_from ? [h("dt", {}, "forked from"), h("dd", {}, h("a", { href: link("run", [run.forked_from.run]), class: "mono" }, run.forked_from.run), ` at step ${run.forked_from.step}`)] : null);
}

/**
 * A small form posting `{name, data}` to `path`; reports what it did, in
 * the form and through `report` (a function making the report again: the
 * form goes when the run ends, which sending an event often makes it do).
 */
function messageForm(title, path, { name = "", hint = "", data = "null", describe, report }) {
  const out = h("p", { class: "form-result", "aria-live": "polite" });
  const nameInput = h("input", { name: "name", required: true, value: name, placeholder: hint });
  const dataInput = h("textarea", { name: "data", rows: 3, spellcheck: "false" }, data);
  const form = h("form", { class: "message", "data-form": title },
    h("h3", {}, title),
    h("label", {}, "Name ", nameInput),
    h("label", {}, "Data (JSON) ", dataInput),
    h("button", { type: "submit" }, `Send ${title.toLowerCase()}`), out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let value;
    try {
      value = JSON.parse(dataInput.value || "null");
    } catch (error) {
      replace(out, errorBox(new Error(`the data is not JSON: ${error.message}`)));
      return;
    }
    try {
      const sent = await api(path, { body: { name: nameInput.value.trim(), data: value } });
      replace(out, describe(sent));
      report(() => describe(sent));
    } catch (error) {
      replace(out, errorBox(error));
    }
  });
  return form;
}

/** What each action on the run says once done. */
const SAID = {
  cancel: "Cancelled.",
  retry: "Moved back to pending.",
  pause: "Paused: it starts no step until resumed.",
  resume: "Resumed: it goes on where it stopped.",
};

/** What sending an event did: the runs it woke (`woken`, their ids), as links. */
function woke(sent) {
  const ids = Array.isArray(sent.woken) ? sent.woken : [];
  return [`Event sent; it woke ${ids.length} run${ids.length === 1 ? "" : "s"}`, ids.length ? ": " : ".",
    ids.map((id, i) => [i ? ", " : "", h("a", { href: link("run", [id]), class: "mono" }, `${id.slice(0, 8)}…`)])];
}

/**
 * The inspector's actions. `memory.said` makes the last action's report
 * again, so it stays on the page when the run's change redraws it.
 */
function actions(run, steps, manifest, refresh, memory) {
  const out = h("p", { class: "action-result", "aria-live": "polite" }, memory.said ? memory.said() : null);
  const report = (said) => {
    memory.said = said;
    replace(out, said());
  };
  const act = (action) => async () => {
    try {
      await api(`/runs/${run.id}/${action}`, { body: {} });
      report(() => SAID[action]);
      refresh();
    } catch (error) {
      replace(out, errorBox(error));
    }
  };
  const active = ["pending", "running", "suspended"].includes(run.status);
  const paused = run.paused_at != null;
  const buttons = h("div", { class: "buttons" },
    active ? h("button", { class: "danger", "data-action": "cancel", onclick: act("cancel") }, "Cancel run") : null,
    active && !paused ? h("button", { "data-action": "pause", onclick: act("pause") }, "Pause run") : null,
    active && paused ? h("button", { "data-action": "resume", onclick: act("resume") }, "Resume run") : null,
    ["failed", "timed_out"].includes(run.status) ? h("button", { "data-action": "retry", onclick: act("retry") }, "Retry run") : null);
  // The event a waiting step waits for, from the manifest's options where
  // the server shows one.
  const waiting = steps.find((step) => step.kind === WAITS_FOR_EVENT && step.status === "waiting");
  const entry = waiting && manifest ? manifest.find((m) => m.name === waiting.name) : null;
  const eventName = entry ? (entry.options || []).find(([key]) => key === "event")?.[1] ?? "" : "";
  const ended = ENDED.has(run.status);
  return h("section", { class: "actions", "aria-labelledby": "actions-title" },
    h("h2", { id: "actions-title" }, "Actions"),
    buttons.childElementCount ? buttons : h("p", { class: "muted" }, `A ${run.status.replace("_", " ")} run can be neither cancelled nor retried.`),
    out,
    // Folded away until asked for: the views stay near the top.
    ended ? null : h("details", { class: "send" }, h("summary", {}, "Send an event or a signal"), h("div", { class: "forms" },
      messageForm("Event", "/events", { name: eventName, hint: waiting ? `the event step “${waiting.name}” waits for` : "event name", data: "{}", describe: woke, report }),
      messageForm("Signal", `/runs/${run.id}/signal`, { hint: "signal name", describe: () => "Signal sent; the run keeps it until it listens.", report }))));
}

/** Draws the inspector of run `parts[0]`. */
export async function runPage(main, parts, params) {
  const id = parts[0];
  const view = VIEWS.includes(params.get("view")) ? params.get("view") : "steps";
  let zoom = Number(params.get("zoom")) || 1;
  const open = new Set();
  let manifest;
  let stop = () => {};
  const viewBox = h("div", { class: "view", id: "view" });
  const head = h("div", {});
  let latest = null;
  let drawn = "";
  let headDrawn = "";
  // What the last action said, kept across redraws (see `actions`).
  const memory = { said: null };

  const drawView = async (detail) => {
    const { run, steps, children } = detail;
    if (view === "steps") replace(viewBox, stepsView(run, steps, open));
    else if (view === "timeline") {
      const zoomBar = h("div", { class: "buttons", role: "group", "aria-label": "Zoom" },
        h("button", { class: "secondary", onclick: () => { zoom = 1; drawView(latest); } }, "Fit"),
        h("button", { class: "secondary", onclick: () => { zoom = Math.min(zoom * 2, 16); drawView(latest); } }, "Zoom in"),
        h("button", { class: "secondary", onclick: () => { zoom = Math.max(zoom / 2, 1); drawView(latest); } }, "Zoom out"));
      replace(viewBox, zoomBar, timelineView(run, steps, zoom));
    } else if (view === "graph") replace(viewBox, graphView(run, steps, manifest, children));
    else replace(viewBox, logsView(await api(`/runs/${id}/logs`)));
  };

  const draw = async () => {
    const detail = await api(`/runs/${id}`);
    latest = detail;
    if (manifest === undefined) {
      // The catalog's workflow route has the manifest; without it the
      // graph is drawn from the run's steps.
      const wf = await optional(`/workflows/${encodeURIComponent(detail.run.workflow)}`).catch(() => null);
      manifest = Array.isArray(wf?.steps) ? wf.steps : null;
    }
    const { run, steps, children } = detail;
    // Who serves its queue, while that matters (the run has not ended).
    const served = ENDED.has(run.status) || run.queue == null ? null
      : queueServed(run.queue, (await optional("/workers").catch(() => null))?.workers);
    const base = `/api/v1/runs/${id}`;
    // A poll that finds nothing new leaves the page as it is (a form being
    // typed in, a tab chosen).
    const seen = JSON.stringify([detail, served]);
    if (seen === drawn && view !== "timeline") return run;
    const headSeen = JSON.stringify([run, served, children, steps.map((step) => [step.kind, step.status])]);
    if (headSeen !== headDrawn) replace(head,
      h("h1", {}, "Run ", h("span", { class: "mono" }, run.id)),
      facts(run, served),
      h("div", { class: "values" },
        h("section", {}, h("h2", {}, "Input"), previewBlock(run.input, `${base}/input`)),
        run.output ? h("section", {}, h("h2", {}, "Output"), previewBlock(run.output, `${base}/output`)) : null,
        run.error ? h("section", {}, h("h2", {}, "Error"), previewBlock(run.error, `${base}/error`)) : null),
      children.length ? h("section", {}, h("h2", {}, `Children (${children.length})`), h("ul", {}, children.map((child) =>
        h("li", {}, h("a", { href: link("run", [child.id]), class: "mono" }, child.id), ` ${child.workflow} `, statusBadge(child.status))))) : null,
      actions(run, steps, manifest, () => draw().catch(() => {}), memory));
    headDrawn = headSeen;
    drawn = seen;
    await drawView(detail);
    if (ENDED.has(run.status)) {
      stop();
      stop = () => {};
    }
    return run;
  };

  const tabs = h("nav", { class: "view-tabs", "aria-label": "Views of the run" }, VIEWS.map((name) => {
    const next = new URLSearchParams(params);
    next.set("view", name);
    return h("a", { href: link("run", [id], next), "aria-current": name === view ? "page" : null, "data-view": name }, name[0].toUpperCase() + name.slice(1));
  }));
  replace(main, head, tabs, viewBox);
  try {
    const run = await draw();
    if (!ENDED.has(run.status)) stop = follow(`/runs/${id}/events`, () => draw().catch(() => {}));
  } catch (error) {
    replace(main, h("h1", {}, "Run ", h("span", { class: "mono" }, id)), errorBox(error));
  }
  return () => stop();
}
