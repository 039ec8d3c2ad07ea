//! Child workflows: `invoke` (start and wait), `start_child` (fire and
//! forget) and `wait_for_run` (wait for any run by id).
//!
//! A child is created in the same transaction that records the step starting
//! it, so a replay re-attaches to the same child and never starts a second
//! one. It inherits the parent's remaining deadline (or keeps its own, if
//! shorter). Cancelling a parent, or its timing out, cancels its unfinished
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

use serde::de::DeserializeOwned;

use super::workflow::Workflow;
use super::{Ctx, StepName};
use crate::core::cancel_on::cancel_keys;
use crate::core::concurrency::key_of;
use crate::core::replay::StepStart;
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::journal::{StepRecord, Wait};
use crate::model::status::{RunStatus, StepStatus};
use crate::model::workflow::StepKind;
use crate::store::{NewRun, Queue};

impl Ctx {
    /// Starts the child workflow `W` with `input` as the step `name`, waits
    /// for it (suspended, holding no task), and returns its output.
    ///
    /// ```no_run
    /// # use durable::prelude::*;
    /// # #[workflow] async fn ship(ctx: Ctx, order: String) -> Result<String, Error> { Ok(order) }
    /// # async fn f(ctx: Ctx) -> Result<(), Error> {
    /// let tracking: String = ctx.invoke("ship", Ship, "o-1".to_string()).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::ChildFailed`] when the child fails, is cancelled or times
    /// out; [`Error::UnknownWorkflow`] when `W` is not registered on the
    /// engine; [`Error::Serialization`] for an input or output that does not
    /// serialize.
    pub async fn invoke<W: Workflow>(
        &self,
        name: impl Into<StepName>,
        _workflow: W,
        input: W::Input,
    ) -> Result<W::Output, Error> {
        let name = self.full_name(name);
        let name = name.as_str();
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
                let (child, record) = self.child_run::<W>(name, seq, StepKind::Invoke, input)?;
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
        decode_run_outcome(name, child, output.output.as_deref())
    }

    /// Starts the child workflow `W` as the step `name` without waiting for
    /// it, and returns its run id. The child is still cancelled with its
    /// parent; wait for it later with [`wait_for_run`](Ctx::wait_for_run).
    ///
    /// # Errors
    ///
    /// As for [`invoke`](Ctx::invoke), except [`Error::ChildFailed`].
    pub async fn start_child<W: Workflow>(
        &self,
        name: impl Into<StepName>,
        _workflow: W,
        input: W::Input,
    ) -> Result<RunId, Error> {
        let name = self.full_name(name);
        let name = name.as_str();
        match self.reach(name, StepKind::StartChild).await {
            StepStart::Recorded(record) if record.status == StepStatus::Completed => {
                recorded_child(name, record.input.as_deref())
            }
            StepStart::Recorded(StepRecord { seq, .. }) | StepStart::New { seq } => {
                let (child, record) =
                    self.child_run::<W>(name, seq, StepKind::StartChild, input)?;
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
        decode_run_outcome(name, run_id, output.as_deref())
    }

    /// The child run to create for `W`, and the step record that starts it
    /// (its input is the child's id, so replays find the same child).
    fn child_run<W: Workflow>(
        &self,
        name: &str,
        seq: i64,
        kind: StepKind,
        input: W::Input,
    ) -> Result<(NewRun, StepRecord), Error> {
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
        let parent_deadline = self.run.state().deadline_at;
        let deadline_at = match (own_deadline, parent_deadline) {
            (Some(own), Some(parent)) => Some(own.min(parent)),
            (own, parent) => own.or(parent),
        };
        let queue = Queue {
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
            queue,
            parent_id: Some(self.run_id()),
            claimed_by: None,
        };
        let record = StepRecord {
            input: Some(format!("\"{}\"", child.id)),
            ..self.record(name, seq, kind, StepStatus::Waiting)
        };
        Ok((child, record))
    }
}

/// The child id a step recorded as its input.
fn recorded_child(step: &str, input: Option<&str>) -> Result<RunId, Error> {
    input
        .and_then(|text| serde_json::from_str::<String>(text).ok())
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| Error::Serialization {
            what: format!("recorded child run id of step {step:?}"),
            message: "not a run id".into(),
        })
}

/// Reads how a run ended, as recorded for the step that waited for it.
fn decode_run_outcome<O: DeserializeOwned>(
    step: &str,
    run_id: RunId,
    output: Option<&str>,
) -> Result<O, Error> {
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
        return Err(Error::ChildFailed {
            step: step.to_owned(),
            run_id,
            status,
            message: outcome
                .get("error")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
        });
    }
    let output = outcome
        .get_mut("output")
        .map(serde_json::Value::take)
        .unwrap_or_default();
    serde_json::from_value(output).map_err(|e| serialization(e.to_string()))
}
