//! `GET /api/v1/runs/events`: every run's status changes as the engine
//! commits them, optionally of one workflow (`?workflow=`).
//!
//! Each `status` event's id is the change's place in the engine's feed
//! ([`durable::RunChange::seq`]). The feed keeps no history for a client
//! that was away, so a stream opened with `Last-Event-ID` starts with a
//! `resync` event (`{"reason": "reconnected", "last_event_id": n}`), and one
//! that fell too far behind gets `{"reason": "lagged", "missed": n}`, and one
//! whose engine lost its connection for other processes' changes (PostgreSQL)
//! gets `{"reason": "interrupted"}`: the client reads the runs again (`GET
//! /api/v1/runs`) and follows on from there. On PostgreSQL the stream tells
//! every process's changes, not only this console's engine's.

use std::collections::VecDeque;
use std::convert::Infallible;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::Event;
use durable::{ChangeKind, ChangesError, RunChange, RunChanges};
use futures_util::Stream;
use serde_json::json;

use super::{last_event_id, sse};
use crate::error::{ApiError, ErrorCode};
use crate::extract::QueryPairs;
use crate::routes::AppState;

/// `GET /api/v1/runs/events`.
pub(crate) async fn all_events(
    State(state): State<AppState>,
    query: QueryPairs,
    headers: HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    query.only(&["workflow"])?;
    let workflow = query.single("workflow")?.map(str::to_owned);
    let mut queue = VecDeque::new();
    if let Some(text) = last_event_id(&headers)? {
        let last: u64 = text.trim().parse().map_err(|_| {
            ApiError::new(
                ErrorCode::InvalidQuery,
                "Last-Event-ID is not an event id of the runs' stream (a number)",
            )
        })?;
        let data = json!({ "reason": "reconnected", "last_event_id": last });
        queue.push_back(Event::default().event("resync").data(data.to_string()));
    }
    let stream = AllStream {
        changes: state.engine.changes(),
        workflow,
        queue,
    };
    Ok(sse(events(stream), state.live.keep_alive))
}

struct AllStream {
    changes: RunChanges,
    workflow: Option<String>,
    queue: VecDeque<Event>,
}

fn events(stream: AllStream) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(stream, |mut stream| async move {
        loop {
            if let Some(event) = stream.queue.pop_front() {
                return Some((Ok(event), stream));
            }
            match stream.changes.recv().await {
                Ok(change) => {
                    if let Some(event) = stream.event(&change) {
                        return Some((Ok(event), stream));
                    }
                }
                Err(ChangesError::Lagged { missed }) => {
                    let data = json!({ "reason": "lagged", "missed": missed });
                    let event = Event::default().event("resync").data(data.to_string());
                    return Some((Ok(event), stream));
                }
                Err(ChangesError::Interrupted) => {
                    // Other processes' changes of an unknown span are missing.
                    let data = json!({ "reason": "interrupted" });
                    let event = Event::default().event("resync").data(data.to_string());
                    return Some((Ok(event), stream));
                }
                // The engine stopped: so does the stream.
                Err(ChangesError::Closed) => return None,
            }
        }
    })
}

impl AllStream {
    /// The `status` event of a change, if it is a status change this
    /// stream follows.
    fn event(&self, change: &RunChange) -> Option<Event> {
        let ChangeKind::Status { status, execution } = change.kind else {
            return None;
        };
        if self
            .workflow
            .as_deref()
            .is_some_and(|workflow| workflow != &*change.workflow)
        {
            return None;
        }
        let data = StatusData {
            run_id: change.run_id,
            workflow: &change.workflow,
            status,
            execution,
            at: change.at,
        };
        // Serialized straight from the struct: through a `json!` map, every
        // event cost a map of owned strings (W1 with a follower measured it).
        let data = serde_json::to_string(&data).unwrap_or_default();
        Some(
            Event::default()
                .event("status")
                .id(change.seq.to_string())
                .data(data),
        )
    }
}

/// The data of a `status` event.
#[derive(serde::Serialize)]
struct StatusData<'a> {
    run_id: durable::RunId,
    workflow: &'a str,
    status: durable::RunStatus,
    execution: Option<i64>,
    at: i64,
}
