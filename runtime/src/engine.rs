//! The engine: configuration, the workflow registry, triggering, and the
//! dispatcher that claims ready runs and hands them to the executor.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::core::json::decode_json;
use crate::core::retention::Retention;
use crate::core::timing::deadline;
use crate::executor;
use crate::model::duration::millis;
use crate::model::sync::lock;
use crate::store::DeleteFinished;
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::Durability;
use crate::store::sqlite::{SqliteLocation, SqliteStore};
use crate::store::{
    ClaimAtCreate, ClaimRequest, ClaimedRun, CreateOutcome, Lease, NewRun, RunOutcome, Store,
    StoreSignal, TransitionOutcome,
};
use crate::{
    BoxFuture, Clock, Ctx, Error, IntoDuration, RunHandle, RunId, RunInfo, RunStatus, StepInfo,
    StepStatus, SystemClock, TriggerOptions, Workflow,
};

/// How long a result waiter sleeps between checks when no local wake-up
/// arrives (a run finished by another process).
mod reads;
mod sources;

const RESULT_POLL: Duration = Duration::from_millis(500);

/// How often the dispatcher looks for due runs on a database shared with
/// other processes, besides the notifications it gets.
const SHARED_POLL: Duration = Duration::from_secs(1);

/// How many runs one claim takes at most.
const MAX_CLAIM: usize = 256;

/// Size limits, checked before anything is written; a payload over a limit
/// gets [`Error::PayloadTooLarge`] naming the limit.
///
/// ```
/// let limits = durable::Limits { max_input_bytes: 64 * 1024, ..Default::default() };
/// assert_eq!(limits.max_step_output_bytes, 1024 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest workflow input, as JSON (default 1 MiB).
    pub max_input_bytes: usize,
    /// The largest step output or workflow output, as JSON (default 1 MiB).
    pub max_step_output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_bytes: 1024 * 1024,
            max_step_output_bytes: 1024 * 1024,
        }
    }
}

pub(crate) struct EngineConfig {
    pub(crate) retention: Retention,
    pub(crate) retention_overrides: HashMap<String, Retention>,
    pub(crate) concurrency: usize,
    pub(crate) keep_in_memory_ms: i64,
    /// How long before its timer ends a sleeping run may be claimed (see
    /// `RunState::ready_at`): just below `keep_in_memory_ms`, so that the
    /// replay of a run claimed that early waits in memory.
    pub(crate) claim_early_ms: i64,
    pub(crate) limits: Limits,
    pub(crate) owner: String,
}

/// A workflow's on-failure hook, with its types erased.
pub(crate) type OnFailure = fn(Ctx, crate::Failure) -> BoxFuture<'static, Result<(), String>>;

/// How a registered workflow is started and checked, with its types erased.
pub(crate) struct Registered {
    pub(crate) name: &'static str,
    pub(crate) timeout_ms: Option<u64>,
    /// Runs the body on a JSON input; `Ok` is the output as JSON text, `Err`
    /// the failure message.
    pub(crate) start: fn(Ctx, String) -> BoxFuture<'static, Result<String, String>>,
    /// Runs after a failure and its compensations.
    pub(crate) on_failure: Option<OnFailure>,
    /// The cron expression, time zone and overlap policy, for a cron workflow.
    cron: Option<(&'static str, &'static str, crate::Overlap)>,
    /// Checks a JSON input against the input type and returns it as stored.
    validate: fn(serde_json::Value) -> Result<String, String>,
    schema: fn() -> serde_json::Value,
}

fn start_erased<W: Workflow>(
    ctx: Ctx,
    input: String,
) -> BoxFuture<'static, Result<String, String>> {
    Box::pin(async move {
        let input: W::Input = serde_json::from_str(&input)
            .map_err(|error| format!("the stored input no longer fits the input type: {error}"))?;
        match W::run(ctx, input).await {
            Ok(output) => serde_json::to_string(&output)
                .map_err(|error| format!("cannot serialize the workflow output: {error}")),
            Err(error) => Err(error.to_string()),
        }
    })
}

fn on_failure_erased<W: Workflow>(
    ctx: Ctx,
    failure: crate::Failure,
) -> BoxFuture<'static, Result<(), String>> {
    Box::pin(async move {
        W::on_failure(ctx, failure)
            .await
            .map_err(|error| error.to_string())
    })
}

fn validate_erased<W: Workflow>(input: serde_json::Value) -> Result<String, String> {
    let typed: W::Input = decode_json(&input)?;
    serde_json::to_string(&typed).map_err(|error| error.to_string())
}

/// The engine's state shared by its tasks.
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: EngineConfig,
    pub(crate) registry: HashMap<&'static str, Registered>,
    workflow_names: Arc<str>,
    /// Woken when a run may have become ready.
    pub(crate) dispatch: tokio::sync::Notify,
    /// Woken when a slot frees up; the dispatcher waits for it only while
    /// ready runs may be left unclaimed for want of slots.
    pub(crate) slot_freed: tokio::sync::Notify,
    /// Waiters for runs to finish, woken by this engine.
    finish_waiters: Mutex<HashMap<RunId, Arc<FinishWaiter>>>,
    /// Runs this engine executes now: their fencing token and task.
    pub(crate) active: Mutex<HashMap<RunId, (i64, tokio::task::AbortHandle)>>,
    /// Concurrency slots in use: runs executing, not those waiting for a
    /// timer or a write (see `executor::Slot::lend`).
    pub(crate) slots_taken: AtomicUsize,
    /// Runs whose timer or write ended, waiting to take their lent slot
    /// back; they go before new claims.
    pub(crate) slots_wanted_back: AtomicUsize,
    /// Woken when a slot frees up while runs want theirs back.
    pub(crate) slot_given_back: tokio::sync::Notify,
    shut_down: AtomicBool,
}

impl Shared {
    /// Stops this engine's executions of runs that were cancelled in the
    /// database (their writes are fenced already), and wakes their waiters
    /// and any parents they woke.
    pub(crate) fn stop_local(&self, runs: &[RunId]) {
        for run_id in runs {
            let running = lock(&self.active).remove(run_id);
            if let Some((_, task)) = running {
                task.abort();
            }
            self.notify_finished(*run_id);
        }
        if !runs.is_empty() {
            self.dispatch.notify_one();
        }
    }

    /// Wakes whoever waits for `run_id` to finish; they read how it ended.
    pub(crate) fn notify_finished(&self, run_id: RunId) {
        let waiter = lock(&self.finish_waiters).remove(&run_id);
        if let Some(waiter) = waiter {
            waiter.woken.notify_waiters();
        }
    }

    /// Wakes whoever waits for `run_id`, which this engine just finished
    /// with `outcome` (committed): they need not read it back.
    pub(crate) fn finished_here(&self, run_id: RunId, outcome: &RunOutcome) {
        let waiter = lock(&self.finish_waiters).remove(&run_id);
        if let Some(waiter) = waiter {
            *lock(&waiter.outcome) = Some(outcome.clone());
            waiter.woken.notify_waiters();
        }
    }
}

/// Whoever waits for one run to finish.
#[derive(Default)]
pub(crate) struct FinishWaiter {
    woken: tokio::sync::Notify,
    /// How the run ended, when it ended on this engine.
    outcome: Mutex<Option<RunOutcome>>,
}

/// The durable workflow engine: triggers runs and executes them.
///
/// Cheap to clone; every clone is the same engine. Build one with
/// [`Engine::builder`].
///
/// The engine runs until [`shutdown`](Engine::shutdown), or until the last
/// handle on it is dropped (clones and [`RunHandle`]s count; the engine's
/// own tasks hold none): then it stops as `shutdown` does, in a task of the
/// tokio runtime the handle is dropped in, and the database (a SQLite
/// file's lock) is free for the next engine soon after. Call `shutdown` to
/// know when it is done.
///
/// ```no_run
/// # async fn f() -> Result<(), durable::Error> {
/// let engine = durable::Engine::builder()
///     .sqlite_file("orders.db")
///     .concurrency(64)
///     .start()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
    /// Shared by the handles the user holds, `None` in those the engine's
    /// own tasks make: the engine stops when the last user handle goes.
    owner: Option<Arc<Owner>>,
}

/// What the user's handles share: the engine's background tasks, stopped
/// with the engine when the last handle is dropped.
struct Owner {
    shared: Arc<Shared>,
    /// The dispatcher, maintenance, cron and, on a shared database, the
    /// lease heartbeat.
    tasks: Vec<tokio::task::AbortHandle>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        if self.shared.shut_down.load(Ordering::Acquire) {
            return;
        }
        // Stopping needs writes (runs in flight go back to `pending`), so it
        // runs as a task; without a runtime its tasks are gone already, and
        // the store closes when the last reference to it goes.
        let tasks = std::mem::take(&mut self.tasks);
        let shared = self.shared.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move { stop(&shared, &tasks).await });
            }
            Err(_) => {
                shared.shut_down.store(true, Ordering::Release);
                for task in tasks {
                    task.abort();
                }
            }
        }
    }
}

/// Where the engine keeps its runs.
#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqliteLocation),
    Postgres { url: String, schema: Option<String> },
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("backend", &self.shared.store.backend())
            .field("workflows", &self.shared.workflow_names)
            .finish_non_exhaustive()
    }
}

/// Configures and starts an [`Engine`].
pub struct EngineBuilder {
    backend: Backend,
    durability: Durability,
    registry: HashMap<&'static str, Registered>,
    concurrency: usize,
    keep_in_memory: Duration,
    limits: Limits,
    clock: Arc<dyn Clock>,
    lease: Duration,
    retention: Retention,
    retention_overrides: HashMap<String, Retention>,
    errors: Vec<String>,
}

impl std::fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineBuilder")
            .field("backend", &self.backend)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl EngineBuilder {
    /// Stores runs in the SQLite file at `path` (the default is `durable.db`
    /// in the working directory).
    pub fn sqlite_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.backend = Backend::Sqlite(SqliteLocation::File(path.into()));
        self
    }

    /// Stores runs in an in-memory SQLite database, lost when the engine
    /// stops: for tests and demos.
    pub fn sqlite_memory(mut self) -> Self {
        self.backend = Backend::Sqlite(SqliteLocation::Memory);
        self
    }

    /// Stores runs in PostgreSQL at `url` (`postgres://user@host/db`), shared
    /// by any number of engines (workers) in any number of processes.
    pub fn postgres(mut self, url: impl Into<String>) -> Self {
        self.backend = Backend::Postgres {
            url: url.into(),
            schema: None,
        };
        self
    }

    /// With [`postgres`](EngineBuilder::postgres): keeps the tables in this
    /// PostgreSQL schema (created if missing) instead of the default one.
    pub fn postgres_schema(mut self, schema: impl Into<String>) -> Self {
        match &mut self.backend {
            Backend::Postgres { schema: slot, .. } => *slot = Some(schema.into()),
            Backend::Sqlite(_) => self.errors.push(
                "postgres_schema needs a PostgreSQL backend: call .postgres(url) first".into(),
            ),
        }
        self
    }

    /// Chooses the backend by URL: `postgres://...` or `postgresql://...`,
    /// `sqlite::memory:` (or `sqlite://:memory:`), or a SQLite file as
    /// `sqlite://path/to/file.db`, `sqlite:///absolute/path.db` or
    /// `sqlite:file.db`.
    ///
    /// A URL that names no file (`sqlite://`, `sqlite:`), carries query
    /// parameters (`sqlite://x.db?mode=rwc`) or has another scheme makes
    /// [`start`](EngineBuilder::start) fail with [`Error::Config`]; the
    /// message names the scheme, never the whole URL (it may hold a
    /// password).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let error = durable::Engine::builder()
    ///     .database_url("mysql://app:secret@db/app")
    ///     .start()
    ///     .await
    ///     .unwrap_err();
    /// assert!(error.to_string().contains("`mysql`"));
    /// assert!(!error.to_string().contains("secret"));
    /// # }
    /// ```
    pub fn database_url(self, url: &str) -> Self {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return self.postgres(url);
        }
        if url == "sqlite::memory:" || url == "sqlite://:memory:" {
            return self.sqlite_memory();
        }
        let problem = match url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            Some("") => format!(
                "the database URL {url:?} names no file: use sqlite://FILE, or sqlite::memory: for an in-memory database"
            ),
            Some(path) if path.contains('?') => format!(
                "the SQLite database URL {url:?} has query parameters, which durable does not read: use sqlite://FILE"
            ),
            Some(path) => return self.sqlite_file(path),
            None => {
                // Only the scheme: the rest may hold a password.
                let scheme = url
                    .split_once(':')
                    .map(|(scheme, _)| scheme)
                    .filter(|scheme| {
                        !scheme.is_empty()
                            && scheme
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                    });
                match scheme {
                    Some(scheme) => format!(
                        "unsupported database URL scheme `{scheme}`: use postgres://..., sqlite://FILE or sqlite::memory:"
                    ),
                    None => "the database URL has no scheme: use postgres://..., sqlite://FILE or sqlite::memory:".to_owned(),
                }
            }
        };
        let mut builder = self;
        builder.errors.push(problem);
        builder
    }

    /// Sets what a commit guarantees; see [`Durability`].
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Registers a workflow so this engine can trigger and execute it.
    pub fn register<W: Workflow>(mut self, _workflow: W) -> Self {
        let registered = Registered {
            name: W::NAME,
            timeout_ms: W::TIMEOUT_MS,
            start: start_erased::<W>,
            on_failure: W::HAS_ON_FAILURE.then_some(on_failure_erased::<W> as OnFailure),
            cron: W::CRON.map(|expression| (expression, W::TIMEZONE, W::OVERLAP)),
            validate: validate_erased::<W>,
            schema: W::input_schema,
        };
        if self.registry.insert(W::NAME, registered).is_some() {
            self.errors.push(format!(
                "two workflows are registered under the name `{}`",
                W::NAME
            ));
        }
        self
    }

    /// How many runs this engine executes at once (default 64): at most
    /// this many run their workflow code or step bodies at any moment.
    ///
    /// A run does not count while it waits: suspended, waiting in memory for
    /// a sleep or a retry's back-off, or waiting for the database to commit
    /// one of its writes (a step result, its suspension or its end). It
    /// lends its slot meanwhile, and takes one back, ahead of the runs still
    /// to be claimed, when the wait ends. So more runs than this may be in
    /// memory at once, the others waiting: at most 16 times this many, plus
    /// the runs of a claim in flight (at most this many).
    pub fn concurrency(mut self, runs: usize) -> Self {
        self.concurrency = runs;
        self
    }

    /// Sleeps and retry back-offs shorter than this wait in memory; longer
    /// ones suspend the run (default 1 s). A suspended sleeper is claimed
    /// again this long before its sleep ends (less 1 ms), and waits out the
    /// rest in memory, so the step after the sleep runs on time rather than
    /// a claim later. A wait for an event is not claimed before its
    /// timeout.
    pub fn keep_in_memory_below(mut self, duration: impl IntoDuration) -> Self {
        match duration.into_duration() {
            Ok(duration) => self.keep_in_memory = duration,
            Err(error) => self.errors.push(error.to_string()),
        }
        self
    }

    /// On a shared database (PostgreSQL): how long a claim holds a run
    /// before another worker may take it over, unless this engine renews it
    /// (it does, every third of the lease). A dead worker's runs move to
    /// others after this long. Default 10 s.
    pub fn lease(mut self, lease: impl IntoDuration) -> Self {
        match lease.into_duration() {
            Ok(lease) if lease >= Duration::from_millis(300) => self.lease = lease,
            Ok(_) => self.errors.push("a lease must be at least 300ms".into()),
            Err(error) => self.errors.push(error.to_string()),
        }
        self
    }

    /// How long finished runs and events are kept (see [`Retention`] for
    /// the defaults). Every engine deletes what is due every minute, in
    /// batches.
    pub fn retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// How long finished runs of one workflow are kept, instead of the
    /// engine-wide [`retention`](EngineBuilder::retention).
    pub fn retention_for(mut self, workflow: impl Into<String>, retention: Retention) -> Self {
        self.retention_overrides.insert(workflow.into(), retention);
        self
    }

    /// Sets the payload limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Uses `clock` for every timestamp and timer (tests use
    /// [`ManualClock`](crate::ManualClock)).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Opens the database, migrates it, hands back runs a previous process
    /// left running, and starts executing.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an invalid setting (a database URL that names
    /// no database, among others); [`Error::DatabaseInUse`] when another
    /// engine holds the SQLite file; [`Error::DatabaseFile`] when the SQLite
    /// file cannot be created or is not a database; [`Error::SchemaTooNew`]
    /// when a newer durable migrated the database; [`Error::ForeignTable`]
    /// when one of durable's table names is taken by another table;
    /// [`Error::Database`] when the database cannot be reached or migrated.
    pub async fn start(self) -> Result<Engine, Error> {
        if self.concurrency == 0 {
            return Err(Error::Config("concurrency must be at least 1".into()));
        }
        let invalid_retention = std::iter::once(&self.retention)
            .chain(self.retention_overrides.values())
            .find_map(|retention| retention.invalid.clone());
        if let Some(error) = self.errors.into_iter().chain(invalid_retention).next() {
            return Err(Error::Config(error));
        }
        if let Some(unknown) = self
            .retention_overrides
            .keys()
            .find(|name| !self.registry.contains_key(name.as_str()))
        {
            return Err(Error::Config(format!(
                "retention_for names workflow `{unknown}`, which is not registered"
            )));
        }
        let store: Arc<dyn Store> = match &self.backend {
            Backend::Sqlite(location) => {
                Arc::new(SqliteStore::open(location, self.durability).await?)
            }
            Backend::Postgres { url, schema } => {
                Arc::new(PostgresStore::open(url, schema.as_deref(), self.lease).await?)
            }
        };
        let mut crons = Vec::new();
        for registered in self.registry.values() {
            if let Some((expression, zone, overlap)) = registered.cron {
                let schedule = crate::core::cron::CronSchedule::new(
                    registered.name,
                    expression,
                    zone,
                    overlap,
                )?;
                crons.push(Arc::new(schedule));
            }
        }
        let names: Vec<&str> = self.registry.keys().copied().collect();
        let workflow_names: Arc<str> = serde_json::to_string(&names)
            .map_err(|error| Error::Config(error.to_string()))?
            .into();
        store.recover(self.clock.now_ms()).await?;
        let shared = Arc::new(Shared {
            store,
            clock: self.clock,
            config: EngineConfig {
                retention: self.retention,
                retention_overrides: self.retention_overrides,
                concurrency: self.concurrency,
                keep_in_memory_ms: millis(self.keep_in_memory),
                claim_early_ms: (millis(self.keep_in_memory) - 1).max(0),
                limits: self.limits,
                owner: format!("{}-{}", std::process::id(), RunId::new()),
            },
            registry: self.registry,
            workflow_names,
            dispatch: tokio::sync::Notify::new(),
            slot_freed: tokio::sync::Notify::new(),
            finish_waiters: Mutex::default(),
            active: Mutex::default(),
            slots_taken: AtomicUsize::new(0),
            slots_wanted_back: AtomicUsize::new(0),
            slot_given_back: tokio::sync::Notify::new(),
            shut_down: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&shared);
        shared.store.watch(Arc::new(move |signal| {
            if let Some(shared) = weak.upgrade() {
                match signal {
                    StoreSignal::Wake => shared.dispatch.notify_one(),
                    StoreSignal::Finished(run_id) => shared.notify_finished(run_id),
                }
            }
        }));
        let mut tasks = vec![tokio::spawn(dispatch_loop(shared.clone())).abort_handle()];
        tasks.push(tokio::spawn(maintenance_loop(shared.clone())).abort_handle());
        let started = shared.clock.now_ms();
        for cron in crons {
            let task = tokio::spawn(sources::cron::cron_loop(shared.clone(), cron, started));
            tasks.push(task.abort_handle());
        }
        if let Some(lease) = shared.store.lease_duration() {
            tasks.push(tokio::spawn(heartbeat_loop(shared.clone(), lease)).abort_handle());
        }
        Ok(Engine {
            shared: shared.clone(),
            owner: Some(Arc::new(Owner { shared, tasks })),
        })
    }
}

impl Engine {
    /// A builder with the defaults: SQLite file `durable.db`, concurrency 64,
    /// [`Durability::Normal`], default [`Limits`], the system clock.
    pub fn builder() -> EngineBuilder {
        EngineBuilder {
            backend: Backend::Sqlite(SqliteLocation::File(PathBuf::from("durable.db"))),
            durability: Durability::default(),
            registry: HashMap::new(),
            concurrency: 64,
            keep_in_memory: Duration::from_secs(1),
            limits: Limits::default(),
            clock: Arc::new(SystemClock),
            lease: crate::store::postgres::DEFAULT_LEASE,
            retention: Retention::default(),
            retention_overrides: HashMap::new(),
            errors: Vec::new(),
        }
    }

    /// Starts a run of `W`. The generated `W::trigger` calls this.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownWorkflow`] when `W` is not registered,
    /// [`Error::PayloadTooLarge`], or a database error. Nothing is written
    /// when it fails.
    pub async fn trigger<W: Workflow>(
        &self,
        input: W::Input,
    ) -> Result<RunHandle<W::Output>, Error> {
        self.trigger_with::<W>(input, TriggerOptions::default())
            .await
    }

    /// Starts a run of `W` with options (idempotency key, delay).
    ///
    /// # Errors
    ///
    /// As [`trigger`](Engine::trigger), plus [`Error::IdempotencyConflict`].
    pub async fn trigger_with<W: Workflow>(
        &self,
        input: W::Input,
        options: TriggerOptions,
    ) -> Result<RunHandle<W::Output>, Error> {
        let input = serde_json::to_string(&input).map_err(|error| Error::Serialization {
            what: format!("input of workflow {:?}", W::NAME),
            message: error.to_string(),
        })?;
        let id = self.create(W::NAME, input, options).await?;
        Ok(RunHandle::new(self.clone(), id))
    }

    /// Starts a run of the workflow named `workflow` with a JSON input,
    /// checked against the workflow's input type first.
    ///
    /// A struct input must be a JSON object (an array gives "expected a JSON
    /// object with the fields of struct ..."). Fields the type does not have
    /// are dropped, as serde does by default, and not stored; with
    /// `#[serde(deny_unknown_fields)]` on the input type they are refused
    /// with [`Error::InvalidInput`] naming the field:
    ///
    /// ```
    /// use durable::prelude::*;
    ///
    /// #[derive(Serialize, Deserialize, JsonSchema)]
    /// #[serde(deny_unknown_fields)]
    /// struct RefundInput { order_id: String }
    ///
    /// #[workflow]
    /// async fn refund(ctx: Ctx, input: RefundInput) -> Result<String, Error> { Ok(input.order_id) }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let engine = Engine::builder().sqlite_memory().register(Refund).start().await?;
    /// let error = engine
    ///     .trigger_json("refund", json!({ "order_id": "o-1", "amount": 5 }))
    ///     .await
    ///     .unwrap_err();
    /// assert!(error.to_string().contains("unknown field `amount`, expected `order_id`"));
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::UnknownWorkflow`], [`Error::InvalidInput`] naming the field
    /// that is wrong, [`Error::PayloadTooLarge`], or a database error.
    /// Nothing is written when it fails.
    pub async fn trigger_json(
        &self,
        workflow: &str,
        input: serde_json::Value,
    ) -> Result<RunHandle<serde_json::Value>, Error> {
        self.trigger_json_with(workflow, input, TriggerOptions::default())
            .await
    }

    /// [`trigger_json`](Engine::trigger_json) with options.
    ///
    /// # Errors
    ///
    /// As [`trigger_json`](Engine::trigger_json), plus
    /// [`Error::IdempotencyConflict`].
    pub async fn trigger_json_with(
        &self,
        workflow: &str,
        input: serde_json::Value,
        options: TriggerOptions,
    ) -> Result<RunHandle<serde_json::Value>, Error> {
        let registered = self.registered(workflow)?;
        let input = (registered.validate)(input).map_err(|message| Error::InvalidInput {
            workflow: workflow.to_owned(),
            message,
        })?;
        let id = self.create(registered.name, input, options).await?;
        Ok(RunHandle::new(self.clone(), id))
    }

    /// The JSON Schema of a registered workflow's input.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownWorkflow`].
    pub fn input_schema(&self, workflow: &str) -> Result<serde_json::Value, Error> {
        Ok((self.registered(workflow)?.schema)())
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Runs the maintenance every engine also runs every minute: ends as
    /// `timed_out` the pending and suspended runs past their deadline (runs
    /// no worker claims, such as those of a workflow no engine registers
    /// any more), then deletes the finished runs and events whose retention
    /// period passed.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn run_maintenance(&self) -> Result<MaintenanceReport, Error> {
        run_maintenance(&self.shared).await
    }

    /// How many runs this engine holds in memory now: executing, or waiting
    /// in memory for a short sleep or retry. Suspended runs do not count:
    /// they hold no task.
    pub fn active_run_count(&self) -> usize {
        lock(&self.shared.active).len()
    }

    /// A handle on an existing run, typed by its output.
    pub fn run_handle<O: DeserializeOwned>(&self, id: RunId) -> RunHandle<O> {
        RunHandle::new(self.clone(), id)
    }

    /// A handle on an existing run by its id alone, without naming its
    /// workflow's output type: [`info`](RunHandle::info),
    /// [`steps`](RunHandle::steps), [`logs`](RunHandle::logs),
    /// [`cancel`](RunHandle::cancel), [`retry`](RunHandle::retry),
    /// [`signal`](RunHandle::signal), and [`result`](RunHandle::result) as
    /// JSON. The run may be of any workflow, even one this engine does not
    /// register. Nothing is read until a method is called; an unknown id
    /// gives [`Error::RunNotFound`] then.
    ///
    /// ```no_run
    /// # async fn admin(engine: durable::Engine) -> Result<(), durable::Error> {
    /// // e.g. an id from a URL or a log line
    /// let id: durable::RunId = "0190e0a4-4c6e-7a3e-9d0b-5b1f3c2a1d00".parse().unwrap();
    /// let run = engine.run(id);
    /// println!("{} is {}", run.info().await?.workflow, run.status().await?);
    /// run.signal("approve", true).await?;
    /// let output: serde_json::Value = run.result().await?;
    /// # Ok(()) }
    /// ```
    pub fn run(&self, id: RunId) -> RunHandle<serde_json::Value> {
        RunHandle::new(self.clone(), id)
    }

    fn registered(&self, workflow: &str) -> Result<&Registered, Error> {
        self.shared
            .registry
            .get(workflow)
            .ok_or_else(|| Error::unknown_workflow(workflow, self.shared.registry.keys().copied()))
    }

    /// An engine handle for the engine's own tasks (it cannot shut down).
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Engine {
        Engine {
            shared,
            owner: None,
        }
    }

    pub(crate) async fn create(
        &self,
        workflow: &str,
        input: String,
        options: TriggerOptions,
    ) -> Result<RunId, Error> {
        let registered = self.registered(workflow)?;
        let limit = self.shared.config.limits.max_input_bytes;
        if input.len() > limit {
            return Err(Error::PayloadTooLarge {
                what: format!("input of workflow {workflow:?}"),
                size: input.len(),
                limit,
                limit_name: "max_input_bytes",
            });
        }
        if self.shared.shut_down.load(Ordering::Acquire) {
            return Err(Error::Shutdown);
        }
        let now = self.shared.clock.now_ms();
        let ready_at = now
            .saturating_add(options.delay_ms)
            .max(options.start_at_ms.unwrap_or(i64::MIN));
        // A run due now starts here at once if a slot is free: it is created
        // claimed, which saves the claim's write and the dispatcher's trip.
        let slot = if ready_at <= now {
            executor::Slot::try_take(&self.shared)
        } else {
            None
        };
        let deadline_at = deadline(ready_at, registered.timeout_ms);
        let run = NewRun {
            id: RunId::new(),
            workflow: registered.name.to_owned(),
            input: input.clone(),
            idempotency_key: options.idempotency_key.clone(),
            now,
            ready_at,
            deadline_at,
            parent_id: None,
            claimed_by: slot.as_ref().map(|_| ClaimAtCreate {
                owner: self.shared.config.owner.clone(),
                lease_expires_at: self
                    .shared
                    .store
                    .lease_duration()
                    .map(|lease| now.saturating_add(millis(lease))),
            }),
        };
        match self.shared.store.create_run(run).await? {
            CreateOutcome::Created(id) => {
                match slot {
                    Some(slot) => executor::start(
                        slot,
                        ClaimedRun {
                            lease: Lease {
                                run_id: id,
                                token: ClaimAtCreate::TOKEN,
                            },
                            workflow: registered.name.to_owned(),
                            input,
                            deadline_at,
                            executions: 1,
                            journal: Some(Vec::new()),
                        },
                    ),
                    None => self.shared.dispatch.notify_one(),
                }
                Ok(id)
            }
            CreateOutcome::Existing(id) => Ok(id),
            CreateOutcome::Conflict(run_id) => Err(Error::IdempotencyConflict {
                workflow: workflow.to_owned(),
                key: options.idempotency_key.unwrap_or_default(),
                run_id,
            }),
        }
    }

    pub(crate) async fn run_info(&self, id: RunId) -> Result<RunInfo, Error> {
        self.shared
            .store
            .get_run(id)
            .await?
            .ok_or(Error::RunNotFound(id))
    }

    pub(crate) async fn run_children(&self, id: RunId) -> Result<Vec<RunId>, Error> {
        self.shared.store.child_runs(id).await
    }

    pub(crate) async fn run_steps(&self, id: RunId) -> Result<Vec<StepInfo>, Error> {
        let journal = self.shared.store.load_journal(id).await?;
        // A sleep is over at its wake time, unless its run ended first (see
        // `StepStatus`): the journal is read before the run, so a run that
        // ends in between is read ended and its sleeps stay `sleeping`.
        let run = self.run_info(id).await?;
        let now = self.shared.clock.now_ms();
        let over_by = match run.finished_at {
            Some(finished) if run.status.is_terminal() => finished.min(now),
            _ => now,
        };
        Ok(journal
            .iter()
            .map(|record| {
                let mut info = record.to_info();
                // A sleep is over at its wake time; its record is not
                // rewritten (see `Ctx::sleep`).
                if info.status == StepStatus::Sleeping
                    && info.wake_at.is_some_and(|at| at <= over_by)
                {
                    info.status = StepStatus::Completed;
                    info.output = Some(serde_json::Value::Null);
                }
                info
            })
            .collect())
    }

    pub(crate) async fn run_logs(
        &self,
        id: RunId,
    ) -> Result<Vec<crate::model::log::LogLine>, Error> {
        self.shared.store.load_logs(id).await
    }

    /// Waits until run `id` ends, and returns how. A run executing on this
    /// engine is not read while it runs: its finish hands the outcome over.
    pub(crate) async fn wait_for_outcome(&self, id: RunId) -> Result<RunOutcome, Error> {
        loop {
            let waiter = lock(&self.shared.finish_waiters)
                .entry(id)
                .or_default()
                .clone();
            let woken = waiter.woken.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let running_here = lock(&self.shared.active).contains_key(&id);
            if !running_here {
                let info = self.run_info(id).await?;
                if info.status.is_terminal() {
                    return Ok(outcome_of(info));
                }
            }
            tokio::select! {
                () = woken => {
                    if let Some(outcome) = lock(&waiter.outcome).clone() {
                        return Ok(outcome);
                    }
                }
                () = tokio::time::sleep(RESULT_POLL) => {}
            }
        }
    }

    pub(crate) async fn cancel(&self, id: RunId) -> Result<(), Error> {
        let now = self.shared.clock.now_ms();
        let (outcome, cancelled) = self.shared.store.cancel_run(id, now).await?;
        self.shared.stop_local(&cancelled);
        match outcome {
            TransitionOutcome::Done => Ok(()),
            TransitionOutcome::Refused(status) => Err(Error::InvalidTransition {
                run_id: id,
                action: "cancel",
                status,
                allowed: "pending, running or suspended",
            }),
            TransitionOutcome::NotFound => Err(Error::RunNotFound(id)),
        }
    }

    pub(crate) async fn retry(&self, id: RunId) -> Result<(), Error> {
        let info = self.run_info(id).await?;
        let timeout_ms = self
            .shared
            .registry
            .get(info.workflow.as_str())
            .and_then(|w| w.timeout_ms);
        let now = self.shared.clock.now_ms();
        match self
            .shared
            .store
            .retry_run(id, now, deadline(now, timeout_ms))
            .await?
        {
            TransitionOutcome::Done => {
                self.shared.dispatch.notify_one();
                Ok(())
            }
            TransitionOutcome::Refused(status) => Err(Error::InvalidTransition {
                run_id: id,
                action: "retry",
                status,
                allowed: "failed or timed_out",
            }),
            TransitionOutcome::NotFound => Err(Error::RunNotFound(id)),
        }
    }

    /// Stops executing: no new claims; runs in flight are dropped at their
    /// next await and handed back to `pending`, so the next start resumes
    /// them from their journal. Triggers after this fail with
    /// [`Error::Shutdown`].
    pub async fn shutdown(&self) {
        let tasks = self.owner.as_ref().map_or(&[][..], |owner| &owner.tasks);
        stop(&self.shared, tasks).await;
    }
}

/// Stops the engine: see [`Engine::shutdown`].
async fn stop(shared: &Shared, tasks: &[tokio::task::AbortHandle]) {
    shared.shut_down.store(true, Ordering::Release);
    for task in tasks {
        task.abort();
    }
    let running: Vec<(RunId, (i64, tokio::task::AbortHandle))> =
        lock(&shared.active).drain().collect();
    let now = shared.clock.now_ms();
    for (run_id, (token, task)) in running {
        task.abort();
        let lease = crate::store::Lease { run_id, token };
        if let Err(error) = shared.store.release_run(lease, now).await {
            tracing::warn!(%run_id, %error, "could not hand a run back at shutdown");
        }
    }
    shared.store.close().await;
}

/// How a run that ended (`info.status` is terminal) ended.
fn outcome_of(info: RunInfo) -> RunOutcome {
    match info.status {
        RunStatus::Completed => {
            RunOutcome::Completed(info.output.unwrap_or(serde_json::Value::Null).to_string())
        }
        RunStatus::Cancelled => RunOutcome::Cancelled(info.error.unwrap_or_default()),
        RunStatus::TimedOut => RunOutcome::TimedOut,
        _ => RunOutcome::Failed(info.error.unwrap_or_default()),
    }
}

/// Claims ready runs while there are free slots, then sleeps until the next
/// run is due or one may have become ready; while every slot is busy, until
/// a slot frees up. A slot freed after a claim that left nothing behind
/// needs no new claim.
async fn dispatch_loop(shared: Arc<Shared>) {
    let mut failures = 0u32;
    loop {
        let free = executor::free_slots(&shared);
        if free == 0 {
            // Every slot is busy, or the engine holds as many runs as it
            // may: a run that ends or lends its slot notifies.
            shared.slot_freed.notified().await;
            continue;
        }
        let mut claimed_all = false;
        let mut next_ready = None;
        let round = async {
            let limit = free.min(MAX_CLAIM);
            let now = shared.clock.now_ms();
            let claimed = shared
                .store
                .claim_ready(ClaimRequest {
                    owner: shared.config.owner.clone(),
                    now,
                    limit,
                    workflows: shared.workflow_names.clone(),
                    lease_expires_at: shared
                        .store
                        .lease_duration()
                        .map(|lease| now.saturating_add(millis(lease))),
                })
                .await?;
            claimed_all = claimed.len() == limit;
            for run in claimed {
                executor::spawn(shared.clone(), run);
            }
            if !claimed_all {
                next_ready = shared
                    .store
                    .next_ready_at(shared.workflow_names.clone())
                    .await?;
            }
            Ok::<(), Error>(())
        };
        if let Err(error) = round.await {
            failures += 1;
            tracing::error!(%error, "the dispatcher could not claim runs; retrying");
            tokio::time::sleep(Duration::from_millis(50 * u64::from(failures.min(40)))).await;
            continue;
        }
        failures = 0;
        if claimed_all {
            continue;
        }
        let timer = async {
            match next_ready {
                Some(at) => shared.clock.sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        // On a shared database, poll as well: a notification can be missed
        // while the LISTEN connection reconnects.
        let poll = async {
            match shared.store.lease_duration() {
                Some(_) => tokio::time::sleep(SHARED_POLL).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shared.dispatch.notified() => {}
            () = timer => {}
            () = poll => {}
        }
    }
}

/// Renews the leases of the runs this engine executes, a third of the lease
/// apart; a run whose lease was lost (taken over after a stall) is stopped
/// here, its writes being fenced already.
async fn heartbeat_loop(shared: Arc<Shared>, lease: Duration) {
    loop {
        tokio::time::sleep(lease / 3).await;
        let leases: Vec<Lease> = lock(&shared.active)
            .iter()
            .map(|(run_id, (token, _))| Lease {
                run_id: *run_id,
                token: *token,
            })
            .collect();
        if leases.is_empty() {
            continue;
        }
        let until = shared.clock.now_ms().saturating_add(millis(lease));
        match shared.store.renew_leases(leases, until).await {
            Ok(lost) => {
                for run_id in &lost {
                    tracing::warn!(%run_id, "lost the lease of a run; stopping it here");
                }
                shared.stop_local(&lost);
            }
            Err(error) => tracing::warn!(%error, "could not renew leases"),
        }
    }
}

/// How often every engine deletes what its retention periods let go.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(60);

/// Rows one delete removes at most, so maintenance never holds the writer long.
const RETENTION_BATCH: usize = 1_000;

async fn maintenance_loop(shared: Arc<Shared>) {
    loop {
        tokio::time::sleep(MAINTENANCE_INTERVAL).await;
        if let Err(error) = run_maintenance(&shared).await {
            tracing::warn!(%error, "maintenance failed; will try again");
        }
    }
}

/// What one maintenance pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MaintenanceReport {
    /// Runs ended as `timed_out` (or cancelled as their children).
    pub timed_out: u64,
    /// Finished runs deleted.
    pub runs_deleted: u64,
    /// Events deleted.
    pub events_deleted: u64,
}

async fn run_maintenance(shared: &Shared) -> Result<MaintenanceReport, Error> {
    let mut timed_out = 0;
    loop {
        let ended = shared
            .store
            .time_out_overdue(shared.clock.now_ms(), RETENTION_BATCH)
            .await?;
        timed_out += ended.len() as u64;
        shared.stop_local(&ended);
        if ended.len() < RETENTION_BATCH {
            break;
        }
    }
    let (runs_deleted, events_deleted) = run_retention(shared).await?;
    Ok(MaintenanceReport {
        timed_out,
        runs_deleted,
        events_deleted,
    })
}

/// Deletes finished runs past their retention period, per status and per
/// workflow, and old events, in batches. Returns (runs, events) deleted.
async fn run_retention(shared: &Shared) -> Result<(u64, u64), Error> {
    let now = shared.clock.now_ms();
    let overridden: Vec<&String> = shared.config.retention_overrides.keys().collect();
    let except = serde_json::to_string(&overridden).unwrap_or_else(|_| "[]".into());
    let mut policies: Vec<(Option<String>, &Retention, String)> =
        vec![(None, &shared.config.retention, except)];
    for (workflow, retention) in &shared.config.retention_overrides {
        policies.push((Some(workflow.clone()), retention, "[]".into()));
    }
    let mut runs = 0;
    for (workflow, retention, except) in policies {
        for (statuses, period) in retention.periods() {
            loop {
                let request = DeleteFinished {
                    statuses,
                    workflow: workflow.clone(),
                    except: except.clone(),
                    finished_before: now.saturating_sub(millis(period)),
                    limit: RETENTION_BATCH,
                };
                let deleted = shared.store.delete_finished(request).await?;
                runs += deleted;
                if deleted < RETENTION_BATCH as u64 {
                    break;
                }
            }
        }
    }
    let mut events = 0;
    let before = now.saturating_sub(millis(shared.config.retention.events));
    loop {
        let deleted = shared.store.delete_events(before, RETENTION_BATCH).await?;
        events += deleted;
        if deleted < RETENTION_BATCH as u64 {
            break;
        }
    }
    Ok((runs, events))
}
