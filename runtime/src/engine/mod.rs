//! The engine: the public [`Engine`] handle, its builder, the workflow
//! registry, the shared core with the functions on runs, the dispatcher,
//! maintenance, events sent from outside, the catalog, and the sources that
//! start runs.
//! The top layer: it may import every layer below it (`exec`, `ctx`, ...).

pub(crate) mod builder;
pub(crate) mod catalog;
pub(crate) mod changes;
pub(crate) mod config;
pub(crate) mod core;
pub(crate) mod dispatch;
pub(crate) mod events;
pub(crate) mod handle;
pub(crate) mod maintenance;
mod reads;
pub(crate) mod registry;
pub(crate) mod runs;
mod sources;

use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::ctx::workflow::Workflow;
use crate::engine::builder::EngineBuilder;
use crate::engine::core::{EngineCore, Owner};
use crate::engine::handle::RunHandle;
use crate::engine::maintenance::{MaintenanceReport, run_maintenance};
use crate::model::error::Error;
use crate::model::fork::ForkOptions;
use crate::model::ids::RunId;
use crate::model::trigger::TriggerOptions;

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
    core: Arc<EngineCore>,
    /// Shared by every handle the user holds: the engine stops when the
    /// last one goes.
    owner: Arc<Owner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("backend", &self.core.env.store.backend())
            .field("workflows", &self.core.served.names)
            .field("read_only", &self.is_read_only())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// The first user handle on a started engine whose background tasks
    /// are `tasks`.
    pub(crate) fn new(core: Arc<EngineCore>, tasks: Vec<tokio::task::AbortHandle>) -> Engine {
        let owner = Arc::new(Owner {
            core: core.clone(),
            tasks,
        });
        Engine { core, owner }
    }

    /// A handle on run `id`, keeping the engine alive as this handle does.
    fn handle<O: DeserializeOwned>(&self, id: RunId) -> RunHandle<O> {
        RunHandle::new(self.core.clone(), self.owner.clone(), id)
    }
}

impl Engine {
    /// A builder with the defaults: SQLite file `durable.db`, concurrency 64,
    /// [`Durability::Normal`](crate::Durability::Normal), default
    /// [`Limits`](crate::Limits), the system clock.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::new()
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
        let registered = self
            .core
            .registered_type(std::any::TypeId::of::<W>(), W::NAME)?;
        let target = crate::engine::runs::Target::registered(registered);
        let id = self.core.create_in(target, input, options).await?;
        Ok(self.handle(id))
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
    /// A workflow this engine does not register, but that another engine
    /// recorded in the database's catalog (see [`workflows`](Engine::workflows)),
    /// is triggered all the same: the input is checked against the input
    /// schema of its most recently seen version, and the run waits for a
    /// worker that serves it. This is how a client
    /// ([`EngineBuilder::client`](crate::EngineBuilder::client)) starts runs.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownWorkflow`] when neither this engine nor the catalog
    /// knows the name, [`Error::InvalidInput`] naming the field that is
    /// wrong, [`Error::PayloadTooLarge`], [`Error::ReadOnly`] on a
    /// read-only client, or a database error. Nothing is written when it
    /// fails.
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
        let (target, input) = self.core.checked_target(workflow, input).await?;
        let id = self.core.create_in(target, input, options).await?;
        Ok(self.handle(id))
    }

    /// The JSON Schema of a registered workflow's input.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownWorkflow`].
    pub fn input_schema(&self, workflow: &str) -> Result<serde_json::Value, Error> {
        Ok((self.core.registered(workflow)?.schema)())
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
        run_maintenance(&self.core).await
    }

    /// How many runs this engine holds in memory now: executing, or waiting
    /// in memory for a short sleep or retry. Suspended runs do not count:
    /// they hold no task.
    pub fn active_run_count(&self) -> usize {
        self.core.exec.active.len()
    }

    /// A handle on an existing run, typed by its output.
    pub fn run_handle<O: DeserializeOwned>(&self, id: RunId) -> RunHandle<O> {
        self.handle(id)
    }

    /// A handle on an existing run by its id alone, without naming its
    /// workflow's output type: [`info`](RunHandle::info),
    /// [`steps`](RunHandle::steps), [`logs`](RunHandle::logs),
    /// [`cancel`](RunHandle::cancel), [`retry`](RunHandle::retry),
    /// [`pause`](RunHandle::pause), [`resume`](RunHandle::resume),
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
        self.handle(id)
    }

    /// Starts a new run from the ended (completed, failed, cancelled or
    /// timed-out) run `id`, keeping its journal up to a chosen step and
    /// running from there: a replay, optionally with an edited input. The
    /// source stays as it is (to run a failed run again in place, use
    /// [`retry`](RunHandle::retry)).
    ///
    /// In one transaction with the new run's creation, the source's step
    /// records that come before [`ForkOptions::from_step`] in journal order
    /// (the order the run first reached them) and that completed, failed or
    /// slept are copied into the new run, so it replays them with their
    /// recorded outputs; that step and every step after it execute again
    /// (as does a step that was in progress or waiting when the source
    /// ended, and, as after a [`retry`](RunHandle::retry), a step whose
    /// compensation completed: it was undone). Its log lines are not
    /// copied. The new run is of the source's workflow, pinned to the
    /// source's version (the journal is that version's), with the source's
    /// input or [`ForkOptions::input`] (checked as a trigger's input is), a
    /// new deadline from now, no parent and no idempotency key;
    /// [`RunInfo::forked_from`](crate::RunInfo::forked_from) names the run
    /// and step it came from. Its [`executions`](crate::RunInfo::executions)
    /// count the fork as its first.
    ///
    /// ```no_run
    /// # async fn replay(engine: durable::Engine, id: durable::RunId) -> Result<(), durable::Error> {
    /// use durable::ForkOptions;
    /// let options = ForkOptions::from_step("charge-payment")
    ///     .input(serde_json::json!({"order_id": "o-1", "customer_id": "c-9"}))?;
    /// let fork = engine.fork(id, options).await?;
    /// let origin = engine.run(fork).info().await?.forked_from.unwrap();
    /// assert_eq!((origin.run, origin.step.as_str()), (id, "charge-payment"));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTransition`] when the run has not ended,
    /// [`Error::StepNotInJournal`] when its journal has no step of that
    /// name, [`Error::RunNotFound`], [`Error::InvalidInput`] or
    /// [`Error::PayloadTooLarge`] for an edited input that does not fit.
    pub async fn fork(&self, id: RunId, options: ForkOptions) -> Result<RunId, Error> {
        self.core.fork(id, options).await
    }

    /// Stops executing: no new claims; runs in flight are dropped at their
    /// next await and handed back to `pending`, so the next start resumes
    /// them from their journal. Triggers after this fail with
    /// [`Error::Shutdown`].
    pub async fn shutdown(&self) {
        self.core.stop(&self.owner.tasks).await;
    }
}
