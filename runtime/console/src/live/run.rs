//! `GET /api/v1/runs/{id}/events`: one run's status, steps and log lines
//! as they change, resumable with `Last-Event-ID`, ending after the run's
//! final status.
//!
//! Each time the engine's feed tells of a change of the run (other
//! processes' too on PostgreSQL, whose steps and logs come as one
//! `Activity` per batch), may have missed one, or the poll interval passes
//! (what a SQLite file's other engine commits reaches a read-only console
//! only so), the stream reads the run and sends what
//! differs from what the client has seen ([`Cursor`]): a `run` event when
//! its status or execution changed or it was paused or resumed, a `step` event per step whose status
//! or attempts changed, a `log` event per new line; the run's final status
//! comes after its last steps and lines, then an `end` event.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::Event;
use durable::{ChangesError, Engine, RunChanges, RunDetail, RunId};
use futures_util::Stream;
use serde_json::{Value, json};

use super::cursor::Cursor;
use super::{last_event_id, sse};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{PathParams, QueryPairs, run_id};
use crate::routes::AppState;
use crate::views;

/// `GET /api/v1/runs/{id}/events`.
pub(crate) async fn run_events(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    query: QueryPairs,
    headers: HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    query.only(&[])?;
    let id = run_id(&id)?;
    let cursor = match last_event_id(&headers)? {
        None => Cursor::default(),
        Some(text) => Cursor::parse(text).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidQuery,
                "Last-Event-ID is not an event id of this run's stream; \
                 reconnect without it to get the run from the start",
            )
        })?,
    };
    // Subscribed before the first read: a change committed between the two
    // is not missed.
    let changes = state.engine.changes();
    let mut stream = RunStream {
        engine: state.engine.clone(),
        id,
        cursor,
        changes,
        closed: false,
        queue: VecDeque::new(),
        done: false,
        poll: state.live.poll,
        preview_bytes: state.preview_bytes,
    };
    // An unknown run is a 404, not an empty stream.
    let detail = state.engine.run_detail(id).await?;
    let logs = state.engine.run(id).logs().await?;
    stream.diff(&detail, &logs);
    Ok(sse(events(stream), state.live.keep_alive))
}

struct RunStream {
    engine: Engine,
    id: RunId,
    cursor: Cursor,
    changes: RunChanges,
    /// The engine stopped: only polling is left.
    closed: bool,
    queue: VecDeque<Event>,
    /// The run ended (or could not be read): the queue is the last of it.
    done: bool,
    poll: Duration,
    preview_bytes: usize,
}

fn events(stream: RunStream) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(stream, |mut stream| async move {
        loop {
            if let Some(event) = stream.queue.pop_front() {
                return Some((Ok(event), stream));
            }
            if stream.done {
                return None;
            }
            stream.wait().await;
            stream.refresh().await;
        }
    })
}

impl RunStream {
    /// Waits until the feed tells of a change of this run (or of changes
    /// it missed), or the poll interval passes.
    async fn wait(&mut self) {
        let tick = tokio::time::sleep(self.poll);
        tokio::pin!(tick);
        loop {
            if self.closed {
                tick.await;
                return;
            }
            tokio::select! {
                change = self.changes.recv() => match change {
                    Ok(change) if change.run_id == self.id => return,
                    Ok(_) => {}
                    // Missed changes, maybe of this run: read it again.
                    Err(ChangesError::Lagged { .. } | ChangesError::Interrupted) => return,
                    Err(ChangesError::Closed) => self.closed = true,
                },
                () = &mut tick => return,
            }
        }
    }

    /// Reads the run and queues what changed; a read that fails ends the
    /// stream with an `error` event.
    async fn refresh(&mut self) {
        let read = async {
            let detail = self.engine.run_detail(self.id).await?;
            let logs = self.engine.run(self.id).logs().await?;
            Ok::<_, durable::Error>((detail, logs))
        };
        match read.await {
            Ok((detail, logs)) => self.diff(&detail, &logs),
            Err(error) => {
                let error = ApiError::from(error);
                let data = json!({ "code": error.code.as_str(), "message": error.message });
                self.queue
                    .push_back(Event::default().event("error").data(data.to_string()));
                self.done = true;
            }
        }
    }

    /// Queues an event for what differs between the client's view and the
    /// run as read, each with the view after it as its id.
    fn diff(&mut self, detail: &RunDetail, logs: &[durable::LogLine]) {
        let run = &detail.run;
        let state = (run.status, run.executions, run.paused_at.is_some());
        let ended = run.status.is_terminal();
        if !ended && self.cursor.run != Some(state) {
            self.cursor.run = Some(state);
            self.push("run", views::run(run, self.preview_bytes));
        }
        // Records a retry deleted are gone from the run, and from the view.
        self.cursor
            .steps
            .retain(|seq, _| detail.steps.iter().any(|step| step.seq == *seq));
        for step in &detail.steps {
            let step_state = (step.status, step.attempts);
            if self.cursor.steps.get(&step.seq) != Some(&step_state) {
                self.cursor.steps.insert(step.seq, step_state);
                self.push("step", views::step(step, self.preview_bytes));
            }
        }
        // Retention may have deleted the lines; new ones count from there.
        self.cursor.logs = self.cursor.logs.min(logs.len());
        for line in &logs[self.cursor.logs..] {
            self.cursor.logs += 1;
            self.push("log", serde_json::to_value(line).unwrap_or(Value::Null));
        }
        if ended {
            if self.cursor.run != Some(state) {
                self.cursor.run = Some(state);
                self.push("run", views::run(run, self.preview_bytes));
            }
            self.push("end", json!({ "status": run.status }));
            self.done = true;
        }
    }

    fn push(&mut self, name: &str, data: Value) {
        let event = Event::default()
            .event(name)
            .id(self.cursor.encode())
            .data(data.to_string());
        self.queue.push_back(event);
    }
}
