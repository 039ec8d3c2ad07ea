//! Workflows: the list, one workflow's input schema, and a trigger with a
//! JSON input.
//!
//! Until the engine has a catalog of workflows in the database
//! (`Engine::workflows()`), this module knows only what the public engine
//! offers: the input schema of a workflow registered on this engine
//! (`Engine::input_schema`), and the names of workflows that have runs
//! (`Engine::count_runs`). A workflow registered here that has no run yet
//! is found by name (`/workflows/{name}`, trigger) but not listed. The
//! catalog replaces both in this one module.

use std::collections::BTreeSet;
use std::time::{Duration, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use durable::{Engine, TriggerOptions};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use crate::error::{ApiError, ErrorCode};
use crate::extract::{JsonBody, PathParams};
use crate::views;

/// `GET /api/v1/workflows`: the workflows that have runs, each with its
/// input schema when this engine registers it.
pub(super) async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let names: BTreeSet<String> = state
        .engine
        .count_runs()
        .await?
        .into_iter()
        .map(|count| count.workflow)
        .collect();
    let workflows: Vec<Value> = names
        .iter()
        .map(|name| describe(&state.engine, name))
        .collect();
    Ok(Json(json!({ "workflows": workflows })))
}

/// `GET /api/v1/workflows/{name}`: one workflow, registered here or with
/// runs in the database.
pub(super) async fn one(
    State(state): State<AppState>,
    PathParams(name): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    if let Err(unknown) = state.engine.input_schema(&name) {
        let has_runs = state
            .engine
            .count_runs()
            .await?
            .iter()
            .any(|count| count.workflow == name);
        if !has_runs {
            return Err(unknown.into());
        }
    }
    Ok(Json(describe(&state.engine, &name)))
}

/// A workflow as the routes show it.
fn describe(engine: &Engine, name: &str) -> Value {
    let schema = engine.input_schema(name).ok();
    json!({ "name": name, "registered_here": schema.is_some(), "input_schema": schema })
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
}

/// `POST /api/v1/workflows/{name}/trigger`: starts a run with a JSON input,
/// checked against the workflow's input type first; nothing is written when
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
