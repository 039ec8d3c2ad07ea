//! Durable sleeps, and the waits in memory every step shares: a timer near
//! enough waits in memory (lending the run's slot), a later one suspends
//! the run.

use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{Busy, Ctx, StepName, WakeUp};
use crate::core::replay::StepStart;
use crate::model::duration::{IntoDuration, millis};
use crate::model::error::Error;
use crate::model::journal::StepRecord;
use crate::model::status::StepStatus;
use crate::model::workflow::StepKind;

impl Ctx {
    /// A durable sleep: the run continues after `duration`, even across
    /// restarts. Short sleeps wait in memory; longer ones (see
    /// `EngineBuilder::keep_in_memory_below`) suspend the run, which then holds
    /// no task or memory until its wake time. Never wakes early. Its step
    /// is recorded `sleeping` with its wake time, and shows `completed` once
    /// that time has passed, unless the run ended before it woke: then it
    /// stays `sleeping` (see [`StepStatus`]).
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

    async fn durable_sleep(
        &self,
        name: StepName,
        kind: StepKind,
        wake_at: impl FnOnce(i64) -> i64,
    ) {
        let name = name.as_str();
        let now = self.run.env.clock.now_ms();
        let wake_at = match self.reach(name, kind).await {
            StepStart::Recorded(record) if record.status == StepStatus::Completed => return,
            StepStart::Recorded(record) => record.wake_at.unwrap_or(now),
            StepStart::New { seq } => {
                let wake_at = wake_at(now);
                if wake_at > now && wake_at.saturating_sub(now) >= self.run.env.keep_in_memory_ms {
                    // The sleep suspends the run: its record is saved with
                    // the suspension. Until then nothing follows from it,
                    // so a crash before is as if the sleep had not begun.
                    let record = self.record(name, seq, kind, StepStatus::Sleeping);
                    self.run.state().unsaved.push(StepRecord {
                        wake_at: Some(wake_at),
                        started_at: Some(now),
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
                // Started when its wake time was reckoned, not when the
                // record is written (later, under load): a sleep's record
                // spans exactly its duration.
                self.save(StepRecord {
                    output: (status == StepStatus::Completed).then(|| "null".into()),
                    wake_at: Some(wake_at),
                    started_at: Some(now),
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
    pub(super) async fn wait_until(&self, at: i64) {
        let env = &self.run.env;
        let left = at.saturating_sub(env.clock.now_ms());
        if left <= 0 {
            return;
        }
        if left < env.keep_in_memory_ms {
            self.wait_in_memory(env.clock.sleep_until(at)).await;
            return;
        }
        self.suspend(WakeUp::Timer(at)).await
    }

    /// Awaits `wait` (a timer, or a write to the store) with the run kept
    /// in memory: busy, so it does not suspend meanwhile. While nothing else
    /// of the run is in progress, its concurrency slot goes to other runs
    /// until the wait ends; it is taken back before this returns.
    pub(super) async fn wait_in_memory<T>(&self, wait: impl Future<Output = T>) -> T {
        let waiting = Busy::new(&self.run);
        if self.run.state().busy == 1 {
            self.run.slot.lend();
        }
        let value = wait.await;
        self.run.slot.take_back().await;
        drop(waiting);
        value
    }
}
