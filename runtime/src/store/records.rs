//! The records the store interface takes and returns besides the model's
//! own: requests (a run to create, a claim), and what writes did.

use std::sync::Arc;

use crate::core::cancel_on::CancelKey;
use crate::model::event::TriggerError;
use crate::model::ids::RunId;
use crate::model::journal::StepRecord;
use crate::model::lease::Lease;
use crate::model::outcome::RunOutcome;
use crate::model::status::RunStatus;

/// A run to create.
#[derive(Debug, Clone)]
pub(crate) struct NewRun {
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
    /// The workflow version it is pinned to (see [`Served`]); `None` pins
    /// it at its first claim, to the claiming engine's current version.
    pub version: Option<String>,
    /// Where it queues for a claim: its priority and concurrency key.
    pub queue: Queue,
    /// The run that started it, for a child run.
    #[cfg_attr(
        not(feature = "postgres"),
        allow(dead_code, reason = "only the PostgreSQL backend reads it")
    )]
    pub parent_id: Option<RunId>,
    /// Claims the run as it is created: it is written `running` under a
    /// lease with token 1 and one execution, and no claim picks it up. An
    /// engine with a free slot starts a run it triggers at once this way,
    /// saving a write and a trip through the dispatcher. Ignored when the
    /// idempotency key names an existing run.
    pub claimed_by: Option<ClaimAtCreate>,
    /// Its workflow's debounce or throttle, which the store applies in the
    /// trigger's transaction (never with `claimed_by`).
    pub flow: Option<Flow>,
    /// What cancels it (`#[workflow(cancel_on(..))]`), written beside it
    /// in `wf_cancel_on`; empty for a workflow without `cancel_on`, which
    /// writes nothing there.
    pub cancel_on: Vec<CancelKey>,
}

impl NewRun {
    /// The claim at create of a run of a workflow with a concurrency
    /// limit, which the store grants only if the run's group has a free
    /// slot ([`ClaimAtCreate::limit`]); `None` for every other create.
    pub(crate) fn claim_within_limit(&self) -> Option<&ClaimAtCreate> {
        self.claimed_by
            .as_ref()
            .filter(|claim| claim.limit.is_some())
    }
}

/// A debounce or a throttle, for one key value of one workflow (see
/// `Workflow::DEBOUNCE`, `Workflow::THROTTLE`), as the store applies it to
/// a run it creates: the run's start is decided by `core::flow` from what
/// the store reads of the key's other runs, under the key's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Join the key's run not started yet, or create it.
    Debounce {
        /// The key's value (`core::concurrency::key_at`).
        key: String,
        /// See `Debounce::period_ms`.
        period_ms: u64,
        /// See `Debounce::max_wait_ms`.
        max_wait_ms: Option<u64>,
    },
    /// Schedule the run after the window of the key's latest starts.
    Throttle {
        /// The key's value (`core::concurrency::key_at`).
        key: String,
        /// See `Throttle::limit`.
        limit: u32,
        /// See `Throttle::period_ms`.
        period_ms: u64,
    },
}

impl Flow {
    /// The flow of a run of a workflow with `debounce` or `throttle` (one at
    /// most: the macro and the registry refuse both), its key taken from
    /// the run's input as stored.
    pub(crate) fn of(
        debounce: Option<&crate::model::workflow::Debounce>,
        throttle: Option<&crate::model::workflow::Throttle>,
        input: &str,
    ) -> Option<Flow> {
        use crate::core::concurrency::key_at;
        if let Some(debounce) = debounce {
            return Some(Flow::Debounce {
                key: key_at(debounce.key, input),
                period_ms: debounce.period_ms,
                max_wait_ms: debounce.max_wait_ms,
            });
        }
        throttle.map(|throttle| Flow::Throttle {
            key: key_at(throttle.key, input),
            limit: throttle.limit,
            period_ms: throttle.period_ms,
        })
    }
}

/// Where a new run queues: in its named queue, which only engines serving
/// it claim from; there, claims take due runs by priority (higher
/// first), then in trigger order; a workflow with a concurrency limit
/// groups its runs by their key (see `core::concurrency::key_of`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Queue {
    /// Its queue's name (`wf_instance.queue`): its workflow's
    /// (`Workflow::QUEUE`), or the one its parent sent it to.
    pub name: String,
    /// Its priority (`TriggerOptions::priority`), 0 by default.
    pub priority: i32,
    /// Its concurrency key (`wf_instance.concurrency_key`): the value of
    /// its workflow's key in its input, or `""` (`NO_KEY`).
    pub concurrency_key: String,
}

impl Default for Queue {
    fn default() -> Self {
        Queue {
            name: durable_grammar::queue::DEFAULT_QUEUE.to_owned(),
            priority: 0,
            concurrency_key: String::new(),
        }
    }
}

/// Who claims a run as it is created (see [`NewRun::claimed_by`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClaimAtCreate {
    /// The claiming engine, as in [`ClaimRequest::owner`].
    pub owner: String,
    /// When the lease expires (ms), on a store with leases.
    pub lease_expires_at: Option<i64>,
    /// The concurrency limit of the run's workflow, if it has one: the run
    /// is claimed only if fewer runs of its group are running, else written
    /// pending ([`CreateOutcome::Queued`]). The count and the insert are
    /// serialized with every claim of the workflow (SQLite's one writer;
    /// on PostgreSQL the lock a limited claim takes), so that two engines
    /// never both take a group's last slot.
    pub limit: Option<u32>,
}

impl ClaimAtCreate {
    /// The fencing token of a run claimed as it is created.
    pub(crate) const TOKEN: i64 = 1;
}

/// What [`Store::create_run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CreateOutcome {
    /// A new run was written.
    Created(RunId),
    /// A new run was written pending: it was to be claimed as it was
    /// created, but its group had no free slot (see
    /// [`ClaimAtCreate::limit`]); a claim takes it.
    Queued(RunId),
    /// The idempotency key already named this run, with the same input.
    Existing(RunId),
    /// A debounced trigger joined this run, which had not started: its
    /// input is now the trigger's, and its start moved (`core::flow`).
    Joined(RunId),
    /// The idempotency key already named this run, with another input;
    /// nothing was written.
    Conflict(RunId),
}

/// A request to claim runs that are ready.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRequest {
    /// The claiming worker.
    pub owner: String,
    /// Now, in ms.
    pub now: i64,
    /// At most this many runs.
    pub limit: usize,
    /// Only runs of these workflows and versions.
    pub workflows: Served,
    /// When the leases of the claimed runs expire (ms), on a store whose
    /// leases expire.
    #[cfg_attr(
        not(feature = "postgres"),
        allow(dead_code, reason = "only the PostgreSQL backend reads it")
    )]
    pub lease_expires_at: Option<i64>,
}

/// The workflows an engine serves, as the claim statements read them: a
/// run is claimed only if its workflow is served and either it is not
/// pinned to a version yet or its version is served; a run not pinned yet
/// is pinned by its claim to its workflow's current version.
#[derive(Debug, Clone)]
pub(crate) struct Served {
    /// The workflow names, a JSON array.
    pub names: Arc<str>,
    /// Every version served, a JSON array of `name` + U+001F + `version`.
    pub versions: Arc<str>,
    /// Each workflow's current version, a JSON object by name.
    pub current: Arc<str>,
    /// The concurrency limit of each workflow that has one, a JSON object
    /// by name (`{}` when none has): a claim takes a run of such a
    /// workflow only while fewer than its limit of the runs of its workflow
    /// and concurrency key are running, and [`Store::next_ready_at`]
    /// passes over the runs it could not take.
    pub limits: Arc<str>,
    /// The names of the workflows without a limit, a JSON array (all of
    /// [`names`](Self::names) when none has one): what a claim takes in one
    /// statement when no run of a limited workflow is due.
    pub unlimited_names: Arc<str>,
    /// The queues served, a JSON array (`["default"]` unless the engine
    /// was built with `EngineBuilder::queues`): a claim takes only runs
    /// waiting in one of them, and [`Store::next_ready_at`] reads only
    /// those.
    pub queues: Arc<str>,
}

/// What separates a workflow's name from a version in [`Served::versions`]
/// (U+001F, the unit separator: no name or version holds it in practice,
/// and a pair that did would only fail to match).
pub(crate) const VERSION_SEPARATOR: char = '\u{1f}';

impl Served {
    /// The workflows and versions of `(name, versions, current)` entries.
    pub(crate) fn of<'a>(
        entries: impl IntoIterator<Item = (&'a str, Vec<&'a str>, &'a str)>,
    ) -> Self {
        let mut names = Vec::new();
        let mut versions = Vec::new();
        let mut current = serde_json::Map::new();
        for (name, served, now) in entries {
            names.push(serde_json::Value::from(name));
            for version in served {
                versions.push(serde_json::Value::from(format!(
                    "{name}{VERSION_SEPARATOR}{version}"
                )));
            }
            current.insert(name.to_owned(), now.into());
        }
        let names: Arc<str> = serde_json::Value::Array(names).to_string().into();
        Served {
            unlimited_names: names.clone(),
            names,
            versions: serde_json::Value::Array(versions).to_string().into(),
            current: serde_json::Value::Object(current).to_string().into(),
            limits: "{}".into(),
            queues: default_queues(),
        }
    }

    /// The same workflows, in these queues only.
    pub(crate) fn with_queues<'a>(self, queues: impl IntoIterator<Item = &'a str>) -> Self {
        let queues: Vec<serde_json::Value> = queues.into_iter().map(Into::into).collect();
        Served {
            queues: serde_json::Value::Array(queues).to_string().into(),
            ..self
        }
    }

    /// The same workflows, with these `(name, limit)` concurrency limits.
    pub(crate) fn with_limits<'a>(self, limits: impl IntoIterator<Item = (&'a str, u32)>) -> Self {
        let limits: serde_json::Map<String, serde_json::Value> = limits
            .into_iter()
            .map(|(name, limit)| (name.to_owned(), limit.into()))
            .collect();
        let names: Vec<serde_json::Value> = serde_json::from_str(&self.names).unwrap_or_default();
        let unlimited: Vec<serde_json::Value> = names
            .into_iter()
            .filter(|name| name.as_str().is_none_or(|name| !limits.contains_key(name)))
            .collect();
        Served {
            limits: serde_json::Value::Object(limits).to_string().into(),
            unlimited_names: serde_json::Value::Array(unlimited).to_string().into(),
            ..self
        }
    }

    /// Whether some workflow served has no concurrency limit.
    #[cfg_attr(
        not(feature = "postgres"),
        expect(dead_code, reason = "only PostgreSQL's claims split the workflows")
    )]
    pub(crate) fn has_unlimited(&self) -> bool {
        &*self.unlimited_names != "[]"
    }

    /// Whether some workflow served has a concurrency limit.
    #[cfg_attr(
        not(feature = "postgres"),
        expect(dead_code, reason = "only PostgreSQL's claims split the workflows")
    )]
    pub(crate) fn has_limits(&self) -> bool {
        &*self.limits != "{}"
    }
}

/// The workflows of a JSON array of names, with no version: only runs not
/// pinned to a version are claimed, and a claim pins none (the store's
/// tests, which know no versions).
impl From<&str> for Served {
    fn from(names: &str) -> Self {
        Served {
            names: names.into(),
            unlimited_names: names.into(),
            versions: "[]".into(),
            current: "{}".into(),
            limits: "{}".into(),
            queues: default_queues(),
        }
    }
}

/// The queues an engine serves unless told: `["default"]`.
fn default_queues() -> Arc<str> {
    serde_json::Value::from(vec![durable_grammar::queue::DEFAULT_QUEUE])
        .to_string()
        .into()
}

/// A run a worker claimed.
#[derive(Debug, Clone)]
pub(crate) struct ClaimedRun {
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
    /// The workflow version it is pinned to (set by its first claim, if it
    /// had none); `None` only where the claim did not name a current
    /// version for its workflow.
    pub version: Option<String>,
    /// The run's journal, when the claim read it along (a store that can
    /// do so in the claim's statement saves a read per run); `None` leaves
    /// it to [`Store::load_journal`].
    pub journal: Option<Vec<StepRecord>>,
}

/// An event or signal to send.
#[derive(Debug, Clone)]
pub(crate) struct NewEvent {
    /// Its name.
    pub name: String,
    /// Its data, as JSON text.
    pub data: String,
    /// For a signal: the run it is for.
    pub target: Option<RunId>,
    /// Now (ms).
    pub now: i64,
    /// The runs it starts (event triggers, decided and checked by the
    /// engine before): each is created in the event's transaction, with
    /// the idempotency key `event:<id>` and the event's id recorded.
    pub starts: Vec<NewRun>,
    /// The workflows it matched but does not start, recorded on the event.
    pub trigger_errors: Vec<TriggerError>,
}

/// What [`Store::finish_run`] did besides ending its run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FinishEffects {
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
pub(crate) struct DeleteFinished {
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
#[cfg_attr(
    not(feature = "postgres"),
    allow(dead_code, reason = "only PostgreSQL has other processes to hear from")
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreSignal {
    /// Runs may have become due (triggered, woken, released).
    Wake,
    /// This run ended.
    Finished(RunId),
}

/// A fork to write (see [`Store::fork_run`]): the new run, pending, and
/// the run and step it is forked from.
#[derive(Debug, Clone)]
pub(crate) struct NewFork {
    /// The new run (of the source's workflow; never claimed at creation).
    pub(crate) run: NewRun,
    /// The ended run whose journal it keeps.
    pub(crate) source: RunId,
    /// The step it runs again from: the source's records before it are
    /// copied, in journal order.
    pub(crate) from_step: String,
}

/// What a fork did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ForkOutcome {
    /// The new run was written, with the records it keeps.
    Created(RunId),
    /// The source has not ended (it is in this status); nothing was written.
    NotEnded(RunStatus),
    /// The source's journal has no step of that name; nothing was written.
    NoSuchStep,
    /// No such source run.
    NotFound,
}

/// What a lease renewal ([`Store::renew_leases`]) found of the runs it
/// renewed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Renewal {
    /// The runs whose lease was lost: another worker holds them now, or they
    /// ended.
    pub(crate) lost: Vec<RunId>,
    /// The runs, of those still held, that an operator paused: their
    /// executions stop at their next step.
    pub(crate) paused: Vec<RunId>,
}

/// What a status change ([`Store::cancel_run`], [`Store::retry_run`],
/// [`Store::set_paused`]) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransitionOutcome {
    /// The change was made.
    Done,
    /// The run is in this status, which does not allow it; nothing changed.
    Refused(RunStatus),
    /// No such run.
    NotFound,
}
