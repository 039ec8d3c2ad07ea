//! Actions on one run (cancel, retry, pause, resume, fork, signal) and
//! events: sending one, and
//! the list of those sent with the runs they woke.

use axum::Json;
use axum::extract::State;
use durable::RunId;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use crate::error::ApiError;
use crate::extract::{JsonBody, PathParams, QueryPairs, run_id};
use crate::filter::event_filter;
use crate::views;

/// The body of `POST /events` and `POST /runs/{id}/signal`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Message {
    /// The event's or signal's name.
    name: String,
    /// Its data (default `null`).
    #[serde(default)]
    data: Value,
}

/// A change of one run's status that an operator asks for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Action {
    /// Cancel a pending, running or suspended run.
    Cancel,
    /// Move a failed or timed-out run back to pending.
    Retry,
    /// Pause a pending, running or suspended run: it starts no step.
    Pause,
    /// Resume a paused run.
    Resume,
}

impl Action {
    /// Applies the action to run `id`.
    pub(super) async fn apply(
        self,
        engine: &durable::Engine,
        id: RunId,
    ) -> Result<(), durable::Error> {
        let run = engine.run(id);
        match self {
            Action::Cancel => run.cancel().await,
            Action::Retry => run.retry().await,
            Action::Pause => run.pause().await,
            Action::Resume => run.resume().await,
        }
    }

    /// Applies the action to the run of the path and answers with the run
    /// as it is then.
    async fn answer(self, state: &AppState, id: &str) -> Result<Json<Value>, ApiError> {
        let id = run_id(id)?;
        self.apply(&state.engine, id).await?;
        let info = state.engine.run(id).info().await?;
        Ok(Json(
            json!({ "run": views::run(&info, state.preview_bytes) }),
        ))
    }
}

/// `POST /api/v1/runs/{id}/cancel`: cancels a pending, running or suspended
/// run and answers with the run as it is then.
pub(super) async fn cancel(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    Action::Cancel.answer(&state, &id).await
}

/// `POST /api/v1/runs/{id}/retry`: moves a failed or timed-out run back to
/// pending and answers with the run as it is then.
pub(super) async fn retry(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    Action::Retry.answer(&state, &id).await
}

/// `POST /api/v1/runs/{id}/pause`: pauses a pending, running or suspended
/// run (it starts no further step until resumed) and answers with the run
/// as it is then.
pub(super) async fn pause(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    Action::Pause.answer(&state, &id).await
}

/// `POST /api/v1/runs/{id}/resume`: resumes a paused run and answers with
/// the run as it is then.
pub(super) async fn resume(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    Action::Resume.answer(&state, &id).await
}

/// The body of `POST /runs/{id}/fork`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Fork {
    /// The step to run again from.
    from_step: String,
    /// Another input for the new run (default: the source's).
    #[serde(default)]
    input: Option<Value>,
}

/// `POST /api/v1/runs/{id}/fork` with `{"from_step": ..., "input": ...}`:
/// starts a new run from the ended run, keeping its journal before the step
/// (see `durable::Engine::fork`), and answers with the new run.
pub(super) async fn fork(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(fork): JsonBody<Fork>,
) -> Result<Json<Value>, ApiError> {
    let id = run_id(&id)?;
    let mut options = durable::ForkOptions::from_step(fork.from_step);
    if let Some(input) = fork.input {
        options = options.input(input)?;
    }
    let new = state.engine.fork(id, options).await?;
    let info = state.engine.run(new).info().await?;
    Ok(Json(
        json!({ "run": views::run(&info, state.preview_bytes) }),
    ))
}

/// `POST /api/v1/runs/{id}/signal` with `{"name": ..., "data": ...}`: sends
/// a signal to the run, kept until it listens.
pub(super) async fn signal(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(message): JsonBody<Message>,
) -> Result<Json<Value>, ApiError> {
    let id = run_id(&id)?;
    let sent = state
        .engine
        .signal(id, &message.name, &message.data)
        .await?;
    Ok(Json(views::sent(&sent)))
}

/// `POST /api/v1/events` with `{"name": ..., "data": ...}`: sends an event
/// to every run waiting for it.
pub(super) async fn send_event(
    State(state): State<AppState>,
    JsonBody(message): JsonBody<Message>,
) -> Result<Json<Value>, ApiError> {
    let sent = state
        .engine
        .send_event(&message.name, &message.data)
        .await?;
    Ok(Json(views::sent(&sent)))
}

/// `GET /api/v1/events`: a page of events and signals, newest first, each
/// with the runs it woke; `before=<next>` for the next page.
pub(super) async fn list_events(
    State(state): State<AppState>,
    query: QueryPairs,
) -> Result<Json<Value>, ApiError> {
    let filter = event_filter(&query)?;
    let page = state.engine.list_events(&filter).await?;
    let events: Vec<Value> = page
        .events
        .iter()
        .map(|event| views::event(event, state.preview_bytes))
        .collect();
    Ok(Json(json!({ "events": events, "next": page.next })))
}
