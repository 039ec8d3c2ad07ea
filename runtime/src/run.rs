//! Runs: their ids, statuses, trigger options and the typed handle a trigger
//! returns.

use crate::store::RunOutcome;
use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::{Error, IntoDuration, StepKind};

/// The id of a run (`wf_instance.id`), a time-ordered UUID (v7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub uuid::Uuid);

impl RunId {
    pub(crate) fn new() -> Self {
        RunId(uuid::Uuid::now_v7())
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for RunId {
    type Err = uuid::Error;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(RunId(text.parse()?))
    }
}

macro_rules! status_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// The text stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            /// Reads the text stored in the database.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)* _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

status_enum! {
    /// The status of a run (`wf_instance.status`).
    RunStatus {
        /// Waiting to be claimed by a worker (new, delayed, or retried).
        Pending = "pending",
        /// A worker is executing it, or holds it in memory through a short
        /// wait, such as the end of a sleep it was claimed just before.
        Running = "running",
        /// Waiting for a timer; no worker holds it and it costs no memory.
        Suspended = "suspended",
        /// Finished with an output.
        Completed = "completed",
        /// Finished with an error.
        Failed = "failed",
        /// Cancelled before it finished.
        Cancelled = "cancelled",
        /// Passed its workflow timeout.
        TimedOut = "timed_out",
    }
}

impl RunStatus {
    /// Whether the run has finished for good (until a `retry`).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled | RunStatus::TimedOut
        )
    }
}

status_enum! {
    /// The status of a step (`wf_step.status`).
    ///
    /// A run that ends (cancelled, timed out, failed) while one of its steps
    /// sleeps or waits leaves that step as it was, `sleeping` or `waiting`:
    /// it shows where the run stopped. Nothing completes it after the end:
    /// its wake time passing does not, nor does an event or signal sent
    /// later. (A step waiting for another run is still settled when that
    /// run ends, `failed` unless it completed, so that a `retry` of the
    /// waiting run starts it again; a parent's timeout or cancel cancels
    /// its children in the same write, which fails its `invoke` step.)
    StepStatus {
        /// Waiting for its next attempt (after a failed one).
        Pending = "pending",
        /// An attempt is running.
        Running = "running",
        /// Finished; its output is recorded and will only be replayed.
        Completed = "completed",
        /// Gave up; its error is recorded.
        Failed = "failed",
        /// A durable sleep that has not reached its wake time (or whose run
        /// ended before it did).
        Sleeping = "sleeping",
        /// Waiting for an event, a signal or another run (or its run ended
        /// while it waited).
        Waiting = "waiting",
    }
}

impl StepStatus {
    /// Whether the step has ended for good: completed or failed.
    pub fn is_finished(self) -> bool {
        matches!(self, StepStatus::Completed | StepStatus::Failed)
    }
}

/// Options for [`Engine::trigger_with`] and the generated `trigger_with`.
///
/// ```
/// use durable::TriggerOptions;
/// let options = TriggerOptions::new().idempotency_key("order-42").delay("10m").unwrap();
/// ```
#[derive(Debug, Clone, Default)]
pub struct TriggerOptions {
    pub(crate) idempotency_key: Option<String>,
    pub(crate) delay_ms: i64,
    pub(crate) start_at_ms: Option<i64>,
}

impl TriggerOptions {
    /// No key, start now.
    pub fn new() -> Self {
        TriggerOptions::default()
    }

    /// A key that makes the trigger idempotent: a second trigger of the same
    /// workflow with the same key and the same input returns the first run;
    /// with a different input it is rejected with
    /// [`Error::IdempotencyConflict`].
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Starts the run after `delay`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidDuration`] for a string outside the grammar.
    pub fn delay(mut self, delay: impl IntoDuration) -> Result<Self, Error> {
        self.delay_ms = crate::duration::millis(delay.into_duration()?);
        Ok(self)
    }

    /// Starts the run at `at` (a time in the past starts it at once).
    pub fn start_at(mut self, at: std::time::SystemTime) -> Self {
        let ms = at
            .duration_since(std::time::UNIX_EPOCH)
            .map(crate::duration::millis)
            .unwrap_or(0);
        self.start_at_ms = Some(ms);
        self
    }
}

/// A run as stored in `wf_instance`.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// The run's id.
    pub id: RunId,
    /// The workflow's name.
    pub workflow: String,
    /// Its status.
    pub status: RunStatus,
    /// Its input as JSON.
    pub input: serde_json::Value,
    /// Its output as JSON, once completed.
    pub output: Option<serde_json::Value>,
    /// Its error, once failed.
    pub error: Option<String>,
    /// The idempotency key it was triggered with.
    pub idempotency_key: Option<String>,
    /// When it was triggered (ms since the epoch).
    pub created_at: i64,
    /// When a worker first started executing it (ms since the epoch); `None`
    /// while it has never run.
    pub started_at: Option<i64>,
    /// When it finished (ms since the epoch).
    pub finished_at: Option<i64>,
    /// The run that started it as a child (`Ctx::invoke`, `Ctx::start_child`),
    /// or `None` for a run triggered from outside. Its children are listed by
    /// [`RunHandle::children`].
    pub parent: Option<RunId>,
    /// When the workflow timeout ends it (ms since the epoch).
    pub deadline_at: Option<i64>,
    /// How many times a worker has started executing it.
    pub executions: i64,
}

/// A step as stored in `wf_step`.
#[derive(Debug, Clone, Serialize)]
pub struct StepInfo {
    /// The step's name.
    pub name: String,
    /// Its position in the order the run reached its steps.
    pub seq: i64,
    /// Its kind.
    pub kind: StepKind,
    /// Its status.
    pub status: StepStatus,
    /// Its recorded input, if it has one.
    pub input: Option<serde_json::Value>,
    /// Its output, once completed.
    pub output: Option<serde_json::Value>,
    /// Its last error.
    pub error: Option<String>,
    /// Attempts started so far.
    pub attempts: u32,
    /// When a sleeping step or a step waiting for a retry wakes (ms).
    pub wake_at: Option<i64>,
}

/// A handle on one run, typed by the workflow's output `O`.
///
/// Returned by the generated `trigger` functions, by
/// [`Engine::trigger_json`] (with `O = serde_json::Value`), by
/// [`Engine::run_handle`], and by [`Engine::run`] (untyped: the output as
/// JSON, for a run whose workflow's types the caller does not have).
pub struct RunHandle<O> {
    engine: Engine,
    id: RunId,
    output: PhantomData<fn() -> O>,
}

impl<O> Clone for RunHandle<O> {
    fn clone(&self) -> Self {
        RunHandle {
            engine: self.engine.clone(),
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
    pub(crate) fn new(engine: Engine, id: RunId) -> Self {
        RunHandle {
            engine,
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
        match self.engine.wait_for_outcome(self.id).await? {
            RunOutcome::Completed(output) => {
                serde_json::from_str(&output).map_err(|error| Error::Serialization {
                    what: format!("output of run {}", self.id),
                    message: error.to_string(),
                })
            }
            RunOutcome::Cancelled(_) => Err(Error::RunCancelled { run_id: self.id }),
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
        self.engine.run_info(self.id).await
    }

    /// The runs this run started as children (`Ctx::invoke`,
    /// `Ctx::start_child`), oldest first; each one's
    /// [`RunInfo::parent`] is this run.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn children(&self) -> Result<Vec<RunId>, Error> {
        self.engine.run_children(self.id).await
    }

    /// Sends a signal to this run; see [`Engine::signal`].
    ///
    /// # Errors
    ///
    /// As [`Engine::signal`].
    pub async fn signal(
        &self,
        signal: &str,
        data: impl Serialize,
    ) -> Result<crate::SentEvent, Error> {
        self.engine.signal(self.id, signal, data).await
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
        self.engine.run_steps(self.id).await
    }

    /// The run's log lines (`Ctx::log`, `Ctx::progress`), oldest first.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn logs(&self) -> Result<Vec<crate::store::LogLine>, Error> {
        self.engine.run_logs(self.id).await
    }

    /// Cancels a pending, running or suspended run. A running step body is
    /// dropped at its next await; nothing it returns is recorded.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTransition`] when the run already finished.
    pub async fn cancel(&self) -> Result<(), Error> {
        self.engine.cancel(self.id).await
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
        self.engine.retry(self.id).await
    }
}
