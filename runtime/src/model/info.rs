//! What a run and its steps look like to a reader: [`RunInfo`] and [`StepInfo`].

use serde::Serialize;

use crate::model::ids::RunId;
use crate::model::status::{RunStatus, StepStatus};
use crate::model::workflow::StepKind;

/// A run as stored in `wf_instance`.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// The run's id.
    pub id: RunId,
    /// The workflow's name.
    pub workflow: String,
    /// Its status.
    pub status: RunStatus,
    /// Its input as JSON.
    pub input: serde_json::Value,
    /// Its output as JSON, once completed.
    pub output: Option<serde_json::Value>,
    /// Its error, once failed.
    pub error: Option<String>,
    /// The idempotency key it was triggered with.
    pub idempotency_key: Option<String>,
    /// When it was triggered (ms since the epoch).
    pub created_at: i64,
    /// When a worker first started executing it (ms since the epoch); `None`
    /// while it has never run.
    pub started_at: Option<i64>,
    /// When it finished (ms since the epoch).
    pub finished_at: Option<i64>,
    /// The run that started it as a child (`Ctx::invoke`, `Ctx::start_child`),
    /// or `None` for a run triggered from outside. Its children are listed by
    /// [`RunHandle::children`](crate::RunHandle::children).
    pub parent: Option<RunId>,
    /// When the workflow timeout ends it (ms since the epoch).
    pub deadline_at: Option<i64>,
    /// How many times a worker has started executing it.
    pub executions: i64,
}

/// A step as stored in `wf_step`.
#[derive(Debug, Clone, Serialize)]
pub struct StepInfo {
    /// The step's name.
    pub name: String,
    /// Its position in the order the run reached its steps.
    pub seq: i64,
    /// Its kind.
    pub kind: StepKind,
    /// Its status.
    pub status: StepStatus,
    /// Its recorded input, if it has one.
    pub input: Option<serde_json::Value>,
    /// Its output, once completed.
    pub output: Option<serde_json::Value>,
    /// Its last error.
    pub error: Option<String>,
    /// Attempts started so far.
    pub attempts: u32,
    /// When a sleeping step or a step waiting for a retry wakes (ms).
    pub wake_at: Option<i64>,
    /// When its first attempt started (ms since the epoch); `None` for a
    /// step recorded before durable kept start times.
    pub started_at: Option<i64>,
    /// When it completed or failed for good (ms since the epoch); `None`
    /// while it has not.
    pub ended_at: Option<i64>,
}
