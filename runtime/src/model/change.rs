//! What the engine's change feed tells: a run's status changed, one of its
//! steps was written, it logged a line ([`RunChange`]), and why a receiver
//! got nothing ([`ChangesError`]).

use std::sync::Arc;

use serde::Serialize;

use crate::model::ids::RunId;
use crate::model::status::{RunStatus, StepStatus};

/// One committed change of a run, as [`Engine::changes`](crate::Engine::changes)
/// hands it out, in commit order.
///
/// ```
/// use durable::{ChangeKind, RunStatus};
/// # fn show(change: durable::RunChange) {
/// if let ChangeKind::Status { status: RunStatus::Failed, .. } = change.kind {
///     println!("run {} of {} failed at {}", change.run_id, change.workflow, change.at);
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunChange {
    /// The change's place in this engine's feed: 1 for the first change the
    /// engine saw, one more for each after it, its own and other processes'
    /// alike (a change of another process gets its place when this engine
    /// hears of it). A gap between two changes a receiver got means it
    /// missed some (see [`ChangesError::Lagged`]).
    pub seq: u64,
    /// The run.
    pub run_id: RunId,
    /// The run's workflow.
    pub workflow: Arc<str>,
    /// When it changed (ms since the epoch, the clock of the engine that
    /// wrote it).
    pub at: i64,
    /// What changed.
    pub kind: ChangeKind,
    /// Whether another process committed it (on PostgreSQL, which tells
    /// each process the others' changes); `false` for this engine's own.
    pub remote: bool,
}

/// What changed in a [`RunChange`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChangeKind {
    /// The run's status is now `status`.
    Status {
        /// The new status.
        status: RunStatus,
        /// For `running`: which execution of the run this is (1 for the
        /// first time a worker starts it, more after a suspension, a crash or
        /// a retry); `None` for the other statuses.
        execution: Option<i64>,
    },
    /// A step's record was written.
    Step {
        /// The step's name.
        name: String,
        /// Its status now.
        status: StepStatus,
        /// Attempts started so far.
        attempts: u32,
        /// For a step that ended (completed or failed for good): how long
        /// from its first attempt's start to its end, in ms.
        duration_ms: Option<i64>,
    },
    /// An operator paused the run ([`RunHandle::pause`](crate::RunHandle::pause)):
    /// it starts no step until resumed. Its status stays as it was.
    Paused,
    /// An operator resumed the paused run
    /// ([`RunHandle::resume`](crate::RunHandle::resume)).
    Resumed,
    /// The run wrote a log line (read it with
    /// [`RunHandle::logs`](crate::RunHandle::logs)).
    Log,
    /// Another process wrote step records or log lines of the run: its note
    /// (PostgreSQL's `NOTIFY`, at most 8000 bytes) names the run, not what
    /// changed, so whoever follows the run reads its steps and logs again.
    /// At most one per run for each batch that process committed.
    Activity,
}

/// Why [`RunChanges::recv`](crate::RunChanges::recv) returned no change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChangesError {
    /// The receiver fell behind by more changes than the feed holds
    /// (65,536) and missed `missed` of them; the next `recv` answers with
    /// the oldest change still held. Whoever follows runs through the feed
    /// should read their state again.
    #[error("the change feed moved on: {missed} changes were missed")]
    Lagged {
        /// How many changes were missed.
        missed: u64,
    },
    /// The engine lost, and has since regained, its connection for other
    /// processes' changes (PostgreSQL's `LISTEN`): what they committed
    /// meanwhile is not in the feed. Whoever follows runs should read their
    /// state again; the next `recv` answers again.
    #[error(
        "the change feed lost its connection for other processes' changes and may have missed some"
    )]
    Interrupted,
    /// The engine stopped; no change will come.
    #[error("the engine stopped; its change feed is closed")]
    Closed,
}
