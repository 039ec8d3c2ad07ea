//! Workflows and workers, read from the database's catalog (what every
//! engine on it recorded when it started, not only this console's engine):
//! the list, one workflow with its versions, manifests and workers, a
//! trigger with a JSON input (checked against the catalog's input schema
//! when this engine does not register the workflow, so a standalone
//! console triggers too), the workers, and the typed events with their
//! schemas. The list and one workflow say, per pinned version, how many
//! runs wait with no live worker serving it (`unserved`).

use std::time::{Duration, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use durable::{Engine, TriggerOptions, UnservedRuns, WorkflowVersion};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use crate::error::{ApiError, ErrorCode};
use crate::extract::{JsonBody, PathParams};
use crate::views;

/// `GET /api/v1/workflows`: every workflow of the catalog, by name, each
/// as its most recently seen version with how many versions it has, and
/// its runs waiting for a version no live worker serves (`unserved`).
pub(super) async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let (versions, unserved) =
        tokio::try_join!(state.engine.workflows(), state.engine.unserved_runs())?;
    let mut workflows: Vec<Value> = Vec::new();
    // The catalog lists by name, the most recently seen version first.
    for group in versions.chunk_by(|a, b| a.name == b.name) {
        let mut latest = version_view(&group[0]);
        latest["registered_here"] = json!(registered_here(&state.engine, &group[0].name));
        latest["versions"] = json!(group.len());
        latest["unserved"] = unserved_view(&unserved, &group[0].name);
        workflows.push(latest);
    }
    Ok(Json(json!({ "workflows": workflows })))
}

/// The runs of `workflow` among `unserved`, per pinned version:
/// `[{"version": "v1", "runs": 3}]`, `version` `null` for runs not pinned
/// yet (no live worker serves the workflow at all); empty when none waits.
fn unserved_view(unserved: &[UnservedRuns], workflow: &str) -> Value {
    let groups: Vec<Value> = unserved
        .iter()
        .filter(|group| group.workflow == workflow)
        .map(|group| json!({ "version": group.version, "runs": group.runs }))
        .collect();
    Value::Array(groups)
}

/// `GET /api/v1/workflows/{name}`: one workflow of the catalog: its most
/// recently seen version's schemas and manifest, every version with the
/// workers that serve it, and its runs waiting for a version no live
/// worker serves (`unserved`, per pinned version).
pub(super) async fn one(
    State(state): State<AppState>,
    PathParams(name): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let (detail, unserved) =
        tokio::try_join!(state.engine.workflow(&name), state.engine.unserved_runs())?;
    let versions: Vec<Value> = detail
        .versions
        .iter()
        .map(|served| {
            let mut view = version_view(&served.version);
            let workers: Vec<Value> = served
                .workers
                .iter()
                .map(|worker| worker_view(&state.engine, worker))
                .collect();
            view["workers"] = Value::Array(workers);
            view
        })
        .collect();
    let mut body = versions.first().cloned().unwrap_or_else(|| json!({}));
    if let Value::Object(latest) = &mut body {
        latest.remove("workers");
    }
    body["name"] = json!(detail.name);
    body["registered_here"] = json!(registered_here(&state.engine, &detail.name));
    body["versions"] = Value::Array(versions);
    body["unserved"] = unserved_view(&unserved, &detail.name);
    Ok(Json(body))
}

/// `GET /api/v1/workers`: the engines recorded in the catalog, the most
/// recently started first, with their heartbeats (and whether each is
/// stale) and the versions they serve.
pub(super) async fn workers(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let workers: Vec<Value> = state
        .engine
        .workers()
        .await?
        .iter()
        .map(|worker| worker_view(&state.engine, worker))
        .collect();
    Ok(Json(json!({ "workers": workers })))
}

/// `GET /api/v1/event-types`: the typed events of the catalog, each with
/// its JSON Schema, by name, the most recently seen schema of each first:
/// events of these names sent through `POST /api/v1/events` must fit it.
pub(super) async fn event_types(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let event_types = state.engine.event_types().await?;
    Ok(Json(json!({ "event_types": event_types })))
}

/// A worker as the API shows it: its record, and `stale` when its last
/// heartbeat is older than 3 of the console's engine's heartbeats
/// ([`durable::Engine::is_stale`]).
fn worker_view(engine: &durable::Engine, worker: &durable::WorkerInfo) -> Value {
    let mut view = json!(worker);
    view["stale"] = json!(engine.is_stale(worker));
    view
}

/// A version as the routes show it: the catalog's row as JSON.
fn version_view(version: &WorkflowVersion) -> Value {
    serde_json::to_value(version).unwrap_or_else(|_| json!({ "name": version.name }))
}

/// Whether the console's own engine registers the workflow (so executes
/// its runs itself).
fn registered_here(engine: &Engine, name: &str) -> bool {
    engine.input_schema(name).is_ok()
}

/// The body of a trigger.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Trigger {
    /// The run's input (default `null`, which fits a workflow without
    /// parameters).
    #[serde(default)]
    input: Value,
    /// Makes the trigger idempotent.
    #[serde(default)]
    idempotency_key: Option<String>,
    /// Start after this long: a duration string (`"10m"`) or milliseconds.
    #[serde(default)]
    delay: Option<Value>,
    /// Start at this time, in ms since the epoch.
    #[serde(default)]
    start_at: Option<u64>,
    /// The run's priority (default 0): among due runs, higher first.
    #[serde(default)]
    priority: Option<i32>,
}

/// `POST /api/v1/workflows/{name}/trigger`: starts a run with a JSON input,
/// checked against the workflow's input type (registered here) or the
/// catalog's input schema (served elsewhere) first; nothing is written when
/// it does not fit. A repeated idempotency key with the same input answers
/// with the first run.
pub(super) async fn trigger(
    State(state): State<AppState>,
    PathParams(name): PathParams<String>,
    JsonBody(trigger): JsonBody<Trigger>,
) -> Result<Json<Value>, ApiError> {
    let options = options(&trigger)?;
    let run = state
        .engine
        .trigger_json_with(&name, trigger.input, options)
        .await?;
    let info = run.info().await?;
    Ok(Json(
        json!({ "run": views::run(&info, state.preview_bytes) }),
    ))
}

fn options(trigger: &Trigger) -> Result<TriggerOptions, ApiError> {
    let invalid = |message: String| ApiError::new(ErrorCode::InvalidRequest, message);
    let mut options = TriggerOptions::new();
    if let Some(key) = &trigger.idempotency_key {
        options = options.idempotency_key(key.clone());
    }
    if let Some(priority) = trigger.priority {
        options = options.priority(priority);
    }
    match (&trigger.delay, trigger.start_at) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "send either `delay` or `start_at`, not both".into(),
            ));
        }
        (Some(Value::String(text)), None) => {
            options = options
                .delay(text.as_str())
                .map_err(|error| invalid(format!("delay: {error}")))?;
        }
        (Some(Value::Number(number)), None) => {
            let ms = number.as_u64().ok_or_else(|| {
                invalid(format!(
                    "delay: expected milliseconds (a whole number), not {number}"
                ))
            })?;
            options = options
                .delay(ms)
                .map_err(|error| invalid(format!("delay: {error}")))?;
        }
        (Some(other), None) => {
            return Err(invalid(format!(
                "delay: expected a duration (\"10m\") or milliseconds, not {other}"
            )));
        }
        (None, Some(at)) => {
            options = options.start_at(UNIX_EPOCH + Duration::from_millis(at));
        }
        (None, None) => {}
    }
    Ok(options)
}
