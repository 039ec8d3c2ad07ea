//! Patches: [`Ctx::patched`], which lets one version of a workflow change
//! its steps while runs that started on the old code are still in flight.

use super::{Ctx, StepName};
use crate::core::replay::PatchStart;
use crate::model::error::Error;
use crate::model::journal::StepRecord;
use crate::model::status::StepStatus;
use crate::model::workflow::StepKind;

impl Ctx {
    /// Whether this run takes the new side of the code change named `name`:
    /// true for a run that reaches it for the first time (a marker step of
    /// kind [`StepKind::Patch`] records that, so its replays answer true
    /// too), false for a run whose journal shows that it went past this
    /// point before the patch existed (nothing is recorded then).
    ///
    /// Keep the old code in the `else` branch until no run that started
    /// before the patch is in flight; then the call and the old branch may
    /// go (a replay skips the markers the code no longer asks about).
    ///
    /// ```no_run
    /// # use durable::prelude::*;
    /// # async fn f(ctx: Ctx) -> Result<(), durable::Error> {
    /// let cents: u64 = if ctx.patched("tax-on-charge").await? {
    ///     ctx.run("charge-with-tax", async || Ok::<_, StepError>(4620)).await?
    /// } else {
    ///     ctx.run("charge", async || Ok::<_, StepError>(4200)).await?
    /// };
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// None today; a refused replay (the name recorded as another kind of
    /// step) ends the run as non-deterministic instead of returning.
    pub async fn patched(&self, name: impl Into<StepName>) -> Result<bool, Error> {
        let name = self.full_name(name);
        let name = name.as_str();
        let answer = self.run.state().journal.patch(name);
        match answer {
            Err(error) => self.stop(error).await,
            Ok(PatchStart::Before) => Ok(false),
            Ok(PatchStart::Recorded) => Ok(true),
            Ok(PatchStart::New { seq }) => {
                // Written before anything the new code does: a later step's
                // record in the journal without the marker would make the
                // next replay take the old side.
                self.save(StepRecord {
                    attempts: 1,
                    ..self.record(name, seq, StepKind::Patch, StepStatus::Completed)
                })
                .await;
                Ok(true)
            }
        }
    }
}
