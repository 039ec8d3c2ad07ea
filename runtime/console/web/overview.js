// The overview page: runs by status, how long the oldest due pending run
// has waited, runs per minute over the last hour, the workflows that have
// runs, and the workers (where the server has the catalog's /workers route);
// and, when there are any, how many runs wait for a version no worker serves.
import { api, optional, link, POLL_MS } from "./api.js";
import { h, replace, statusBadge, formatTime, errorBox } from "./dom.js";
import { seriesChart } from "./charts.js";
import { formatDuration } from "./layout.js";

const STATUSES = ["pending", "running", "suspended", "completed", "failed", "cancelled", "timed_out"];

/** Draws the overview into `main`, and again every few seconds. */
export async function overviewPage(main) {
  const draw = async () => {
    const [counts, series, workflows, workers] = await Promise.all([
      api("/stats/counts"), api("/stats/series"), api("/workflows"), optional("/workers"),
    ]);
    replace(main,
      h("h1", {}, "Overview"),
      h("section", { "aria-labelledby": "by-status" },
        h("h2", { id: "by-status" }, `Runs by status (${counts.total} in all)`),
        h("ul", { class: "cards" }, STATUSES.map((status) =>
          h("li", {}, h("a", { class: "card", href: link("runs", [], new URLSearchParams({ status })) },
            h("span", { class: "count", "data-count": status }, String(counts.by_status[status] ?? 0)),
            statusBadge(status))))),
        oldestPending(counts.oldest_pending_ms),
        unservedTotal(counts.unserved)),
      h("section", { "aria-labelledby": "per-minute" },
        h("h2", { id: "per-minute" }, "The last hour, per minute"),
        seriesChart(series)),
      h("section", { "aria-labelledby": "workflows" },
        h("h2", { id: "workflows" }, "Workflows"),
        workflowTable(workflows.workflows || [], counts.counts || [])),
      h("section", { "aria-labelledby": "workers" },
        h("h2", { id: "workers" }, "Workers"),
        workers ? workerTable(workers.workers || []) : h("p", { class: "muted" }, "This server does not list workers.")));
  };
  try {
    await draw();
  } catch (error) {
    replace(main, errorBox(error));
  }
  const timer = setInterval(() => draw().catch(() => {}), POLL_MS * 4);
  return () => clearInterval(timer);
}

/**
 * How long the pending run due longest has waited for a worker: a queue
 * that workers keep up with stays near zero. `undefined` where the server
 * does not say.
 */
function oldestPending(ms) {
  if (ms === undefined) return null;
  const pending = h("a", { href: link("runs", [], new URLSearchParams({ status: "pending" })) }, "pending runs");
  if (ms === null) return h("p", { class: "oldest", "data-oldest-pending": "none" }, "No pending run is due: the workers keep up. ", pending);
  return h("p", { class: "oldest", "data-oldest-pending": ms },
    "The oldest pending run has waited ", h("strong", {}, formatDuration(ms)), " for a worker. ", pending);
}

/**
 * How many runs wait for a version no live worker serves, with a link to
 * them; nothing when none does (or the server does not say).
 */
function unservedTotal(count) {
  if (!count) return null;
  return h("p", { class: "unserved-total", "data-unserved-total": count },
    h("strong", {}, `${count} run${count === 1 ? "" : "s"} waiting: no worker serves ${count === 1 ? "its version" : "their versions"}. `),
    h("a", { href: link("runs", [], new URLSearchParams({ unserved: "true" })) }, "See them"),
    " — start an engine that registers the version, or cancel them.");
}

function workflowTable(workflows, counts) {
  if (!workflows.length) return h("p", { class: "muted" }, "No workflow has runs yet.");
  return h("div", { class: "scroll" }, h("table", {},
    h("thead", {}, h("tr", {}, ["workflow", "runs", "failed", "versions", "served here"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, workflows.map((wf) => {
      const mine = counts.filter((c) => c.workflow === wf.name);
      const total = mine.reduce((sum, c) => sum + c.count, 0);
      const failed = mine.filter((c) => c.status === "failed" || c.status === "timed_out").reduce((sum, c) => sum + c.count, 0);
      return h("tr", {},
        h("td", {}, h("a", { href: link("workflows", [wf.name]) }, wf.name), " · ", h("a", { href: link("runs", [], new URLSearchParams({ workflow: wf.name })) }, "runs")),
        h("td", {}, String(total)), h("td", {}, String(failed)),
        h("td", {}, Array.isArray(wf.versions) ? String(wf.versions.length) : String(wf.versions ?? "—")),
        h("td", {}, wf.registered_here ? "yes" : "no"));
    }))));
}

function workerTable(workers) {
  if (!workers.length) return h("p", { class: "muted" }, "No worker is recorded.");
  return h("div", { class: "scroll" }, h("table", {},
    h("thead", {}, h("tr", {}, ["worker", "host", "started", "last heartbeat", "serves"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, workers.map((w) => h("tr", {},
      h("td", {}, String(w.id ?? w.name ?? "")),
      h("td", {}, String(w.host ?? w.hostname ?? "")),
      h("td", {}, formatTime(w.started_at)),
      h("td", {}, formatTime(w.heartbeat_at ?? w.last_seen),
        // Said in words, not by colour alone (the server judges it: 3 of
        // its heartbeats missed).
        w.stale ? h("span", { class: "stale", "data-stale": "true" }, " · stale: no heartbeat for 3 intervals, it may have crashed") : null),
      h("td", {}, (w.workflows || w.serves || []).map((x) => (typeof x === "string" ? x : x.name)).join(", ")))))));
}
