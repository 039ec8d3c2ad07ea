//! The journal of a run: its step records, and what a waiting step waits for.

use crate::model::ids::RunId;
use crate::model::info::{AttemptInfo, StepInfo};
use crate::model::status::StepStatus;
use crate::model::workflow::StepKind;

/// One step record of a run's journal (`wf_step`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StepRecord {
    /// The step's name.
    pub name: String,
    /// The position in which the run reached it.
    pub seq: i64,
    /// Its kind.
    pub kind: StepKind,
    /// Its status.
    pub status: StepStatus,
    /// Its recorded input, as JSON text.
    pub input: Option<String>,
    /// Its output, as JSON text.
    pub output: Option<String>,
    /// Its last error.
    pub error: Option<String>,
    /// Attempts started.
    pub attempts: u32,
    /// When it wakes (sleeps, retry back-off), in ms.
    pub wake_at: Option<i64>,
    /// When this record was written, in ms.
    pub updated_at: i64,
    /// When the step's first attempt started, in ms, if the step API knows
    /// (a step body); a store keeps the first start it was given and
    /// otherwise takes the time the record was first written.
    pub started_at: Option<i64>,
    /// When the step completed or failed for good, in ms: set by the store
    /// when the record reaches that status.
    pub ended_at: Option<i64>,
    /// Written only: the attempt this write ends, which the store appends
    /// to the step's attempt log (a failed attempt, or the one that
    /// completed a step after others). `None` for every other write, among
    /// them a step completed at its first attempt (no log to write), and
    /// for every record read back.
    pub finished_attempt: Option<Box<AttemptInfo>>,
    /// Read only: the step's attempt log as stored (see
    /// [`StepInfo::attempt_log`]); a write ignores it.
    pub attempt_log: Box<[AttemptInfo]>,
}

#[cfg(test)]
impl StepRecord {
    /// A step completed on its first attempt with output `1`, for unit tests.
    pub(crate) fn completed(name: &str, seq: i64, kind: StepKind) -> Self {
        StepRecord {
            name: name.into(),
            seq,
            kind,
            status: StepStatus::Completed,
            input: None,
            output: Some("1".into()),
            error: None,
            attempts: 1,
            wake_at: None,
            updated_at: 0,
            started_at: None,
            ended_at: None,
            finished_attempt: None,
            attempt_log: Box::default(),
        }
    }
}

impl StepRecord {
    /// The record as the public [`StepInfo`].
    pub(crate) fn to_info(&self) -> StepInfo {
        let json =
            |text: &Option<String>| text.as_deref().and_then(|t| serde_json::from_str(t).ok());
        StepInfo {
            name: self.name.clone(),
            seq: self.seq,
            kind: self.kind,
            status: self.status,
            input: json(&self.input),
            output: json(&self.output),
            error: self.error.clone(),
            attempts: self.attempts,
            wake_at: self.wake_at,
            started_at: self.started_at,
            ended_at: self.ended_at,
            attempt_log: self.attempt_log.to_vec(),
        }
    }
}

/// What a waiting step waits for.
#[derive(Debug, Clone)]
pub(crate) enum Wait {
    /// An event of this name whose data contains `filter`; with
    /// `lookback_from`, events sent since then count too, except those a
    /// completed wait of the same run took already (its output records the
    /// event's id), so a loop waiting for "the next" event never gets the
    /// same one twice. Other runs still see them.
    Event {
        /// The event's name.
        name: String,
        /// JSON the event's data must contain (`None`: any data).
        filter: Option<String>,
        /// Events created at or after this time (ms) satisfy the wait at once.
        lookback_from: Option<i64>,
    },
    /// A signal of this name sent to the waiting run (buffered: a signal sent
    /// before the wait is taken by it).
    Signal {
        /// The signal's name.
        name: String,
    },
    /// The end of another run.
    Run {
        /// The run.
        run_id: RunId,
    },
}
