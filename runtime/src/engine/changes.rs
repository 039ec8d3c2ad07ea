//! The engine's change feed as its users receive it: [`Engine::changes`]
//! and the [`RunChanges`] receiver.

use std::sync::Arc;

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::engine::Engine;
use crate::model::change::{ChangesError, RunChange};
use crate::store::Store;
use crate::store::changes::{FeedItem, UNKNOWN_WORKFLOW};

impl Engine {
    /// A receiver of every change committed from now on, in commit order:
    /// runs created, claimed, suspended, released and ended (also when
    /// another run's cancel or timeout ends them), step records written and
    /// log lines appended, each once its write is durable.
    ///
    /// On SQLite the feed holds this engine's own writes (the file has no
    /// other writer). On PostgreSQL it also holds what the other processes
    /// on the database commit (marked [`remote`](crate::RunChange::remote)),
    /// which each process tells the others with `NOTIFY` right after its
    /// commit: their statuses exactly, their steps and log lines as one
    /// [`ChangeKind::Activity`](crate::ChangeKind::Activity) per run and
    /// batch. They come in each process's commit order, a little after that
    /// process's own receivers got them; a process that dies between a
    /// commit and its note leaves that change untold (the run's next
    /// change, such as another worker reclaiming it, is told). When the
    /// connection that listens for them is lost, the receiver hears of it
    /// ([`ChangesError::Interrupted`]) once it is back.
    ///
    /// The other processes send their changes only while some process
    /// wants them: an engine whose feed has receivers says so when it gets
    /// its first one, and every 10 s after, and the others keep relaying
    /// for 30 s after each time they hear it (nobody pays a `NOTIFY` per
    /// commit while nobody follows). A process that begins to relay
    /// because of it says so, and this engine's receivers then hear
    /// [`ChangesError::Interrupted`] once: that process's changes from
    /// before (a moment after the first receiver came) are not told, so
    /// read again what you show. An engine that starts later asks, and is
    /// answered at once.
    ///
    /// A receiver costs nothing while nothing changes; the engine keeps
    /// 65,536 changes for a slow one, and tells one that fell further
    /// behind ([`ChangesError::Lagged`]).
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
    receiver: broadcast::Receiver<FeedItem>,
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
    /// changes, [`ChangesError::Interrupted`] when other processes' changes
    /// may have been missed (the next call answers again after either), and
    /// [`ChangesError::Closed`] once the engine stopped.
    pub async fn recv(&mut self) -> Result<RunChange, ChangesError> {
        loop {
            let mut change = match self.receiver.recv().await {
                Ok(FeedItem::Change(change)) => change,
                Ok(FeedItem::Gap) => return Err(ChangesError::Interrupted),
                Err(RecvError::Lagged(missed)) => return Err(ChangesError::Lagged { missed }),
                Err(RecvError::Closed) => return Err(ChangesError::Closed),
            };
            if &*change.workflow != UNKNOWN_WORKFLOW {
                return Ok(change);
            }
            // A run this engine did not hold (cancelled, retried or timed
            // out from outside), or another process's whose note left it
            // out: its workflow is in its row. A run already
            // deleted has nothing left to tell.
            if let Ok(Some(run)) = self.store.get_run(change.run_id).await {
                change.workflow = run.workflow.into();
                return Ok(change);
            }
        }
    }
}
