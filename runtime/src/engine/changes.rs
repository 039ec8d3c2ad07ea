//! The engine's change feed as its users receive it: [`Engine::changes`]
//! and the [`RunChanges`] receiver.

use std::sync::Arc;

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::engine::Engine;
use crate::model::change::{ChangesError, RunChange};
use crate::store::Store;
use crate::store::changes::UNKNOWN_WORKFLOW;

impl Engine {
    /// A receiver of every change this engine commits from now on, in
    /// commit order: runs created, claimed, suspended, released and ended
    /// (also when another run's cancel or timeout ends them), step records
    /// written and log lines appended, each once its write is durable.
    ///
    /// The feed holds the changes of this engine's own writes, on either
    /// backend. Changes that other processes commit to a shared PostgreSQL
    /// database are not in it; whoever needs those reads the database (see
    /// [`list_runs`](Engine::list_runs)). A receiver costs nothing while
    /// nothing changes; the engine keeps 65,536 changes for a slow one, and
    /// tells one that fell further behind ([`ChangesError::Lagged`]).
    ///
    /// ```
    /// use durable::prelude::*;
    /// use durable::{ChangeKind, RunStatus};
    ///
    /// #[workflow]
    /// async fn greet(ctx: Ctx, name: String) -> Result<String, Error> {
    ///     ctx.run("hello", async || Ok::<_, StepError>(format!("hello {name}"))).await
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let engine = Engine::builder().sqlite_memory().register(Greet).start().await?;
    /// let mut changes = engine.changes();
    /// let run = Greet::trigger(&engine, "ada".into()).await?;
    /// run.result().await?;
    /// let mut statuses = Vec::new();
    /// while statuses.last() != Some(&RunStatus::Completed) {
    ///     let change = changes.recv().await.unwrap();
    ///     assert_eq!(change.run_id, run.id());
    ///     assert_eq!(&*change.workflow, "greet");
    ///     if let ChangeKind::Status { status, .. } = change.kind {
    ///         statuses.push(status);
    ///     }
    /// }
    /// // Created and started in one write, when the engine has a free slot.
    /// assert!(statuses.contains(&RunStatus::Running));
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn changes(&self) -> RunChanges {
        RunChanges {
            receiver: self.core.env.store.changes().subscribe(),
            store: self.core.env.store.clone(),
        }
    }
}

/// A receiver of an engine's changes: see [`Engine::changes`]. Dropping it
/// stops the engine keeping changes for it.
pub struct RunChanges {
    receiver: broadcast::Receiver<RunChange>,
    /// Reads the workflow of a change whose write did not name it.
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for RunChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunChanges")
            .field("queued", &self.receiver.len())
            .finish_non_exhaustive()
    }
}

impl RunChanges {
    /// The next change, waiting for one.
    ///
    /// # Errors
    ///
    /// [`ChangesError::Lagged`] when this receiver fell behind and missed
    /// changes (the next call answers again), [`ChangesError::Closed`] once
    /// the engine stopped.
    pub async fn recv(&mut self) -> Result<RunChange, ChangesError> {
        loop {
            let mut change = match self.receiver.recv().await {
                Ok(change) => change,
                Err(RecvError::Lagged(missed)) => return Err(ChangesError::Lagged { missed }),
                Err(RecvError::Closed) => return Err(ChangesError::Closed),
            };
            if &*change.workflow != UNKNOWN_WORKFLOW {
                return Ok(change);
            }
            // A run this engine did not hold (cancelled, retried or timed
            // out from outside): its workflow is in its row. A run already
            // deleted has nothing left to tell.
            if let Ok(Some(run)) = self.store.get_run(change.run_id).await {
                change.workflow = run.workflow.into();
                return Ok(change);
            }
        }
    }
}
