//! Steps that run user code: the [`StepBuilder`] that [`Ctx::step`] returns,
//! which configures retries, a timeout, a recorded input and a compensation,
//! and runs the step's attempts.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use super::{Busy, Ctx, StepName};
use crate::core::replay::StepStart;
use crate::core::retry::Retry;
use crate::exec::run_state::Undo;
use crate::exec::trace;
use crate::exec::unwind::catch_unwind_future;
use crate::model::duration::{IntoDuration, millis};
use crate::model::error::{Error, StepError};
use crate::model::info::AttemptInfo;
use crate::model::journal::StepRecord;
use crate::model::status::StepStatus;
use crate::model::workflow::StepKind;

/// How long a step body runs before its `running` record is written.
const RUNNING_MARKER_AFTER: Duration = Duration::from_millis(50);

/// The attempt log's entry for the attempt a `running` record names, whose
/// body never ended: its worker stopped (or lost the run) inside it. The
/// store heard of it last at the running marker, written
/// [`RUNNING_MARKER_AFTER`] into the attempt, so that is its end; its start
/// is the step's for a first attempt, else that long before the marker.
fn interrupted_attempt(record: &StepRecord) -> Box<AttemptInfo> {
    let marker_delay = i64::try_from(RUNNING_MARKER_AFTER.as_millis()).unwrap_or(i64::MAX);
    let started_at = match record.started_at {
        Some(started_at) if record.attempts <= 1 => started_at,
        _ => record.updated_at.saturating_sub(marker_delay),
    };
    Box::new(AttemptInfo {
        attempt: record.attempts,
        started_at,
        ended_at: record.updated_at,
        error: Some(format!(
            "attempt {} did not finish: its worker stopped or lost the run inside the step body",
            record.attempts
        )),
    })
}

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

impl<'a> StepBuilder<'a, NoCompensation> {
    /// A step of `ctx` named `name` (in full), with the defaults.
    pub(super) fn new(ctx: &'a Ctx, name: StepName) -> Self {
        StepBuilder {
            ctx,
            name,
            retry: Retry::default(),
            timeout: Ok(None),
            input: None,
            compensation: NoCompensation,
        }
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

    /// Runs `body`, which returns its output itself rather than a
    /// `Result`, as a durable step: the form for a body that cannot fail,
    /// so that it needs no error type (`Ok::<_, StepError>(..)`). Recorded
    /// and replayed as [`run`](StepBuilder::run) records it; only a
    /// [`timeout`](StepBuilder::timeout) fails an attempt, and the retry
    /// policy applies to that.
    ///
    /// ```no_run
    /// # use durable::prelude::*;
    /// # async fn f(ctx: Ctx) -> Result<(), durable::Error> {
    /// let reference: String = ctx
    ///     .step("reference")
    ///     .timeout("5s")
    ///     .compute(async || format!("order-{}", 42))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`run`](StepBuilder::run).
    pub async fn compute<T, F, Fut>(self, mut body: F) -> Result<T, Error>
    where
        T: Serialize + DeserializeOwned + Send,
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = T> + Send,
    {
        self.run(move || infallible(body())).await
    }
}

/// A body's plain output as the `Result` that [`StepBuilder::run`] takes.
async fn infallible<T>(output: impl Future<Output = T>) -> Result<T, std::convert::Infallible> {
    Ok(output.await)
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

    /// Runs `body`, which returns its output itself, as a durable step with
    /// its compensation; see [`StepBuilder::compute`].
    ///
    /// # Errors
    ///
    /// As for [`StepBuilder::run`].
    pub async fn compute<F, Fut>(self, mut body: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = T> + Send,
    {
        self.run(move || infallible(body())).await
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
                        finished_attempt: Some(interrupted_attempt(&record)),
                        ..ctx.record(name, record.seq, StepKind::Run, StepStatus::Failed)
                    })
                    .await;
                    return Err(Error::StepFailed {
                        step: name.to_owned(),
                        attempts: record.attempts,
                        message,
                    });
                }
                StepStatus::Running => {
                    // An attempt that started and never ended: its end goes
                    // to the attempt log, written before the next attempt's
                    // body runs (with the results before it).
                    ctx.save_later(StepRecord {
                        attempts: record.attempts,
                        finished_attempt: Some(interrupted_attempt(&record)),
                        ..ctx.record(name, record.seq, StepKind::Run, StepStatus::Running)
                    });
                    (record.seq, record.attempts, record.wake_at)
                }
                _ => (record.seq, record.attempts, record.wake_at),
            },
            StepStart::New { seq } => (seq, 0, None),
        };
        let clock = ctx.run.env.clock.clone();
        loop {
            if let Some(at) = resume_at.take() {
                ctx.wait_until(at).await;
            }
            // No attempt starts while the run is paused.
            ctx.pause_point().await;
            attempt += 1;
            // The body runs only once the results before it are committed.
            ctx.save_unsaved().await;
            // The store keeps the first start it is given, so a step's
            // start is its first attempt's, whichever record lands first.
            let attempt_started = clock.now_ms();
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
                ctx.run.env.store.save_step_detached(
                    ctx.run.lease,
                    StepRecord {
                        attempts: attempt,
                        input: input.clone(),
                        started_at: Some(attempt_started),
                        ..ctx.record(name, seq, StepKind::Run, StepStatus::Running)
                    },
                );
                std::future::pending::<()>().await;
            };
            let span = trace::step_span(name, StepKind::Run.as_str(), attempt);
            let outcome: Result<T, StepError> = async {
                tokio::select! {
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
                }
            }
            .instrument(span.clone())
            .await;
            drop(busy);
            let base = StepRecord {
                attempts: attempt,
                input: input.clone(),
                started_at: Some(attempt_started),
                ..ctx.record(name, seq, StepKind::Run, StepStatus::Completed)
            };
            // This attempt for the step's attempt log, ending when its
            // record is written (the step's end, if it is the last).
            let ended_at = base.updated_at;
            let ended = |error: Option<&str>| {
                Box::new(AttemptInfo {
                    attempt,
                    started_at: attempt_started,
                    ended_at,
                    error: error.map(str::to_owned),
                })
            };
            match outcome {
                Ok(value) => {
                    span.record("outcome", "completed");
                    let output = ctx.encode(name, &value).await;
                    // A step done at its first attempt keeps no log: its
                    // start and end are that attempt's.
                    let finished_attempt = (attempt > 1).then(|| ended(None));
                    ctx.save_later(StepRecord {
                        output: Some(output.clone()),
                        finished_attempt,
                        ..base
                    });
                    ctx.register_compensation(name, &output, undo);
                    return Ok(value);
                }
                Err(error) if !error.is_permanent() && attempt < retry.max_attempts() => {
                    let wake_at = clock
                        .now_ms()
                        .saturating_add(millis(retry.jittered_delay_after(attempt)));
                    span.record("outcome", "retrying");
                    trace::retrying(name, attempt, wake_at, error.message());
                    ctx.save(StepRecord {
                        status: StepStatus::Pending,
                        error: Some(error.message().to_owned()),
                        wake_at: Some(wake_at),
                        finished_attempt: Some(ended(Some(error.message()))),
                        ..base
                    })
                    .await;
                    resume_at = Some(wake_at);
                }
                Err(error) => {
                    span.record("outcome", "failed");
                    ctx.save(StepRecord {
                        status: StepStatus::Failed,
                        error: Some(error.message().to_owned()),
                        finished_attempt: Some(ended(Some(error.message()))),
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
