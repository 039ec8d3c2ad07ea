//! Live updates as server-sent events: one run's status, steps and logs
//! (`run.rs`, resumable through the [`cursor`] each event carries as its
//! id) and every run's status changes (`all.rs`), fed by the engine's
//! change feed ([`durable::Engine::changes`]), with keep-alives.
//!
//! On PostgreSQL the feed tells what every process on the database
//! commits. Where it cannot see (a console opened read-only on a SQLite
//! file another engine holds), one run's stream still follows the run: it
//! reads it again every [`LiveSettings::poll`] (default [`DEFAULT_POLL`]).
//! The all-runs stream has only the feed.

mod all;
pub(crate) mod cursor;
mod run;

use std::convert::Infallible;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;

pub(crate) use all::all_events;
pub(crate) use run::run_events;

use crate::error::{ApiError, ErrorCode};

/// How often a stream with nothing to send sends a keep-alive comment
/// when none is set: 15 s, under the idle timeouts of common proxies.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How often one run's stream reads the run again when the feed told
/// nothing (see the module docs) when none is set.
pub const DEFAULT_POLL: Duration = Duration::from_millis(500);

/// The timings of the live streams.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LiveSettings {
    pub(crate) keep_alive: Duration,
    pub(crate) poll: Duration,
}

impl Default for LiveSettings {
    fn default() -> Self {
        LiveSettings {
            keep_alive: DEFAULT_KEEP_ALIVE,
            poll: DEFAULT_POLL,
        }
    }
}

/// The stream as an SSE answer with keep-alives every `keep_alive`.
fn sse(
    stream: impl Stream<Item = Result<Event, Infallible>> + Send + 'static,
    keep_alive: Duration,
) -> Response {
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(keep_alive).text("keep-alive"))
        .into_response()
}

/// The `Last-Event-ID` header of a reconnecting client, if any.
fn last_event_id(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    match headers.get("last-event-id") {
        None => Ok(None),
        Some(value) => value.to_str().map(Some).map_err(|_| {
            ApiError::new(
                ErrorCode::InvalidQuery,
                "Last-Event-ID is not text; reconnect without it",
            )
        }),
    }
}
