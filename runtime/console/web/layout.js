// The console's layouts as pure functions: a run's timeline (one row per
// step on a shared time axis) and its flow graph (the manifest's steps with
// this run's state, fan-outs as parallel lanes). No DOM here, so that
// `node --test` checks them (tests/js/layout.test.js).

/** Step kinds whose time is spent waiting, not working: drawn hatched. */
export const WAIT_KINDS = new Set([
  "sleep", "sleep_until", "wait_for_event", "listen", "invoke", "wait_for_run",
]);

/** Step kinds that open branches of their own (a group is one branch). */
export const FAN_OUT_KINDS = new Set(["map", "for_each", "batch", "parallel", "group"]);

/** A `ctx.group`: its steps are recorded as `<group>/<step>`, one lane without a key. */
const GROUP_KIND = "group";

/** How far a group's frame stands off its lane's nodes (px), within the gaps between nodes. */
const FRAME_PAD = 8;

/** Step kinds that take no time (a memoized value). */
const INSTANT_KINDS = new Set(["now", "uuid", "send_event", "start_child"]);

// Tick spacings a person reads easily, smallest first (ms).
const TICK_STEPS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4,
  12e4, 3e5, 6e5, 9e5, 18e5, 36e5, 72e5, 216e5, 432e5, 864e5, 6048e5,
];

/**
 * A duration in ms as short text: `850ms`, `1.5s`, `2m 5s`, `3h 20m`, `2d 4h`.
 * @param {number} ms
 * @returns {string}
 */
export function formatDuration(ms) {
  if (!Number.isFinite(ms)) return "";
  const sign = ms < 0 ? "-" : "";
  ms = Math.abs(ms);
  if (ms < 1000) return `${sign}${Math.round(ms)}ms`;
  if (ms < 60e3) return `${sign}${trim(ms / 1000)}s`;
  const units = [["d", 864e5], ["h", 36e5], ["m", 6e4], ["s", 1e3]];
  const parts = [];
  let rest = Math.round(ms / 1000) * 1000;
  for (const [unit, size] of units) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return sign + parts.join(" ");
}

function trim(value) {
  return value.toFixed(value < 10 ? 1 : 0).replace(/\.0$/, "");
}

/**
 * Splits a recorded step name into its parts: a fan-out branch
 * `price-all[3]/price` is `{base: "price-all", key: "3", rest: "price"}`, a
 * keyed step `ship[a]` is `{base: "ship", key: "a", rest: null}`, a plain
 * step `charge` is `{base: "charge", key: null, rest: null}`.
 * @param {string} name
 */
export function splitName(name) {
  const open = name.indexOf("[");
  const slash = name.indexOf("/");
  if (open < 0 || (slash >= 0 && slash < open)) {
    if (slash >= 0) return { base: name.slice(0, slash), key: null, rest: name.slice(slash + 1) };
    return { base: name, key: null, rest: null };
  }
  // The key ends at the bracket that closes the first one (keys may nest).
  let depth = 0;
  for (let i = open; i < name.length; i++) {
    if (name[i] === "[") depth++;
    if (name[i] === "]" && --depth === 0) {
      const after = name.slice(i + 1);
      return {
        base: name.slice(0, open),
        key: name.slice(open + 1, i),
        rest: after.startsWith("/") ? after.slice(1) : null,
      };
    }
  }
  return { base: name, key: null, rest: null };
}

/**
 * The group (a `ctx.group` step of `steps`) that the step `name` is an inner
 * step of, the innermost one: `ship` for `ship/pack`; null for none.
 */
export function groupOf(name, groups) {
  let found = null;
  for (const group of groups) if (name.startsWith(`${group}/`) && (!found || group.length > found.length)) found = group;
  return found;
}

/**
 * The steps of a run in the order the steps view lists them: the run's own
 * steps in the order reached, each group followed by its inner steps (in
 * the order reached within it, their `seq` counting from 0 in the group).
 */
export function stepOrder(steps) {
  const groups = steps.filter((step) => step.kind === "group").map((step) => step.name);
  const inner = new Map();
  const top = [];
  for (const step of steps) {
    const group = groupOf(step.name, groups);
    if (group == null) top.push(step);
    else inner.set(group, [...(inner.get(group) || []), step]);
  }
  const ordered = [];
  const add = (step) => {
    ordered.push(step);
    for (const child of [...(inner.get(step.name) || [])].sort((a, b) => a.seq - b.seq)) add(child);
  };
  top.forEach(add);
  return ordered;
}

/**
 * The segments of one step on the time axis: `work` for a step's
 * attempts, `wait` for a sleep or a wait (until its wake time when it has
 * one) and for a retry's back-off (`retry` set), `group` for a fan-out's
 * span. An unfinished segment is `open` and ends at `now` (a sleep at its
 * wake time).
 */
function segmentsOf(step, runStart, now) {
  const start = step.started_at ?? runStart;
  const end = step.ended_at;
  if (WAIT_KINDS.has(step.kind)) {
    const until = end ?? step.wake_at ?? now;
    return [{ type: "wait", start, end: Math.max(until, start), open: end == null, wake: step.wake_at ?? null }];
  }
  if (FAN_OUT_KINDS.has(step.kind)) {
    return [{ type: "group", start, end: Math.max(end ?? now, start), open: end == null }];
  }
  if (INSTANT_KINDS.has(step.kind)) {
    return [{ type: "work", start, end: end ?? start, open: false }];
  }
  const log = step.attempt_log ?? [];
  if (log.length) return attemptSegments(step, log, now);
  // No attempt times recorded (a step done at its first attempt, or one
  // recorded before they were kept): the attempts are one segment
  // (`attempts` of them), with no boundary drawn between them.
  const attempts = step.attempts ?? 0;
  const segments = [{ type: "work", start, end: Math.max(end ?? now, start), open: end == null, attempts }];
  // A step waiting for its next attempt: its back-off is a wait on the same
  // row, up to the time of the next attempt. When the last attempt ended is
  // not recorded either, only that it was by now: the wait is drawn from
  // now, the part of the back-off that is known.
  if (step.status === "pending" && step.wake_at != null && step.wake_at > now) {
    segments[0].end = Math.max(now, start);
    segments[0].open = false;
    segments[0].endKnown = false;
    segments.push({ type: "wait", start: now, end: step.wake_at, open: true, wake: step.wake_at, retry: true });
  }
  return segments;
}

/**
 * A retried step's segments from its attempt log: each recorded attempt
 * its own `work` segment (`attempt` its number, `failed` with its `error`),
 * the back-off between two attempts a `wait` with `retry` set, and after
 * the last one either the back-off to the next attempt (a pending step) or
 * the attempt under way (a running step, from the last end: its own start
 * is not recorded until it ends, so `startKnown` is false).
 */
function attemptSegments(step, log, now) {
  const segments = [];
  log.forEach((attempt, i) => {
    if (i > 0 && attempt.started_at > log[i - 1].ended_at) {
      segments.push({ type: "wait", start: log[i - 1].ended_at, end: attempt.started_at, open: false, retry: true });
    }
    segments.push({
      type: "work", start: attempt.started_at, end: Math.max(attempt.ended_at, attempt.started_at), open: false,
      attempt: attempt.attempt, failed: attempt.error != null, error: errorText(attempt.error),
    });
  });
  const last = log[log.length - 1];
  if (step.status === "pending" && step.wake_at != null) {
    const wake = Math.max(step.wake_at, last.ended_at);
    segments.push({ type: "wait", start: last.ended_at, end: wake, open: wake > now, wake: step.wake_at, retry: true });
  } else if (step.status === "running") {
    segments.push({ type: "work", start: last.ended_at, end: Math.max(now, last.ended_at), open: true, attempt: last.attempt + 1, startKnown: false });
  }
  return segments;
}

/** An error as the API shows it (a preview, or text) as text; null for none. */
function errorText(error) {
  if (error == null) return null;
  if (typeof error === "string") return error;
  return error.truncated ? `${error.preview}…` : String(error.value ?? "");
}

/**
 * The rows of a step's Attempts tab: each attempt with `attempt`, `start`,
 * `end`, `duration` (ms), `outcome` (`failed`, `completed`, or the step's
 * status for the one under way) and `error` text. From the attempt log
 * when the step has one; a step done at its first attempt is that attempt.
 * `unrecorded` counts the attempts started whose times are not listed (a
 * step recorded before attempt times were kept, attempts whose worker
 * stopped, or more than the log keeps).
 * @param {object} step a step as the API shows it
 * @returns {{rows: object[], unrecorded: number}}
 */
export function attemptRows(step) {
  const log = step.attempt_log ?? [];
  const rows = log.map((attempt) => ({
    attempt: attempt.attempt, start: attempt.started_at, end: attempt.ended_at,
    duration: attempt.ended_at - attempt.started_at,
    outcome: attempt.error != null ? "failed" : "completed", error: errorText(attempt.error),
  }));
  const attempts = step.attempts ?? 0;
  if (!log.length && attempts === 1 && step.started_at != null) {
    const ended = step.ended_at ?? null;
    rows.push({
      attempt: 1, start: step.started_at, end: ended, duration: ended == null ? null : ended - step.started_at,
      outcome: ended == null ? step.status : step.status === "failed" ? "failed" : "completed",
      error: step.status === "failed" ? errorText(step.error) : null,
    });
  }
  return { rows, unrecorded: Math.max(attempts - rows.length, 0) };
}

/**
 * Chooses ticks for `[from, until]`: at most about `max` of them, on a
 * spacing a person reads easily, labelled relative to `from`.
 */
export function ticks(from, until, max = 8) {
  const span = Math.max(until - from, 1);
  const step = TICK_STEPS.find((size) => span / size <= max) ?? Math.ceil(span / max);
  const out = [];
  for (let t = 0; t <= span + 1e-9; t += step) out.push({ offset: t, label: t === 0 ? "0" : `+${formatDuration(t)}` });
  return out;
}

/**
 * Lays a run's steps on one time axis.
 *
 * @param {object} run the run as the API shows it (`created_at`,
 *   `started_at`, `finished_at`)
 * @param {object[]} steps its steps (`seq`, `name`, `kind`, `status`,
 *   `attempts`, `started_at`, `ended_at`, `wake_at`, `attempt_log`)
 * @param {object} options `now` (ms), `width` of the drawing (px),
 *   `labelWidth` (px left of the axis), `rowHeight` (px), `minWidth` (px of
 *   the shortest bar), `noteHeight` (px added under a row whose `note`
 *   says how many attempts its bar holds)
 * @returns {{from: number, until: number, x0: number, x1: number,
 *   rows: object[], ticks: object[], height: number}} each row has `y` and
 *   `depth` (how deep in fan-outs), each segment `x` and `w` in px; a
 *   retried step's recorded attempts are one `work` segment each (`attempt`,
 *   `failed`, `error`) with the back-off between them a `wait` segment with
 *   `retry` set; without recorded attempt times its attempts share one
 *   `work` segment (their count in `attempts`), and the row has a `note`
 */
export function timelineLayout(run, steps, options = {}) {
  const { now = Date.now(), width = 960, labelWidth = 220, rowHeight = 26, minWidth = 3, axisHeight = 24, noteHeight = 12 } = options;
  const runStart = run.started_at ?? run.created_at;
  const ordered = [...steps].sort((a, b) => a.seq - b.seq);
  const rows = ordered.map((step) => ({
    seq: step.seq,
    name: step.name,
    kind: step.kind,
    status: step.status,
    attempts: step.attempts ?? 0,
    depth: (step.name.match(/\]\//g) || []).length,
    segments: segmentsOf(step, runStart, now),
  }));
  let from = runStart;
  let until = run.finished_at ?? now;
  for (const row of rows) {
    for (const segment of row.segments) {
      from = Math.min(from, segment.start);
      until = Math.max(until, segment.end);
    }
  }
  if (until <= from) until = from + 1;
  const x0 = labelWidth;
  const x1 = Math.max(width - 8, x0 + 1);
  const scale = (x1 - x0) / (until - from);
  const xOf = (t) => x0 + (t - from) * scale;
  // A row whose attempts share one bar (their times not recorded) has a
  // line under it that says how many: it is taller by that line, so that
  // the last row's is not cut.
  let y = axisHeight;
  rows.forEach((row) => {
    row.y = y;
    row.note = row.attempts > 1 && !WAIT_KINDS.has(row.kind) && !row.segments.some((segment) => segment.attempt != null);
    y += rowHeight + (row.note ? noteHeight : 0);
    for (const segment of row.segments) {
      segment.x = xOf(segment.start);
      segment.w = Math.max((segment.end - segment.start) * scale, minWidth);
      // A bar made wider to be seen still ends inside the drawing.
      if (segment.x + segment.w > x1) segment.x = Math.max(x0, x1 - segment.w);
    }
  });
  return {
    from,
    until,
    x0,
    x1,
    rows,
    ticks: ticks(from, until).map((tick) => ({ ...tick, x: xOf(from + tick.offset) })),
    height: y + 4,
  };
}

/**
 * Whether two laid-out segments share some time: the timeline's overlap of
 * parallel branches.
 */
export function overlaps(a, b) {
  return a.start < b.end && b.start < a.end;
}

/** The state a graph node shows for a step's status; `not_reached` without one. */
export function nodeState(status) {
  switch (status) {
    case "completed": return "done";
    case "running": return "running";
    case "failed": return "failed";
    case "sleeping": return "sleeping";
    case "waiting": return "waiting";
    case "pending": return "retrying";
    default: return "not_reached";
  }
}

/**
 * The state a group of steps shows: the most pressing of theirs (a failure
 * first), `done` when all are done, `not_reached` when there are none.
 */
export function worst(states) {
  return ["failed", "running", "retrying", "waiting", "sleeping", "done"].find((state) => states.includes(state)) ?? "not_reached";
}

function laneStates(lanes) {
  return lanes.flatMap((lane) => lane.steps.map((step) => step.state)).filter((state) => state !== "not_reached");
}

/** How many lanes of one fan-out the graph draws before it sums the rest up. */
export const MAX_LANES = 6;

/**
 * The flow graph of a workflow: its manifest's steps in order (when there
 * is a manifest) with this run's state on each, or the run's steps alone.
 * A fan-out's branches are parallel lanes under it, each with the
 * branch's steps; compensations follow the step they undo.
 *
 * @param {object[]|null} manifest the catalog's steps (`name`, `kind`,
 *   `keyed`, `parent`) or null
 * @param {object[]} steps the run's steps (`name`, `kind`, `status`, `seq`)
 * @param {object} options `nodeWidth`, `nodeHeight`, `gapX`, `gapY` (px)
 * @returns {{nodes: object[], edges: object[], frames: object[], width: number, height: number}}
 *   `frames` are the boxes around a group's lane (`group`, `x`, `y`, `w`,
 *   `h`), so that its steps read as inside it.
 */
export function graphLayout(manifest, steps, options = {}) {
  const { nodeWidth = 170, nodeHeight = 38, gapX = 18, gapY = 26, maxLanes = MAX_LANES } = options;
  const model = graphModel(manifest, steps || [], maxLanes);
  const nodes = [];
  const edges = [];
  const frames = [];
  let y = gapY / 2;
  let width = nodeWidth + gapX * 2;
  let tails = []; // the nodes the next row's node joins from
  const place = (item, x, yy) => {
    const node = { ...item, x, y: yy, w: nodeWidth, h: nodeHeight };
    delete node.lanes;
    nodes.push(node);
    return node;
  };
  const join = (from, to) => edges.push({ from: from.id, to: to.id, x1: from.x + from.w / 2, y1: from.y + from.h, x2: to.x + to.w / 2, y2: to.y });
  for (const item of model) {
    const lanes = item.lanes || [];
    const laneCount = Math.max(lanes.length, 1);
    const rowWidth = laneCount * nodeWidth + (laneCount - 1) * gapX;
    width = Math.max(width, rowWidth + gapX * 2);
    item._rowWidth = rowWidth;
  }
  const center = width / 2;
  for (const item of model) {
    const node = place(item, center - nodeWidth / 2, y);
    tails.forEach((tail) => join(tail, node));
    y += nodeHeight + gapY;
    tails = [node];
    const lanes = item.lanes || [];
    if (lanes.length) {
      const left = center - item._rowWidth / 2;
      const laneTails = [];
      let deepest = 0;
      lanes.forEach((lane, index) => {
        const x = left + index * (nodeWidth + gapX);
        let previous = node;
        lane.steps.forEach((step, depth) => {
          const child = place(step, x, y + depth * (nodeHeight + gapY));
          join(previous, child);
          previous = child;
        });
        deepest = Math.max(deepest, lane.steps.length);
        laneTails.push(previous);
        if (item.kind === GROUP_KIND && lane.steps.length) {
          frames.push({ group: item.label, x: x - FRAME_PAD, y: y - FRAME_PAD, w: nodeWidth + 2 * FRAME_PAD,
            h: lane.steps.length * (nodeHeight + gapY) - gapY + 2 * FRAME_PAD });
        }
      });
      y += deepest * (nodeHeight + gapY);
      tails = laneTails;
    }
  }
  return { nodes, edges, frames, width, height: y };
}

/**
 * The graph's rows before layout: top-level steps in order, each fan-out
 * with its lanes (one per branch this run reached, or one for the
 * manifest's template when none ran yet).
 */
function graphModel(manifest, steps, maxLanes) {
  const ordered = [...steps].sort((a, b) => a.seq - b.seq);
  const byName = new Map(ordered.map((step) => [step.name, step]));
  const used = new Set();
  const rows = [];
  const fromRun = (step, label) => {
    used.add(step.name);
    return { id: `s:${step.name}`, label: label ?? step.name, kind: step.kind, state: nodeState(step.status), seq: step.seq, status: step.status };
  };
  const unreached = (entry, id) => ({ id, label: entry.name, kind: entry.kind, state: "not_reached", seq: null, status: null });
  const lanesOf = (base, template, kind) => {
    // Branches of `base` this run reached, by key, in the order reached; a
    // group's steps are its one branch, without a key.
    const group = kind === GROUP_KIND;
    const branches = new Map();
    for (const step of ordered) {
      const part = splitName(step.name);
      if (part.base === base && part.rest != null && (group ? part.key == null : part.key != null)) {
        const key = group ? "" : part.key;
        if (!branches.has(key)) branches.set(key, []);
        branches.get(key).push(step);
      }
    }
    const lanes = [];
    const keys = [...branches.keys()];
    const prefix = (key) => (group ? "" : `[${key}] `);
    for (const key of keys.slice(0, maxLanes)) {
      const seen = branches.get(key);
      const laneSteps = [];
      for (const entry of template) {
        const name = group ? `${base}/${entry.name}` : `${base}[${key}]/${entry.name}`;
        const step = byName.get(name);
        laneSteps.push(step ? fromRun(step, `${prefix(key)}${entry.name}`) : { ...unreached(entry, `m:${name}`), label: `${prefix(key)}${entry.name}` });
      }
      for (const step of seen) if (!used.has(step.name)) laneSteps.push(fromRun(step, `${prefix(key)}${splitName(step.name).rest}`));
      lanes.push({ key, steps: laneSteps });
    }
    if (keys.length > maxLanes) {
      const rest = keys.slice(maxLanes);
      for (const key of rest) for (const step of branches.get(key)) used.add(step.name);
      const states = rest.flatMap((key) => branches.get(key).map((step) => nodeState(step.status)));
      lanes.push({ key: "more", steps: [{ id: `more:${base}`, label: `+${rest.length} more branches`, kind: "more", state: worst(states), seq: null, status: null }] });
    }
    if (!lanes.length && template.length) {
      const label = (entry) => (group ? entry.name : `[each] ${entry.name}`);
      lanes.push({ key: "each", steps: template.map((entry) => ({ ...unreached(entry, `m:${base}[*]/${entry.name}`), label: label(entry) })) });
    }
    return lanes;
  };
  if (manifest && manifest.length) {
    const top = manifest.filter((entry) => !entry.parent);
    for (const entry of top) {
      const template = manifest.filter((child) => child.parent === entry.name);
      let node;
      if (entry.keyed) {
        const keyed = ordered.filter((step) => { const p = splitName(step.name); return p.base === entry.name && p.key != null && p.rest == null; });
        keyed.forEach((step) => used.add(step.name));
        const last = keyed[keyed.length - 1];
        node = { id: `m:${entry.name}`, label: keyed.length ? `${entry.name} ×${keyed.length}` : entry.name, kind: entry.kind, state: last ? nodeState(last.status) : "not_reached", seq: last ? last.seq : null, status: last ? last.status : null };
      } else {
        const step = byName.get(entry.name);
        node = step ? fromRun(step) : unreached(entry, `m:${entry.name}`);
      }
      if (FAN_OUT_KINDS.has(entry.kind)) {
        node.lanes = lanesOf(entry.name, template, entry.kind);
        if (node.state === "not_reached") node.state = worst(laneStates(node.lanes));
      }
      rows.push(node);
    }
  } else {
    for (const step of ordered) {
      const part = splitName(step.name);
      if (used.has(step.name)) continue;
      // A group's step: the group's node shows it in its lane.
      if (part.rest != null && part.key == null && byName.get(part.base)?.kind === GROUP_KIND) continue;
      if (part.rest != null && part.key != null) {
        // A branch of a fan-out that recorded no step of its own: the
        // fan-out's node stands for it, with its state from the branches.
        if (!rows.some((row) => row.id === `f:${part.base}`)) {
          const lanes = lanesOf(part.base, []);
          rows.push({ id: `f:${part.base}`, label: part.base, kind: "fan_out", state: worst(laneStates(lanes)), seq: step.seq, status: null, lanes });
        }
        continue;
      }
      if (step.name.startsWith("compensate/") || step.name.startsWith("on-failure/")) continue;
      const node = fromRun(step);
      if (FAN_OUT_KINDS.has(step.kind)) node.lanes = lanesOf(step.name, [], step.kind);
      rows.push(node);
    }
  }
  // Steps the manifest does not name (compensations, the on-failure hook,
  // steps in helper functions) go after the step they follow in the run.
  for (const step of ordered.filter((candidate) => !used.has(candidate.name))) {
    const undone = step.name.startsWith("compensate/") ? step.name.slice("compensate/".length) : null;
    const node = fromRun(step, undone ? `undo ${undone}` : step.name);
    if (undone) {
      node.compensates = undone;
      const at = rows.findIndex((row) => row.id === `s:${undone}` || row.id === `m:${undone}`);
      if (at >= 0) {
        rows.splice(at + 1, 0, node);
        continue;
      }
    }
    if (undone || step.name.startsWith("on-failure/")) {
      rows.push(node);
      continue;
    }
    // Before the first row the run reached later.
    const at = rows.findIndex((row) => row.seq != null && row.seq > step.seq);
    if (at < 0) rows.push(node); else rows.splice(at, 0, node);
  }
  return rows;
}

/**
 * The typed events a workflow's manifest names (the `event` option of its
 * waits and sends), each once in the order the steps name them, with the
 * catalog's schema (`GET /api/v1/event-types`) and the steps that use it.
 * Events the catalog does not list as typed (string names) are left out.
 */
export function manifestEvents(manifest, eventTypes) {
  const schemas = new Map();
  for (const type of eventTypes || []) if (!schemas.has(type.name)) schemas.set(type.name, type);
  const found = new Map();
  for (const step of manifest || []) {
    const option = (step.options || []).find(([key]) => key === "event");
    const type = option && schemas.get(option[1]);
    if (!type) continue;
    if (!found.has(type.name)) found.set(type.name, { name: type.name, schema: type.schema, steps: [] });
    found.get(type.name).steps.push(step.name);
  }
  return [...found.values()];
}
