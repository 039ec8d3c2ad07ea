//! The runs an engine executes now, and whoever waits for a run to finish.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio::task::AbortHandle;

use crate::model::ids::RunId;
use crate::model::lease::Lease;
use crate::model::outcome::RunOutcome;
use crate::model::sync::lock;

/// The runs in memory and the waiters for runs to finish.
#[derive(Default)]
pub(crate) struct ActiveRuns {
    /// Runs this engine executes now: their fencing token, task, and
    /// whether an operator paused them (the execution reads it at each step
    /// boundary, see [`PauseFlag`]).
    runs: Mutex<HashMap<RunId, (i64, AbortHandle, PauseFlag)>>,
    /// Waiters for runs to finish, woken by this engine.
    finish_waiters: Mutex<HashMap<RunId, Arc<FinishWaiter>>>,
}

/// Whether an operator paused a run that executes here: set by the pause
/// (or by a lease renewal that finds the run paused by another process),
/// read by the execution before it starts each step, so a pause costs no
/// read of the database per step.
#[derive(Debug, Clone, Default)]
pub(crate) struct PauseFlag(Arc<AtomicBool>);

impl PauseFlag {
    /// Whether the run is paused.
    pub(crate) fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Sets or clears the flag.
    pub(crate) fn set(&self, paused: bool) {
        self.0.store(paused, Ordering::Release);
    }
}

/// Whoever waits for one run to finish.
#[derive(Default)]
pub(crate) struct FinishWaiter {
    /// Woken when the run finished (or may have).
    pub(crate) woken: Notify,
    /// How the run ended, when it ended on this engine.
    pub(crate) outcome: Mutex<Option<RunOutcome>>,
}

impl ActiveRuns {
    /// How many runs are in memory.
    pub(crate) fn len(&self) -> usize {
        lock(&self.runs).len()
    }

    /// Whether `run_id` executes here now.
    pub(crate) fn contains(&self, run_id: RunId) -> bool {
        lock(&self.runs).contains_key(&run_id)
    }

    /// The leases of the runs in memory.
    pub(crate) fn leases(&self) -> Vec<Lease> {
        lock(&self.runs)
            .iter()
            .map(|(run_id, (token, _, _))| Lease {
                run_id: *run_id,
                token: *token,
            })
            .collect()
    }

    /// Spawns `task` as the execution under `lease`, tracked as active. The
    /// map stays locked across the spawn so the task's own removal
    /// ([`ActiveRuns::forget`]) cannot run before the insert.
    pub(crate) fn spawn<F>(&self, lease: Lease, paused: PauseFlag, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let mut runs = lock(&self.runs);
        let task = tokio::spawn(task);
        runs.insert(lease.run_id, (lease.token, task.abort_handle(), paused));
    }

    /// Marks the execution of `run_id` here, if any, paused or not; it
    /// reads the mark before its next step.
    pub(crate) fn set_paused(&self, run_id: RunId, paused: bool) {
        if let Some((_, _, flag)) = lock(&self.runs).get(&run_id) {
            flag.set(paused);
        }
    }

    /// Takes the execution under `lease` off the active runs.
    pub(crate) fn forget(&self, lease: Lease) {
        let mut runs = lock(&self.runs);
        if runs
            .get(&lease.run_id)
            .is_some_and(|(token, _, _)| *token == lease.token)
        {
            runs.remove(&lease.run_id);
        }
    }

    /// Aborts the execution of `run_id` here, if any.
    pub(crate) fn abort(&self, run_id: RunId) {
        let running = lock(&self.runs).remove(&run_id);
        if let Some((_, task, _)) = running {
            task.abort();
        }
    }

    /// Takes every run off the active runs, with its lease and task.
    pub(crate) fn drain(&self) -> Vec<(Lease, AbortHandle)> {
        lock(&self.runs)
            .drain()
            .map(|(run_id, (token, task, _))| (Lease { run_id, token }, task))
            .collect()
    }

    /// The waiter for `run_id` to finish, shared by everyone waiting.
    pub(crate) fn finish_waiter(&self, run_id: RunId) -> Arc<FinishWaiter> {
        lock(&self.finish_waiters)
            .entry(run_id)
            .or_default()
            .clone()
    }

    /// Wakes whoever waits for `run_id` to finish; they read how it ended.
    pub(crate) fn notify_finished(&self, run_id: RunId) {
        let waiter = lock(&self.finish_waiters).remove(&run_id);
        if let Some(waiter) = waiter {
            waiter.woken.notify_waiters();
        }
    }

    /// Wakes whoever waits for `run_id`, which this engine just finished
    /// with `outcome` (committed): they need not read it back.
    pub(crate) fn finished_here(&self, run_id: RunId, outcome: &RunOutcome) {
        let waiter = lock(&self.finish_waiters).remove(&run_id);
        if let Some(waiter) = waiter {
            *lock(&waiter.outcome) = Some(outcome.clone());
            waiter.woken.notify_waiters();
        }
    }
}
