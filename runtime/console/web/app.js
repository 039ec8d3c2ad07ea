// The console's shell: reads the page from the URL's `#` part, draws it
// into <main>, and draws it again when the `#` part changes.
import { route } from "./api.js";
import { errorBox, replace } from "./dom.js";
import { overviewPage } from "./overview.js";
import { runsPage } from "./runs.js";
import { runPage } from "./run.js";
import { workflowsPage } from "./workflows.js";
import { eventsPage } from "./events.js";

const PAGES = { overview: overviewPage, runs: runsPage, run: runPage, workflows: workflowsPage, events: eventsPage };

// What the page now shown stops when another one replaces it (a live
// stream, a timer).
let cleanup = () => {};

async function show() {
  cleanup();
  cleanup = () => {};
  const main = document.getElementById("main");
  const { page, parts, params } = route();
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.page === (page === "run" ? "runs" : page)) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const draw = PAGES[page];
  if (!draw) {
    replace(main, errorBox(new Error(`no page “${page}”; see Overview, Runs or Events`)));
    return;
  }
  try {
    cleanup = (await draw(main, parts, params)) || (() => {});
  } catch (error) {
    replace(main, errorBox(error));
  }
}

// The token came in the URL to set the cookie; it leaves the address bar
// (and the history) now that the cookie carries it.
const url = new URL(location.href);
if (url.searchParams.has("token")) {
  url.searchParams.delete("token");
  history.replaceState(null, "", url.pathname + url.search + url.hash);
}
window.addEventListener("hashchange", show);
show();
