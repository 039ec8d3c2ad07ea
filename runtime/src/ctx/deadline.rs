//! [`Ctx::set_deadline`]: a run moves its own deadline, once, as a step.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Ctx, StepName};
use crate::core::replay::StepStart;
use crate::model::duration::{IntoDuration, millis};
use crate::model::error::Error;
use crate::model::journal::StepRecord;
use crate::model::status::StepStatus;
use crate::model::workflow::StepKind;

impl Ctx {
    /// Sets the run's deadline to `after` from now, as the step `name`: it
    /// replaces the deadline the workflow's `timeout` gave the run (or a
    /// deadline set before), longer or shorter, and a run without a timeout
    /// gets one. The new deadline is recorded in the journal and stored on
    /// the run in one transaction; a replay returns the recorded deadline
    /// and writes nothing (so a run that resumes after a crash does not
    /// move its deadline again). A deadline that passed already (`"0s"`)
    /// times the run out at once, as its timeout would. Children started
    /// before keep the deadline they inherited; children started after
    /// inherit the new one. Returns the new deadline.
    ///
    /// ```no_run
    /// use durable::prelude::*;
    ///
    /// #[workflow(timeout = "1h")]
    /// async fn review(ctx: Ctx, big: bool) -> Result<(), Error> {
    ///     if big {
    ///         // A big review may take the day.
    ///         ctx.set_deadline("allow-a-day", "24h").await?;
    ///     }
    ///     let _verdict: Option<serde_json::Value> =
    ///         ctx.wait_for_event("verdict", "review.done").await?;
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidDuration`] for a string outside the grammar.
    pub async fn set_deadline(
        &self,
        name: impl Into<StepName>,
        after: impl IntoDuration,
    ) -> Result<SystemTime, Error> {
        let after = millis(after.into_duration()?);
        let name = self.full_name(name);
        let name = name.as_str();
        let seq = match self.reach(name, StepKind::SetDeadline).await {
            StepStart::Recorded(record) if record.status == StepStatus::Completed => {
                let at: i64 = self.decode(name, record.output.as_deref()).await;
                return Ok(system_time(at));
            }
            StepStart::Recorded(record) => record.seq,
            StepStart::New { seq } => seq,
        };
        let at = self.run.env.clock.now_ms().saturating_add(after);
        let output = self.encode(name, &at).await;
        let record = StepRecord {
            output: Some(output),
            attempts: 1,
            ..self.record(name, seq, StepKind::SetDeadline, StepStatus::Completed)
        };
        let store = &self.run.env.store;
        let lease = self.run.lease;
        self.persist(name, || store.set_deadline(lease, record.clone(), Some(at)))
            .await?;
        {
            let mut state = self.run.state();
            state.deadline_at = Some(at);
            state.deadline_moved = true;
        }
        self.run.control.notify_one();
        if at <= self.run.env.clock.now_ms() {
            // The executor times the run out now; nothing after this runs.
            return std::future::pending().await;
        }
        Ok(system_time(at))
    }
}

/// `ms` since the epoch as a `SystemTime` (the epoch for a time before it).
fn system_time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0).unsigned_abs())
}
