// The console's client of its own API (/api/v1, same origin: the cookie
// carries the token), and live updates: server-sent events where the
// server has the route, polling every 1.5 s where it has not.

/** An error answer of the API: its HTTP status, stable code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Calls `/api/v1<path>`; a JSON `body` makes it a POST. */
export async function api(path, { method, body } = {}) {
  const init = { method: method || (body === undefined ? "GET" : "POST"), credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`/api/v1${path}`, init);
  const text = await response.text();
  let value = null;
  try {
    value = text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError(response.status, "not_json", text.slice(0, 200));
  }
  if (!response.ok) throw new ApiError(response.status, value?.code || "error", value?.message || response.statusText);
  return value;
}

/** Like `api`, but null where this server has no such route (404). */
export async function optional(path) {
  try {
    return await api(path);
  } catch (error) {
    if (error.status === 404 || error.status === 400) return null;
    throw error;
  }
}

/** How often pages poll where the server sends no events. */
export const POLL_MS = 1500;

/**
 * Calls `onChange` whenever the stream at `/api/v1<path>` sends an event,
 * or every POLL_MS when the server has no such stream (or it stops).
 * Returns a function that stops it. `mode()` tells which one is in use.
 */
export function follow(path, onChange) {
  let stopped = false;
  let timer = null;
  let source = null;
  let pending = null;
  const fire = () => {
    // Events come in bursts (a step, its log line, the run): one refresh.
    if (pending || stopped) return;
    pending = setTimeout(() => {
      pending = null;
      if (!stopped) onChange();
    }, 100);
  };
  const poll = () => {
    if (timer || stopped) return;
    if (source) source.close();
    source = null;
    timer = setInterval(() => !stopped && onChange(), POLL_MS);
  };
  if (typeof EventSource === "function") {
    source = new EventSource(`/api/v1${path}`);
    // `open` too: what changed before the server subscribed this stream to
    // the engine's changes (the page was drawn before) is read once then.
    for (const name of ["open", "run", "step", "log", "end", "status", "resync", "message"]) source.addEventListener(name, fire);
    // A 404 (no such route here) or any answer that is not a stream closes
    // it for good: poll instead. An `end` means the run ended.
    source.addEventListener("error", () => source && source.readyState === EventSource.CLOSED && poll());
    source.addEventListener("end", () => { if (source) source.close(); });
  } else {
    poll();
  }
  const stop = () => {
    stopped = true;
    if (source) source.close();
    clearInterval(timer);
    clearTimeout(pending);
  };
  stop.mode = () => (timer ? "polling" : "events");
  return stop;
}

/** The URL's `#/page?query` as a page name, its path parts and parameters. */
export function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = hash.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || "overview", parts: parts.slice(1), params: new URLSearchParams(query) };
}

/** A `#/page/parts?params` link. */
export function link(page, parts = [], params = null) {
  const path = [page, ...parts.map(encodeURIComponent)].join("/");
  const query = params ? new URLSearchParams([...params].filter(([, value]) => value !== "" && value != null)).toString() : "";
  return `#/${path}${query ? `?${query}` : ""}`;
}
