//! [`EngineBuilder`]: the engine's settings, [`start`](EngineBuilder::start),
//! which opens the store, records the engine in the catalog and spawns its
//! tasks, and [`client`](EngineBuilder::client), which only opens the store.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::Engine;
use crate::core::catalog::Validators;
use crate::core::cron::CronSchedule;
use crate::core::retention::Retention;
use crate::ctx::workflow::Workflow;
use crate::engine::catalog::{DEFAULT_HEARTBEAT, worker_heartbeat_loop, worker_record};
use crate::engine::config::EngineConfig;
use crate::engine::core::EngineCore;
use crate::engine::dispatch::{dispatch_loop, heartbeat_loop};
use crate::engine::maintenance::maintenance_loop;
use crate::engine::registry::{Registered, Registry};
use crate::engine::sources;
use crate::engine::sources::events::EventTriggers;
use crate::exec::active::ActiveRuns;
use crate::exec::clock::{Clock, SystemClock};
use crate::exec::env::RunEnv;
use crate::exec::event_types::EventTypes;
use crate::exec::executor::Executor;
use crate::exec::slots::{LimitedWorkflows, Slots};
use crate::model::duration::{IntoDuration, millis};
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::limits::Limits;
use durable_grammar::queue::{DEFAULT_QUEUE, check_queue_name};

use crate::store::open::{self, DEFAULT_LEASE, OpenOptions, StoreLocation};
#[cfg(feature = "sqlite")]
use crate::store::sqlite::Durability;
use crate::store::{Store, StoreSignal};

/// Configures and starts an [`Engine`].
pub struct EngineBuilder {
    /// `None` until one is chosen, in a build without SQLite (whose default
    /// is the file `durable.db`).
    backend: Option<StoreLocation>,
    #[cfg(feature = "sqlite")]
    durability: Durability,
    registry: Registry,
    concurrency: usize,
    keep_in_memory: Duration,
    limits: Limits,
    clock: Arc<dyn Clock>,
    lease: Duration,
    retention: Retention,
    retention_overrides: HashMap<String, Retention>,
    heartbeat: Duration,
    queues: Vec<String>,
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
    /// The defaults: see [`Engine::builder`].
    pub(super) fn new() -> Self {
        EngineBuilder {
            backend: cfg!(feature = "sqlite")
                .then(|| StoreLocation::SqliteFile(PathBuf::from("durable.db"))),
            #[cfg(feature = "sqlite")]
            durability: Durability::default(),
            registry: Registry::default(),
            concurrency: 64,
            keep_in_memory: Duration::from_secs(1),
            limits: Limits::default(),
            clock: Arc::new(SystemClock),
            lease: DEFAULT_LEASE,
            retention: Retention::default(),
            retention_overrides: HashMap::new(),
            heartbeat: DEFAULT_HEARTBEAT,
            queues: vec![DEFAULT_QUEUE.to_owned()],
            errors: Vec::new(),
        }
    }

    /// Stores runs in the SQLite file at `path` (the default is `durable.db`
    /// in the working directory).
    #[cfg(feature = "sqlite")]
    pub fn sqlite_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.backend = Some(StoreLocation::SqliteFile(path.into()));
        self
    }

    /// Stores runs in an in-memory SQLite database, lost when the engine
    /// stops: for tests and demos.
    #[cfg(feature = "sqlite")]
    pub fn sqlite_memory(mut self) -> Self {
        self.backend = Some(StoreLocation::SqliteMemory);
        self
    }

    /// Stores runs in PostgreSQL at `url` (`postgres://user@host/db`), shared
    /// by any number of engines (workers) in any number of processes.
    #[cfg(feature = "postgres")]
    pub fn postgres(mut self, url: impl Into<String>) -> Self {
        self.backend = Some(StoreLocation::Postgres {
            url: url.into(),
            schema: None,
        });
        self
    }

    /// With [`postgres`](EngineBuilder::postgres): keeps the tables in this
    /// PostgreSQL schema (created if missing) instead of the default one.
    #[cfg(feature = "postgres")]
    pub fn postgres_schema(mut self, schema: impl Into<String>) -> Self {
        match &mut self.backend {
            Some(StoreLocation::Postgres { schema: slot, .. }) => *slot = Some(schema.into()),
            _ => self.errors.push(
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
    pub fn database_url(mut self, url: &str) -> Self {
        match open::parse_url(url) {
            Ok(location) => self.backend = Some(location),
            Err(problem) => self.errors.push(problem),
        }
        self
    }

    /// Sets what a commit guarantees; see [`Durability`].
    #[cfg(feature = "sqlite")]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Registers a workflow so this engine can trigger and execute it.
    ///
    /// Runs are pinned to the version of the workflow they started on
    /// (see the README's "Upgrading workflows"): to finish the runs of an
    /// older version, register it beside the newer one under the same name,
    /// each with its own `#[workflow(version = N)]`. New runs take the
    /// highest version; [`start`](Self::start) fails when two workflows
    /// share a name without declaring distinct versions.
    pub fn register<W: Workflow>(mut self, _workflow: W) -> Self {
        if let Err(problem) = self.registry.insert(Registered::of::<W>()) {
            self.errors.push(problem);
        }
        self
    }

    /// The queues this engine claims runs from (default: `["default"]`,
    /// the queue of every workflow declared without `queue = ".."`). The
    /// list **replaces** the default: name `"default"` to keep serving it.
    ///
    /// A run waits in its workflow's queue (`#[workflow(queue =
    /// "billing")]`), or in the one its parent sent it to
    /// (`ctx.invoke(..).queue("gpu")`); an engine claims it only if it
    /// serves that queue *and* registers the workflow, on every backend and
    /// across every worker on PostgreSQL. A run of a queue that no live
    /// worker serves stays pending ([`Engine::unserved_runs`] lists it).
    /// An engine still triggers runs of a workflow whose queue it does not
    /// serve; it only leaves them to the engines that do.
    ///
    /// ```no_run
    /// # use durable::prelude::*;
    /// # #[workflow(queue = "gpu")] async fn render(ctx: Ctx, frame: u32) -> Result<u32, Error> { Ok(frame) }
    /// # async fn f() -> Result<(), Error> {
    /// let gpu_worker = Engine::builder()
    ///     .postgres("postgres://app@db/app")
    ///     .register(Render)
    ///     .queues(["gpu"])
    ///     .start()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// [`start`](Self::start) fails with [`Error::Config`] for an empty
    /// list and with [`Error::InvalidQueue`] for a name that is not 1 to
    /// 100 letters, digits, `-`, `_` or `.`.
    pub fn queues<Q: Into<String>>(mut self, queues: impl IntoIterator<Item = Q>) -> Self {
        let mut names: Vec<String> = queues.into_iter().map(Into::into).collect();
        names.sort();
        names.dedup();
        self.queues = names;
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

    /// How often the engine moves its heartbeat in the catalog's worker
    /// table (`wf_worker.heartbeat_at`), and the `last_seen` of the
    /// workflow versions it serves (default 10 s). A worker whose heartbeat
    /// is older than 3 heartbeats is stale ([`Engine::is_stale`]); one
    /// older than 30 heartbeats, and 5 minutes at least, stopped without
    /// saying so (it crashed), and each heartbeat removes it from the
    /// catalog. Engines on one database are meant to share the interval:
    /// each judges the others by its own.
    pub fn heartbeat(mut self, every: impl IntoDuration) -> Self {
        match every.into_duration() {
            Ok(every) if every >= Duration::from_millis(10) => self.heartbeat = every,
            Ok(_) => self
                .errors
                .push("a heartbeat must be at least 10ms apart".into()),
            Err(error) => self.errors.push(error.to_string()),
        }
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
        self.launch(false).await
    }

    /// Opens the database as a client: an engine that registers no
    /// workflow, claims no run and runs no dispatcher, cron or maintenance,
    /// and records nothing in the catalog. It reads (runs, events, the
    /// catalog of [`Engine::workflows`]), and it triggers
    /// ([`Engine::trigger_json`] by name, checked against the catalog's
    /// input schema), cancels, retries, sends events and signals; the
    /// workers that serve a workflow run what it starts. A standalone
    /// console or CLI is one.
    ///
    /// On PostgreSQL, a client is a full client beside any number of
    /// workers. A SQLite file belongs to one engine at a time: when another
    /// engine holds it, the client opens it **read-only** instead of
    /// failing with [`Error::DatabaseInUse`]; it then reads beside that
    /// engine, [`Engine::is_read_only`] is true, and every write fails with
    /// [`Error::ReadOnly`] saying why. A client that finds the file free
    /// holds it as an engine does, until it stops.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), durable::Error> {
    /// let client = durable::Engine::builder()
    ///     .database_url("postgres://app@db/app")
    ///     .client()
    ///     .await?;
    /// for version in client.workflows().await? {
    ///     println!("{} {}", version.name, version.fingerprint);
    /// }
    /// let run = client
    ///     .trigger_json("order-fulfillment", serde_json::json!({ "order_id": "o-1" }))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`start`](EngineBuilder::start), and [`Error::Config`] when a
    /// workflow was registered (a client serves none).
    pub async fn client(self) -> Result<Engine, Error> {
        self.launch(true).await
    }

    /// Starts the engine, as a worker or as a client.
    async fn launch(self, client: bool) -> Result<Engine, Error> {
        if client && !self.registry.is_empty() {
            return Err(Error::Config(
                "a client registers no workflows: call .start() to serve them".into(),
            ));
        }
        if self.concurrency == 0 {
            return Err(Error::Config("concurrency must be at least 1".into()));
        }
        if self.queues.is_empty() {
            return Err(Error::Config(
                "an engine serves at least one queue: name one in .queues([..]), e.g. \"default\""
                    .into(),
            ));
        }
        for queue in &self.queues {
            check_queue_name(queue)?;
        }
        let invalid_retention = std::iter::once(&self.retention)
            .chain(self.retention_overrides.values())
            .find_map(|retention| retention.invalid.clone());
        let invalid_trigger = self
            .registry
            .all()
            .find_map(|registered| registered.check_triggers().err());
        if let Some(error) = self
            .errors
            .into_iter()
            .chain(invalid_retention)
            .chain(invalid_trigger)
            .next()
        {
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
        let Some(location) = &self.backend else {
            return Err(Error::Config(
                "no database chosen: call .postgres(url) or .database_url(url) on the builder"
                    .into(),
            ));
        };
        let options = OpenOptions {
            #[cfg(feature = "sqlite")]
            durability: self.durability,
            lease: self.lease,
            client,
        };
        let store: Arc<dyn Store> = open::open(location, options).await?;
        let mut crons = Vec::new();
        for registered in self.registry.current() {
            if let Some((expression, zone, overlap)) = registered.cron {
                let schedule = CronSchedule::new(registered.spec.name, expression, zone, overlap)?;
                crons.push(Arc::new(schedule));
            }
        }
        let served = self
            .registry
            .served()
            .with_queues(self.queues.iter().map(String::as_str));
        let owner = format!("{}-{}", std::process::id(), RunId::new());
        let worker = if client {
            None
        } else {
            let now = self.clock.now_ms();
            store.recover(now).await?;
            let record = worker_record(&owner, self.registry.all(), &self.queues, now);
            store.record_worker(record.clone()).await?;
            Some(record)
        };
        let event_types = crate::engine::catalog::event_types_of(self.registry.all(), 0);
        let validators = Arc::new(Validators::default());
        let event_starts = Arc::new(EventTriggers::new(
            store.clone(),
            validators.clone(),
            &self.registry,
        ));
        let env = Arc::new(RunEnv {
            event_starts,
            store,
            clock: self.clock,
            limits: self.limits,
            keep_in_memory_ms: millis(self.keep_in_memory),
            claim_early_ms: (millis(self.keep_in_memory) - 1).max(0),
            dispatch: tokio::sync::Notify::new(),
            event_types: EventTypes::new(event_types),
            workflows: self
                .registry
                .all()
                .map(|registered| (registered.type_id, registered.spec.clone()))
                .collect(),
            stop_local: std::sync::OnceLock::new(),
        });
        let exec = Arc::new(Executor {
            env: env.clone(),
            bodies: self
                .registry
                .all()
                .map(|registered| {
                    let key = (registered.spec.name, registered.spec.version.clone());
                    (key, registered.body)
                })
                .collect(),
            slots: Arc::new(Slots::new(self.concurrency)),
            limited: LimitedWorkflows::new(
                self.registry
                    .all()
                    .filter(|registered| registered.spec.concurrency.is_some())
                    .map(|registered| registered.spec.name),
            ),
            active: ActiveRuns::default(),
        });
        let weak = Arc::downgrade(&exec);
        let stopper = weak.clone();
        // Set once, just built: it cannot be taken.
        let _ = env.stop_local.set(Box::new(move |runs| {
            if let Some(exec) = stopper.upgrade() {
                exec.stop_local(runs);
            }
        }));
        env.store.watch(Arc::new(move |signal| {
            if let Some(exec) = weak.upgrade() {
                match signal {
                    StoreSignal::Wake => exec.env.dispatch.notify_one(),
                    StoreSignal::Finished(run_id) => {
                        exec.active.notify_finished(run_id);
                        // Another process's run ended: a run of a limited
                        // workflow waiting for its group's slot may take it.
                        if exec.limited.any() {
                            exec.env.dispatch.notify_one();
                        }
                    }
                }
            }
        }));
        let core = Arc::new(EngineCore {
            env,
            exec,
            config: EngineConfig {
                retention: self.retention,
                retention_overrides: self.retention_overrides,
                owner,
                heartbeat: self.heartbeat,
                queues: self.queues,
            },
            registry: self.registry,
            served,
            worker,
            shut_down: AtomicBool::new(false),
            validators,
        });
        if client {
            return Ok(Engine::new(core, Vec::new()));
        }
        let mut tasks = vec![tokio::spawn(dispatch_loop(core.clone())).abort_handle()];
        tasks.push(tokio::spawn(maintenance_loop(core.clone())).abort_handle());
        let started = core.env.clock.now_ms();
        for cron in crons {
            let task = tokio::spawn(sources::cron::cron_loop(core.clone(), cron, started));
            tasks.push(task.abort_handle());
        }
        if let Some(lease) = core.env.store.lease_duration() {
            tasks.push(tokio::spawn(heartbeat_loop(core.exec.clone(), lease)).abort_handle());
        }
        let beat = worker_heartbeat_loop(core.clone());
        tasks.push(tokio::spawn(beat).abort_handle());
        Ok(Engine::new(core, tasks))
    }
}
