//! The storage of runs and their steps (the write side a worker uses).

use super::changes::ChangeFeed;
#[cfg(doc)]
use super::records::ClaimAtCreate;
use super::records::{
    ClaimRequest, ClaimedRun, CreateOutcome, FinishEffects, ForkOutcome, NewFork, NewRun, Renewal,
    Served, StoreSignal, TransitionOutcome,
};
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::journal::StepRecord;
use crate::model::lease::Lease;
use crate::model::log::LogLine;
use crate::model::outcome::RunOutcome;
use crate::model::sync::BoxFuture;

/// The runs and their steps: create, claim, journal, suspend, finish, cancel,
/// retry, children and logs, each write fenced by the run's [`Lease`].
pub(crate) trait RunStore: Send + Sync + 'static {
    /// The backend's name, e.g. `sqlite`.
    fn backend(&self) -> &'static str;

    /// Why every write is refused, when the store was opened read-only (a
    /// client on a SQLite file another engine holds); `None` otherwise.
    fn read_only(&self) -> Option<&str> {
        None
    }

    /// How long a claim holds a run unless renewed with
    /// [`renew_leases`](Self::renew_leases); `None` when leases never expire
    /// (one engine owns the database).
    fn lease_duration(&self) -> Option<std::time::Duration> {
        None
    }

    /// Extends the leases of runs this worker executes until `until` (ms);
    /// returns the runs whose lease was lost, and those still held that are
    /// paused.
    fn renew_leases(
        &self,
        leases: Vec<Lease>,
        until: i64,
    ) -> BoxFuture<'_, Result<Renewal, Error>> {
        let _ = (leases, until);
        Box::pin(std::future::ready(Ok(Renewal::default())))
    }

    /// Starts telling `signal` what other processes commit (due runs, ended
    /// runs). A store used by one process does nothing.
    fn watch(&self, signal: std::sync::Arc<dyn Fn(StoreSignal) + Send + Sync>) {
        let _ = signal;
    }

    /// Hands back to `pending` every run whose worker is gone (on SQLite: every
    /// `running` run, since the database belongs to this engine alone) and
    /// returns how many.
    fn recover(&self, now: i64) -> BoxFuture<'_, Result<u64, Error>>;

    /// Tells the other engines on the database that a run of a workflow
    /// with a concurrency limit stopped running without finishing (it
    /// suspended): a run of its group may take the slot, and they claim it
    /// at once rather than at their next poll (a finish tells them itself).
    /// A store that one engine owns has nobody to tell.
    fn announce_freed_slot(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async { Ok(()) })
    }

    /// Writes a new run, honouring its idempotency key.
    fn create_run(&self, run: NewRun) -> BoxFuture<'_, Result<CreateOutcome, Error>>;

    /// Claims up to `limit` pending or suspended runs whose time has come,
    /// oldest first, bumping each one's fencing token.
    fn claim_ready(&self, request: ClaimRequest) -> BoxFuture<'_, Result<Vec<ClaimedRun>, Error>>;

    /// The earliest `ready_at` among pending and suspended runs of these
    /// workflows that a claim with them would take (see [`Served`]).
    fn next_ready_at(&self, workflows: Served) -> BoxFuture<'_, Result<Option<i64>, Error>>;

    /// A run's journal: every step record, in the order they were first written.
    fn load_journal(&self, run_id: RunId) -> BoxFuture<'_, Result<Vec<StepRecord>, Error>>;

    /// Inserts or updates a step record (never one already completed).
    fn save_step(&self, lease: Lease, step: StepRecord) -> BoxFuture<'_, Result<(), Error>>;

    /// Queues a step record without waiting for it (progress markers such as
    /// `running`); ordered before every later write of this store.
    fn save_step_detached(&self, lease: Lease, step: StepRecord);

    /// Moves a running run to `suspended` until `ready_at` and drops the
    /// lease, saving `steps` first in the same transaction (a sleep's record
    /// travels with the suspension it causes: one write instead of two).
    fn suspend_run(
        &self,
        lease: Lease,
        ready_at: Option<i64>,
        steps: Vec<StepRecord>,
        now: i64,
    ) -> BoxFuture<'_, Result<(), Error>>;

    /// Gives a running run back to `pending` (shutdown, storage trouble).
    fn release_run(&self, lease: Lease, now: i64) -> BoxFuture<'_, Result<(), Error>>;

    /// Ends a running run, settles the steps waiting for it, and (when it
    /// timed out or was aborted) cancels its unfinished descendants. Saves
    /// `steps` first, in the same transaction (the results of the run's last
    /// steps travel with its finish: one write instead of two); one already
    /// completed is kept as it is. The finish is fenced by the lease, and
    /// answers for its steps.
    fn finish_run(
        &self,
        lease: Lease,
        outcome: RunOutcome,
        steps: Vec<StepRecord>,
        now: i64,
    ) -> BoxFuture<'_, Result<FinishEffects, Error>>;

    /// Cancels a pending, running or suspended run and its unfinished
    /// descendants, fencing out their workers, and settles the steps waiting
    /// for them. Returns the outcome for the run and every run it cancelled.
    fn cancel_run(
        &self,
        run_id: RunId,
        now: i64,
    ) -> BoxFuture<'_, Result<(TransitionOutcome, Vec<RunId>), Error>>;

    /// Creates a child run and records the step that started it, in one
    /// transaction: `waiting` for the child's end when `wait`, else completed
    /// with the child's id.
    fn start_child(
        &self,
        lease: Lease,
        step: StepRecord,
        child: NewRun,
        wait: bool,
    ) -> BoxFuture<'_, Result<(), Error>>;

    /// Moves a failed or timed-out run back to `pending`, with a new deadline,
    /// deleting its unfinished step records and keeping completed ones,
    /// except the records of its unwinding (`compensate/<step>`,
    /// `on-failure/...`) and every `<step>` whose `compensate/<step>`
    /// completed (see `RunHandle::retry`).
    fn retry_run(
        &self,
        run_id: RunId,
        now: i64,
        deadline_at: Option<i64>,
    ) -> BoxFuture<'_, Result<TransitionOutcome, Error>>;

    /// Pauses (`paused`) or resumes a pending, running or suspended run:
    /// sets or clears its `paused_at` (to `now`; a run paused already keeps
    /// the time it was first paused), which a claim skips. Its status stays
    /// as it is; a worker executing it finds out by itself (see
    /// `Renewal::paused`). Refused for a run that ended.
    fn set_paused(
        &self,
        run_id: RunId,
        paused: bool,
        now: i64,
    ) -> BoxFuture<'_, Result<TransitionOutcome, Error>>;

    /// Creates a fork of an ended run, in one transaction: the new run,
    /// `pending` with one execution counted (so its first claim reads the
    /// journal it starts with), naming its source and step, and a copy of
    /// the source's step records that come before that step in journal
    /// order and are `completed`, `failed` or `sleeping` (a step in
    /// progress or waiting when the source ended runs again), but for the
    /// records of a failure's unwinding and the steps their compensation
    /// undid (as `retry_run` discards them). Refused,
    /// writing nothing, for a source that has not ended or whose journal
    /// lacks the step.
    fn fork_run(&self, fork: NewFork) -> BoxFuture<'_, Result<ForkOutcome, Error>>;

    /// Sets the deadline of the run `lease` holds to `deadline_at` (`None`:
    /// no deadline) and saves `step`, the `set_deadline` step that decided
    /// it, in one transaction, fenced by the lease (`Ctx::set_deadline`).
    fn set_deadline(
        &self,
        lease: Lease,
        step: StepRecord,
        deadline_at: Option<i64>,
    ) -> BoxFuture<'_, Result<(), Error>>;

    /// Appends a log line of a run, unless one with its key exists; not
    /// waited for (ordered before later writes), dropped for a stale lease.
    fn append_log(&self, lease: Lease, line: LogLine);

    /// What the store's committed writes change, told in commit order (see
    /// [`ChangeFeed`]).
    fn changes(&self) -> &ChangeFeed;

    /// Stops the writer after the writes queued so far, closes the change
    /// feed, and closes connections.
    fn close(&self) -> BoxFuture<'_, ()>;
}
