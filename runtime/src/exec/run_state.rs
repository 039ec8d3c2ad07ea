//! The state of one execution of a run, shared by the executor that drives
//! it and the step API (`ctx`) its body calls: the journal being replayed,
//! what is in progress, the records not written yet, and what the body
//! asks the executor to do (suspend, stop, fail).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::core::replay::Journal;
use crate::core::timing;
use crate::exec::active::PauseFlag;
use crate::exec::env::RunEnv;
use crate::exec::slots::Slot;
use crate::exec::unsaved::Unsaved;
use crate::model::error::{Error, StepError};
use crate::model::journal::StepRecord;
use crate::model::lease::Lease;
use crate::model::sync::BoxFuture;

/// A compensation: undoes a completed step, given its recorded output.
pub(crate) type Undo =
    Arc<dyn Fn(String) -> BoxFuture<'static, Result<(), StepError>> + Send + Sync>;

/// The shared state of one execution of a run, seen by the context and the
/// executor.
pub(crate) struct RunContext {
    pub(crate) workflow: &'static str,
    pub(crate) lease: Lease,
    pub(crate) env: Arc<RunEnv>,
    /// The engine's concurrency slot the run executes in.
    pub(crate) slot: Arc<Slot>,
    state: Mutex<RunState>,
    /// Held while the records of [`RunState::unsaved`] are written, so a
    /// branch that must come after them waits for another branch's write.
    pub(crate) saving: tokio::sync::Mutex<()>,
    /// Woken whenever `state` asks the executor to act.
    pub(crate) control: Notify,
    /// Set when an operator paused the run: it starts no further step.
    pub(crate) paused: PauseFlag,
}

/// What one execution of a run is doing, behind [`RunContext::state`].
#[derive(Default)]
pub(crate) struct RunState {
    pub(crate) journal: Journal,
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
    /// write, or before its next step body runs (`Ctx::save_unsaved`), or
    /// with its suspension or its finish. The results of completed steps wait
    /// here (so a run's last results travel with its finish), and the record
    /// of a sleep that suspends the run (it travels with the suspension).
    pub(crate) unsaved: Unsaved,
    /// Set when the run cannot go on: the executor ends it with this error.
    pub(crate) stop: Option<Error>,
    /// Set when a branch of the run reached a step while the run is paused:
    /// the executor hands the run back, once no other branch is busy.
    pub(crate) pausing: bool,
    /// The compensations of the steps completed so far, in completion order:
    /// (step name, its recorded output, the compensation).
    pub(crate) compensations: Vec<(String, String, Undo)>,
    /// Set by `Ctx::fail`: the run fails with this message (after its
    /// compensations).
    pub(crate) fail: Option<String>,
    /// Log lines written so far in this execution, per scope.
    pub(crate) log_counters: HashMap<String, u32>,
    /// When the run times out (children inherit it): its deadline when it
    /// was claimed, or the one `Ctx::set_deadline` set since.
    pub(crate) deadline_at: Option<i64>,
    /// Set by `Ctx::set_deadline` once the new deadline is stored: the
    /// executor re-arms the run's timeout.
    pub(crate) deadline_moved: bool,
}

impl RunState {
    /// When the run, suspending now, may be claimed again (see
    /// [`timing::ready_at`]).
    pub(crate) fn ready_at(&self, deadline: Option<i64>, claim_early_ms: i64) -> Option<i64> {
        timing::ready_at(self.timer_at, self.timeout_at, deadline, claim_early_ms)
    }
}

impl RunContext {
    /// The state of a new execution of the run under `lease`, replaying
    /// `journal`, paused when `paused` is set.
    pub(crate) fn new(
        env: Arc<RunEnv>,
        slot: Arc<Slot>,
        workflow: &'static str,
        lease: Lease,
        deadline_at: Option<i64>,
        journal: Vec<StepRecord>,
        paused: PauseFlag,
    ) -> Arc<Self> {
        Arc::new(RunContext {
            workflow,
            lease,
            env,
            slot,
            state: Mutex::new(RunState {
                journal: Journal::new(lease.run_id, journal),
                deadline_at,
                ..RunState::default()
            }),
            saving: tokio::sync::Mutex::new(()),
            control: Notify::new(),
            paused,
        })
    }

    /// The execution's state, locked.
    pub(crate) fn state(&self) -> MutexGuard<'_, RunState> {
        // A panic while holding this lock leaves no broken invariant behind
        // (every update is a single assignment), so a poisoned lock is used as is.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
