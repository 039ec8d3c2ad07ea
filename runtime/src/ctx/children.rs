//! Child workflows: `invoke` (start and wait), `start_child` (fire and
//! forget) and `wait_for_run` (wait for any run by id).
//!
//! A child is created in the same transaction that records the step starting
//! it, so a replay re-attaches to the same child and never starts a second
//! one, with the options the step recorded. Its deadline is the earliest
//! of its own timeout, the step's `.timeout(..)` and the parent's
//! remaining deadline; `.queue(..)` sends it to another queue than its
//! workflow's. Cancelling a parent, or its timing out, cancels its unfinished
//! children; a child that does not complete fails the parent's waiting step
//! with [`Error::ChildFailed`].
//!
//! **Deadlines that come due together.** An inherited deadline passes with
//! the parent's, and the engine may meet either first (the child's claim,
//! the parent's, the maintenance pass). So that the outcome does not depend
//! on that order, a run whose deadline passed while its parent is
//! unfinished and past its own deadline too ends `cancelled`, as its
//! parent's timeout would cancel it: the store records it so
//! ([`FinishEffects::recorded`](crate::store::FinishEffects::recorded)).

use std::future::IntoFuture;
use std::marker::PhantomData;
use std::time::Duration;

use durable_grammar::queue::check_queue_name;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::workflow::Workflow;
use super::{Ctx, StepName};
use crate::core::cancel_on::cancel_keys;
use crate::core::concurrency::key_of;
use crate::core::replay::StepStart;
use crate::model::duration::{IntoDuration, millis};
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::journal::{StepRecord, Wait};
use crate::model::status::{RunStatus, StepStatus};
use crate::model::sync::BoxFuture;
use crate::model::workflow::StepKind;
use crate::store::{NewRun, Queue};

/// The options of a child step, as its builder collects them: a name or
/// a duration that does not parse is the step's error when it is awaited.
struct ChildOptions {
    /// `.queue(..)`: the queue the child waits in instead of its
    /// workflow's.
    queue: Result<Option<String>, Error>,
    /// `.timeout(..)`: how long the child may take from its start.
    timeout: Result<Option<Duration>, Error>,
}

/// What a replay reads back of a child step: the child's id, and the
/// options its start recorded (`wf_step.input`: the id as a JSON string
/// for a child started without options, as before there were any; else
/// an object).
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
struct ChildRecord {
    /// The child run.
    run: String,
    /// The queue it was sent to, if not its workflow's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    queue: Option<String>,
    /// The step's `.timeout(..)`, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timeout_ms: Option<i64>,
    /// Whether that timeout set the child's deadline (it was the earliest
    /// of the three), so that the child's timing out is the step's timeout.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    deadline_by_timeout: bool,
}

/// A child step being configured: `ctx.invoke(..)` ([`Invoke`]) or
/// `ctx.start_child(..)` ([`StartChild`]); await it to run the step.
///
/// ```no_run
/// # use durable::prelude::*;
/// # #[workflow(queue = "gpu")] async fn render(ctx: Ctx, frame: u32) -> Result<u32, Error> { Ok(frame) }
/// # async fn f(ctx: Ctx) -> Result<(), Error> {
/// let frame: u32 = ctx
///     .invoke("render", Render, 7)
///     .queue("gpu-large")
///     .timeout("1h")
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "a child step does nothing until it is awaited"]
pub struct Child<'c, W: Workflow, K> {
    ctx: &'c Ctx,
    name: StepName,
    input: W::Input,
    options: ChildOptions,
    kind: PhantomData<fn() -> K>,
}

/// The kind of child step that waits for the child: [`Invoke`].
#[derive(Debug)]
pub enum Invoked {}

/// The kind of child step that does not wait: [`StartChild`].
#[derive(Debug)]
pub enum Started {}

/// `ctx.invoke(name, W, input)`: awaited, it starts the child and returns
/// its output.
pub type Invoke<'c, W> = Child<'c, W, Invoked>;

/// `ctx.start_child(name, W, input)`: awaited, it starts the child and
/// returns its run id.
pub type StartChild<'c, W> = Child<'c, W, Started>;

impl<W: Workflow, K> std::fmt::Debug for Child<'_, W, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Child")
            .field("name", &self.name)
            .field("workflow", &W::NAME)
            .finish_non_exhaustive()
    }
}

impl<'c, W: Workflow, K> Child<'c, W, K> {
    fn new(ctx: &'c Ctx, name: impl Into<StepName>, input: W::Input) -> Self {
        Child {
            name: ctx.full_name(name),
            ctx,
            input,
            options: ChildOptions {
                queue: Ok(None),
                timeout: Ok(None),
            },
            kind: PhantomData,
        }
    }

    /// Sends the child to the queue `queue` instead of its workflow's
    /// (`#[workflow(queue = "..")]`, default `"default"`): only an engine
    /// serving `queue` ([`EngineBuilder::queues`](crate::EngineBuilder::queues))
    /// runs it, so work that needs a particular machine runs there. A
    /// name outside the grammar (1 to 100 letters, digits, `-`, `_`, `.`)
    /// is the step's [`Error::InvalidQueue`]; a literal is checked at
    /// compile time.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        let queue = queue.into();
        self.options.queue = check_queue_name(&queue)
            .map(|()| Some(queue))
            .map_err(Error::from);
        self
    }

    /// Gives the child at most `timeout` from its start: its deadline is
    /// the earliest of its workflow's own timeout, this one and the
    /// parent's remaining time. When this one passes first the child ends
    /// `timed_out` and an [`Invoke`] fails with [`Error::ChildFailed`]
    /// saying so. A duration outside the grammar is the step's
    /// [`Error::InvalidDuration`]; a literal is checked at compile time.
    pub fn timeout(mut self, timeout: impl IntoDuration) -> Self {
        self.options.timeout = timeout.into_duration().map(Some);
        self
    }
}

impl<'c, W: Workflow> IntoFuture for Invoke<'c, W> {
    type Output = Result<W::Output, Error>;
    type IntoFuture = BoxFuture<'c, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let Child {
                ctx,
                name,
                input,
                options,
                ..
            } = self;
            ctx.invoke_child::<W>(name.as_str(), input, options).await
        })
    }
}

impl<'c, W: Workflow> IntoFuture for StartChild<'c, W> {
    type Output = Result<RunId, Error>;
    type IntoFuture = BoxFuture<'c, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let Child {
                ctx,
                name,
                input,
                options,
                ..
            } = self;
            ctx.start_child_run::<W>(name.as_str(), input, options)
                .await
        })
    }
}

impl Ctx {
    /// Starts the child workflow `W` with `input` as the step `name`, waits
    /// for it (suspended, holding no task), and returns its output. Await
    /// it as it is, or after its options: `.queue("gpu")` (default: the
    /// child workflow's queue) and `.timeout("1h")` (default: none but the
    /// child's own and the parent's remaining time); see [`Child`].
    ///
    /// ```no_run
    /// # use durable::prelude::*;
    /// # #[workflow] async fn ship(ctx: Ctx, order: String) -> Result<String, Error> { Ok(order) }
    /// # async fn f(ctx: Ctx) -> Result<(), Error> {
    /// let tracking: String = ctx.invoke("ship", Ship, "o-1".to_string()).await?;
    /// let again: String = ctx
    ///     .invoke("ship-again", Ship, "o-2".to_string())
    ///     .timeout("10m")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::ChildFailed`] when the child fails, is cancelled or times
    /// out (its message names the step's timeout when that passed);
    /// [`Error::UnknownWorkflow`] when `W` is not registered on the
    /// engine; [`Error::Serialization`] for an input or output that does not
    /// serialize; [`Error::InvalidQueue`] and [`Error::InvalidDuration`]
    /// for options that do not parse.
    pub fn invoke<W: Workflow>(
        &self,
        name: impl Into<StepName>,
        _workflow: W,
        input: W::Input,
    ) -> Invoke<'_, W> {
        Child::new(self, name, input)
    }

    /// Starts the child workflow `W` as the step `name` without waiting for
    /// it, and returns its run id. The child is still cancelled with its
    /// parent; wait for it later with [`wait_for_run`](Ctx::wait_for_run).
    /// Takes the options [`invoke`](Ctx::invoke) takes; see [`Child`].
    ///
    /// ```no_run
    /// # use durable::prelude::*;
    /// # #[workflow] async fn ship(ctx: Ctx, order: String) -> Result<String, Error> { Ok(order) }
    /// # async fn f(ctx: Ctx) -> Result<(), Error> {
    /// let child = ctx.start_child("ship", Ship, "o-1".to_string()).queue("eu").await?;
    /// let tracking: String = ctx.wait_for_run("shipped", child).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`invoke`](Ctx::invoke), except [`Error::ChildFailed`].
    pub fn start_child<W: Workflow>(
        &self,
        name: impl Into<StepName>,
        _workflow: W,
        input: W::Input,
    ) -> StartChild<'_, W> {
        Child::new(self, name, input)
    }

    /// The body of an awaited [`Invoke`].
    async fn invoke_child<W: Workflow>(
        &self,
        name: &str,
        input: W::Input,
        options: ChildOptions,
    ) -> Result<W::Output, Error> {
        let output = match self.reach(name, StepKind::Invoke).await {
            StepStart::Recorded(record) if record.status.is_finished() => record,
            StepStart::Recorded(record) => {
                let output = self.await_wait(name, None).await;
                StepRecord {
                    output: Some(output),
                    ..record
                }
            }
            StepStart::New { seq } => {
                let (child, record) =
                    self.child_run::<W>(name, seq, StepKind::Invoke, input, options)?;
                let store = &self.run.env.store;
                let lease = self.run.lease;
                self.persist(name, || {
                    store.start_child(lease, record.clone(), child.clone(), true)
                })
                .await?;
                self.run.env.dispatch.notify_one();
                let output = self.await_wait(name, None).await;
                StepRecord {
                    output: Some(output),
                    ..record
                }
            }
        };
        let child = recorded_child(name, output.input.as_deref())?;
        decode_run_outcome(name, &child, output.output.as_deref())
    }

    /// The body of an awaited [`StartChild`].
    async fn start_child_run<W: Workflow>(
        &self,
        name: &str,
        input: W::Input,
        options: ChildOptions,
    ) -> Result<RunId, Error> {
        match self.reach(name, StepKind::StartChild).await {
            StepStart::Recorded(record) if record.status == StepStatus::Completed => {
                Ok(recorded_child(name, record.input.as_deref())?.id)
            }
            StepStart::Recorded(StepRecord { seq, .. }) | StepStart::New { seq } => {
                let (child, record) =
                    self.child_run::<W>(name, seq, StepKind::StartChild, input, options)?;
                let record = StepRecord {
                    status: StepStatus::Completed,
                    ..record
                };
                let store = &self.run.env.store;
                let lease = self.run.lease;
                self.persist(name, || {
                    store.start_child(lease, record.clone(), child.clone(), false)
                })
                .await?;
                self.run.env.dispatch.notify_one();
                Ok(child.id)
            }
        }
    }

    /// Waits, as the step `name`, for the run `run_id` to end, and returns
    /// its output (typed as `O`).
    ///
    /// # Errors
    ///
    /// [`Error::RunNotFound`]; [`Error::ChildFailed`] when the run does not
    /// complete; [`Error::Serialization`] when its output does not fit `O`.
    pub async fn wait_for_run<O: DeserializeOwned>(
        &self,
        name: impl Into<StepName>,
        run_id: RunId,
    ) -> Result<O, Error> {
        let name = self.full_name(name);
        let name = name.as_str();
        let output = match self.reach(name, StepKind::WaitForRun).await {
            StepStart::Recorded(record) if record.status.is_finished() => record.output,
            StepStart::Recorded(_) => Some(self.await_wait(name, None).await),
            StepStart::New { seq } => {
                let record = StepRecord {
                    input: Some(format!("\"{run_id}\"")),
                    ..self.record(name, seq, StepKind::WaitForRun, StepStatus::Waiting)
                };
                let store = &self.run.env.store;
                let lease = self.run.lease;
                let wait = Wait::Run { run_id };
                match self
                    .persist(name, || {
                        store.register_wait(lease, record.clone(), wait.clone())
                    })
                    .await?
                {
                    Some(output) => Some(output),
                    None => Some(self.await_wait(name, None).await),
                }
            }
        };
        let awaited = RecordedChild {
            id: run_id,
            timeout_ms: None,
        };
        decode_run_outcome(name, &awaited, output.as_deref())
    }

    /// The child run to create for `W`, and the step record that starts it
    /// (its input is the child's id, so replays find the same child).
    fn child_run<W: Workflow>(
        &self,
        name: &str,
        seq: i64,
        kind: StepKind,
        input: W::Input,
        options: ChildOptions,
    ) -> Result<(NewRun, StepRecord), Error> {
        let (queue, timeout) = (options.queue?, options.timeout?);
        let env = &self.run.env;
        let registered = env
            .workflows
            .get(&std::any::TypeId::of::<W>())
            .ok_or_else(|| {
                Error::unknown_workflow(W::NAME, env.workflows.values().map(|spec| spec.name))
            })?;
        let input = serde_json::to_string(&input).map_err(|error| Error::Serialization {
            what: format!("input of child workflow {:?}", W::NAME),
            message: error.to_string(),
        })?;
        env.limits
            .check_input(&input, || format!("input of child workflow {:?}", W::NAME))?;
        let now = env.clock.now_ms();
        let own_deadline = registered
            .timeout_ms
            .map(|ms| now.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX)));
        let timeout_ms = timeout.map(millis);
        let step_deadline = timeout_ms.map(|ms| now.saturating_add(ms));
        let deadline_at = child_deadline(own_deadline, step_deadline, self.run.state().deadline_at);
        let run_queue = Queue {
            name: queue.clone().unwrap_or_else(|| registered.queue.to_owned()),
            priority: 0,
            concurrency_key: key_of(registered.concurrency.as_ref(), &input),
        };
        let child = NewRun {
            id: RunId::new(),
            cancel_on: cancel_keys(registered.cancel_on, &input),
            workflow: W::NAME.to_owned(),
            input,
            idempotency_key: None,
            now,
            ready_at: now,
            deadline_at,
            version: Some(registered.version.to_string()),
            queue: run_queue,
            parent_id: Some(self.run_id()),
            claimed_by: None,
            flow: None,
        };
        let recorded = ChildRecord {
            run: child.id.to_string(),
            deadline_by_timeout: step_deadline.is_some() && step_deadline == deadline_at,
            queue,
            timeout_ms,
        };
        let record = StepRecord {
            input: Some(recorded.to_json()),
            ..self.record(name, seq, kind, StepStatus::Waiting)
        };
        Ok((child, record))
    }
}

/// The earliest of a child's own deadline, its step's `.timeout` and its
/// parent's deadline; `None` when none of them is set.
fn child_deadline(own: Option<i64>, step: Option<i64>, parent: Option<i64>) -> Option<i64> {
    [own, step, parent].into_iter().flatten().min()
}

impl ChildRecord {
    /// The step's input: the child's id alone (a JSON string) when no
    /// option was given, so a plain child step records what it always did.
    fn to_json(&self) -> String {
        if self.queue.is_none() && self.timeout_ms.is_none() {
            return serde_json::Value::from(self.run.as_str()).to_string();
        }
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What a waiting step reads back of the run it waited for.
struct RecordedChild {
    id: RunId,
    /// The step's `.timeout` in ms, when it set the child's deadline.
    timeout_ms: Option<i64>,
}

/// The child a step recorded as its input (see [`ChildRecord`]).
fn recorded_child(step: &str, input: Option<&str>) -> Result<RecordedChild, Error> {
    let recorded = input.and_then(|text| {
        serde_json::from_str::<String>(text)
            .map(|run| ChildRecord {
                run,
                ..ChildRecord::default()
            })
            .or_else(|_| serde_json::from_str::<ChildRecord>(text))
            .ok()
    });
    recorded
        .and_then(|recorded| {
            Some(RecordedChild {
                id: recorded.run.parse().ok()?,
                timeout_ms: recorded.timeout_ms.filter(|_| recorded.deadline_by_timeout),
            })
        })
        .ok_or_else(|| Error::Serialization {
            what: format!("recorded child run id of step {step:?}"),
            message: "not a run id".into(),
        })
}

/// Reads how a run ended, as recorded for the step that waited for it.
fn decode_run_outcome<O: DeserializeOwned>(
    step: &str,
    child: &RecordedChild,
    output: Option<&str>,
) -> Result<O, Error> {
    let run_id = child.id;
    let serialization = |message: String| Error::Serialization {
        what: format!("output of run {run_id} for step {step:?}"),
        message,
    };
    let mut outcome: serde_json::Value =
        serde_json::from_str(output.unwrap_or("null")).map_err(|e| serialization(e.to_string()))?;
    let status = outcome
        .get("status")
        .and_then(serde_json::Value::as_str)
        .and_then(RunStatus::parse)
        .ok_or_else(|| serialization(format!("no run status in {outcome}")))?;
    if status != RunStatus::Completed {
        let message = match child.timeout_ms {
            Some(ms) if status == RunStatus::TimedOut => Some(format!(
                "the step's `.timeout` of {ms} ms passed before the child ended"
            )),
            _ => outcome
                .get("error")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
        };
        return Err(Error::ChildFailed {
            step: step.to_owned(),
            run_id,
            status,
            message,
        });
    }
    let output = outcome
        .get_mut("output")
        .map(serde_json::Value::take)
        .unwrap_or_default();
    serde_json::from_value(output).map_err(|e| serialization(e.to_string()))
}
