//! [`RunHandle`]: the typed handle on one run that a trigger returns. It
//! holds the engine's core and keeps the engine alive, as an `Engine` does.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::engine::core::{EngineCore, Owner};
use crate::model::error::Error;
use crate::model::event::SentEvent;
use crate::model::fork::ForkOptions;
use crate::model::ids::RunId;
use crate::model::info::{RunInfo, StepInfo};
use crate::model::log::LogLine;
use crate::model::outcome::RunOutcome;
use crate::model::status::RunStatus;

/// A handle on one run, typed by the workflow's output `O`.
///
/// Returned by the generated `trigger` functions, by
/// [`Engine::trigger_json`](crate::Engine::trigger_json) (with
/// `O = serde_json::Value`), by [`Engine::run_handle`](crate::Engine::run_handle),
/// and by [`Engine::run`](crate::Engine::run) (untyped: the output as JSON,
/// for a run whose workflow's types the caller does not have).
///
/// A handle keeps the engine running, as an `Engine` clone does.
pub struct RunHandle<O> {
    core: Arc<EngineCore>,
    /// Keeps the engine alive while the handle is.
    owner: Arc<Owner>,
    id: RunId,
    output: PhantomData<fn() -> O>,
}

impl<O> Clone for RunHandle<O> {
    fn clone(&self) -> Self {
        RunHandle {
            core: self.core.clone(),
            owner: self.owner.clone(),
            id: self.id,
            output: PhantomData,
        }
    }
}

impl<O> fmt::Debug for RunHandle<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunHandle").field("id", &self.id).finish()
    }
}

impl<O: DeserializeOwned> RunHandle<O> {
    /// A handle on run `id` of the engine `core`, which `owner` keeps alive.
    pub(crate) fn new(core: Arc<EngineCore>, owner: Arc<Owner>, id: RunId) -> Self {
        RunHandle {
            core,
            owner,
            id,
            output: PhantomData,
        }
    }

    /// The run's id.
    pub fn id(&self) -> RunId {
        self.id
    }

    /// Waits until the run finishes and returns its output.
    ///
    /// # Errors
    ///
    /// [`Error::RunFailed`], [`Error::RunCancelled`] or [`Error::RunTimedOut`]
    /// when it did not complete; [`Error::Serialization`] when the stored
    /// output does not fit `O`.
    pub async fn result(&self) -> Result<O, Error> {
        match self.core.wait_for_outcome(self.id).await? {
            RunOutcome::Completed(output) => {
                serde_json::from_str(&output).map_err(|error| Error::Serialization {
                    what: format!("output of run {}", self.id),
                    message: error.to_string(),
                })
            }
            RunOutcome::Cancelled(reason) => Err(Error::RunCancelled {
                run_id: self.id,
                reason,
            }),
            RunOutcome::TimedOut => Err(Error::RunTimedOut { run_id: self.id }),
            RunOutcome::Failed(message) => Err(Error::RunFailed {
                run_id: self.id,
                message,
            }),
        }
    }

    /// The run as it is stored now.
    ///
    /// # Errors
    ///
    /// [`Error::RunNotFound`], or a database error.
    pub async fn info(&self) -> Result<RunInfo, Error> {
        self.core.run_info(self.id).await
    }

    /// The runs this run started as children (`Ctx::invoke`,
    /// `Ctx::start_child`), oldest first; each one's
    /// [`RunInfo::parent`] is this run.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn children(&self) -> Result<Vec<RunId>, Error> {
        self.core.run_children(self.id).await
    }

    /// Sends a signal to this run; see [`Engine::signal`](crate::Engine::signal).
    ///
    /// # Errors
    ///
    /// As [`Engine::signal`](crate::Engine::signal).
    pub async fn signal(&self, signal: &str, data: impl Serialize) -> Result<SentEvent, Error> {
        self.core.signal(self.id, signal, data).await
    }

    /// The run's status now.
    ///
    /// # Errors
    ///
    /// [`Error::RunNotFound`], or a database error.
    pub async fn status(&self) -> Result<RunStatus, Error> {
        Ok(self.info().await?.status)
    }

    /// The run's steps, in the order it reached them.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn steps(&self) -> Result<Vec<StepInfo>, Error> {
        self.core.run_steps(self.id).await
    }

    /// The run's log lines (`Ctx::log`, `Ctx::progress`), oldest first.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn logs(&self) -> Result<Vec<LogLine>, Error> {
        self.core.run_logs(self.id).await
    }

    /// Cancels a pending, running or suspended run. A running step body is
    /// dropped at its next await; nothing it returns is recorded.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTransition`] when the run already finished.
    pub async fn cancel(&self) -> Result<(), Error> {
        self.core.cancel(self.id).await
    }

    /// Moves a failed or timed-out run back to pending. Completed steps keep
    /// their results; the failed step runs again from its first attempt.
    ///
    /// After a failure that ran compensations, a step whose compensation
    /// completed was undone, so it is not replayed: it runs again (and its
    /// compensation with it, should the run fail again). Steps without a
    /// compensation, and steps whose compensation failed or never finished
    /// (a run that timed out while compensating), were not undone and are
    /// replayed. The records of the failure's unwinding (`compensate/...`
    /// and the on-failure hook's `on-failure/...` steps) are discarded, so
    /// another failure compensates and calls the hook again. A child run
    /// compensates its own steps; a failed child step starts a new child.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTransition`] when the run is not failed or timed out.
    pub async fn retry(&self) -> Result<(), Error> {
        self.core.retry(self.id).await
    }

    /// Pauses a pending, running or suspended run: no worker claims it, so
    /// it starts no step, until [`resume`](RunHandle::resume). Its status
    /// stays what it was and [`RunInfo::paused_at`] says since when it is
    /// paused. Pausing a paused run changes nothing.
    ///
    /// A run executing now finishes the step it is in (its result is
    /// recorded) and starts no further one: it is handed back, `suspended`,
    /// at its next step boundary (a fan-out's other branches finish their
    /// current steps first). An execution on this engine learns of the pause
    /// at once; one on another process (PostgreSQL) at its next lease
    /// renewal, every third of the lease (3.3 s with the default lease of
    /// 10 s). A run whose body returns before reaching another step
    /// completes.
    ///
    /// The run's deadline (its workflow's `timeout`) still applies while it
    /// is paused: a paused run past its deadline times out, ended by the
    /// maintenance pass (every minute, or
    /// [`Engine::run_maintenance`](crate::Engine::run_maintenance)), as is
    /// any run past its deadline that no worker claims. Sleeps and waits
    /// keep their times: a sleep that ended during the pause fires on
    /// resume, and an event that arrives during the pause is kept for the
    /// wait it matches.
    ///
    /// ```no_run
    /// # async fn admin(engine: durable::Engine, id: durable::RunId) -> Result<(), durable::Error> {
    /// let run = engine.run(id);
    /// run.pause().await?;
    /// assert!(run.info().await?.paused_at.is_some());
    /// run.resume().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTransition`] when the run already ended,
    /// [`Error::RunNotFound`] for an unknown id.
    pub async fn pause(&self) -> Result<(), Error> {
        self.core.set_paused(self.id, true).await
    }

    /// Starts a new run from this ended run: see
    /// [`Engine::fork`](crate::Engine::fork). The new run's handle has this
    /// one's output type.
    ///
    /// ```no_run
    /// # async fn replay(run: durable::RunHandle<String>) -> Result<(), durable::Error> {
    /// let again = run.fork(durable::ForkOptions::from_step("ship")).await?;
    /// let output: String = again.result().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Engine::fork`](crate::Engine::fork).
    pub async fn fork(&self, options: ForkOptions) -> Result<RunHandle<O>, Error> {
        let id = self.core.fork(self.id, options).await?;
        Ok(RunHandle::new(self.core.clone(), self.owner.clone(), id))
    }

    /// Resumes a paused run: it is claimed again when it is due (at once for
    /// a run that was pending, or whose sleep ended during the pause) and
    /// continues from its journal where it stopped. Resuming a run that is
    /// not paused changes nothing.
    ///
    /// # Errors
    ///
    /// As [`pause`](RunHandle::pause).
    pub async fn resume(&self) -> Result<(), Error> {
        self.core.set_paused(self.id, false).await
    }
}
