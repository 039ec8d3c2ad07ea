//! Reading runs: the list with the read side's filters and cursors, one run
//! with its steps and children, its logs, and the whole of a value that a
//! list or a detail shows only a preview of.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;
use crate::error::{ApiError, ErrorCode};
use crate::extract::{PathParams, QueryPairs, run_id};
use crate::filter::run_filter;
use crate::views;

/// `GET /api/v1/runs`: a page of runs, newest first, and the cursor of the
/// next page (`after=<next>`).
pub(super) async fn list(
    State(state): State<AppState>,
    query: QueryPairs,
) -> Result<Json<Value>, ApiError> {
    let filter = run_filter(&query)?;
    let page = state.engine.list_runs(&filter).await?;
    let runs: Vec<Value> = page
        .runs
        .iter()
        .map(|run| views::run(run, state.preview_bytes))
        .collect();
    Ok(Json(
        json!({ "runs": runs, "next": page.next.map(|next| next.to_string()) }),
    ))
}

/// `GET /api/v1/runs/{id}`: the run, its steps and its children.
pub(super) async fn detail(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let detail = state.engine.run_detail(run_id(&id)?).await?;
    let limit = state.preview_bytes;
    Ok(Json(json!({
        "run": views::run(&detail.run, limit),
        "steps": detail.steps.iter().map(|step| views::step(step, limit)).collect::<Vec<_>>(),
        "children": detail.children.iter().map(|child| views::run(child, limit)).collect::<Vec<_>>(),
    })))
}

/// `GET /api/v1/runs/{id}/steps`: the run's steps, in the order it reached
/// them.
pub(super) async fn steps(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let detail = state.engine.run_detail(run_id(&id)?).await?;
    let steps: Vec<Value> = detail
        .steps
        .iter()
        .map(|step| views::step(step, state.preview_bytes))
        .collect();
    Ok(Json(Value::Array(steps)))
}

/// `GET /api/v1/runs/{id}/logs`: its log lines, oldest first.
pub(super) async fn logs(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let run = state.engine.run(run_id(&id)?);
    // An unknown run has no lines either; say that it is unknown.
    run.info().await?;
    let lines = run.logs().await?;
    Ok(Json(serde_json::to_value(lines).unwrap_or(Value::Null)))
}

/// `GET /api/v1/runs/{id}/children`: the runs it started, oldest first.
pub(super) async fn children(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let detail = state.engine.run_detail(run_id(&id)?).await?;
    let children: Vec<Value> = detail
        .children
        .iter()
        .map(|child| views::run(child, state.preview_bytes))
        .collect();
    Ok(Json(Value::Array(children)))
}

/// Which value of a run or a step a route answers with.
#[derive(Clone, Copy)]
enum Part {
    Input,
    Output,
    Error,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Input => "input",
            Part::Output => "output",
            Part::Error => "error",
        }
    }
}

/// The part of `value` asked for, or `value_not_found` naming `whose`.
fn whole(
    input: Option<Value>,
    output: Option<Value>,
    error: Option<String>,
    part: Part,
    whose: &str,
) -> Result<Json<Value>, ApiError> {
    let value = match part {
        Part::Input => input,
        Part::Output => output,
        Part::Error => error.map(Value::String),
    };
    value.map(Json).ok_or_else(|| {
        ApiError::new(
            ErrorCode::ValueNotFound,
            format!("{whose} has no {} (yet)", part.name()),
        )
    })
}

async fn run_part(state: AppState, id: String, part: Part) -> Result<Json<Value>, ApiError> {
    let id = run_id(&id)?;
    let info = state.engine.run(id).info().await?;
    whole(
        Some(info.input),
        info.output,
        info.error,
        part,
        &format!("run {id}"),
    )
}

/// The step at position `seq`, or, with `?name=`, the one of that name
/// there: a group's inner steps count their positions from 0 within the
/// group, so several steps of a run may share one.
async fn step_part(
    state: AppState,
    (id, seq): (String, String),
    query: &QueryPairs,
    part: Part,
) -> Result<Json<Value>, ApiError> {
    // Other parameters (a link's `?token=`) are left alone, as before.
    let name = query.single("name")?;
    let id = run_id(&id)?;
    let seq: i64 = seq.parse().map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidPath,
            format!(
                "`{}` is not a step position (the step's `seq`)",
                crate::extract::clip(&seq)
            ),
        )
    })?;
    let detail = state.engine.run_detail(id).await?;
    let step = detail
        .steps
        .into_iter()
        .find(|step| step.seq == seq && name.is_none_or(|name| step.name == name))
        .ok_or_else(|| {
            let named = name.map_or_else(String::new, |name| {
                format!(" named `{}`", crate::extract::clip(name))
            });
            ApiError::new(
                ErrorCode::StepNotFound,
                format!("run {id} has no step{named} at position {seq}"),
            )
        })?;
    let whose = format!("step `{}` of run {id}", step.name);
    whole(step.input, step.output, step.error, part, &whose)
}

/// `GET /api/v1/runs/{id}/input`: the run's whole input.
pub(super) async fn run_input(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    run_part(state, id, Part::Input).await
}

/// `GET /api/v1/runs/{id}/output`: the run's whole output, once completed.
pub(super) async fn run_output(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    run_part(state, id, Part::Output).await
}

/// `GET /api/v1/runs/{id}/error`: the run's whole error, as a JSON string.
pub(super) async fn run_error(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    run_part(state, id, Part::Error).await
}

/// `GET /api/v1/runs/{id}/steps/{seq}/input`: a step's whole recorded input.
pub(super) async fn step_input(
    State(state): State<AppState>,
    PathParams(path): PathParams<(String, String)>,
    query: QueryPairs,
) -> Result<Json<Value>, ApiError> {
    step_part(state, path, &query, Part::Input).await
}

/// `GET /api/v1/runs/{id}/steps/{seq}/output`: a step's whole output.
pub(super) async fn step_output(
    State(state): State<AppState>,
    PathParams(path): PathParams<(String, String)>,
    query: QueryPairs,
) -> Result<Json<Value>, ApiError> {
    step_part(state, path, &query, Part::Output).await
}

/// `GET /api/v1/runs/{id}/steps/{seq}/error`: a step's whole last error.
pub(super) async fn step_error(
    State(state): State<AppState>,
    PathParams(path): PathParams<(String, String)>,
    query: QueryPairs,
) -> Result<Json<Value>, ApiError> {
    step_part(state, path, &query, Part::Error).await
}
