//! The engine's side of the catalog: what it records of its workflows, their
//! typed events and itself when it starts, its worker heartbeat, the
//! catalog's reads on [`Engine`] (`workflows`, `workflow`, `workers`,
//! `event_types`), which show what every engine on the database recorded,
//! not only this one, and the checks against the catalog's schemas (a
//! trigger's input, a typed event's data).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::Engine;
use crate::core::catalog::schema_fingerprint;
use crate::engine::core::EngineCore;
use crate::engine::registry::Registered;
use crate::engine::runs::Target;
use crate::model::catalog::{
    CancelOnInfo, CatalogStep, ConcurrencyInfo, DebounceInfo, EventTriggerInfo, ServedVersion,
    ThrottleInfo, WorkerInfo, WorkerRecord, WorkflowDetail, WorkflowRef, WorkflowVersion,
};
use crate::model::error::Error;
use crate::model::event::EventTypeInfo;

/// How often an engine tells the catalog it is alive, unless
/// `EngineBuilder::heartbeat` says otherwise.
pub(crate) const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(10);

/// How many heartbeats a worker may miss before it shows as stale: a late
/// beat or two is a busy database, three is a worker in trouble.
pub const STALE_AFTER_HEARTBEATS: u32 = 3;

/// How many heartbeats a worker may miss before the others remove its row
/// (see [`GONE_AT_LEAST`]): long past stale, so that a worker paused or cut
/// off for a while is not forgotten, and records itself again anyway when
/// it finds its row gone.
pub const GONE_AFTER_HEARTBEATS: u32 = 30;

/// The least silence after which a worker's row is removed, whatever the
/// heartbeat: a short heartbeat (in tests, or tuned low) must not remove a
/// worker that a deploy or a GC pause held back for a minute.
pub const GONE_AT_LEAST: Duration = Duration::from_secs(300);

/// How long after its last heartbeat a worker is taken for gone, for an
/// engine whose heartbeat is `every`.
pub(crate) fn gone_after(every: Duration) -> Duration {
    every
        .saturating_mul(GONE_AFTER_HEARTBEATS)
        .max(GONE_AT_LEAST)
}

/// The catalog's version of a registered workflow, first and last seen `now`.
pub(crate) fn version_of(registered: &Registered, now: i64) -> WorkflowVersion {
    let steps: Vec<CatalogStep> = registered.steps.iter().map(CatalogStep::from).collect();
    let input_schema = (registered.schema)();
    let output_schema = (registered.output_schema)();
    WorkflowVersion {
        name: registered.spec.name.to_owned(),
        fingerprint: registered.fingerprint.clone(),
        input_schema,
        output_schema,
        steps,
        timeout_ms: registered.spec.timeout_ms,
        queue: registered.spec.queue.to_owned(),
        cron: registered
            .cron
            .map(|(expression, _, _)| expression.to_owned()),
        timezone: registered.cron.map(|(_, zone, _)| zone.to_owned()),
        on_event: registered
            .on_event
            .iter()
            .map(|trigger| EventTriggerInfo {
                event: trigger.event.to_owned(),
                // The macro checked it is a JSON object; the builder refuses
                // a workflow whose filter is not (see `check_triggers`).
                filter: trigger
                    .filter
                    .and_then(|filter| serde_json::from_str(filter).ok()),
            })
            .collect(),
        concurrency: registered
            .spec
            .concurrency
            .as_ref()
            .map(ConcurrencyInfo::from),
        debounce: registered.spec.debounce.as_ref().map(DebounceInfo::from),
        throttle: registered.spec.throttle.as_ref().map(ThrottleInfo::from),
        cancel_on: registered
            .spec
            .cancel_on
            .iter()
            .map(CancelOnInfo::from)
            .collect(),
        first_seen: now,
        last_seen: now,
    }
}

/// The typed events the workflows of `registry` wait for or publish, each
/// schema once, by name, seen `now`.
pub(crate) fn event_types_of<'a>(
    registry: impl Iterator<Item = &'a Registered>,
    now: i64,
) -> Vec<EventTypeInfo> {
    let mut events: Vec<EventTypeInfo> = Vec::new();
    for event in registry.flat_map(|registered| registered.events) {
        let schema = (event.schema)();
        let fingerprint = schema_fingerprint(&schema);
        let known = events
            .iter()
            .any(|known| known.name == event.name && known.fingerprint == fingerprint);
        if !known {
            events.push(EventTypeInfo {
                name: event.name.to_owned(),
                fingerprint,
                schema,
                first_seen: now,
                last_seen: now,
            });
        }
    }
    events.sort_by(|a, b| a.name.cmp(&b.name));
    events
}

/// What an engine with id `id` that registers `registry` records of itself
/// when it starts at `now`.
pub(crate) fn worker_record<'a>(
    id: &str,
    registry: impl Iterator<Item = &'a Registered> + Clone,
    queues: &[String],
    now: i64,
) -> WorkerRecord {
    let event_types = event_types_of(registry.clone(), now);
    let mut registered: Vec<&Registered> = registry.collect();
    registered.sort_by_key(|registered| registered.spec.name);
    let versions: Vec<WorkflowVersion> = registered.iter().map(|r| version_of(r, now)).collect();
    WorkerRecord {
        worker: WorkerInfo {
            id: id.to_owned(),
            host: host_name(),
            pid: std::process::id(),
            started_at: now,
            heartbeat_at: now,
            // With the version its runs are pinned to, which the
            // fingerprint alone does not say for a declared version: the
            // catalog tells by it which runs no live worker serves.
            workflows: registered
                .iter()
                .map(|registered| WorkflowRef {
                    name: registered.spec.name.to_owned(),
                    fingerprint: registered.fingerprint.clone(),
                    version: Some(registered.spec.version.to_string()),
                })
                .collect(),
            queues: queues.to_vec(),
        },
        versions,
        event_types,
    }
}

/// The name of the machine, as the OS gives it, or `unknown`.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Moves this engine's heartbeat in the catalog every heartbeat, and
/// removes the rows of workers silent for longer than [`gone_after`] (they
/// crashed: a worker that stops removes its own); records the engine again
/// when its row is gone (someone removed it).
pub(crate) async fn worker_heartbeat_loop(core: Arc<EngineCore>) {
    let Some(record) = core.worker.clone() else {
        return;
    };
    let every = core.config.heartbeat;
    let gone = crate::model::duration::millis(gone_after(every));
    loop {
        tokio::time::sleep(every).await;
        let now = core.env.clock.now_ms();
        let store = &core.env.store;
        let id = record.worker.id.clone();
        let workflows = record.worker.workflows.clone();
        match store
            .heartbeat_worker(id, workflows, now, now.saturating_sub(gone))
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                let mut again = record.clone();
                again.worker.heartbeat_at = now;
                for version in &mut again.versions {
                    version.last_seen = now;
                }
                if let Err(error) = store.record_worker(again).await {
                    tracing::warn!(%error, "could not record this worker in the catalog again");
                }
            }
            Err(error) => tracing::warn!(%error, "could not record this worker's heartbeat"),
        }
    }
}

impl EngineCore {
    /// The workflow `name` as a new run of it needs it, with its input
    /// checked: registered here (checked against the input type), or else
    /// the catalog's most recently seen version (checked against its input
    /// schema). Returns the input as stored.
    pub(crate) async fn checked_target(
        &self,
        name: &str,
        input: serde_json::Value,
    ) -> Result<(Target, String), Error> {
        let invalid = |message| Error::InvalidInput {
            workflow: name.to_owned(),
            message,
        };
        if let Some(registered) = self.registry.get(name) {
            let stored = (registered.validate)(input).map_err(invalid)?;
            return Ok((Target::registered(registered), stored));
        }
        let versions = self.env.store.workflow_versions(name.to_owned()).await?;
        let Some(latest) = versions.into_iter().next() else {
            let known = self.env.store.list_workflows().await?;
            let names: BTreeSet<&str> = known
                .iter()
                .map(|version| version.name.as_str())
                .chain(self.registry.keys())
                .collect();
            return Err(Error::unknown_workflow(name, names));
        };
        self.validators
            .validate(
                (&latest.name, &latest.fingerprint),
                &latest.input_schema,
                &input,
            )
            .map_err(invalid)?;
        let target = Target::of_catalog(&latest);
        Ok((target, input.to_string()))
    }
}

impl EngineCore {
    /// The oldest heartbeat (ms) of a live worker, by this engine's clock:
    /// a worker is live unless its heartbeat is older than
    /// [`STALE_AFTER_HEARTBEATS`] of this engine's heartbeat interval (it
    /// is then stale, see [`Engine::is_stale`]). The runs that no live
    /// worker serves ([`Engine::unserved_runs`]) are judged by it.
    pub(crate) fn live_since(&self) -> i64 {
        let stale = self.config.heartbeat.saturating_mul(STALE_AFTER_HEARTBEATS);
        self.env
            .clock
            .now_ms()
            .saturating_sub(crate::model::duration::millis(stale))
    }
}

impl Engine {
    /// Every typed event of the database's catalog (`wf_event_type`): its
    /// name and JSON Schema, as engines whose workflows wait for or publish
    /// it recorded them; by name, the most recently seen schema of each
    /// first.
    ///
    /// ```
    /// use durable::prelude::*;
    ///
    /// #[derive(Serialize, Deserialize, JsonSchema, Event)]
    /// #[event(name = "shipment.label.scanned")]
    /// struct ShipmentScanned { order_id: String }
    ///
    /// #[workflow(name = "ship")]
    /// async fn ship(ctx: Ctx) -> Result<(), Error> {
    ///     let _scan = ctx.wait_for::<ShipmentScanned>("scan").timeout("1s").await?;
    ///     Ok(())
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let engine = Engine::builder().sqlite_memory().register(Ship).start().await?;
    /// let events = engine.event_types().await?;
    /// assert_eq!(events[0].name, "shipment.label.scanned");
    /// assert_eq!(events[0].schema["required"][0], "order_id");
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn event_types(&self) -> Result<Vec<EventTypeInfo>, Error> {
        self.core.env.store.list_event_types().await
    }

    /// Every version of every workflow in the database's catalog, by name,
    /// the most recently seen version of each first: what every engine on
    /// this database recorded when it started, not only this one's
    /// workflows.
    ///
    /// ```
    /// use durable::prelude::*;
    ///
    /// #[workflow(name = "greet")]
    /// async fn greet(ctx: Ctx, name: String) -> Result<String, Error> {
    ///     ctx.run("compose", async || Ok::<_, StepError>(format!("hello {name}"))).await
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let engine = Engine::builder().sqlite_memory().register(Greet).start().await?;
    /// let workflows = engine.workflows().await?;
    /// assert_eq!(workflows[0].name, "greet");
    /// assert_eq!(workflows[0].steps[0].name, "compose");
    /// assert_eq!(workflows[0].output_schema.as_ref().unwrap()["type"], "string");
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn workflows(&self) -> Result<Vec<WorkflowVersion>, Error> {
        self.core.env.store.list_workflows().await
    }

    /// One workflow of the catalog: its versions, the most recently seen
    /// first, each with the recorded workers that serve it.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownWorkflow`] when no engine recorded a workflow of this
    /// name; a database error.
    pub async fn workflow(&self, name: &str) -> Result<WorkflowDetail, Error> {
        let store = &self.core.env.store;
        let versions = store.workflow_versions(name.to_owned()).await?;
        if versions.is_empty() {
            let known = store.list_workflows().await?;
            let names: BTreeSet<&str> = known.iter().map(|v| v.name.as_str()).collect();
            return Err(Error::unknown_workflow(name, names));
        }
        let workers = store.list_workers().await?;
        let versions = versions
            .into_iter()
            .map(|version| {
                let serving = workers
                    .iter()
                    .filter(|worker| {
                        worker.workflows.iter().any(|served| {
                            served.name == version.name && served.fingerprint == version.fingerprint
                        })
                    })
                    .cloned()
                    .collect();
                ServedVersion {
                    version,
                    workers: serving,
                }
            })
            .collect();
        Ok(WorkflowDetail {
            name: name.to_owned(),
            versions,
        })
    }

    /// The engines recorded in the catalog, the most recently started
    /// first, each with its last heartbeat and the versions it serves. A
    /// client engine ([`EngineBuilder::client`](crate::EngineBuilder::client))
    /// records nothing, so is not among them.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn workers(&self) -> Result<Vec<WorkerInfo>, Error> {
        self.core.env.store.list_workers().await
    }

    /// Whether `worker`'s last heartbeat is older than
    /// [`STALE_AFTER_HEARTBEATS`] of this engine's heartbeat interval, by
    /// this engine's clock: it may have stopped without saying so, or be
    /// cut off from the database. (Each heartbeat of a live engine removes
    /// the workers silent for [`GONE_AFTER_HEARTBEATS`], 5 minutes at least.)
    pub fn is_stale(&self, worker: &WorkerInfo) -> bool {
        worker.heartbeat_at < self.core.live_since()
    }

    /// This engine's id in the catalog (`wf_worker.id`, also the owner of
    /// the runs it claims), or `None` for a client, which records nothing.
    pub fn worker_id(&self) -> Option<&str> {
        self.core
            .worker
            .as_ref()
            .map(|record| record.worker.id.as_str())
    }

    /// Whether this engine opened its database read-only: a client on a
    /// SQLite file that another engine holds. Every write of such an engine
    /// fails with [`Error::ReadOnly`].
    pub fn is_read_only(&self) -> bool {
        self.core.env.store.read_only().is_some()
    }
}
