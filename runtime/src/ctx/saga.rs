//! Sagas: the compensations of completed steps, run in reverse order when
//! the run fails, then the workflow's on-failure hook; and the ways a body
//! ends its run on purpose ([`Ctx::fail`], [`Ctx::abort`]).

use super::{Ctx, StepName};
use crate::exec::run_state::Undo;
use crate::exec::trace;
use crate::model::error::Error;
use crate::model::status::StepStatus;
use crate::model::sync::BoxFuture;
use crate::model::workflow::Failure;

/// A workflow's on-failure hook, with its types erased.
pub(crate) type OnFailure = fn(Ctx, Failure) -> BoxFuture<'static, Result<(), String>>;

impl Ctx {
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
    pub(crate) async fn unwind(&self, error: &str, hook: Option<OnFailure>) {
        let compensations = std::mem::take(&mut self.run.state().compensations);
        for (name, output, undo) in compensations.into_iter().rev() {
            trace::compensating(&name);
            let result = self
                .step(format!("compensate/{name}"))
                .run(|| undo(output.clone()))
                .await;
            if let Err(error) = result {
                tracing::error!(run_id = %self.run_id(), step = %name, %error, "a compensation failed");
            }
        }
        let Some(hook) = hook else { return };
        let store = &self.run.env.store;
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
        let failure = Failure {
            error: error.to_owned(),
            completed_steps,
        };
        if let Err(error) = hook(self.scoped(&StepName::from("on-failure")), failure).await {
            tracing::error!(run_id = %self.run_id(), %error, "the on-failure hook failed");
        }
    }

    /// Keeps `undo`, if any, to run with `output` should the run fail:
    /// the step `name` completed (now, or in the journal being replayed).
    pub(super) fn register_compensation(&self, name: &str, output: &str, undo: Option<Undo>) {
        if let Some(undo) = undo {
            self.run
                .state()
                .compensations
                .push((name.to_owned(), output.to_owned(), undo));
        }
    }
}
