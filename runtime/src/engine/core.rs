//! The engine's shared core: what its tasks, its handles and its run
//! sources share, and how it stops.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::task::AbortHandle;

use crate::engine::config::EngineConfig;
use crate::engine::registry::{Registered, Registry};
use crate::exec::env::RunEnv;
use crate::exec::executor::Executor;
use crate::model::catalog::WorkerRecord;
use crate::model::error::Error;
use crate::store::Served;

/// The engine's state shared by its tasks and handles.
pub(crate) struct EngineCore {
    /// What every run sees (the same as `exec.env`).
    pub(crate) env: Arc<RunEnv>,
    /// Executes the claimed runs.
    pub(crate) exec: Arc<Executor>,
    pub(crate) config: EngineConfig,
    pub(crate) registry: Registry,
    /// The registered workflows and versions, for claims.
    pub(crate) served: Served,
    /// What this engine recorded of itself in the catalog; `None` for a
    /// client, which serves nothing.
    pub(crate) worker: Option<WorkerRecord>,
    pub(crate) shut_down: AtomicBool,
    /// The catalog's input schemas, compiled, for triggers by name of
    /// workflows another engine serves (shared with the event source).
    pub(crate) validators: Arc<crate::core::catalog::Validators>,
}

impl EngineCore {
    /// The current version of the registered workflow named `workflow`.
    pub(crate) fn registered(&self, workflow: &str) -> Result<&Registered, Error> {
        self.registry
            .get(workflow)
            .ok_or_else(|| Error::unknown_workflow(workflow, self.registry.keys()))
    }

    /// The registered workflow of the type `#[workflow]` generated for it.
    pub(crate) fn registered_type(
        &self,
        type_id: std::any::TypeId,
        workflow: &str,
    ) -> Result<&Registered, Error> {
        self.registry
            .of_type(type_id)
            .ok_or_else(|| Error::unknown_workflow(workflow, self.registry.keys()))
    }

    /// Stops the engine: see `Engine::shutdown`.
    pub(crate) async fn stop(&self, tasks: &[AbortHandle]) {
        self.shut_down.store(true, Ordering::Release);
        for task in tasks {
            task.abort();
        }
        let running = self.exec.active.drain();
        let now = self.env.clock.now_ms();
        for (lease, task) in running {
            task.abort();
            if let Err(error) = self.env.store.release_run(lease, now).await {
                tracing::warn!(run_id = %lease.run_id, %error, "could not hand a run back at shutdown");
            }
        }
        if let Some(worker) = &self.worker
            && let Err(error) = self.env.store.remove_worker(worker.worker.id.clone()).await
        {
            tracing::warn!(%error, "could not remove this worker from the catalog at shutdown");
        }
        self.env.store.close().await;
    }
}

/// What the user's handles (`Engine` clones and `RunHandle`s) share: the
/// engine's background tasks, stopped with the engine when the last handle
/// is dropped. The engine's own tasks hold the core, never this.
pub(crate) struct Owner {
    pub(crate) core: Arc<EngineCore>,
    /// The dispatcher, maintenance, cron and, on a shared database, the
    /// lease heartbeat.
    pub(crate) tasks: Vec<AbortHandle>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        if self.core.shut_down.load(Ordering::Acquire) {
            return;
        }
        // Stopping needs writes (runs in flight go back to `pending`), so it
        // runs as a task; without a runtime its tasks are gone already, and
        // the store closes when the last reference to it goes.
        let tasks = std::mem::take(&mut self.tasks);
        let core = self.core.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move { core.stop(&tasks).await });
            }
            Err(_) => {
                core.shut_down.store(true, Ordering::Release);
                for task in tasks {
                    task.abort();
                }
            }
        }
    }
}
