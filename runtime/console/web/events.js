// The events page: the events and signals sent, newest first, with their
// data and the runs each woke as links; a name filter kept in the URL, and
// cursor paging (`before`, the `next` of the page before).
import { api, link, POLL_MS } from "./api.js";
import { h, replace, formatTime, previewBlock, errorBox } from "./dom.js";

/**
 * Draws `#/events?name&before&limit` into `main` (`limit`: the page size,
 * the API's default 50 without it), and again every few seconds.
 */
export async function eventsPage(main, _parts, params) {
  const name = params.get("name") || "";
  const before = params.get("before") || "";
  const limit = params.get("limit") || "";
  const query = new URLSearchParams();
  if (name) query.set("name", name);
  if (before) query.set("before", before);
  if (limit) query.set("limit", limit);
  const nameInput = h("input", { name: "name", value: name, placeholder: "any name" });
  const form = h("form", { class: "filters", "aria-label": "Filter the events" },
    h("label", {}, "Event name ", nameInput),
    h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = link("events", [], new URLSearchParams({ name: nameInput.value.trim(), limit }));
  });
  const list = h("div", {});
  const draw = async () => {
    const text = query.toString();
    const page = await api(`/events${text ? `?${text}` : ""}`);
    replace(list, eventsTable(page.events), pager({ name, limit }, before, page.next));
  };
  replace(main, h("h1", {}, "Events"),
    h("p", { class: "muted" }, "Events and signals sent, newest first, and the runs whose waiting steps each one woke."),
    form, list);
  try {
    await draw();
  } catch (error) {
    replace(list, errorBox(error));
  }
  // Only the first page changes as events arrive; older pages stay put.
  const timer = before ? null : setInterval(() => draw().catch(() => {}), POLL_MS * 2);
  return () => clearInterval(timer);
}

function eventsTable(events) {
  if (!events.length) return h("p", { class: "muted" }, "No event has been sent.");
  return h("div", { class: "scroll" }, h("table", { class: "events" },
    h("thead", {}, h("tr", {}, ["sent", "name", "kind", "data", "woke"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, events.map((event) => h("tr", { "data-event": event.id, "data-name": event.name },
      h("td", {}, formatTime(event.created_at)),
      h("td", { class: "mono" }, event.name),
      h("td", {}, event.target_run
        ? ["signal to ", h("a", { href: link("run", [event.target_run]), class: "mono" }, `${event.target_run.slice(0, 8)}…`)]
        : "event"),
      h("td", { class: "event-data" }, previewBlock(event.data, null, "null")),
      h("td", { class: "woke" }, event.woke.length
        ? h("ul", { class: "plain" }, event.woke.map((id) => h("li", {}, h("a", { href: link("run", [id]), class: "mono", "data-woke": id }, id))))
        : h("span", { class: "muted" }, "no run")))))));
}

/** Links to the newest page and the next older one, keeping the filter. */
function pager(kept, before, next) {
  const params = (value) => new URLSearchParams(value ? { ...kept, before: String(value) } : kept);
  return h("nav", { class: "pager", "aria-label": "Pages of events" },
    before ? h("a", { href: link("events", [], params(null)) }, "Newest") : null,
    next != null ? h("a", { href: link("events", [], params(next)), "data-next": next }, "Older events") : null);
}
