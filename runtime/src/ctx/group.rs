//! Nested steps: [`Ctx::group`], a step made of steps.
//!
//! A group's inner steps are recorded under its name (`ship/pack`,
//! `ship/label`), so their names need only be unique within the group, and
//! the group itself is recorded as one step, with its output, once its body
//! returned. A replay of a completed group returns that output without
//! running the body again; a group that did not complete (a crash inside
//! it, a failed inner step, a retry of the run) runs its body again, and
//! the inner steps that completed answer from the journal as every step
//! does.

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Ctx, StepName};
use crate::core::replay::StepStart;
use crate::model::error::Error;
use crate::model::journal::StepRecord;
use crate::model::status::StepStatus;
use crate::model::workflow::StepKind;

impl Ctx {
    /// Runs `body` as the step group `name`: the steps it calls on the
    /// context it is handed are recorded as `name/<step>`, and the group is
    /// complete, with `body`'s output, when the body returns `Ok`.
    ///
    /// The macro checks the inner step names within the group (two groups
    /// may both have a step `pack`), and the manifest lists the group as one
    /// node with its inner steps under it.
    ///
    /// ```no_run
    /// # use durable::prelude::*;
    /// # async fn f(ctx: Ctx) -> Result<(), Error> {
    /// let tracking: String = ctx
    ///     .group("ship", async |ctx: Ctx| {
    ///         ctx.run("pack", async || Ok::<_, StepError>(())).await?;
    ///         ctx.run("label", async || Ok::<_, StepError>("TRK-1".to_string())).await
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The body's error, as it returned it. A failed group records nothing
    /// of its own: a retry of the run runs the body again, and its completed
    /// inner steps replay.
    pub async fn group<T, F, Fut>(&self, name: impl Into<StepName>, body: F) -> Result<T, Error>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(Ctx) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let name = self.full_name(name);
        let seq = match self.reach(name.as_str(), StepKind::Group).await {
            StepStart::Recorded(record) if record.status == StepStatus::Completed => {
                self.run.state().journal.skip_group(name.as_str());
                return Ok(self.decode(name.as_str(), record.output.as_deref()).await);
            }
            StepStart::Recorded(record) => record.seq,
            StepStart::New { seq } => seq,
        };
        let value = body(self.scoped(&name)).await?;
        let output = self.encode(name.as_str(), &value).await;
        let record = self.record(name.as_str(), seq, StepKind::Group, StepStatus::Completed);
        // The group's output is what its inner steps, all recorded, made: a
        // crash before this record is written replays them to the same
        // value, so it goes with the run's next write.
        self.save_later(StepRecord {
            output: Some(output),
            attempts: 1,
            ..record
        });
        Ok(value)
    }
}
