//! The engine's side of the catalog: what it records of its workflows and
//! itself when it starts, its worker heartbeat, and the catalog's reads on
//! [`Engine`] (`workflows`, `workflow`, `workers`), which show what every
//! engine on the database recorded, not only this one.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::Engine;
use crate::core::catalog::{fingerprint, validate_input};
use crate::engine::core::EngineCore;
use crate::engine::registry::Registered;
use crate::engine::runs::Target;
use crate::model::catalog::{
    CatalogStep, ServedVersion, WorkerInfo, WorkerRecord, WorkflowDetail, WorkflowRef,
    WorkflowVersion,
};
use crate::model::error::Error;

/// How often an engine tells the catalog it is alive, unless
/// `EngineBuilder::heartbeat` says otherwise.
pub(crate) const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(10);

/// The catalog's version of a registered workflow, first and last seen `now`.
pub(crate) fn version_of(registered: &Registered, now: i64) -> WorkflowVersion {
    let steps: Vec<CatalogStep> = registered.steps.iter().map(CatalogStep::from).collect();
    let input_schema = (registered.schema)();
    let output_schema = (registered.output_schema)();
    WorkflowVersion {
        name: registered.spec.name.to_owned(),
        fingerprint: fingerprint(&steps, &input_schema, output_schema.as_ref()),
        input_schema,
        output_schema,
        steps,
        timeout_ms: registered.spec.timeout_ms,
        cron: registered
            .cron
            .map(|(expression, _, _)| expression.to_owned()),
        timezone: registered.cron.map(|(_, zone, _)| zone.to_owned()),
        first_seen: now,
        last_seen: now,
    }
}

/// What an engine with id `id` that registers `registry` records of itself
/// when it starts at `now`.
pub(crate) fn worker_record<'a>(
    id: &str,
    registry: impl Iterator<Item = &'a Registered>,
    now: i64,
) -> WorkerRecord {
    let mut versions: Vec<WorkflowVersion> = registry.map(|r| version_of(r, now)).collect();
    versions.sort_by(|a, b| a.name.cmp(&b.name));
    WorkerRecord {
        worker: WorkerInfo {
            id: id.to_owned(),
            host: host_name(),
            pid: std::process::id(),
            started_at: now,
            heartbeat_at: now,
            workflows: versions
                .iter()
                .map(|version| WorkflowRef {
                    name: version.name.clone(),
                    fingerprint: version.fingerprint.clone(),
                })
                .collect(),
        },
        versions,
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

/// Moves this engine's heartbeat in the catalog every `every`; records the
/// engine again when its row is gone (someone removed it).
pub(crate) async fn worker_heartbeat_loop(core: Arc<EngineCore>, every: Duration) {
    let Some(record) = core.worker.clone() else {
        return;
    };
    loop {
        tokio::time::sleep(every).await;
        let now = core.env.clock.now_ms();
        let store = &core.env.store;
        let id = record.worker.id.clone();
        match store
            .heartbeat_worker(id, record.worker.workflows.clone(), now)
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
            let target = Target {
                name: registered.spec.name.to_owned(),
                timeout_ms: registered.spec.timeout_ms,
                here: true,
            };
            return Ok((target, stored));
        }
        let versions = self.env.store.workflow_versions(name.to_owned()).await?;
        let Some(latest) = versions.into_iter().next() else {
            let known = self.env.store.list_workflows().await?;
            let names: BTreeSet<&str> = known
                .iter()
                .map(|version| version.name.as_str())
                .chain(self.registry.keys().copied())
                .collect();
            return Err(Error::unknown_workflow(name, names));
        };
        validate_input(&latest.input_schema, &input).map_err(invalid)?;
        let target = Target {
            name: latest.name,
            timeout_ms: latest.timeout_ms,
            here: false,
        };
        Ok((target, input.to_string()))
    }
}

impl Engine {
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
