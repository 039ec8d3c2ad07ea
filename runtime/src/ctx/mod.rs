//! The workflow context: the steps a workflow body calls, one file per
//! primitive (`steps`: `run` and retries; `timers`: sleeps; `memo`: `now`,
//! `uuid`; `events`, `children`, `fanout`, `group`, `log`, `saga`, `patch`),
//! and the bookkeeping that makes them durable (`persist`).
//!
//! Each step asks the replay core ([`crate::core::replay::Journal`]) whether
//! the journal already answers it. Errors that end the run (a lost lease, a
//! non-deterministic replay, a value that cannot be serialized) never reach
//! the workflow body: the step records them on the run's state and stays
//! pending, and the executor ends or drops the run. The context sees the
//! engine only through the run's [`RunEnv`](crate::exec::env::RunEnv).

pub(crate) mod children;
pub(crate) mod deadline;
pub(crate) mod events;
pub(crate) mod fanout;
pub(crate) mod group;
pub(crate) mod log;
pub(crate) mod memo;
pub(crate) mod patch;
pub(crate) mod persist;
pub(crate) mod saga;
pub(crate) mod steps;
pub(crate) mod timers;
pub(crate) mod workflow;

use std::borrow::Cow;
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::core::replay::StepStart;
use crate::ctx::steps::StepBuilder;
use crate::exec::run_state::RunContext;
use crate::model::error::{Error, StepError};
use crate::model::ids::RunId;
use crate::model::journal::StepRecord;
use crate::model::status::StepStatus;
use crate::model::workflow::StepKind;

/// The name of a step: a string literal, or the keyed form `("name", key)`
/// for steps in loops, recorded as `name[key]`.
///
/// ```
/// use durable::StepName;
/// assert_eq!(StepName::from("charge").as_str(), "charge");
/// assert_eq!(StepName::from(("charge", 42)).as_str(), "charge[42]");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepName(Cow<'static, str>);

impl StepName {
    /// The name as recorded in `wf_step.name`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&'static str> for StepName {
    fn from(name: &'static str) -> Self {
        StepName(Cow::Borrowed(name))
    }
}

impl From<String> for StepName {
    fn from(name: String) -> Self {
        StepName(Cow::Owned(name))
    }
}

impl<K: Display> From<(&'static str, K)> for StepName {
    fn from((name, key): (&'static str, K)) -> Self {
        StepName(Cow::Owned(format!("{name}[{key}]")))
    }
}

/// The context of one run, handed to the workflow body as its first
/// parameter. Cheap to clone.
///
/// Every method that takes a step name is a durable step: its result is
/// recorded once, and replayed from the journal when the run resumes after a
/// suspension, a crash or a restart. Step names must be unique within a run.
#[derive(Clone)]
pub struct Ctx {
    pub(crate) run: Arc<RunContext>,
    /// The step scope of a fan-out branch, e.g. `charge-all[3]`: step names
    /// in the branch are recorded as `charge-all[3]/<name>`.
    scope: Option<Arc<str>>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("run_id", &self.run.lease.run_id)
            .field("workflow", &self.run.workflow)
            .finish()
    }
}

/// What ends a suspension, besides an event or a finished child (which
/// always wake a suspended run).
#[derive(Debug, Clone, Copy)]
pub(crate) enum WakeUp {
    /// Nothing else.
    External,
    /// A timer (a sleep or a retry's backoff) at this time (ms): replayed a
    /// little early, it waits out the rest in memory.
    Timer(i64),
    /// A wait's timeout at this time (ms): replayed early, it would only
    /// suspend again.
    Timeout(i64),
}

/// Marks a step body, a write or a wait in memory as in progress while alive.
struct Busy<'a>(&'a RunContext);

impl<'a> Busy<'a> {
    fn new(run: &'a RunContext) -> Self {
        run.state().busy += 1;
        Busy(run)
    }

    /// Marks work in progress, once the run holds its slot again if a wait
    /// in memory lent it.
    async fn working(run: &'a RunContext) -> Self {
        run.slot.take_back().await;
        Busy::new(run)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.state().busy -= 1;
        self.0.control.notify_one();
    }
}

impl Ctx {
    /// The context of a run's body: steps recorded without a scope.
    pub(crate) fn new(run: Arc<RunContext>) -> Self {
        Ctx { run, scope: None }
    }

    /// A context whose steps are recorded under `scope`.
    pub(crate) fn scoped(&self, scope: &StepName) -> Ctx {
        Ctx {
            run: self.run.clone(),
            scope: Some(Arc::from(scope.as_str())),
        }
    }

    /// The name a step is recorded under: prefixed with this context's scope.
    pub(crate) fn full_name(&self, name: impl Into<StepName>) -> StepName {
        let name = name.into();
        match &self.scope {
            Some(scope) => StepName(Cow::Owned(format!("{scope}/{}", name.as_str()))),
            None => name,
        }
    }

    /// The id of this run.
    pub fn run_id(&self) -> RunId {
        self.run.lease.run_id
    }

    /// The name of this run's workflow.
    pub fn workflow_name(&self) -> &'static str {
        self.run.workflow
    }

    /// Runs `body` as a durable step named `name` with the default retry
    /// policy, and returns its output. Shorthand for
    /// `ctx.step(name).run(body)`; see [`StepBuilder::run`].
    ///
    /// # Errors
    ///
    /// [`Error::StepFailed`] once the step gave up.
    pub async fn run<T, E, F, Fut>(&self, name: impl Into<StepName>, body: F) -> Result<T, Error>
    where
        T: Serialize + DeserializeOwned + Send,
        E: Into<StepError>,
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T, E>> + Send,
    {
        self.step(name).run(body).await
    }

    /// Runs `body`, which returns its output itself rather than a
    /// `Result`, as a durable step named `name`: the form for a body that
    /// cannot fail, so it needs no error type. Shorthand for
    /// `ctx.step(name).compute(body)`; see [`StepBuilder::compute`].
    ///
    /// ```no_run
    /// # use durable::prelude::*;
    /// # async fn f(ctx: Ctx, items: Vec<u64>) -> Result<(), durable::Error> {
    /// let total: u64 = ctx.compute("total", async || items.iter().sum()).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`run`](Ctx::run).
    pub async fn compute<T, F, Fut>(&self, name: impl Into<StepName>, body: F) -> Result<T, Error>
    where
        T: Serialize + DeserializeOwned + Send,
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = T> + Send,
    {
        self.step(name).compute(body).await
    }

    /// Starts configuring a step: retry policy, timeout, recorded input.
    ///
    /// ```no_run
    /// # use durable::prelude::*;
    /// # async fn f(ctx: Ctx) -> Result<(), durable::Error> {
    /// let charged: u64 = ctx
    ///     .step("charge-payment")
    ///     .retry(Retry::exponential(5, "1s"))
    ///     .timeout("30s")
    ///     .run(async || Ok::<_, StepError>(4200))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn step(&self, name: impl Into<StepName>) -> StepBuilder<'_> {
        StepBuilder::new(self, self.full_name(name))
    }

    /// Suspends the run until `wake_up`. Never returns: the run resumes by
    /// replay.
    pub(crate) async fn suspend<T>(&self, wake_up: WakeUp) -> T {
        {
            let mut state = self.run.state();
            state.suspended = true;
            let earliest = |earlier: Option<i64>, at: i64| Some(earlier.map_or(at, |e| e.min(at)));
            match wake_up {
                WakeUp::Timer(at) => state.timer_at = earliest(state.timer_at, at),
                WakeUp::Timeout(at) => state.timeout_at = earliest(state.timeout_at, at),
                WakeUp::External => {}
            }
        }
        self.run.control.notify_one();
        std::future::pending().await
    }

    /// Asks the journal about a step; ends the run on a refusal. A new step
    /// of a paused run is not started: see [`Ctx::pause_point`].
    pub(crate) async fn reach(&self, name: &str, kind: StepKind) -> StepStart {
        let answer = self.run.state().journal.reach(name, kind);
        match answer {
            Ok(start @ StepStart::New { .. }) => {
                self.pause_point().await;
                start
            }
            Ok(start) => start,
            Err(error) => self.stop(error).await,
        }
    }

    /// A step boundary: returns at once unless an operator paused the run
    /// (an atomic flag, no read of the database), and then never: the
    /// executor hands the run back, with the records not saved yet, once no
    /// other branch is busy, and a resumed run replays up to here.
    pub(crate) async fn pause_point(&self) {
        if self.run.paused.is_set() {
            self.run.state().pausing = true;
            self.run.control.notify_one();
            std::future::pending::<()>().await;
        }
    }

    /// Records why the run cannot go on and never returns: the executor drops
    /// this execution.
    pub(crate) async fn stop<T>(&self, error: Error) -> T {
        self.run.state().stop.get_or_insert(error);
        self.run.control.notify_one();
        std::future::pending().await
    }

    /// A record of the step `name`, at `seq`, updated now.
    pub(crate) fn record(
        &self,
        name: &str,
        seq: i64,
        kind: StepKind,
        status: StepStatus,
    ) -> StepRecord {
        StepRecord {
            name: name.to_owned(),
            seq,
            kind,
            status,
            input: None,
            output: None,
            error: None,
            attempts: 0,
            wake_at: None,
            updated_at: self.run.env.clock.now_ms(),
            started_at: None,
            ended_at: None,
            finished_attempt: None,
            attempt_log: Box::default(),
        }
    }
}
