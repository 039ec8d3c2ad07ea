//! Stored rows to and from the engine's types, the same for every backend.

use super::ops::WriteOut;
use super::{Lease, RunOutcome, StepRecord, Wait, run_outcome_json};
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::info::RunInfo;
use crate::model::log::{LogLevel, LogLine};
use crate::model::status::{RunStatus, StepStatus};
use crate::model::workflow::StepKind;

/// The columns of `wf_instance` that make a [`RunInfo`], in this order:
/// id, workflow, status, input, output, error, idempotency key, created,
/// finished, deadline, executions, parent, started.
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
);

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
    ) = row;
    Ok(RunInfo {
        id: parse_run_id(&id)?,
        workflow,
        status: parse_run_status(&status)?,
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
/// started at, ended at.
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
);

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
    ) = row;
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
    })
}

/// The columns a waiting step sets besides the record itself.
#[derive(Default)]
pub(crate) struct WaitColumns {
    pub(crate) event: Option<String>,
    pub(crate) filter: Option<String>,
    pub(crate) run: Option<String>,
}

impl WaitColumns {
    /// The columns of a step waiting for `wait`.
    pub(crate) fn of(wait: &Wait) -> Self {
        match wait {
            Wait::Event { name, filter, .. } => WaitColumns {
                event: Some(name.clone()),
                filter: filter.clone(),
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

/// A run that ended, as the parents waiting for it settle: its id, its
/// outcome as JSON, and whether it completed.
pub(crate) type EndedRun = (RunId, String, bool);

/// The runs a cancellation ended, from their ids as read back, and how each
/// settles the parents waiting for it: failed, with a `cancelled` outcome.
pub(crate) fn cancelled_runs(ids: &[String]) -> Result<(Vec<RunId>, Vec<EndedRun>), Error> {
    let cancelled = ids
        .iter()
        .map(|id| parse_run_id(id))
        .collect::<Result<Vec<_>, _>>()?;
    let outcome = run_outcome_json("cancelled", None, None);
    let settled = cancelled
        .iter()
        .map(|id| (*id, outcome.clone(), false))
        .collect();
    Ok((cancelled, settled))
}

/// The result of a step write that wrote nothing, given whether the run's
/// lease still holds: refused for a stale lease; for a completed step (never
/// overwritten) harmless if the write was a `running` marker, else a sign
/// that another execution recorded the step first.
pub(crate) fn unwritten_step(
    holds_lease: bool,
    lease: &Lease,
    step: &StepRecord,
) -> Result<WriteOut, Error> {
    if !holds_lease {
        Err(Error::LeaseLost {
            run_id: lease.run_id,
        })
    } else if step.status == StepStatus::Running {
        Ok(WriteOut::Done)
    } else {
        Err(Error::StepRecordedElsewhere {
            run_id: lease.run_id,
            step: step.name.clone(),
        })
    }
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
