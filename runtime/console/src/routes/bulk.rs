//! Bulk cancel, retry, pause and resume: by a filter (walking every page of it, never
//! stopping at a page size) or by ids, with a dry run that only counts. The
//! answer says how many runs matched, how many the action succeeded on and
//! how many it failed on, and why.

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use durable::{Engine, MAX_PAGE, RunFilter, RunId};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::AppState;
use super::actions::Action;
use crate::error::{ApiError, ErrorCode, code_of};
use crate::extract::JsonBody;
use crate::filter::bulk_filter;

/// How many actions run at once: enough for the store to group their
/// writes, few enough to leave the engine's own work room.
const CONCURRENT: usize = 16;

/// How many failures the answer lists one by one; `errors_omitted` counts
/// the rest.
const LISTED_ERRORS: usize = 1_000;

/// The body of a bulk action: a filter or ids, and whether to only count.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Bulk {
    /// The runs to act on, as the run filter's parameters.
    #[serde(default)]
    filter: Option<Map<String, Value>>,
    /// Or the runs to act on, by id.
    #[serde(default)]
    ids: Option<Vec<String>>,
    /// Count the runs that match, change nothing.
    #[serde(default)]
    dry_run: bool,
}

/// `POST /api/v1/runs/cancel`.
pub(super) async fn cancel(
    State(state): State<AppState>,
    JsonBody(bulk): JsonBody<Bulk>,
) -> Result<Json<Value>, ApiError> {
    act(&state.engine, bulk, Action::Cancel).await
}

/// `POST /api/v1/runs/retry`.
pub(super) async fn retry(
    State(state): State<AppState>,
    JsonBody(bulk): JsonBody<Bulk>,
) -> Result<Json<Value>, ApiError> {
    act(&state.engine, bulk, Action::Retry).await
}

/// `POST /api/v1/runs/pause`.
pub(super) async fn pause(
    State(state): State<AppState>,
    JsonBody(bulk): JsonBody<Bulk>,
) -> Result<Json<Value>, ApiError> {
    act(&state.engine, bulk, Action::Pause).await
}

/// `POST /api/v1/runs/resume`.
pub(super) async fn resume(
    State(state): State<AppState>,
    JsonBody(bulk): JsonBody<Bulk>,
) -> Result<Json<Value>, ApiError> {
    act(&state.engine, bulk, Action::Resume).await
}

async fn act(engine: &Engine, bulk: Bulk, action: Action) -> Result<Json<Value>, ApiError> {
    let ids = match (bulk.filter, bulk.ids) {
        (Some(filter), None) => matching(engine, bulk_filter(&filter)?).await?,
        (None, Some(ids)) => parse_ids(&ids)?,
        (Some(_), Some(_)) => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "send either `filter` or `ids`, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::new(
                ErrorCode::EmptyFilter,
                "a bulk action needs `filter` or `ids`",
            ));
        }
    };
    let matched = ids.len();
    if bulk.dry_run {
        return Ok(Json(json!({
            "dry_run": true, "matched": matched, "succeeded": 0, "failed": 0,
            "errors": [], "errors_omitted": 0,
        })));
    }
    let outcomes: Vec<(RunId, Result<(), durable::Error>)> = futures_util::stream::iter(ids)
        .map(|id| async move { (id, action.apply(engine, id).await) })
        .buffer_unordered(CONCURRENT)
        .collect()
        .await;
    let mut errors = Vec::new();
    let mut failed = 0usize;
    for (id, result) in outcomes {
        if let Err(error) = result {
            failed += 1;
            if errors.len() < LISTED_ERRORS {
                errors.push(json!({
                    "id": id, "code": code_of(&error).as_str(), "message": error.to_string(),
                }));
            }
        }
    }
    Ok(Json(json!({
        "dry_run": false,
        "matched": matched,
        "succeeded": matched - failed,
        "failed": failed,
        "errors_omitted": failed - errors.len(),
        "errors": errors,
    })))
}

/// The ids of every run that passes `filter`, page after page.
async fn matching(engine: &Engine, filter: RunFilter) -> Result<Vec<RunId>, ApiError> {
    let mut filter = filter.limit(MAX_PAGE)?;
    let mut ids = Vec::new();
    loop {
        let page = engine.list_runs(&filter).await?;
        ids.extend(page.runs.iter().map(|run| run.id));
        match page.next {
            Some(next) => filter = filter.after(next),
            None => return Ok(ids),
        }
    }
}

/// The ids as run ids, each once, in the order given; an empty list is
/// refused like an empty filter.
fn parse_ids(texts: &[String]) -> Result<Vec<RunId>, ApiError> {
    if texts.is_empty() {
        return Err(ApiError::new(
            ErrorCode::EmptyFilter,
            "`ids` is empty: name at least one run",
        ));
    }
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    for (index, text) in texts.iter().enumerate() {
        let id: RunId = text.parse().map_err(|_| {
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!(
                    "ids[{index}]: `{}` is not a run id (a UUID)",
                    crate::extract::clip(text)
                ),
            )
        })?;
        if seen.insert(id) {
            ids.push(id);
        }
    }
    Ok(ids)
}
