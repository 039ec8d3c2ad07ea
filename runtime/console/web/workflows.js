// The workflows page: each workflow with its input schema, and one
// workflow's page with its versions, workers and static step graph (from
// the catalog's manifest, where the server has one) and a trigger form
// whose input starts from the schema and shows the field error the API
// returns, the typed events its steps wait for or publish with their
// schemas, and, per pinned version, the runs waiting for a version no live
// worker serves (in words, with a link to them in the runs list).
import { api, link, optional } from "./api.js";
import { h, replace, errorBox, jsonBlock, formatTime } from "./dom.js";
import { graphLayout, manifestEvents } from "./layout.js";
import { graphSvg } from "./views.js";

/**
 * A starting input for `schema`: each required property with an empty
 * value of its type, so that the form shows what to fill in.
 */
export function skeleton(schema, defs = schema?.$defs || schema?.definitions || {}, depth = 0) {
  if (!schema || depth > 4) return null;
  if (schema.$ref) return skeleton(defs[schema.$ref.split("/").pop()], defs, depth + 1);
  if ("default" in schema) return schema.default;
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  switch (type) {
    case "object": {
      const out = {};
      for (const key of schema.required || Object.keys(schema.properties || {})) out[key] = skeleton(schema.properties?.[key], defs, depth + 1);
      return out;
    }
    case "array": return [];
    case "string": return schema.enum ? schema.enum[0] : "";
    case "integer": case "number": return 0;
    case "boolean": return false;
    default: return null;
  }
}

/**
 * The runs of workflow `name` waiting for a version no live worker serves,
 * one line per pinned version (`unserved` as the API answers it), each a
 * link to those runs in the runs list; null when none waits.
 */
export function unservedNotes(name, unserved) {
  if (!Array.isArray(unserved) || !unserved.length) return null;
  const runs = link("runs", [], new URLSearchParams({ workflow: name, unserved: "true" }));
  return h("ul", { class: "unserved" }, unserved.map((group) => {
    const count = `${group.runs} run${group.runs === 1 ? "" : "s"} waiting`;
    const what = group.version == null ? "no worker serves this workflow (runs not pinned yet)" : "no worker serves this version";
    return h("li", { "data-unserved": group.version ?? "", "data-runs": group.runs },
      group.version == null ? "" : h("span", { class: "mono" }, group.version), group.version == null ? "" : ": ",
      h("a", { href: runs }, `${count}: ${what}`));
  }));
}

/** Draws the list (`#/workflows`) or one workflow (`#/workflows/<name>`). */
export async function workflowsPage(main, parts) {
  if (parts[0]) return workflowPage(main, parts[0]);
  const { workflows } = await api("/workflows");
  replace(main, h("h1", {}, "Workflows"),
    workflows.length ? h("ul", { class: "workflow-list" }, workflows.map((wf) =>
      h("li", {}, h("a", { href: link("workflows", [wf.name]), "data-workflow": wf.name }, wf.name),
        wf.registered_here ? " · served here" : "", unservedNotes(wf.name, wf.unserved)))) : h("p", { class: "muted" }, "No workflow is known yet."));
  return () => {};
}

async function workflowPage(main, name) {
  const wf = await api(`/workflows/${encodeURIComponent(name)}`);
  const manifest = Array.isArray(wf.steps) ? wf.steps : null;
  // A server without the route shows no typed events, not an error.
  const types = await optional("/event-types");
  const events = manifestEvents(manifest, types?.event_types);
  const input = h("textarea", { name: "input", rows: 8, spellcheck: "false", "aria-describedby": "trigger-help" },
    JSON.stringify(skeleton(wf.input_schema), null, 2));
  const key = h("input", { name: "idempotency_key", placeholder: "optional" });
  const delay = h("input", { name: "delay", placeholder: "e.g. 10m (optional)" });
  const out = h("div", { class: "form-result", "aria-live": "polite" });
  const form = h("form", { class: "message trigger", "data-form": "trigger" },
    h("h2", {}, "Trigger a run"),
    h("label", {}, "Input (JSON) ", input),
    h("p", { id: "trigger-help", class: "muted" }, "Started from the input schema; the API checks the input against it and names the field it gets wrong."),
    h("label", {}, "Idempotency key ", key),
    h("label", {}, "Delay ", delay),
    h("button", { type: "submit" }, "Trigger"), out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let value;
    try {
      value = JSON.parse(input.value || "null");
    } catch (error) {
      replace(out, errorBox(new Error(`the input is not JSON: ${error.message}`)));
      return;
    }
    const body = { input: value };
    if (key.value.trim()) body.idempotency_key = key.value.trim();
    if (delay.value.trim()) body.delay = delay.value.trim();
    try {
      const { run } = await api(`/workflows/${encodeURIComponent(name)}/trigger`, { body });
      replace(out, "Triggered: ", h("a", { href: link("run", [run.id]), class: "mono", "data-triggered": run.id }, run.id));
    } catch (error) {
      replace(out, errorBox(error));
    }
  });
  const versions = Array.isArray(wf.versions) ? wf.versions : [];
  const waiting = unservedNotes(wf.name, wf.unserved);
  replace(main,
    h("h1", {}, "Workflow ", h("span", { class: "mono" }, wf.name)),
    h("p", {}, h("a", { href: link("runs", [], new URLSearchParams({ workflow: wf.name })) }, "Its runs"),
      wf.timeout_ms ? ` · timeout ${wf.timeout_ms} ms` : "", wf.cron ? ` · cron ${wf.cron} (${wf.timezone || "UTC"})` : "",
      flowControlText(wf)),
    waiting ? h("section", { "data-section": "unserved" }, h("h2", {}, "Runs waiting for a worker"),
      h("p", { class: "muted" }, "Runs are pinned to the version they started on; only an engine that registers that version runs them. Start one, or cancel them."),
      waiting) : null,
    h("section", {}, h("h2", {}, "Steps"), manifest
      ? graphSvg(graphLayout(manifest, []))
      : h("p", { class: "muted" }, "This server shows no manifest for the workflow: its steps appear in a run's graph.")),
    form,
    h("section", {}, h("h2", {}, "Input schema"), wf.input_schema ? jsonBlock(wf.input_schema) : h("p", { class: "muted" }, "Not known here.")),
    events.length ? h("section", { "data-section": "typed-events" }, h("h2", {}, "Typed events"),
      h("p", { class: "muted" }, "Events of these names must fit their schema; the API refuses one that does not, naming the field."),
      events.map((event) => h("div", { "data-event-type": event.name },
        h("h3", {}, h("span", { class: "mono" }, event.name), ` · steps ${event.steps.join(", ")}`),
        jsonBlock(event.schema)))) : null,
    versions.length ? h("section", {}, h("h2", {}, `Versions (${versions.length})`), h("ul", {}, versions.map((v) =>
      h("li", {}, h("span", { class: "mono" }, v.fingerprint || "?"), ` first seen ${formatTime(v.first_seen)}, last seen ${formatTime(v.last_seen)}`,
        Array.isArray(v.workers) && v.workers.length ? `, served by ${v.workers.length} worker${v.workers.length === 1 ? "" : "s"}${staleCount(v.workers)}` : "")))) : null);
  return () => {};
}

/**
 * The workflow's flow control (concurrency, debounce, throttle, cancel_on)
 * as the catalog recorded it, as words after " · " (or none).
 */
function flowControlText(wf) {
  const per = (key) => (key ? ` per ${key}` : "");
  const parts = [];
  if (wf.concurrency) parts.push(`at most ${wf.concurrency.limit} at once${per(wf.concurrency.key)}`);
  if (wf.debounce) {
    const most = wf.debounce.max_wait_ms != null ? `, at most ${wf.debounce.max_wait_ms} ms` : "";
    parts.push(`debounced ${wf.debounce.period_ms} ms${per(wf.debounce.key)}${most}`);
  }
  if (wf.throttle) parts.push(`throttled to ${wf.throttle.limit} per ${wf.throttle.period_ms} ms${per(wf.throttle.key)}`);
  for (const on of Array.isArray(wf.cancel_on) ? wf.cancel_on : []) {
    parts.push(`cancelled by ${on.event}${on.matching ? ` matching ${on.matching}` : ""}`);
  }
  return parts.map((part) => ` · ${part}`).join("");
}

/** How many of `workers` the server says are stale, as words (or none). */
function staleCount(workers) {
  const stale = workers.filter((w) => w.stale).length;
  return stale ? ` (${stale} stale: no heartbeat for 3 intervals)` : "";
}
