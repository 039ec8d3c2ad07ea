//! The workflow context: the steps a workflow body calls (`run`, `sleep`,
//! `sleep_until`, `now`, `uuid`) and the bookkeeping that makes them durable.
//!
//! Each step asks the replay core ([`crate::replay::Journal`]) whether the
//! journal already answers it. Errors that end the run (a lost lease, a
//! non-deterministic replay, a value that cannot be serialized) never reach
//! the workflow body: the step records them on the context and stays pending,
//! and the executor ends or drops the run.

use std::borrow::Cow;
use std::fmt::Display;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use crate::core::replay::{Journal, StepStart};
use crate::core::timing;
use crate::engine::Shared;
use crate::exec::unwind::catch_unwind_future;
use crate::executor::Slot;
use crate::model::duration::millis;
use crate::store::{Lease, StepRecord};
use crate::{Error, IntoDuration, Retry, RunId, StepError, StepKind, StepStatus};

/// How many times a write the run depends on is tried before the run is
/// handed back for a later execution.
const WRITE_ATTEMPTS: u32 = 8;

/// How long a step body runs before its `running` record is written.
const RUNNING_MARKER_AFTER: Duration = Duration::from_millis(50);

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

/// The shared state of one execution of a run, seen by the context and the
/// executor.
pub(crate) struct RunContext {
    pub(crate) workflow: &'static str,
    pub(crate) lease: Lease,
    /// When the run times out (children inherit it).
    pub(crate) deadline_at: Option<i64>,
    pub(crate) shared: Arc<Shared>,
    /// The engine's concurrency slot the run executes in.
    slot: Arc<Slot>,
    state: Mutex<RunState>,
    /// Held while the records of [`RunState::unsaved`] are written, so a
    /// branch that must come after them waits for another branch's write.
    saving: tokio::sync::Mutex<()>,
    /// Woken whenever `state` asks the executor to act.
    pub(crate) control: Notify,
}

#[derive(Default)]
pub(crate) struct RunState {
    journal: Journal,
    /// Step bodies executing, writes in flight and waits in memory now; the
    /// run is not suspended while any is, since the branch behind it will go
    /// on.
    pub(crate) busy: usize,
    /// Whether a step asked to suspend the run.
    pub(crate) suspended: bool,
    /// The earliest time a suspended sleep or retry backoff ends.
    pub(crate) timer_at: Option<i64>,
    /// The earliest time a suspended wait times out.
    pub(crate) timeout_at: Option<i64>,
    /// Step records not written yet: they are written with the run's next
    /// write, or before its next step body runs ([`Ctx::save_unsaved`]), or
    /// with its suspension or its finish. The results of completed steps wait
    /// here (so a run's last results travel with its finish), and the record
    /// of a sleep that suspends the run (it travels with the suspension).
    pub(crate) unsaved: Vec<StepRecord>,
    /// Set when the run cannot go on: the executor ends it with this error.
    pub(crate) stop: Option<Error>,
    /// The compensations of the steps completed so far, in completion order:
    /// (step name, its recorded output, the compensation).
    pub(crate) compensations: Vec<(String, String, Undo)>,
    /// Set by `Ctx::fail`: the run fails with this message (after its
    /// compensations).
    pub(crate) fail: Option<String>,
    /// Log lines written so far in this execution, per scope.
    log_counters: std::collections::HashMap<String, u32>,
}

impl RunState {
    /// When the run, suspending now, may be claimed again (see
    /// [`timing::ready_at`]).
    pub(crate) fn ready_at(&self, deadline: Option<i64>, claim_early_ms: i64) -> Option<i64> {
        timing::ready_at(self.timer_at, self.timeout_at, deadline, claim_early_ms)
    }
}

impl RunContext {
    pub(crate) fn new(
        shared: Arc<Shared>,
        slot: Arc<Slot>,
        workflow: &'static str,
        lease: Lease,
        deadline_at: Option<i64>,
        journal: Vec<StepRecord>,
    ) -> Arc<Self> {
        Arc::new(RunContext {
            workflow,
            lease,
            deadline_at,
            shared,
            slot,
            state: Mutex::new(RunState {
                journal: Journal::new(lease.run_id, journal),
                ..RunState::default()
            }),
            saving: tokio::sync::Mutex::new(()),
            control: Notify::new(),
        })
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, RunState> {
        // A panic while holding this lock leaves no broken invariant behind
        // (every update is a single assignment), so a poisoned lock is used as is.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
        StepBuilder {
            ctx: self,
            name: self.full_name(name),
            retry: Retry::default(),
            timeout: Ok(None),
            input: None,
            compensation: NoCompensation,
        }
    }

    /// A durable sleep: the run continues after `duration`, even across
    /// restarts. Short sleeps wait in memory; longer ones (see
    /// `EngineBuilder::keep_in_memory_below`) suspend the run, which then holds
    /// no task or memory until its wake time. Never wakes early. Its step
    /// is recorded `sleeping` with its wake time, and shows `completed` once
    /// that time has passed, unless the run ended before it woke: then it
    /// stays `sleeping` (see [`StepStatus`](crate::StepStatus)).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidDuration`] for a string outside the grammar.
    pub async fn sleep(
        &self,
        name: impl Into<StepName>,
        duration: impl IntoDuration,
    ) -> Result<(), Error> {
        let duration = millis(duration.into_duration()?);
        self.durable_sleep(self.full_name(name), StepKind::Sleep, move |now| {
            now.saturating_add(duration)
        })
        .await;
        Ok(())
    }

    /// A durable sleep until `at`; a time in the past wakes at once.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for clock errors.
    pub async fn sleep_until(
        &self,
        name: impl Into<StepName>,
        at: SystemTime,
    ) -> Result<(), Error> {
        let at = at.duration_since(UNIX_EPOCH).map(millis).unwrap_or(0);
        self.durable_sleep(self.full_name(name), StepKind::SleepUntil, move |_| at)
            .await;
        Ok(())
    }

    /// The current time, recorded: a replay returns the same time.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for clock errors.
    pub async fn now(&self, name: impl Into<StepName>) -> Result<SystemTime, Error> {
        let clock = self.run.shared.clock.clone();
        let ms: i64 = self
            .memoized(self.full_name(name), StepKind::Now, move || clock.now_ms())
            .await;
        Ok(UNIX_EPOCH + Duration::from_millis(ms.max(0).unsigned_abs()))
    }

    /// A random UUID (v4), recorded: a replay returns the same one.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for future failure modes.
    pub async fn uuid(&self, name: impl Into<StepName>) -> Result<uuid::Uuid, Error> {
        Ok(self
            .memoized(self.full_name(name), StepKind::Uuid, uuid::Uuid::new_v4)
            .await)
    }

    async fn memoized<T: Serialize + DeserializeOwned>(
        &self,
        name: StepName,
        kind: StepKind,
        make: impl FnOnce() -> T,
    ) -> T {
        let name = name.as_str();
        let seq = match self.reach(name, kind).await {
            StepStart::Recorded(record) if record.status == StepStatus::Completed => {
                return self.decode(name, record.output.as_deref()).await;
            }
            StepStart::Recorded(record) => record.seq,
            StepStart::New { seq } => seq,
        };
        let value = make();
        let output = self.encode(name, &value).await;
        let record = self.record(name, seq, kind, StepStatus::Completed);
        // Nothing outside the run saw the value yet: its record goes with
        // the run's next write.
        self.save_later(StepRecord {
            output: Some(output),
            attempts: 1,
            ..record
        });
        value
    }

    async fn durable_sleep(
        &self,
        name: StepName,
        kind: StepKind,
        wake_at: impl FnOnce(i64) -> i64,
    ) {
        let name = name.as_str();
        let now = self.run.shared.clock.now_ms();
        let wake_at = match self.reach(name, kind).await {
            StepStart::Recorded(record) if record.status == StepStatus::Completed => return,
            StepStart::Recorded(record) => record.wake_at.unwrap_or(now),
            StepStart::New { seq } => {
                let wake_at = wake_at(now);
                if wake_at > now
                    && wake_at.saturating_sub(now) >= self.run.shared.config.keep_in_memory_ms
                {
                    // The sleep suspends the run: its record is saved with
                    // the suspension. Until then nothing follows from it,
                    // so a crash before is as if the sleep had not begun.
                    let record = self.record(name, seq, kind, StepStatus::Sleeping);
                    self.run.state().unsaved.push(StepRecord {
                        wake_at: Some(wake_at),
                        ..record
                    });
                    return self.suspend(WakeUp::Timer(wake_at)).await;
                }
                // A sleep is over at its wake time: its `sleeping` record is
                // never rewritten (a replay and `RunHandle::steps` read it as
                // completed once `wake_at` passed), which saves a write per
                // sleep. One already due is recorded completed at once.
                let status = if wake_at > now {
                    StepStatus::Sleeping
                } else {
                    StepStatus::Completed
                };
                let record = self.record(name, seq, kind, status);
                self.save(StepRecord {
                    output: (status == StepStatus::Completed).then(|| "null".into()),
                    wake_at: Some(wake_at),
                    ..record
                })
                .await;
                wake_at
            }
        };
        self.wait_until(wake_at).await;
    }

    /// Waits until `at` (a sleep's end or a retry's backoff): in memory when
    /// it is near, otherwise by suspending the run (this future then never
    /// completes; the run resumes by replay).
    ///
    /// A wait in memory keeps the run in memory (busy): its branch goes on
    /// soon, so the run does not suspend meanwhile, even if another branch
    /// asks to. This is also what lets a worker claim a sleeping run a little
    /// before its timer ends (see `RunState::ready_at`): the replay ends
    /// up here and waits out the rest in memory.
    async fn wait_until(&self, at: i64) {
        let shared = &self.run.shared;
        let left = at.saturating_sub(shared.clock.now_ms());
        if left <= 0 {
            return;
        }
        if left < shared.config.keep_in_memory_ms {
            self.wait_in_memory(shared.clock.sleep_until(at)).await;
            return;
        }
        self.suspend(WakeUp::Timer(at)).await
    }

    /// Awaits `wait` (a timer, or a write to the store) with the run kept
    /// in memory: busy, so it does not suspend meanwhile. While nothing else
    /// of the run is in progress, its concurrency slot goes to other runs
    /// until the wait ends; it is taken back before this returns.
    async fn wait_in_memory<T>(&self, wait: impl Future<Output = T>) -> T {
        let waiting = Busy::new(&self.run);
        if self.run.state().busy == 1 {
            self.run.slot.lend();
        }
        let value = wait.await;
        self.run.slot.take_back().await;
        drop(waiting);
        value
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

    /// Asks the journal about a step; ends the run on a refusal.
    pub(crate) async fn reach(&self, name: &str, kind: StepKind) -> StepStart {
        let answer = self.run.state().journal.reach(name, kind);
        match answer {
            Ok(start) => start,
            Err(error) => self.stop(error).await,
        }
    }

    /// Records why the run cannot go on and never returns: the executor drops
    /// this execution.
    pub(crate) async fn stop<T>(&self, error: Error) -> T {
        self.run.state().stop.get_or_insert(error);
        self.run.control.notify_one();
        std::future::pending().await
    }

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
            updated_at: self.run.shared.clock.now_ms(),
        }
    }

    /// Keeps a completed step's record to write with the run's next write
    /// (see [`RunState::unsaved`]), instead of waiting for a write of its
    /// own: the run goes on at once. A crash before that write runs the step
    /// again, as a crash before its own write would have.
    fn save_later(&self, record: StepRecord) {
        self.run.state().unsaved.push(record);
    }

    /// Writes the records [`RunState::unsaved`] holds, all at once, before
    /// what must come after them: a step body (which runs only once the
    /// results before it are committed), or another write of the run. When
    /// this returns, every record kept before it was called is written,
    /// also by another branch of the run; a lost lease or a store that stays
    /// down ends the run.
    pub(crate) async fn save_unsaved(&self) {
        let _turn = self.run.saving.lock().await;
        let records = std::mem::take(&mut self.run.state().unsaved);
        if records.is_empty() {
            return;
        }
        let store = &self.run.shared.store;
        let lease = self.run.lease;
        let writes = records.iter().map(|record| {
            self.persist_now(&record.name, || store.save_step(lease, record.clone()))
        });
        for written in futures_util::future::join_all(writes).await {
            if let Err(error) = written {
                self.stop(error).await
            }
        }
    }

    /// Writes a step record, retrying storage errors in-process; ends the run
    /// if the lease is lost or the store stays down.
    async fn save(&self, record: StepRecord) {
        let store = &self.run.shared.store;
        let lease = self.run.lease;
        let result = self
            .persist(&record.name, || store.save_step(lease, record.clone()))
            .await;
        if let Err(error) = result {
            self.stop(error).await
        }
    }

    /// Ends the run as failed with `message`: the compensations of its
    /// completed steps run, then the on-failure hook. Never returns.
    ///
    /// ```no_run
    /// # use durable::prelude::*;
    /// # async fn f(ctx: Ctx, in_stock: bool) -> Result<(), Error> {
    /// if !in_stock {
    ///     ctx.fail("out of stock").await
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn fail<T>(&self, message: impl Into<String>) -> T {
        self.run.state().fail.get_or_insert(message.into());
        self.run.control.notify_one();
        std::future::pending().await
    }

    /// Ends the run without marking it failed: it is `cancelled`, with
    /// `reason` as its error; no compensation runs, and its children are
    /// cancelled. Never returns.
    pub async fn abort<T>(&self, reason: impl Into<String>) -> T {
        self.stop(Error::Aborted(reason.into())).await
    }

    /// Runs the compensations of the completed steps in reverse order, each
    /// as the durable step `compensate/<step>`, then the on-failure hook.
    /// A compensation that fails for good is recorded and the others still run.
    pub(crate) async fn unwind(&self, error: &str, hook: Option<crate::engine::OnFailure>) {
        let compensations = std::mem::take(&mut self.run.state().compensations);
        for (name, output, undo) in compensations.into_iter().rev() {
            let result = self
                .step(format!("compensate/{name}"))
                .run(|| undo(output.clone()))
                .await;
            if let Err(error) = result {
                tracing::error!(run_id = %self.run_id(), step = %name, %error, "a compensation failed");
            }
        }
        let Some(hook) = hook else { return };
        let store = &self.run.shared.store;
        let run_id = self.run_id();
        let completed_steps = match self
            .persist("on-failure", || store.load_journal(run_id))
            .await
        {
            Ok(journal) => journal
                .into_iter()
                .filter(|step| step.status == StepStatus::Completed)
                .map(|step| step.name)
                .filter(|name| !name.starts_with("compensate/") && !name.starts_with("on-failure/"))
                .collect(),
            Err(_) => Vec::new(),
        };
        let failure = crate::Failure {
            error: error.to_owned(),
            completed_steps,
        };
        if let Err(error) = hook(self.scoped(&StepName::from("on-failure")), failure).await {
            tracing::error!(run_id = %self.run_id(), %error, "the on-failure hook failed");
        }
    }

    /// The key of the next log line in this context's scope.
    pub(crate) fn next_log_key(&self) -> String {
        let scope = self.scope.as_deref().unwrap_or("").to_owned();
        let mut state = self.run.state();
        let counter = state.log_counters.entry(scope.clone()).or_default();
        let key = format!("{scope}#{counter}");
        *counter += 1;
        key
    }

    fn register_compensation(&self, name: &str, output: &str, undo: Option<Undo>) {
        if let Some(undo) = undo {
            self.run
                .state()
                .compensations
                .push((name.to_owned(), output.to_owned(), undo));
        }
    }

    /// Runs a write the run depends on, after the records the run keeps
    /// unsaved ([`Ctx::save_unsaved`]), retrying storage errors in-process.
    /// A lost lease, or a store that stays down, ends the run (this never
    /// returns then); any other refusal is returned.
    pub(crate) async fn persist<'s, T>(
        &self,
        step: &str,
        write: impl FnMut() -> crate::BoxFuture<'s, Result<T, Error>>,
    ) -> Result<T, Error> {
        self.save_unsaved().await;
        self.persist_now(step, write).await
    }

    /// [`Ctx::persist`] without writing the unsaved records first.
    async fn persist_now<'s, T>(
        &self,
        step: &str,
        mut write: impl FnMut() -> crate::BoxFuture<'s, Result<T, Error>>,
    ) -> Result<T, Error> {
        // The branch that waits for this write goes on after it, so the run
        // does not suspend while the write is in flight: a sibling branch's
        // suspension waits for it instead of leaving this branch behind.
        // Waiting for the store is not work: the slot may go to another run.
        let written = self
            .wait_in_memory(async {
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    match write().await {
                        Ok(value) => return Ok(value),
                        Err(Error::Database(error)) if attempt < WRITE_ATTEMPTS => {
                            tracing::warn!(run_id = %self.run_id(), step, %error, attempt, "retrying a write");
                            tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
                        }
                        Err(error) => return Err(error),
                    }
                }
            })
            .await;
        match written {
            Err(error @ (Error::LeaseLost { .. } | Error::Database(_))) => self.stop(error).await,
            written => written,
        }
    }

    async fn encode<T: Serialize>(&self, name: &str, value: &T) -> String {
        let limit = self.run.shared.config.limits.max_step_output_bytes;
        match serde_json::to_string(value) {
            Ok(text) if text.len() <= limit => text,
            Ok(text) => {
                self.stop(Error::PayloadTooLarge {
                    what: format!("output of step {name:?}"),
                    size: text.len(),
                    limit,
                    limit_name: "max_step_output_bytes",
                })
                .await
            }
            Err(error) => {
                self.stop(Error::Serialization {
                    what: format!("output of step {name:?}"),
                    message: error.to_string(),
                })
                .await
            }
        }
    }

    async fn decode<T: DeserializeOwned>(&self, name: &str, text: Option<&str>) -> T {
        match serde_json::from_str(text.unwrap_or("null")) {
            Ok(value) => value,
            Err(error) => {
                self.stop(Error::Serialization {
                    what: format!(
                        "recorded output of step {name:?} (does its type still match the journal?)"
                    ),
                    message: error.to_string(),
                })
                .await
            }
        }
    }
}

/// A compensation: undoes a completed step, given its recorded output.
pub(crate) type Undo =
    Arc<dyn Fn(String) -> crate::BoxFuture<'static, Result<(), StepError>> + Send + Sync>;

/// A step without a compensation (the default of [`StepBuilder`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCompensation;

/// A step with a compensation for an output of type `T`: its `run` body must
/// return a `T`. Set with [`StepBuilder::compensate`].
pub struct Compensated<T> {
    undo: Undo,
    output: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Compensated<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Compensated")
    }
}

/// A step being configured: see [`Ctx::step`].
#[must_use = "a step does nothing until `.run(..)` is awaited"]
pub struct StepBuilder<'a, C = NoCompensation> {
    ctx: &'a Ctx,
    name: StepName,
    retry: Retry,
    timeout: Result<Option<Duration>, Error>,
    input: Option<Result<String, Error>>,
    compensation: C,
}

impl<C> std::fmt::Debug for StepBuilder<'_, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepBuilder")
            .field("name", &self.name)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl<C> StepBuilder<'_, C> {
    /// Sets the retry policy (default: [`Retry::default`]).
    pub fn retry(mut self, policy: Retry) -> Self {
        self.retry = policy;
        self
    }

    /// Fails an attempt that runs longer than `timeout` (the attempt then
    /// counts as failed and may be retried). A zero timeout fails every
    /// attempt that does not finish the first time it is polled, without
    /// waiting; `Duration::MAX` is no limit in practice.
    pub fn timeout(mut self, timeout: impl IntoDuration) -> Self {
        self.timeout = timeout.into_duration().map(Some);
        self
    }

    /// Records `input` with the step (`wf_step.input`), for inspection.
    pub fn input<I: Serialize>(mut self, input: &I) -> Self {
        self.input = Some(
            serde_json::to_string(input).map_err(|error| Error::Serialization {
                what: format!("input of step {:?}", self.name.as_str()),
                message: error.to_string(),
            }),
        );
        self
    }
}

impl<'a> StepBuilder<'a, NoCompensation> {
    /// Registers how to undo this step (a saga): if the run fails later,
    /// the compensations of its completed steps run in reverse order, each
    /// as a durable step named `compensate/<step>`, with the step's output.
    /// They run at least once and are retried with the default policy.
    ///
    /// ```no_run
    /// # use durable::prelude::*;
    /// # #[derive(Serialize, Deserialize, Clone)] struct Charge { id: String }
    /// # async fn refund(_: &Charge) -> Result<(), std::io::Error> { Ok(()) }
    /// # async fn f(ctx: Ctx) -> Result<(), Error> {
    /// let charge: Charge = ctx
    ///     .step("charge")
    ///     .compensate(|charge: Charge| async move { refund(&charge).await })
    ///     .run(async || Ok::<_, StepError>(Charge { id: "ch_1".into() }))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn compensate<T, E, F, Fut>(self, undo: F) -> StepBuilder<'a, Compensated<T>>
    where
        T: DeserializeOwned + Send + 'static,
        E: Into<StepError>,
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
    {
        let undo: Undo = Arc::new(move |output: String| {
            let decoded: Result<T, _> = serde_json::from_str(&output);
            let future = decoded.map(&undo);
            Box::pin(async move {
                match future {
                    Ok(future) => future.await.map_err(Into::into),
                    Err(error) => Err(StepError::permanent(format!(
                        "the recorded output does not fit the compensation: {error}"
                    ))),
                }
            })
        });
        StepBuilder {
            ctx: self.ctx,
            name: self.name,
            retry: self.retry,
            timeout: self.timeout,
            input: self.input,
            compensation: Compensated {
                undo,
                output: PhantomData,
            },
        }
    }

    /// Runs `body` as a durable step and returns its output.
    ///
    /// If the journal already holds the step's output, `body` is not called
    /// and the recorded output is returned. Otherwise `body` runs, and its
    /// output is committed with the run's next write: before the next step
    /// body runs or any other write of the run, or with the run's suspension
    /// or finish (so a run's last step costs no write of its own). The body
    /// runs **at least once**: a crash after it did its work and before the
    /// commit runs it again on resume; once the commit happened it never
    /// runs again.
    ///
    /// A body error converts into [`StepError`]: retryable errors are retried
    /// by the policy, permanent ones fail the step at once.
    ///
    /// # Errors
    ///
    /// [`Error::StepFailed`] once the step gave up (the failure is recorded
    /// and replayed too); [`Error::InvalidDuration`] for a bad timeout or
    /// retry duration; [`Error::Serialization`] for an input that cannot be
    /// recorded.
    pub async fn run<T, E, F, Fut>(self, mut body: F) -> Result<T, Error>
    where
        T: Serialize + DeserializeOwned + Send,
        E: Into<StepError>,
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T, E>> + Send,
    {
        self.run_with_attempt(move |_| body()).await
    }

    /// Like [`run`](StepBuilder::run), handing the body the attempt number
    /// (1 for the first attempt).
    ///
    /// # Errors
    ///
    /// As for [`run`](StepBuilder::run).
    pub async fn run_with_attempt<T, E, F, Fut>(self, body: F) -> Result<T, Error>
    where
        T: Serialize + DeserializeOwned + Send,
        E: Into<StepError>,
        F: FnMut(u32) -> Fut + Send,
        Fut: Future<Output = Result<T, E>> + Send,
    {
        self.execute(body, None).await
    }
}

impl<T: Serialize + DeserializeOwned + Send> StepBuilder<'_, Compensated<T>> {
    /// Runs `body` as a durable step with its compensation; see
    /// [`StepBuilder::run`] and [`StepBuilder::compensate`].
    ///
    /// # Errors
    ///
    /// As for [`StepBuilder::run`].
    pub async fn run<E, F, Fut>(self, mut body: F) -> Result<T, Error>
    where
        E: Into<StepError>,
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T, E>> + Send,
    {
        self.run_with_attempt(move |_| body()).await
    }

    /// Like [`run`](Self::run), handing the body the attempt number.
    ///
    /// # Errors
    ///
    /// As for [`StepBuilder::run`].
    pub async fn run_with_attempt<E, F, Fut>(self, body: F) -> Result<T, Error>
    where
        E: Into<StepError>,
        F: FnMut(u32) -> Fut + Send,
        Fut: Future<Output = Result<T, E>> + Send,
    {
        let undo = self.compensation.undo.clone();
        self.execute(body, Some(undo)).await
    }
}

impl<C> StepBuilder<'_, C> {
    /// Runs the step: replays it from the journal or executes its attempts,
    /// and registers its compensation once it is completed.
    async fn execute<T, E, F, Fut>(self, mut body: F, undo: Option<Undo>) -> Result<T, Error>
    where
        T: Serialize + DeserializeOwned + Send,
        E: Into<StepError>,
        F: FnMut(u32) -> Fut + Send,
        Fut: Future<Output = Result<T, E>> + Send,
    {
        let StepBuilder {
            ctx,
            name,
            retry,
            timeout,
            input,
            ..
        } = self;
        retry.validate()?;
        let timeout = timeout?;
        let input = input.transpose()?;
        let name = name.as_str();
        let (seq, mut attempt, mut resume_at) = match ctx.reach(name, StepKind::Run).await {
            StepStart::Recorded(record) => match record.status {
                StepStatus::Completed => {
                    let output = record.output.unwrap_or_else(|| "null".into());
                    ctx.register_compensation(name, &output, undo);
                    return Ok(ctx.decode(name, Some(&output)).await);
                }
                StepStatus::Failed => {
                    return Err(Error::StepFailed {
                        step: name.to_owned(),
                        attempts: record.attempts,
                        message: record.error.unwrap_or_default(),
                    });
                }
                StepStatus::Running if record.attempts >= retry.max_attempts() => {
                    // Every attempt allowed was started and none finished: the
                    // worker died inside the body each time. Give up rather
                    // than crash-loop.
                    let message = format!(
                        "attempt {} did not finish (its worker stopped) and no attempt is left",
                        record.attempts
                    );
                    ctx.save(StepRecord {
                        attempts: record.attempts,
                        error: Some(message.clone()),
                        ..ctx.record(name, record.seq, StepKind::Run, StepStatus::Failed)
                    })
                    .await;
                    return Err(Error::StepFailed {
                        step: name.to_owned(),
                        attempts: record.attempts,
                        message,
                    });
                }
                _ => (record.seq, record.attempts, record.wake_at),
            },
            StepStart::New { seq } => (seq, 0, None),
        };
        let clock = ctx.run.shared.clock.clone();
        loop {
            if let Some(at) = resume_at.take() {
                ctx.wait_until(at).await;
            }
            attempt += 1;
            // The body runs only once the results before it are committed.
            ctx.save_unsaved().await;
            let busy = Busy::working(&ctx.run).await;
            let attempt_future = body(attempt);
            let timed_out = async {
                match timeout {
                    Some(limit) => {
                        clock
                            .sleep_until(clock.now_ms().saturating_add(millis(limit)))
                            .await
                    }
                    None => std::future::pending().await,
                }
            };
            let running_marker = async {
                // A body that finishes within RUNNING_MARKER_AFTER costs no
                // write; a longer one is marked `running` with its attempt
                // number, for inspection and for counting attempts that
                // crashed the worker.
                tokio::time::sleep(RUNNING_MARKER_AFTER).await;
                ctx.run.shared.store.save_step_detached(
                    ctx.run.lease,
                    StepRecord {
                        attempts: attempt,
                        input: input.clone(),
                        ..ctx.record(name, seq, StepKind::Run, StepStatus::Running)
                    },
                );
                std::future::pending::<()>().await;
            };
            let outcome: Result<T, StepError> = tokio::select! {
                // The body first: an attempt that is done when its timeout
                // is due too counts as done, and a zero timeout fails only
                // the attempts that do not finish at once (not a random half).
                biased;
                outcome = catch_unwind_future(attempt_future) => match outcome {
                    Ok(outcome) => outcome.map_err(Into::into),
                    // A panicking body fails its attempt like an error would.
                    Err(panic) => Err(StepError::retryable(format!("the step body {panic}"))),
                },
                () = timed_out => Err(StepError::retryable(format!(
                    "attempt {attempt} timed out after {} ms",
                    timeout.unwrap_or_default().as_millis()
                ))),
                () = running_marker => unreachable!("the marker future never completes"),
            };
            drop(busy);
            let base = StepRecord {
                attempts: attempt,
                input: input.clone(),
                ..ctx.record(name, seq, StepKind::Run, StepStatus::Completed)
            };
            match outcome {
                Ok(value) => {
                    let output = ctx.encode(name, &value).await;
                    ctx.save_later(StepRecord {
                        output: Some(output.clone()),
                        ..base
                    });
                    ctx.register_compensation(name, &output, undo);
                    return Ok(value);
                }
                Err(error) if !error.is_permanent() && attempt < retry.max_attempts() => {
                    let wake_at = clock
                        .now_ms()
                        .saturating_add(millis(retry.jittered_delay_after(attempt)));
                    ctx.save(StepRecord {
                        status: StepStatus::Pending,
                        error: Some(error.message().to_owned()),
                        wake_at: Some(wake_at),
                        ..base
                    })
                    .await;
                    resume_at = Some(wake_at);
                }
                Err(error) => {
                    ctx.save(StepRecord {
                        status: StepStatus::Failed,
                        error: Some(error.message().to_owned()),
                        ..base
                    })
                    .await;
                    return Err(Error::StepFailed {
                        step: name.to_owned(),
                        attempts: attempt,
                        message: error.message().to_owned(),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RunState;

    fn suspended(timer_at: Option<i64>, timeout_at: Option<i64>) -> RunState {
        RunState {
            suspended: true,
            timer_at,
            timeout_at,
            ..RunState::default()
        }
    }

    #[test]
    fn a_timer_may_be_claimed_early_and_a_timeout_or_deadline_may_not() {
        let early = 99;
        assert_eq!(
            suspended(Some(1_000), None).ready_at(None, early),
            Some(901)
        );
        assert_eq!(
            suspended(None, Some(1_000)).ready_at(None, early),
            Some(1_000)
        );
        assert_eq!(
            suspended(None, None).ready_at(Some(1_000), early),
            Some(1_000)
        );
        // The earliest of them decides.
        assert_eq!(
            suspended(Some(1_050), Some(1_000)).ready_at(None, early),
            Some(951)
        );
        assert_eq!(
            suspended(Some(5_000), Some(2_000)).ready_at(Some(3_000), early),
            Some(2_000)
        );
        // Only an event or a child wakes it.
        assert_eq!(suspended(None, None).ready_at(None, early), None);
    }

    proptest::proptest! {
        /// A suspended run is never claimed after any of its wake-ups is
        /// due, nor before its timer less the early claim, its first
        /// timeout or its deadline: the claim time is one of them.
        #[test]
        fn the_claim_time_is_the_earliest_wake_up(
            timer in proptest::option::of(proptest::prelude::any::<i64>()),
            timeout in proptest::option::of(proptest::prelude::any::<i64>()),
            deadline in proptest::option::of(proptest::prelude::any::<i64>()),
            early in 0i64..10_000,
        ) {
            let ready = suspended(timer, timeout).ready_at(deadline, early);
            let early_timer = timer.map(|at| at.saturating_sub(early));
            let wake_ups: Vec<i64> = [early_timer, timeout, deadline].into_iter().flatten().collect();
            proptest::prop_assert_eq!(ready, wake_ups.iter().copied().min());
        }
    }
}
