// The run inspector's views of one run: its steps (with Input, Output,
// Error and Attempts tabs), its timeline and its flow graph as SVG (laid
// out by layout.js), and its log lines.
import { h, s, statusBadge, formatTime, clock, previewBlock, STATUS_SYMBOL, replace } from "./dom.js";
import { formatDuration, timelineLayout, graphLayout, attemptRows, groupOf, stepOrder } from "./layout.js";

const TABS = ["Input", "Output", "Error", "Attempts"];

/**
 * The steps view: the journal in order, each step opening to its tabs; a
 * group's inner steps indented under it, named within it. `open` holds the
 * names of the steps opened (a name is one step; a `seq` is not, as a
 * group's steps count their own).
 */
export function stepsView(run, steps, open) {
  if (!steps.length) return h("p", { class: "muted" }, "No step recorded yet.");
  const base = `/api/v1/runs/${run.id}/steps`;
  const groups = steps.filter((step) => step.kind === "group").map((step) => step.name);
  const rows = [];
  stepOrder(steps).forEach((step, index) => {
    const group = groupOf(step.name, groups);
    const took = step.started_at != null && step.ended_at != null ? formatDuration(step.ended_at - step.started_at) : "—";
    const panel = h("td", { colspan: 7 });
    const detail = h("tr", { class: "step-detail", hidden: !open.has(step.name) }, panel);
    const label = group ? [h("span", { class: "group-prefix" }, `${group}/`), step.name.slice(group.length + 1)] : step.name;
    const toggle = h("button", { class: "link", "aria-expanded": String(open.has(step.name)), "data-step": step.name }, label);
    toggle.addEventListener("click", () => {
      const now = detail.hidden;
      detail.hidden = !now;
      toggle.setAttribute("aria-expanded", String(now));
      if (now) open.add(step.name); else open.delete(step.name);
    });
    const depth = groups.filter((name) => step.name.startsWith(`${name}/`)).length;
    rows.push(h("tr", { "data-seq": step.seq, "data-group": group, class: group ? "in-group" : null },
      h("td", {}, String(step.seq)), h("td", depth ? { style: { paddingLeft: `${8 + depth * 20}px` } } : {}, toggle), h("td", {}, step.kind.replaceAll("_", " ")),
      h("td", {}, statusBadge(step.status)), h("td", {}, String(step.attempts)), h("td", {}, took),
      h("td", {}, formatTime(step.started_at))), detail);
    panel.append(stepTabs(step, `${base}/${step.seq}`, `step-${index}`));
  });
  return h("div", { class: "scroll" }, h("table", { class: "steps" },
    h("thead", {}, h("tr", {}, ["#", "step", "kind", "status", "attempts", "took", "started"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows)));
}

/** One step's tabs, keyboard reachable (arrow keys move between tabs). */
function stepTabs(step, base, id) {
  // The position alone may be another step's too (a group's steps count their own).
  const named = `?name=${encodeURIComponent(step.name)}`;
  const body = h("div", { role: "tabpanel", class: "tab-panel", id: `${id}-panel` });
  const content = (tab) => {
    switch (tab) {
      case "Input": return previewBlock(step.input, `${base}/input${named}`, "This step recorded no input.");
      case "Output": return previewBlock(step.output, `${base}/output${named}`, step.status === "completed" ? "No output." : "No output yet.");
      case "Error": return previewBlock(step.error, `${base}/error${named}`, "No error.");
      default: return attemptsTab(step);
    }
  };
  const buttons = TABS.map((tab) => h("button", { role: "tab", id: `${id}-${tab}`, "aria-controls": `${id}-panel`, "data-tab": tab }, tab));
  const select = (index) => {
    buttons.forEach((button, i) => {
      button.setAttribute("aria-selected", String(i === index));
      button.tabIndex = i === index ? 0 : -1;
    });
    replace(body, content(TABS[index]));
  };
  buttons.forEach((button, i) => {
    button.addEventListener("click", () => select(i));
    button.addEventListener("keydown", (event) => {
      const move = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!move) return;
      const next = (i + move + TABS.length) % TABS.length;
      select(next);
      buttons[next].focus();
    });
  });
  select(0);
  return h("div", { class: "tabs" }, h("div", { role: "tablist", "aria-label": `Step ${step.name}` }, buttons), body);
}

/** The Attempts tab: the step's attempt facts and each attempt with its times and error. */
function attemptsTab(step) {
  const { rows, unrecorded } = attemptRows(step);
  const facts = h("dl", { class: "facts" },
    h("dt", {}, "attempts started"), h("dd", {}, String(step.attempts)),
    h("dt", {}, "first started"), h("dd", {}, formatTime(step.started_at)),
    h("dt", {}, "ended"), h("dd", {}, formatTime(step.ended_at)),
    h("dt", {}, step.status === "pending" ? "next attempt" : "wakes"), h("dd", {}, formatTime(step.wake_at)));
  const table = rows.length ? h("table", { class: "attempts" },
    h("thead", {}, h("tr", {}, ["#", "started", "ended", "took", "outcome", "error"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.map((row) => h("tr", { "data-attempt": row.attempt, "data-outcome": row.outcome },
      h("td", {}, String(row.attempt)), h("td", {}, formatTime(row.start)), h("td", {}, formatTime(row.end)),
      h("td", {}, row.duration == null ? "—" : formatDuration(row.duration)),
      h("td", {}, `${row.outcome === "failed" ? "✕" : row.outcome === "completed" ? "✓" : "…"} ${row.outcome}`),
      h("td", { class: "mono" }, row.error ?? ""))))) : null;
  // Only attempts without recorded times get a note.
  let note = null;
  if (unrecorded > 0 && !(step.attempt_log ?? []).length) {
    note = "Each attempt's own start and end were not recorded for this step (recorded before durable kept them): the first start and the last end are.";
  } else if (unrecorded > 0) {
    note = `${unrecorded} more attempt${unrecorded === 1 ? "" : "s"} started without times listed here: one under way, one whose worker stopped, or older than the last 100 kept.`;
  }
  return h("div", {}, facts, table, note ? h("p", { class: "muted attempts-note" }, note) : null);
}

/** The timeline view: one row per step on a shared axis, `zoom` times wider than fits. */
export function timelineView(run, steps, zoom = 1) {
  const width = Math.max(640, Math.min(1200, window.innerWidth - 48)) * zoom;
  const labelWidth = Math.min(240, width / 3);
  const layout = timelineLayout(run, steps, { now: Date.now(), width, labelWidth });
  const svg = s("svg", { class: "timeline", width, height: layout.height, viewBox: `0 0 ${width} ${layout.height}`, role: "img",
    "aria-label": `Timeline of ${steps.length} steps over ${formatDuration(layout.until - layout.from)}` });
  svg.append(s("defs", {}, s("pattern", { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
    s("rect", { width: 6, height: 6, class: "hatch-bg" }), s("line", { x1: 0, y1: 0, x2: 0, y2: 6, class: "hatch-line" })),
  // A failed attempt is cross-hatched (and labelled ✕), not only red.
  s("pattern", { id: "failed-hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse" },
    s("rect", { width: 6, height: 6, class: "failed-bg" }), s("path", { d: "M0,0 L6,6 M6,0 L0,6", class: "failed-line" }))));
  for (const tick of layout.ticks) {
    // A label at the right edge ends there, so that it is not cut.
    const anchor = tick.x > width - 40 ? "end" : "middle";
    svg.append(s("line", { class: "grid", x1: tick.x, x2: tick.x, y1: 16, y2: layout.height }));
    svg.append(s("text", { class: "axis", x: tick.x, y: 12, "text-anchor": anchor }, tick.label));
  }
  for (const row of layout.rows) {
    const label = `${"  ".repeat(row.depth)}${STATUS_SYMBOL[row.status] || ""} ${row.name}`;
    svg.append(s("text", { class: "row-label", x: 4 + row.depth * 10, y: row.y + 16 }, s("title", {}, `${row.name}: ${row.status}`), label.trim()));
    for (const seg of row.segments) {
      const title = segmentTitle(row, seg);
      // A recorded attempt shows its own outcome; the one under way, the step's.
      const status = seg.attempt == null || seg.open ? `bar-${row.status}` : seg.failed ? "bar-attempt-failed" : "bar-completed";
      svg.append(s("rect", { class: `bar bar-${seg.type} ${status}${seg.open ? " bar-open" : ""}`, x: seg.x, y: row.y + 4, width: seg.w, height: 16, rx: 2,
        fill: seg.type === "wait" ? "url(#hatch)" : null, "data-step": row.name, "data-type": seg.type, "data-start": seg.start, "data-end": seg.end,
        "data-attempts": seg.attempts ?? null, "data-attempt": seg.attempt ?? null, "data-failed": seg.attempt == null || seg.open ? null : String(seg.failed),
        "data-retry": seg.retry ? "true" : null },
      s("title", {}, title)));
      if (seg.attempt != null && seg.w >= 22) {
        svg.append(s("text", { class: "bar-label", x: seg.x + 3, y: row.y + 16 }, `${seg.failed ? "✕" : seg.open ? "…" : "✓"}${seg.attempt}`));
      }
      if (seg.type === "wait" && seg.wake && seg.open) {
        svg.append(s("text", { class: "bar-note", x: Math.min(seg.x + seg.w + 4, width - 90), y: row.y + 16 }, `${seg.retry ? "next attempt" : "wakes"} ${clock(seg.wake)}`));
      }
    }
    if (row.note) svg.append(s("text", { class: "bar-note", x: row.segments[0].x, y: row.y + 30 }, `${row.attempts} attempts in one bar (their own times were not recorded)`));
  }
  return h("div", { class: "scroll timeline-wrap" }, svg);
}

/** What a timeline bar's tooltip says: the step, its times, each attempt's outcome and, where times are missing, what is not known. */
function segmentTitle(row, seg) {
  const kind = seg.type === "wait" ? (seg.retry ? "back-off" : row.kind.replaceAll("_", " ")) : row.kind;
  const until = seg.open ? (seg.wake ? `${seg.retry ? "next attempt" : "wakes"} ${clock(seg.wake)}` : "now") : seg.endKnown === false ? "now (the last attempt ended by then)" : clock(seg.end);
  if (seg.attempt != null) {
    const outcome = seg.open ? "under way" : seg.failed ? `failed: ${seg.error}` : "completed";
    const from = seg.startKnown === false ? `after ${clock(seg.start)}` : clock(seg.start);
    return `${row.name} attempt ${seg.attempt} (${outcome}): ${from} → ${until}, ${formatDuration(seg.end - seg.start)}`;
  }
  const attempts = seg.type === "work" && seg.attempts > 1
    ? `; ${seg.attempts} attempts, from the first start to the last end (each attempt's own times were not recorded)` : "";
  return `${row.name} (${kind}): ${clock(seg.start)} → ${until}, ${formatDuration(seg.end - seg.start)}${attempts}`;
}

/** The graph view: the manifest's steps (or the run's) with this run's state on each. */
export function graphView(run, steps, manifest, children) {
  const svg = graphSvg(graphLayout(manifest, steps));
  const legend = h("p", { class: "muted" }, manifest ? "Drawn from the workflow's manifest: steps this run has not reached are marked “not reached”." : "Drawn from the run's steps (this server shows no manifest for the workflow).");
  const kids = children.length ? h("p", {}, "Children: ", children.map((child) => [h("a", { href: `#/run/${child.id}`, class: "mono" }, `${child.workflow} ${child.id.slice(0, 8)}…`), " ", statusBadge(child.status), " "])) : null;
  return h("div", {}, legend, h("div", { class: "scroll" }, svg), kids);
}

/** A laid-out graph (layout.js's `graphLayout`) as SVG: nodes with their state in words. */
export function graphSvg(layout) {
  const svg = s("svg", { class: "graph", width: layout.width, height: layout.height, viewBox: `0 0 ${layout.width} ${layout.height}`, role: "img",
    "aria-label": `Flow graph: ${layout.nodes.length} steps` });
  svg.append(s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 8 8", refX: 7, refY: 4, markerWidth: 7, markerHeight: 7, orient: "auto" },
    s("path", { d: "M0,0 L8,4 L0,8 z", class: "arrow" }))));
  // A group's lane sits in a frame named after it, behind the nodes.
  for (const frame of layout.frames || []) {
    svg.append(s("rect", { class: "lane-frame", "data-group": frame.group, x: frame.x, y: frame.y, width: frame.w, height: frame.h, rx: 8 },
      s("title", {}, `the steps of group ${frame.group}`)));
  }
  for (const edge of layout.edges) {
    const mid = (edge.y1 + edge.y2) / 2;
    svg.append(s("path", { class: "edge", d: `M${edge.x1},${edge.y1} C${edge.x1},${mid} ${edge.x2},${mid} ${edge.x2},${edge.y2 - 2}`, "marker-end": "url(#arrow)" }));
  }
  for (const node of layout.nodes) {
    const group = s("g", { class: `node node-${node.state}`, "data-node": node.label, "data-state": node.state, transform: `translate(${node.x},${node.y})` },
      s("title", {}, `${node.label} (${node.kind}): ${node.state.replace("_", " ")}`),
      s("rect", { width: node.w, height: node.h, rx: 6 }),
      s("text", { x: 8, y: 15, class: "node-label" }, node.label.length > 24 ? `${node.label.slice(0, 23)}…` : node.label),
      s("text", { x: 8, y: 31, class: "node-state" }, `${STATUS_SYMBOL[node.state] || ""} ${node.state.replace("_", " ")} · ${node.kind.replaceAll("_", " ")}`));
    svg.append(group);
  }
  return svg;
}

/** The logs view: the run's lines with their levels and fields. */
export function logsView(lines) {
  if (!lines.length) return h("p", { class: "muted" }, "No log line.");
  return h("div", { class: "scroll" }, h("table", { class: "logs" },
    h("thead", {}, h("tr", {}, ["time", "level", "where", "message", "fields"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, lines.map((line) => h("tr", { class: `log-${line.level}` },
      h("td", {}, formatTime(line.created_at)), h("td", {}, h("span", { class: `level level-${line.level}` }, String(line.level).toUpperCase())),
      h("td", {}, line.key || ""), h("td", {}, line.message), h("td", { class: "mono" }, line.fields || ""))))));
}
