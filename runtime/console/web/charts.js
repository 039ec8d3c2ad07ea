// The overview's chart: runs started, completed and failed per minute, as
// SVG lines with a legend in words and a table for screen readers.
import { h, s, clock } from "./dom.js";

const SERIES = [
  { key: "started", label: "started", mark: "●" },
  { key: "completed", label: "completed", mark: "■" },
  { key: "failed", label: "failed or timed out", mark: "▲" },
];

/**
 * The chart of `minutes` (`{minute, started, completed, failed}`, only the
 * minutes that had any) over `[from, until)`, one point per minute.
 */
export function seriesChart({ from, until, minutes }, { width = 720, height = 200 } = {}) {
  const byMinute = new Map(minutes.map((m) => [m.minute, m]));
  const points = [];
  for (let t = from - (from % 60000); t < until; t += 60000) points.push(byMinute.get(t) || { minute: t, started: 0, completed: 0, failed: 0 });
  const left = 36, right = 8, top = 10, bottom = 26;
  const max = Math.max(1, ...points.flatMap((p) => SERIES.map((series) => p[series.key])));
  const x = (i) => left + (i / Math.max(points.length - 1, 1)) * (width - left - right);
  const y = (v) => top + (1 - v / max) * (height - top - bottom);
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Runs per minute over the last hour" });
  for (const v of [0, Math.ceil(max / 2), max]) {
    svg.append(s("line", { class: "grid", x1: left, x2: width - right, y1: y(v), y2: y(v) }));
    svg.append(s("text", { class: "axis", x: left - 6, y: y(v) + 4, "text-anchor": "end" }, String(v)));
  }
  const step = Math.max(1, Math.round(points.length / 6));
  points.forEach((p, i) => {
    if (i % step === 0) svg.append(s("text", { class: "axis", x: x(i), y: height - 8, "text-anchor": "middle" }, clock(p.minute).slice(0, 5)));
  });
  for (const series of SERIES) {
    const d = points.map((p, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(p[series.key]).toFixed(1)}`).join(" ");
    svg.append(s("path", { class: `line line-${series.key}`, d }));
    points.forEach((p, i) => {
      if (p[series.key]) svg.append(s("text", { class: `mark mark-${series.key}`, x: x(i), y: y(p[series.key]) + 4, "text-anchor": "middle" }, series.mark));
    });
  }
  const totals = SERIES.map((series) => [series, points.reduce((sum, p) => sum + p[series.key], 0)]);
  const legend = h("ul", { class: "legend" }, totals.map(([series, total]) =>
    h("li", { class: `legend-${series.key}` }, `${series.mark} ${series.label}: ${total}`)));
  const table = h("table", { class: "sr-only" },
    h("caption", {}, "Runs per minute"),
    h("tr", {}, h("th", {}, "minute"), SERIES.map((series) => h("th", {}, series.label))),
    points.filter((p) => SERIES.some((series) => p[series.key])).map((p) =>
      h("tr", {}, h("td", {}, clock(p.minute)), SERIES.map((series) => h("td", {}, String(p[series.key]))))));
  return h("figure", { class: "series" }, svg, legend, table);
}
