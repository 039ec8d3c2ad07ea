//! The HTTP API of durable: runs, actions, stats and workflows as JSON
//! under `/api/v1`, described by the OpenAPI document it serves at
//! `/openapi.json`, served beside the runs of a worker.
//!
//! ```no_run
//! # async fn f(engine: durable::Engine) -> Result<(), durable_console::ConsoleError> {
//! // On 127.0.0.1 with a random token, printed in the URL it logs.
//! let console = durable_console::Console::new(&engine).bind("127.0.0.1:7777").await?;
//! println!("console at {}", console.url());
//! // ... the worker runs ...
//! console.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! # Routes
//!
//! - runs: `GET /api/v1/runs` (the read side's filters as query
//!   parameters: `workflow`, `status` (repeated or comma-separated),
//!   `created_from`, `created_until`, `finished_from`, `finished_until`,
//!   `parent`, `text`, `limit`, `after`, the `next` cursor of the previous
//!   page), `GET /api/v1/runs/{id}` (with steps and children), its
//!   `/input`, `/output`, `/error`, `/steps`, `/steps/{seq}/input|output|error`,
//!   `/logs`, `/children`;
//! - actions: `POST /api/v1/runs/{id}/cancel|retry|signal`, `POST
//!   /api/v1/events`, bulk `POST /api/v1/runs/cancel|retry` with `{"filter":
//!   {...} | "ids": [...], "dry_run": bool}`, answering `{matched,
//!   succeeded, failed, errors}`; `GET /api/v1/events`;
//! - stats: `GET /api/v1/stats/counts`, `GET /api/v1/stats/series?from&until`;
//! - workflows: `GET /api/v1/workflows`, `GET /api/v1/workflows/{name}`,
//!   `POST /api/v1/workflows/{name}/trigger` with `{input, idempotency_key?,
//!   delay? | start_at?}`;
//! - live updates (server-sent events, keep-alives every
//!   [`Console::keep_alive`]): `GET /api/v1/runs/{id}/events` (one run's
//!   `run`, `step` and `log` changes, then `end`; resumable with
//!   `Last-Event-ID`), `GET /api/v1/runs/events?workflow` (every run's
//!   `status` changes);
//! - `GET /healthz`, `GET /metrics` (OpenMetrics text: runs started,
//!   completed, failed, timed out and cancelled and step histograms counted
//!   from the engine's change feed; pending, running and suspended runs and
//!   the oldest due run's age read at each scrape), `GET /openapi.json`;
//! - the web console: `GET /` (open the printed URL in a browser) and its
//!   files under `/ui/`, compiled into the binary.
//!
//! Lists and details show a value (an input, an output, an error, an
//! event's data) whole while it is small, and cut to a preview over
//! [`Console::preview_bytes`]: `{"truncated": true, "bytes": n, "preview":
//! "..."}` (small: `{"truncated": false, "bytes": n, "value": ...}`). The
//! routes ending in `/input`, `/output`, `/error` answer with the whole
//! value.
//!
//! Errors are `{"code": "...", "message": "..."}` with a stable
//! [`ErrorCode`] and its status (400, 401, 403, 404, 405, 409, 413, 415,
//! 422, 500, 503).
//!
//! # Security
//!
//! - [`Console::bind`] refuses an address that is not loopback unless a
//!   token was set with [`Console::token`].
//! - Every request needs the token: `Authorization: Bearer <token>`, or the
//!   `durable_token` cookie, which `?token=<token>` on any URL sets. Without
//!   a token set, the console makes a random one, and [`ServingConsole::url`]
//!   (logged and printed at start) carries it.
//! - The `Host` header must name this server (a local name, a loopback
//!   address, the bound address, or a name given to [`Console::allow_host`]),
//!   against DNS rebinding; a request that changes something must come from
//!   the `Origin` its `Host` names; both refusals are 403.
//! - [`Console::read_only`] refuses every action with 403 `read_only`.

#[cfg(feature = "cli")]
pub mod cli;
mod error;
mod extract;
mod filter;
mod live;
mod metrics;
mod routes;
mod security;
mod serve;
mod ui;
mod views;

pub use error::ErrorCode;
pub use live::{DEFAULT_KEEP_ALIVE, DEFAULT_POLL};

/// The crate README's code block, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
pub use serve::{ConsoleError, ServingConsole};

use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;

use crate::security::Access;

/// The preview size when none is set: 4 KiB of a value's text.
pub const DEFAULT_PREVIEW_BYTES: usize = 4 * 1024;

/// The largest request body when none is set: 16 MiB, above the engine's
/// default input limit, so that an oversized input gets the engine's own
/// `payload_too_large`, which names the limit.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The HTTP API on an engine: build it, then [`bind`](Console::bind) it or
/// take its [`router`](Console::router).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let engine = durable::Engine::builder().sqlite_memory().start().await?;
/// let console = durable_console::Console::new(&engine)
///     .token("s3cret")
///     .read_only(true)
///     .preview_bytes(1024);
/// let router: axum::Router = console.router();
/// # Ok::<(), durable::Error>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct Console {
    engine: durable::Engine,
    token: String,
    /// Whether the token was set (rather than made at random).
    token_set: bool,
    read_only: bool,
    preview_bytes: usize,
    max_body_bytes: usize,
    hosts: Vec<String>,
    live: live::LiveSettings,
}

impl std::fmt::Debug for Console {
    // The token stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("engine", &self.engine)
            .field("token", &"<redacted>")
            .field("token_set", &self.token_set)
            .field("read_only", &self.read_only)
            .field("preview_bytes", &self.preview_bytes)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("hosts", &self.hosts)
            .field("live", &self.live)
            .finish()
    }
}

impl Console {
    /// The API on `engine`, with a random token, not read-only.
    pub fn new(engine: &durable::Engine) -> Self {
        Console {
            engine: engine.clone(),
            token: security::random_token(),
            token_set: false,
            read_only: false,
            preview_bytes: DEFAULT_PREVIEW_BYTES,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            hosts: Vec::new(),
            live: live::LiveSettings::default(),
        }
    }

    /// The token every request must carry. Needed to bind an address that
    /// is not loopback.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = token.into();
        self.token_set = true;
        self
    }

    /// Refuse every action (403 `read_only`); reads still answer.
    pub fn read_only(mut self, yes: bool) -> Self {
        self.read_only = yes;
        self
    }

    /// How many bytes of a value lists and details show before they cut it
    /// (default [`DEFAULT_PREVIEW_BYTES`]).
    pub fn preview_bytes(mut self, bytes: usize) -> Self {
        self.preview_bytes = bytes;
        self
    }

    /// The largest request body (default [`DEFAULT_MAX_BODY_BYTES`]); a
    /// larger one is refused with 413 `payload_too_large` before anything
    /// is read into the engine. The engine's own
    /// [`Limits`](durable::Limits) apply to what passes.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Accepts requests whose `Host` header names `host` (a name the server
    /// is reached by, e.g. `console.internal`; without a port), besides the
    /// local names and addresses.
    pub fn allow_host(mut self, host: impl Into<String>) -> Self {
        let host: String = host.into();
        self.hosts
            .push(host.trim_end_matches('.').to_ascii_lowercase());
        self
    }

    /// How often a live stream with nothing to send sends a keep-alive
    /// comment (default [`DEFAULT_KEEP_ALIVE`]).
    pub fn keep_alive(mut self, every: std::time::Duration) -> Self {
        self.live.keep_alive = every;
        self
    }

    /// How often one run's live stream reads the run again when the
    /// engine's change feed told nothing (default [`DEFAULT_POLL`]): what
    /// an engine holding the SQLite file a read-only console opened commits
    /// reaches it that way (on PostgreSQL the feed tells it).
    pub fn poll_interval(mut self, every: std::time::Duration) -> Self {
        self.live.poll = every.max(std::time::Duration::from_millis(10));
        self
    }

    /// The token requests must carry: the one set with
    /// [`token`](Console::token), or the random one.
    pub fn access_token(&self) -> &str {
        &self.token
    }

    /// The API as a router, for tests (`tower::ServiceExt::oneshot`) and
    /// for serving it inside another axum application. Its requests need
    /// the [`access_token`](Console::access_token), and a `Host` that is a
    /// local name, a loopback address or one of
    /// [`allow_host`](Console::allow_host)'s (it knows no bound address).
    pub fn router(&self) -> Router {
        self.router_on(None)
    }

    /// The router, accepting `Host` headers that name `bound` too.
    pub(crate) fn router_on(&self, bound: Option<IpAddr>) -> Router {
        let access = Arc::new(Access {
            token: self.token.clone(),
            read_only: self.read_only,
            bound,
            hosts: self.hosts.clone(),
        });
        let metrics = Arc::new(metrics::Metrics::new());
        metrics::follow(&self.engine, &metrics);
        let state = routes::AppState {
            engine: self.engine.clone(),
            preview_bytes: self.preview_bytes,
            read_only: self.read_only,
            live: self.live,
            metrics,
        };
        routes::router(state)
            .merge(ui::router())
            .layer(axum::middleware::from_fn_with_state(
                access,
                security::check,
            ))
            .layer(DefaultBodyLimit::max(self.max_body_bytes))
    }

    /// Binds `addr` and serves the API there in a task of its own; the
    /// answer has the address it listens on and stops it.
    ///
    /// # Errors
    ///
    /// [`ConsoleError::TokenRequired`] for an address that is not loopback
    /// while no token was set; [`ConsoleError::Bind`] when the address
    /// cannot be resolved or bound.
    pub async fn bind(
        self,
        addr: impl tokio::net::ToSocketAddrs,
    ) -> Result<ServingConsole, ConsoleError> {
        serve::bind(self, addr).await
    }
}
