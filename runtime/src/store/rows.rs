//! Stored rows to and from the engine's types, the same for every backend.

use super::{RunOutcome, StepRecord, Wait};
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::info::{AttemptInfo, ForkOrigin, RunInfo};
use crate::model::log::{LogLevel, LogLine};
use crate::model::status::{RunStatus, StepStatus};
use crate::model::workflow::StepKind;

/// The columns of `wf_instance` that make a [`RunInfo`], in this order:
/// id, workflow, status, input, output, error, idempotency key, created,
/// finished, deadline, executions, parent, started, version, the event
/// that started it, and the operations' columns as one JSON array
/// `[paused_at, forked_from, forked_from_step, queue]` (a row of more than 16
/// columns is no tuple the drivers read).
pub(crate) type RunRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
    i64,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    String,
);

/// The last column of a [`RunRow`]: when the run was paused, where it
/// was forked from, and its queue.
fn operations(text: &str) -> Result<(Option<i64>, Option<ForkOrigin>, String), Error> {
    type Operations = (Option<i64>, Option<String>, Option<String>, String);
    let (paused_at, forked_from, step, queue): Operations =
        serde_json::from_str(text).map_err(|error| {
            decode_error(format!(
                "the operations of a run {text:?} do not decode: {error}"
            ))
        })?;
    let origin = match (forked_from, step) {
        (Some(run), Some(step)) => Some(ForkOrigin {
            run: parse_run_id(&run)?,
            step,
        }),
        _ => None,
    };
    Ok((paused_at, origin, queue))
}

/// A stored run as the public [`RunInfo`].
pub(crate) fn run_info(row: RunRow) -> Result<RunInfo, Error> {
    let (
        id,
        workflow,
        status,
        input,
        output,
        error,
        key,
        created,
        finished,
        deadline,
        executions,
        parent,
        started,
        version,
        event_id,
        operations_column,
    ) = row;
    let (paused_at, forked_from, queue) = operations(&operations_column)?;
    let status = parse_run_status(&status)?;
    Ok(RunInfo {
        id: parse_run_id(&id)?,
        workflow,
        status,
        input: parse_json(&input)?,
        output: output.as_deref().map(parse_json).transpose()?,
        error,
        idempotency_key: key,
        created_at: created,
        started_at: started,
        finished_at: finished,
        parent: parent.as_deref().map(parse_run_id).transpose()?,
        deadline_at: deadline,
        executions,
        version,
        event_id,
        // A run that ended while paused keeps the column (nothing but a
        // retry clears it), but is no longer paused.
        paused_at: paused_at.filter(|_| !status.is_terminal()),
        forked_from,
        queue,
    })
}

/// The status, output and error columns of a finished run.
pub(crate) fn outcome_columns(outcome: &RunOutcome) -> (RunStatus, Option<&str>, Option<&str>) {
    match outcome {
        RunOutcome::Completed(output) => (RunStatus::Completed, Some(output.as_str()), None),
        RunOutcome::Failed(error) => (RunStatus::Failed, None, Some(error.as_str())),
        RunOutcome::TimedOut => (RunStatus::TimedOut, None, Some("workflow timeout")),
        RunOutcome::Cancelled(reason) => (RunStatus::Cancelled, None, Some(reason.as_str())),
    }
}

/// A row that does not decode: a database error naming what is wrong.
pub(crate) fn decode_error(message: String) -> Error {
    Error::Database(message.into())
}

pub(crate) fn parse_run_id(text: &str) -> Result<RunId, Error> {
    text.parse()
        .map_err(|_| decode_error(format!("wf_instance.id {text:?} is not a UUID")))
}

pub(crate) fn parse_run_status(text: &str) -> Result<RunStatus, Error> {
    RunStatus::parse(text).ok_or_else(|| decode_error(format!("unknown run status {text:?}")))
}

pub(crate) fn parse_json(text: &str) -> Result<serde_json::Value, Error> {
    serde_json::from_str(text)
        .map_err(|error| decode_error(format!("stored JSON is invalid: {error}")))
}

/// A write answered with the wrong kind of result: a bug in the backend.
pub(crate) fn unexpected() -> Error {
    Error::Database("the store's writer answered a write with the wrong kind of result".into())
}

/// The columns of `wf_step` that make a [`StepRecord`], in this order: name,
/// seq, kind, status, input, output, error, attempts, wake at, updated at,
/// started at, ended at, attempt log (JSON text).
pub(crate) type StepRow = (
    String,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

/// How many attempts a step's attempt log (`wf_step.attempt_log`) keeps:
/// appending to a full log drops its oldest entry. Each backend appends
/// with a statement of its own after the step's write, in the same
/// transaction, only for a write that ends an attempt
/// ([`StepRecord::finished_attempt`]) and only once per attempt number (a
/// write applied again appends nothing), so a step that completes at its
/// first attempt never writes the column.
pub(crate) const ATTEMPT_LOG_KEPT: i32 = 100;

/// An attempt as its attempt log stores it: a JSON object with the fields
/// of [`AttemptInfo`], which reading the log decodes.
pub(crate) fn attempt_entry(attempt: &AttemptInfo) -> String {
    serde_json::json!({
        "attempt": attempt.attempt,
        "started_at": attempt.started_at,
        "ended_at": attempt.ended_at,
        "error": attempt.error,
    })
    .to_string()
}

/// SQL text, the same on every backend: how a step write changes the
/// record already stored (`wf_step`, keyed by run and name). It takes the
/// record's columns as written (an input only if it names one), keeps the
/// first start, and sets the end the first time the step completes or
/// fails (`NULL` while it has not). A statement adds its own columns after
/// it, then `WHERE wf_step.status <> 'completed'`: a completed step is never
/// overwritten.
macro_rules! step_on_conflict {
    () => {
        "ON CONFLICT (instance_id, name) DO UPDATE SET status = excluded.status, \
           input = COALESCE(excluded.input, wf_step.input), output = excluded.output, \
           error = excluded.error, attempts = excluded.attempts, \
           wake_at = excluded.wake_at, updated_at = excluded.updated_at, \
           started_at = COALESCE(wf_step.started_at, excluded.started_at), \
           ended_at = CASE WHEN excluded.status IN ('completed', 'failed') \
             THEN COALESCE(wf_step.ended_at, excluded.updated_at) END"
    };
}
pub(crate) use step_on_conflict;

/// A stored step as a [`StepRecord`].
pub(crate) fn step_record(row: StepRow) -> Result<StepRecord, Error> {
    let (
        name,
        seq,
        kind,
        status,
        input,
        output,
        error,
        attempts,
        wake_at,
        updated_at,
        started_at,
        ended_at,
        attempt_log,
    ) = row;
    // A step written before the log existed, or that never needed one,
    // has no log: an empty one.
    let attempt_log = match attempt_log {
        Some(text) => serde_json::from_str(&text).map_err(|error| {
            decode_error(format!(
                "wf_step.attempt_log of {name:?} is invalid: {error}"
            ))
        })?,
        None => Box::default(),
    };
    Ok(StepRecord {
        kind: StepKind::parse(&kind)
            .ok_or_else(|| decode_error(format!("unknown step kind {kind:?}")))?,
        status: StepStatus::parse(&status)
            .ok_or_else(|| decode_error(format!("unknown step status {status:?}")))?,
        name,
        seq,
        input,
        output,
        error,
        attempts: u32::try_from(attempts).unwrap_or(0),
        wake_at,
        updated_at,
        started_at,
        ended_at,
        finished_attempt: None,
        attempt_log,
    })
}

/// The columns a waiting step sets besides the record itself.
#[derive(Default)]
pub(crate) struct WaitColumns {
    pub(crate) event: Option<String>,
    pub(crate) filter: Option<String>,
    /// The key the waiter is found by (see [`wait_keys`](crate::store::wait_keys)).
    pub(crate) key: Option<String>,
    pub(crate) run: Option<String>,
}

impl WaitColumns {
    /// The columns of a step waiting for `wait`.
    pub(crate) fn of(wait: &Wait) -> Self {
        match wait {
            Wait::Event { name, filter, .. } => WaitColumns {
                event: Some(name.clone()),
                filter: filter.clone(),
                key: crate::store::wait_keys::filter_key(filter.as_deref()),
                run: None,
            },
            Wait::Signal { name } => WaitColumns {
                event: Some(name.clone()),
                ..WaitColumns::default()
            },
            Wait::Run { run_id } => WaitColumns {
                run: Some(run_id.to_string()),
                ..WaitColumns::default()
            },
        }
    }
}

/// Run ids as read back from their text.
pub(crate) fn parse_run_ids(ids: &[String]) -> Result<Vec<RunId>, Error> {
    ids.iter().map(|id| parse_run_id(id)).collect()
}

/// Stored runs as the public [`RunInfo`]s.
pub(crate) fn run_infos(rows: Vec<RunRow>) -> Result<Vec<RunInfo>, Error> {
    rows.into_iter().map(run_info).collect()
}

/// A log line's columns: key, level, message, fields, created_at.
pub(crate) type LogRow = (String, String, String, Option<String>, i64);

/// Reads one `wf_log` row.
pub(crate) fn log_line(
    (key, level, message, fields, created_at): LogRow,
) -> Result<LogLine, Error> {
    let level = LogLevel::parse(&level)
        .ok_or_else(|| decode_error(format!("unknown log level `{level}`")))?;
    Ok(LogLine {
        key,
        level,
        message,
        fields,
        created_at,
    })
}
