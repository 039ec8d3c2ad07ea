//! The read side of the storage: what the engine, its handles and its
//! operators read without changing anything.

use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::info::RunInfo;
use crate::model::listing::{
    EventFilter, EventPage, MinuteCounts, RunDetail, RunFilter, RunPage, StatusCount, UnservedRuns,
};
use crate::model::log::LogLine;
use crate::model::sync::BoxFuture;

/// Reads that change nothing: one run, its children, its logs, what cron
/// needs to decide, and the operator's lists, counts and series.
///
/// The lists page by keyset (the cursor is the last entry's sort key), never
/// by offset, so a page costs the same deep in a large table; each is served
/// by an index (see each backend's `reads.rs`).
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

    /// A page of runs that pass `filter`, newest first (by creation time,
    /// then id), at most `filter.limit` of them; `next` is set when more may
    /// follow. With `filter.unserved`, only the runs of the groups that
    /// [`unserved_runs`](Self::unserved_runs)`(live_since)` counts (the
    /// argument is read for nothing else). Fails with
    /// [`Error::InvalidFilter`] for a bad page size.
    fn list_runs(
        &self,
        filter: RunFilter,
        live_since: i64,
    ) -> BoxFuture<'_, Result<RunPage, Error>>;

    /// The pending, running and suspended runs that no live worker would
    /// take, counted per workflow and pinned version (by workflow, then
    /// version, a version not pinned first): a run pinned to a version that
    /// no worker whose heartbeat is at or after `live_since` (ms) serves, or
    /// not pinned yet, of a workflow no such worker serves at all. Groups
    /// with no run are left out.
    fn unserved_runs(&self, live_since: i64) -> BoxFuture<'_, Result<Vec<UnservedRuns>, Error>>;

    /// How many runs there are of each workflow in each status (pairs with
    /// no run are left out), by workflow then status.
    fn count_runs(&self) -> BoxFuture<'_, Result<Vec<StatusCount>, Error>>;

    /// Runs started, completed and failed (or timed out) per minute, for
    /// every minute from the one holding `from` up to the one before
    /// `until` (ms since the epoch), minutes with nothing included as zeros;
    /// at most 1,440 minutes.
    fn run_series(&self, from: i64, until: i64) -> BoxFuture<'_, Result<Vec<MinuteCounts>, Error>>;

    /// When the pending run that has waited longest for a worker became
    /// due (its `ready_at`, ms), among the pending runs due at `now`; `None`
    /// when none is. Delayed runs not yet due do not count.
    fn oldest_due_pending(&self, now: i64) -> BoxFuture<'_, Result<Option<i64>, Error>>;

    /// One run with its steps (in the order reached, each with its start
    /// and end time and attempts) and its children, or `None`.
    fn run_detail(&self, run_id: RunId) -> BoxFuture<'_, Result<Option<RunDetail>, Error>>;

    /// A page of events (and signals) that pass `filter`, newest first, each
    /// with the runs whose waits it settled.
    fn list_events(&self, filter: EventFilter) -> BoxFuture<'_, Result<EventPage, Error>>;
}
