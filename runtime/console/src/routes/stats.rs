//! Stats for an overview: how many runs there are in each status (per
//! workflow and in all), how many wait for a version no live worker
//! serves, how long the oldest due pending run has waited, and a
//! per-minute series for a chart.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use durable::RunStatus;
use serde_json::{Map, Value, json};

use super::AppState;
use crate::error::ApiError;
use crate::extract::QueryPairs;

/// The series' range when the query names none: the last hour.
const DEFAULT_SERIES_MS: i64 = 60 * 60_000;

/// `GET /api/v1/stats/counts`: `counts` per workflow and status,
/// `by_status`, every status with its total (zero included), and
/// `oldest_pending_ms`, how long the pending run due longest has waited
/// for a worker (`null` when none is due), and `unserved`, how many runs
/// wait for a version no live worker serves
/// ([`durable::Engine::unserved_runs`]).
pub(super) async fn counts(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let (counts, oldest, unserved) = tokio::try_join!(
        state.engine.count_runs(),
        state.engine.oldest_pending_age(),
        state.engine.unserved_runs()
    )?;
    let unserved: u64 = unserved.iter().map(|group| group.runs).sum();
    // Whole milliseconds, as every time the API shows.
    let oldest_ms = oldest.map(|waited| u64::try_from(waited.as_millis()).unwrap_or(u64::MAX));
    let mut by_status: Map<String, Value> = RunStatus::ALL
        .iter()
        .map(|status| (status.as_str().to_owned(), json!(0u64)))
        .collect();
    let mut total = 0u64;
    for count in &counts {
        total += count.count;
        let slot = by_status
            .entry(count.status.as_str())
            .or_insert(json!(0u64));
        *slot = json!(slot.as_u64().unwrap_or(0) + count.count);
    }
    Ok(Json(
        json!({ "counts": counts, "by_status": by_status, "total": total, "oldest_pending_ms": oldest_ms, "unserved": unserved }),
    ))
}

/// `GET /api/v1/stats/series?from&until`: runs started, completed and
/// failed per minute over `[from, until)` (ms since the epoch, at most a
/// day; default the last 60 minutes, the current one included).
pub(super) async fn series(
    State(state): State<AppState>,
    query: QueryPairs,
) -> Result<Json<Value>, ApiError> {
    query.only(&["from", "until"])?;
    const MS: &str = "a time in ms since the epoch";
    let until = match query.parsed("until", MS)? {
        Some(until) => until,
        // The end of the current minute: 60 whole minutes by default.
        None => (now_ms() / 60_000 + 1) * 60_000,
    };
    let from = query
        .parsed("from", MS)?
        .unwrap_or(until - DEFAULT_SERIES_MS);
    let minutes = state.engine.run_series(from, until).await?;
    Ok(Json(
        json!({ "from": from, "until": until, "minutes": minutes }),
    ))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
