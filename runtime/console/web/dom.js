// Small DOM helpers the pages share: building elements and SVG, showing a
// status by text and symbol (never colour alone), times and JSON values.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(el, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else if (key === "style" && typeof value === "object") Object.assign(el.style, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An HTML element: `h("a", {href: "#/runs"}, "Runs")`. */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element: `s("rect", {x: 0, y: 0, width: 10, height: 10})`. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** A symbol per status, so that the status reads without its colour. */
export const STATUS_SYMBOL = {
  pending: "○", running: "▶", suspended: "‖", completed: "✓", failed: "✗", cancelled: "⊘", timed_out: "⚠",
  sleeping: "☾", waiting: "…", done: "✓", not_reached: "·", retrying: "↻",
};

/** A status as a badge: symbol and word, coloured by its class. */
export function statusBadge(status) {
  const text = (status || "unknown").replace("_", " ");
  return h("span", { class: `status status-${status}`, "data-status": status }, `${STATUS_SYMBOL[status] || "?"} ${text}`);
}

const pad = (n, width = 2) => String(n).padStart(width, "0");

/** A time (ms since the epoch) in local time: `2026-12-02 17:15:07.123`. */
export function formatTime(ms) {
  if (ms == null) return "—";
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** The clock part of a time: `17:15:07`. */
export function clock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A JSON value, indented, in a `<pre>`. */
export function jsonBlock(value) {
  return h("pre", { class: "json" }, typeof value === "string" ? value : JSON.stringify(value, null, 2));
}

/**
 * A value as the API previews it (`{truncated, bytes, value | preview}`):
 * whole while small; cut, with a link to the whole value where the API has
 * a route for it (`wholeHref`), when large.
 */
export function previewBlock(view, wholeHref, empty = "none") {
  if (view == null) return h("p", { class: "muted" }, empty);
  if (!view.truncated) return jsonBlock(view.value);
  return h("div", {},
    h("pre", { class: "json" }, `${view.preview}…`),
    h("p", {}, `Cut to a preview: ${view.bytes.toLocaleString()} bytes in all. `,
      wholeHref ? h("a", { href: wholeHref, download: "value.json" }, "Download the whole value") : null));
}

/** Removes every child of `el` and appends `children`. */
export function replace(el, ...children) {
  el.replaceChildren();
  build(el, {}, children);
  return el;
}

/** A message box for an error (a thrown ApiError or Error). */
export function errorBox(error) {
  return h("div", { class: "error-box", role: "alert" }, error.code ? `${error.code}: ${error.message}` : String(error.message || error));
}
