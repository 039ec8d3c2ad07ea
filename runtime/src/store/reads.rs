//! The read side of the storage: what the engine, its handles and its
//! operators read without changing anything.

use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::info::RunInfo;
use crate::model::log::LogLine;
use crate::model::sync::BoxFuture;

/// Reads that change nothing: one run, its children, its logs, and what cron
/// needs to decide.
pub(crate) trait ReadStore: Send + Sync + 'static {
    /// A run's log lines, oldest first.
    fn load_logs(&self, run_id: RunId) -> BoxFuture<'_, Result<Vec<LogLine>, Error>>;

    /// The latest fire time of the workflow's cron runs (read from their
    /// idempotency keys, `cron:<fire time in ms>`), if any is stored.
    fn last_cron_fire(&self, workflow: String) -> BoxFuture<'_, Result<Option<i64>, Error>>;

    /// The workflow's runs that are pending, running or suspended.
    fn unfinished_runs(&self, workflow: String) -> BoxFuture<'_, Result<Vec<RunId>, Error>>;

    /// The runs that `run_id` started as children, oldest first.
    fn child_runs(&self, run_id: RunId) -> BoxFuture<'_, Result<Vec<RunId>, Error>>;

    /// A run, or `None`.
    fn get_run(&self, run_id: RunId) -> BoxFuture<'_, Result<Option<RunInfo>, Error>>;
}
