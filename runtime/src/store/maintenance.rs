//! The storage side of maintenance: deleting old runs and events, timing out
//! overdue runs.

use super::records::DeleteFinished;
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::sync::BoxFuture;

/// What the maintenance task does: retention and overdue timeouts.
pub(crate) trait MaintenanceStore: Send + Sync + 'static {
    /// Deletes up to `limit` runs of these statuses that finished before
    /// `finished_before` (with their steps and logs): of `workflow` only, or
    /// of every workflow but those in `except` (a JSON array of names).
    /// Returns how many.
    fn delete_finished(&self, request: DeleteFinished) -> BoxFuture<'_, Result<u64, Error>>;

    /// Ends as `timed_out` up to `limit` pending or suspended runs past their
    /// deadline (runs no worker claims, e.g. of a workflow no engine
    /// registers), cancelling their children and settling their waiters.
    /// Returns the runs it ended or cancelled.
    fn time_out_overdue(&self, now: i64, limit: usize) -> BoxFuture<'_, Result<Vec<RunId>, Error>>;

    /// Deletes up to `limit` events sent before `before`; returns how many.
    fn delete_events(&self, before: i64, limit: usize) -> BoxFuture<'_, Result<u64, Error>>;
}
