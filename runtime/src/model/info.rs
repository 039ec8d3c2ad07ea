//! What a run and its steps look like to a reader: [`RunInfo`] and [`StepInfo`].

use serde::{Deserialize, Serialize};

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
    /// The workflow version it is pinned to: `v2` for a workflow declared
    /// with `#[workflow(version = 2)]`, else the fingerprint of the
    /// workflow's steps and schemas (as in [`WorkflowVersion`]). Only an
    /// engine that registers that version executes it. `None` until its
    /// first claim for a run triggered by a process that does not register
    /// the workflow, and for runs written before versions were recorded.
    ///
    /// [`WorkflowVersion`]: crate::WorkflowVersion
    pub version: Option<String>,
    /// The event that started it (`wf_event.id`), for a run of a workflow
    /// declared with `#[workflow(on_event = ..)]`; `None` for a run
    /// triggered otherwise.
    pub event_id: Option<i64>,
    /// When an operator paused it ([`RunHandle::pause`](crate::RunHandle::pause)),
    /// ms since the epoch, while it is paused: no worker claims it and it
    /// starts no step until [`RunHandle::resume`](crate::RunHandle::resume). Its
    /// [`status`](Self::status) stays what it was (`pending`, `suspended`,
    /// or `running` until its worker stops at its next step). `None` for a
    /// run that is not paused, and for every run that ended.
    pub paused_at: Option<i64>,
    /// The run and step it was forked from
    /// ([`Engine::fork`](crate::Engine::fork)); `None` for a run that is not
    /// a fork.
    pub forked_from: Option<ForkOrigin>,
    /// The queue it waits in: its workflow's (`#[workflow(queue = "..")]`,
    /// `"default"` when not declared), or the one its parent sent it to
    /// (`ctx.invoke(..).queue("gpu")`). Only an engine serving this queue
    /// ([`EngineBuilder::queues`](crate::EngineBuilder::queues)) claims it.
    pub queue: String,
}

/// Where a forked run came from: the ended run whose journal it kept, and
/// the step it ran again from (every step the source reached before it was
/// copied). In the API's run JSON: `"forked_from": {"run": .., "step": ..}`.
///
/// ```
/// # fn show(info: durable::RunInfo) {
/// if let Some(origin) = &info.forked_from {
///     println!("forked from run {} at step {}", origin.run, origin.step);
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForkOrigin {
    /// The run it was forked from.
    pub run: RunId,
    /// The step of that run it runs again from.
    pub step: String,
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
    /// The attempts of a step that did not complete at its first, oldest
    /// first: each attempt that failed (and was retried, or failed the
    /// step) and the one that completed it, with their own times and
    /// errors. Empty for a step that completed at its first attempt (that
    /// attempt is `started_at` to `ended_at`) and for a step recorded before
    /// durable kept attempt times. An attempt whose worker stopped (or lost
    /// the run) inside a body that ran past 50 ms is listed when the run
    /// resumes, with an error saying it did not finish and the last time
    /// the store heard of it as its end; one that stopped sooner left no
    /// trace and is not. At most the last 100 attempts are kept;
    /// `attempts` stays the exact count.
    pub attempt_log: Vec<AttemptInfo>,
}

/// One ended attempt of a step, as [`StepInfo::attempt_log`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptInfo {
    /// Its number: 1 for the step's first attempt.
    pub attempt: u32,
    /// When it started (ms since the epoch).
    pub started_at: i64,
    /// When it ended (ms since the epoch).
    pub ended_at: i64,
    /// Why it failed; `None` for the attempt that completed the step.
    pub error: Option<String>,
}
