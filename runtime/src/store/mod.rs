//! Storage: the one [`Store`] interface every backend implements, the records
//! it reads and writes, and the group-commit writer the backends share.
//!
//! SQL lives only under this module, one sub-module per backend
//! ([`sqlite`]). The engine never sees a connection: it calls the methods of
//! [`Store`], and every write that belongs to a run is fenced by the run's
//! [`Lease`].

pub(crate) mod batch;
pub(crate) mod ops;
pub mod postgres;
pub(crate) mod rows;
pub mod sqlite;

pub use crate::model::event::SentEvent;
pub use crate::model::journal::{StepRecord, Wait};
pub use crate::model::lease::Lease;
pub use crate::model::log::LogLine;
pub use crate::model::outcome::RunOutcome;

use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::info::RunInfo;
use crate::model::status::RunStatus;
use crate::model::sync::BoxFuture;

/// A run to create.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Its id.
    pub id: RunId,
    /// The workflow's name.
    pub workflow: String,
    /// The input, as JSON text.
    pub input: String,
    /// The idempotency key, if any.
    pub idempotency_key: Option<String>,
    /// Now, in ms since the epoch.
    pub now: i64,
    /// When it may start (ms).
    pub ready_at: i64,
    /// When it times out (ms).
    pub deadline_at: Option<i64>,
    /// The run that started it, for a child run.
    pub parent_id: Option<RunId>,
    /// Claims the run as it is created: it is written `running` under a
    /// lease with token 1 and one execution, and no claim picks it up. An
    /// engine with a free slot starts a run it triggers at once this way,
    /// saving a write and a trip through the dispatcher. Ignored when the
    /// idempotency key names an existing run.
    pub claimed_by: Option<ClaimAtCreate>,
}

/// Who claims a run as it is created (see [`NewRun::claimed_by`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimAtCreate {
    /// The claiming engine, as in [`ClaimRequest::owner`].
    pub owner: String,
    /// When the lease expires (ms), on a store with leases.
    pub lease_expires_at: Option<i64>,
}

impl ClaimAtCreate {
    /// The fencing token of a run claimed as it is created.
    pub const TOKEN: i64 = 1;
}

/// What [`Store::create_run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// A new run was written.
    Created(RunId),
    /// The idempotency key already named this run, with the same input.
    Existing(RunId),
    /// The idempotency key already named this run, with another input;
    /// nothing was written.
    Conflict(RunId),
}

/// A request to claim runs that are ready.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// The claiming worker.
    pub owner: String,
    /// Now, in ms.
    pub now: i64,
    /// At most this many runs.
    pub limit: usize,
    /// Only runs of these workflows (a JSON array of names).
    pub workflows: std::sync::Arc<str>,
    /// When the leases of the claimed runs expire (ms), on a store whose
    /// leases expire.
    pub lease_expires_at: Option<i64>,
}

/// A run a worker claimed.
#[derive(Debug, Clone)]
pub struct ClaimedRun {
    /// The lease on it.
    pub lease: Lease,
    /// The workflow's name.
    pub workflow: String,
    /// The input, as JSON text.
    pub input: String,
    /// When it times out (ms).
    pub deadline_at: Option<i64>,
    /// 1 for its first execution; above 1 the journal must be loaded.
    pub executions: i64,
    /// The run's journal, when the claim read it along (a store that can
    /// do so in the claim's statement saves a read per run); `None` leaves
    /// it to [`Store::load_journal`].
    pub journal: Option<Vec<StepRecord>>,
}

/// An event or signal to send.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Its name.
    pub name: String,
    /// Its data, as JSON text.
    pub data: String,
    /// For a signal: the run it is for.
    pub target: Option<RunId>,
    /// Now (ms).
    pub now: i64,
}

/// What [`Store::finish_run`] did besides ending its run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FinishEffects {
    /// The unfinished descendants it cancelled (the run timed out or was
    /// aborted).
    pub cancelled: Vec<RunId>,
    /// Whether it settled a step waiting for the run (a parent's
    /// [`invoke`](crate::Ctx::invoke), a
    /// [`wait_for_run`](crate::Ctx::wait_for_run)): that step's run may be due
    /// now, so the engine looks for due runs.
    pub woke_waiters: bool,
    /// The outcome recorded instead of the one asked for, if the store
    /// decided otherwise: a run that timed out while its parent is
    /// unfinished and past its own deadline too is recorded `cancelled`,
    /// as its parent's timeout cancels it, whichever of the two deadlines
    /// the engine handles first (see the `children` module).
    pub recorded: Option<RunOutcome>,
}

/// Which finished runs [`Store::delete_finished`] deletes.
#[derive(Debug, Clone)]
pub struct DeleteFinished {
    /// Run statuses, e.g. `["failed", "timed_out"]`.
    pub statuses: &'static [&'static str],
    /// Only this workflow's runs.
    pub workflow: Option<String>,
    /// Not these workflows' runs (a JSON array of names; they have periods
    /// of their own).
    pub except: String,
    /// Runs that finished before this time (ms).
    pub finished_before: i64,
    /// At most this many.
    pub limit: usize,
}

/// What a store tells the engine that another process did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreSignal {
    /// Runs may have become due (triggered, woken, released).
    Wake,
    /// This run ended.
    Finished(RunId),
}

/// What a status change ([`Store::cancel_run`], [`Store::retry_run`]) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionOutcome {
    /// The change was made.
    Done,
    /// The run is in this status, which does not allow it; nothing changed.
    Refused(RunStatus),
    /// No such run.
    NotFound,
}

/// The storage interface of the engine. One implementation per backend;
/// all of them pass the same conformance tests.
///
/// Methods that write for a run that a worker executes take its [`Lease`] and
/// fail with [`Error::LeaseLost`] when the lease is stale. Writes may be
/// grouped with other runs' writes into one transaction (group commit); a
/// method returns once its write is durable in the sense of the backend's
/// durability setting.
pub trait Store: Send + Sync + 'static {
    /// The backend's name, e.g. `sqlite`.
    fn backend(&self) -> &'static str;

    /// How long a claim holds a run unless renewed with
    /// [`renew_leases`](Store::renew_leases); `None` when leases never expire
    /// (one engine owns the database).
    fn lease_duration(&self) -> Option<std::time::Duration> {
        None
    }

    /// Extends the leases of runs this worker executes until `until` (ms);
    /// returns the runs whose lease was lost.
    fn renew_leases(
        &self,
        leases: Vec<Lease>,
        until: i64,
    ) -> BoxFuture<'_, Result<Vec<RunId>, Error>> {
        let _ = (leases, until);
        Box::pin(std::future::ready(Ok(Vec::new())))
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

    /// Writes a new run, honouring its idempotency key.
    fn create_run(&self, run: NewRun) -> BoxFuture<'_, Result<CreateOutcome, Error>>;

    /// Claims up to `limit` pending or suspended runs whose time has come,
    /// oldest first, bumping each one's fencing token.
    fn claim_ready(&self, request: ClaimRequest) -> BoxFuture<'_, Result<Vec<ClaimedRun>, Error>>;

    /// The earliest `ready_at` among pending and suspended runs of these
    /// workflows (a JSON array of names).
    fn next_ready_at(
        &self,
        workflows: std::sync::Arc<str>,
    ) -> BoxFuture<'_, Result<Option<i64>, Error>>;

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

    /// Records a waiting step, unless something already satisfies it (an
    /// event within the lookback, a buffered signal, a finished run): then
    /// the step is recorded completed and its output returned.
    fn register_wait(
        &self,
        lease: Lease,
        step: StepRecord,
        wait: Wait,
    ) -> BoxFuture<'_, Result<Option<String>, Error>>;

    /// Completes a waiting step at its timeout with the output `null`, unless
    /// it was satisfied first; returns the step's output either way.
    fn resolve_wait(
        &self,
        lease: Lease,
        step: String,
        now: i64,
    ) -> BoxFuture<'_, Result<String, Error>>;

    /// Stores an event (or signal) and settles every matching waiting step
    /// (for a signal: the oldest waiting `listen` of its run), waking their
    /// runs. With an origin step, that step is recorded completed in the
    /// same transaction, so a send from a run happens exactly once.
    fn send_event(
        &self,
        event: NewEvent,
        origin: Option<(Lease, StepRecord)>,
    ) -> BoxFuture<'_, Result<SentEvent, Error>>;

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

    /// Appends a log line of a run, unless one with its key exists; not
    /// waited for (ordered before later writes), dropped for a stale lease.
    fn append_log(&self, lease: Lease, line: LogLine);

    /// A run's log lines, oldest first.
    fn load_logs(&self, run_id: RunId) -> BoxFuture<'_, Result<Vec<LogLine>, Error>>;

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

    /// The latest fire time of the workflow's cron runs (read from their
    /// idempotency keys, `cron:<fire time in ms>`), if any is stored.
    fn last_cron_fire(&self, workflow: String) -> BoxFuture<'_, Result<Option<i64>, Error>>;

    /// The workflow's runs that are pending, running or suspended.
    fn unfinished_runs(&self, workflow: String) -> BoxFuture<'_, Result<Vec<RunId>, Error>>;

    /// The runs that `run_id` started as children, oldest first.
    fn child_runs(&self, run_id: RunId) -> BoxFuture<'_, Result<Vec<RunId>, Error>>;

    /// A run, or `None`.
    fn get_run(&self, run_id: RunId) -> BoxFuture<'_, Result<Option<RunInfo>, Error>>;

    /// Stops the writer after the writes queued so far, and closes connections.
    fn close(&self) -> BoxFuture<'_, ()>;
}

pub use crate::core::json::json_contains;

/// The output recorded for a step that waited for a run: how it ended.
pub(crate) fn run_outcome_json(status: &str, output: Option<&str>, error: Option<&str>) -> String {
    let output: serde_json::Value = output
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(serde_json::Value::Null);
    serde_json::json!({ "status": status, "output": output, "error": error }).to_string()
}

/// The output recorded for a wait satisfied by the event `id` with this
/// data. The id is recorded so a later lookback wait of the same run skips
/// the events its earlier waits took (see [`Wait::Event`]).
pub(crate) fn event_output_json(id: i64, data: &str) -> String {
    format!("{{\"data\":{data},\"event_id\":{id}}}")
}

/// Refuses a database whose schema version `found` is past the last of this
/// durable's `migrations`: a newer durable migrated it, and this one would
/// misread what it wrote. Both backends' migrations call it before applying
/// anything.
pub(crate) fn refuse_newer_schema(found: i64, migrations: &[(i64, &str)]) -> Result<(), Error> {
    let supported = migrations.last().map_or(0, |(version, _)| *version);
    if found > supported {
        return Err(Error::SchemaTooNew {
            found,
            supported,
            durable: env!("CARGO_PKG_VERSION"),
        });
    }
    Ok(())
}
