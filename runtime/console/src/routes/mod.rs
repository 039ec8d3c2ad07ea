//! The API's routes, as one table ([`routes`]) that builds the router and
//! that the OpenAPI test compares with `openapi.json`; the handlers are
//! split by concern: runs (reads), actions (on one run, events, bulk),
//! stats, workflows and workers, and the service's own routes (health, the
//! document); the live streams are in `crate::live`, `/metrics` in
//! `crate::metrics`.

mod actions;
mod bulk;
mod meta;
mod runs;
mod stats;
mod workflows;

use axum::Router;
use axum::handler::Handler;
use axum::routing::{MethodFilter, MethodRouter, on};

use crate::error::{ApiError, ErrorCode};

/// What every handler reads: the engine and how much of a value a list or
/// a detail shows.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) engine: durable::Engine,
    pub(crate) preview_bytes: usize,
    pub(crate) read_only: bool,
    /// The timings of the live streams.
    pub(crate) live: crate::live::LiveSettings,
    /// The figures `/metrics` shows.
    pub(crate) metrics: std::sync::Arc<crate::metrics::Metrics>,
}

/// The methods the API serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Get,
    Post,
}

// The router takes the method from the handler; the OpenAPI test reads it
// here to compare the table with the document.
#[cfg_attr(not(test), allow(dead_code))]
impl Verb {
    /// The method as OpenAPI writes it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
        }
    }
}

/// One route: a method, a path (axum's syntax, which is OpenAPI's:
/// `/runs/{id}`) and its handler.
pub(crate) struct Route {
    // Read by the OpenAPI test (see `Verb`).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) verb: Verb,
    pub(crate) path: &'static str,
    handler: MethodRouter<AppState>,
}

fn route<H, T>(verb: Verb, path: &'static str, handler: H) -> Route
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let filter = match verb {
        Verb::Get => MethodFilter::GET,
        Verb::Post => MethodFilter::POST,
    };
    Route {
        verb,
        path,
        handler: on(filter, handler),
    }
}

/// Every route the console serves.
pub(crate) fn routes() -> Vec<Route> {
    use Verb::{Get, Post};
    vec![
        route(Get, "/healthz", meta::healthz),
        route(Get, "/metrics", crate::metrics::metrics),
        route(Get, "/openapi.json", meta::openapi),
        route(Get, "/api/v1/runs", runs::list),
        route(Get, "/api/v1/runs/{id}", runs::detail),
        route(Get, "/api/v1/runs/{id}/input", runs::run_input),
        route(Get, "/api/v1/runs/{id}/output", runs::run_output),
        route(Get, "/api/v1/runs/{id}/error", runs::run_error),
        route(Get, "/api/v1/runs/{id}/steps", runs::steps),
        route(Get, "/api/v1/runs/{id}/steps/{seq}/input", runs::step_input),
        route(
            Get,
            "/api/v1/runs/{id}/steps/{seq}/output",
            runs::step_output,
        ),
        route(Get, "/api/v1/runs/{id}/steps/{seq}/error", runs::step_error),
        route(Get, "/api/v1/runs/{id}/logs", runs::logs),
        route(Get, "/api/v1/runs/{id}/children", runs::children),
        route(Get, "/api/v1/runs/{id}/events", crate::live::run_events),
        route(Get, "/api/v1/runs/events", crate::live::all_events),
        route(Post, "/api/v1/runs/{id}/cancel", actions::cancel),
        route(Post, "/api/v1/runs/{id}/retry", actions::retry),
        route(Post, "/api/v1/runs/{id}/pause", actions::pause),
        route(Post, "/api/v1/runs/{id}/resume", actions::resume),
        route(Post, "/api/v1/runs/{id}/fork", actions::fork),
        route(Post, "/api/v1/runs/{id}/signal", actions::signal),
        route(Post, "/api/v1/runs/cancel", bulk::cancel),
        route(Post, "/api/v1/runs/retry", bulk::retry),
        route(Post, "/api/v1/runs/pause", bulk::pause),
        route(Post, "/api/v1/runs/resume", bulk::resume),
        route(Get, "/api/v1/events", actions::list_events),
        route(Post, "/api/v1/events", actions::send_event),
        route(Get, "/api/v1/stats/counts", stats::counts),
        route(Get, "/api/v1/stats/series", stats::series),
        route(Get, "/api/v1/workflows", workflows::list),
        route(Get, "/api/v1/workflows/{name}", workflows::one),
        route(Post, "/api/v1/workflows/{name}/trigger", workflows::trigger),
        route(Get, "/api/v1/workers", workflows::workers),
        route(Get, "/api/v1/event-types", workflows::event_types),
    ]
}

/// The router of every route, with JSON answers for unknown paths and
/// methods.
pub(crate) fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for route in routes() {
        // Routes on one path with different methods merge into one.
        router = router.route(route.path, route.handler);
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!(
            "no route {}; the routes are listed in /openapi.json",
            crate::extract::clip(uri.path())
        ),
    )
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!(
            "{method} is not served on {}; see /openapi.json",
            crate::extract::clip(uri.path())
        ),
    )
}

#[cfg(test)]
mod tests;
