//! The executor: runs one claimed run's body, and performs what the context
//! asks for (finish, suspend, stop) against the store.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::ctx::RunContext;
use crate::engine::Shared;
use crate::exec::unwind::catch_unwind_future;
use crate::model::sync::lock;
use crate::store::{ClaimedRun, Lease, RunOutcome, StepRecord};
use crate::{Ctx, Error};

/// One of the engine's concurrency slots, held by a run it executes (or is
/// about to). The run ends it ([`Slot::end`]) once its body ended, before
/// its last write, which frees it and tells the dispatcher.
///
/// A run waiting in memory for a timer or for a write to commit lends its
/// slot to other runs meanwhile ([`Slot::lend`]): the engine's concurrency
/// counts runs that execute, not runs that wait. [`Slot::take_back`] waits
/// for a free slot, ahead of new claims.
pub(crate) struct Slot {
    shared: Arc<Shared>,
    state: std::sync::Mutex<SlotState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Held,
    Lent,
    /// The run's body ended (or its task did); the slot is free for good.
    Ended,
}

impl Slot {
    /// Takes a slot if one is free and no run waits to take its lent slot
    /// back.
    pub(crate) fn try_take(shared: &Arc<Shared>) -> Option<Arc<Slot>> {
        (room_in_memory(shared) > 0 && take_slot_below(shared, limit_for_new_runs(shared)))
            .then(|| Slot::held(shared.clone()))
    }

    fn held(shared: Arc<Shared>) -> Arc<Slot> {
        Arc::new(Slot {
            shared,
            state: std::sync::Mutex::new(SlotState::Held),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SlotState> {
        lock(&self.state)
    }

    /// Lends the slot to other runs, if the run holds it.
    pub(crate) fn lend(&self) {
        let mut state = self.state();
        if *state == SlotState::Held {
            *state = SlotState::Lent;
            free_slot(&self.shared);
        }
    }

    /// If the slot is lent, waits until one is free and takes it back.
    pub(crate) async fn take_back(&self) {
        if *self.state() != SlotState::Lent {
            return;
        }
        let shared = &self.shared;
        shared.slots_wanted_back.fetch_add(1, Ordering::AcqRel);
        let _wanted = WantedBack(shared);
        loop {
            let given_back = shared.slot_given_back.notified();
            tokio::pin!(given_back);
            // Registered before the check, so a slot freed in between wakes it.
            given_back.as_mut().enable();
            if take_slot_below(shared, shared.config.concurrency) {
                break;
            }
            given_back.await;
        }
        let mut state = self.state();
        if *state == SlotState::Lent {
            *state = SlotState::Held;
        } else {
            // Another branch of the run took it back first, or the run ended.
            free_slot(shared);
        }
    }

    /// Frees the slot for good: the run's body ended (only the write of its
    /// ending is left), or its task did.
    fn end(&self) {
        let mut state = self.state();
        if *state == SlotState::Held {
            free_slot(&self.shared);
        }
        *state = SlotState::Ended;
    }
}

/// A slot dropped while held is freed: a trigger that took one to claim its
/// run at creation, and then found the run already there (an idempotency
/// key seen before) or could not write it, gives the slot back this way.
impl Drop for Slot {
    fn drop(&mut self) {
        self.end();
    }
}

/// Counts a run as waiting to take its slot back while alive.
struct WantedBack<'a>(&'a Shared);

impl Drop for WantedBack<'_> {
    fn drop(&mut self) {
        self.0.slots_wanted_back.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The slots new runs may take: the engine's concurrency, less the slots
/// that runs whose wait ended want back.
fn limit_for_new_runs(shared: &Shared) -> usize {
    shared
        .config
        .concurrency
        .saturating_sub(shared.slots_wanted_back.load(Ordering::Acquire))
}

/// How many runs an engine holds in memory at most, per slot of its
/// concurrency. Runs that wait (for a timer or a write) lend their slot, so
/// the engine claims more runs meanwhile; this bounds how many.
const RUNS_IN_MEMORY_PER_SLOT: usize = 16;

/// How many more runs the engine may hold in memory.
fn room_in_memory(shared: &Shared) -> usize {
    (shared
        .config
        .concurrency
        .saturating_mul(RUNS_IN_MEMORY_PER_SLOT))
    .saturating_sub(lock(&shared.active).len())
}

/// How many new runs the dispatcher may claim now.
pub(crate) fn free_slots(shared: &Shared) -> usize {
    limit_for_new_runs(shared)
        .saturating_sub(shared.slots_taken.load(Ordering::Acquire))
        .min(room_in_memory(shared))
}

/// Counts a slot as taken if fewer than `limit` are.
fn take_slot_below(shared: &Shared, limit: usize) -> bool {
    shared
        .slots_taken
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |taken| {
            (taken < limit).then_some(taken + 1)
        })
        .is_ok()
}

/// Counts a slot as free and tells whoever may want it.
fn free_slot(shared: &Shared) {
    shared.slots_taken.fetch_sub(1, Ordering::AcqRel);
    if shared.slots_wanted_back.load(Ordering::Acquire) > 0 {
        shared.slot_given_back.notify_one();
    }
    shared.slot_freed.notify_one();
}

/// Spawns the execution of a run the dispatcher claimed for a slot it
/// counted as free.
pub(crate) fn spawn(shared: Arc<Shared>, run: ClaimedRun) {
    shared.slots_taken.fetch_add(1, Ordering::AcqRel);
    start(Slot::held(shared), run);
}

/// Spawns the execution of a claimed run in `slot`, and tracks it as active.
pub(crate) fn start(slot: Arc<Slot>, run: ClaimedRun) {
    let run_id = run.lease.run_id;
    let token = run.lease.token;
    let shared = slot.shared.clone();
    // The map is locked across the spawn so the task's own removal (in
    // `ActiveGuard::drop`) cannot run before the insert.
    let owner = shared.clone();
    let mut active = lock(&owner.active);
    let guard = ActiveGuard {
        slot,
        lease: run.lease,
    };
    let task = tokio::spawn(async move {
        let guard = guard;
        execute(&shared, &guard.slot, run).await;
    });
    active.insert(run_id, (token, task.abort_handle()));
}

/// Releases a run's slot however its task ends, aborted included.
struct ActiveGuard {
    slot: Arc<Slot>,
    lease: Lease,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        forget_active(&self.slot.shared, self.lease);
        self.slot.end();
        // The run left memory: the dispatcher may have waited for room.
        self.slot.shared.slot_freed.notify_one();
    }
}

/// Takes the execution under `lease` off the engine's active runs.
fn forget_active(shared: &Shared, lease: Lease) {
    let mut active = lock(&shared.active);
    if active
        .get(&lease.run_id)
        .is_some_and(|(token, _)| *token == lease.token)
    {
        active.remove(&lease.run_id);
    }
}

/// What ended one execution.
enum Ending {
    /// Finished, saving these step records with the finish.
    Finished(RunOutcome, Vec<StepRecord>),
    /// Suspended until the time (if any), saving these step records with
    /// the suspension.
    Suspended(Option<i64>, Vec<StepRecord>),
    Stopped(Error),
}

async fn execute(shared: &Arc<Shared>, slot: &Arc<Slot>, run: ClaimedRun) {
    let lease = run.lease;
    let ending = drive(shared, slot, run).await;
    // The body ended: what is left is waiting for the store, which takes
    // none of the engine's concurrency, so the slot goes to another run now.
    slot.end();
    let now = shared.clock.now_ms();
    let written = match ending {
        Ending::Finished(outcome, steps) => {
            match shared
                .store
                .finish_run(lease, outcome.clone(), steps, now)
                .await
            {
                Ok(effects) => {
                    // Off the active runs first: a waiter that comes after
                    // the hand-over below then reads the committed run.
                    forget_active(shared, lease);
                    // The store may have recorded another outcome (a child
                    // that timed out with its parent is cancelled).
                    let outcome = effects.recorded.clone().unwrap_or(outcome);
                    shared.finished_here(lease.run_id, &outcome);
                    if effects.woke_waiters {
                        // A parent waiting for this run is due now. (Only
                        // then: a claim per finish would cost a busy engine
                        // a transaction per run.)
                        shared.dispatch.notify_one();
                    }
                    shared.stop_local(&effects.cancelled);
                    Ok(())
                }
                Err(error) => Err(error),
            }
        }
        Ending::Suspended(ready_at, steps) => {
            let result = shared.store.suspend_run(lease, ready_at, steps, now).await;
            // The run may be due again before the dispatcher's current timer.
            shared.dispatch.notify_one();
            result
        }
        // A stale worker writes nothing: the run belongs to someone else.
        Ending::Stopped(Error::LeaseLost { .. }) => Ok(()),
        Ending::Stopped(error) => {
            tracing::warn!(run_id = %lease.run_id, %error, "handing the run back to replay it");
            shared.store.release_run(lease, now).await
        }
    };
    if let Err(error) = written {
        tracing::warn!(run_id = %lease.run_id, %error, "could not record how the run ended");
    }
}

/// Runs the body until it finishes, suspends, stops or times out.
async fn drive(shared: &Arc<Shared>, slot: &Arc<Slot>, run: ClaimedRun) -> Ending {
    let lease = run.lease;
    let Some(registered) = shared.registry.get(run.workflow.as_str()) else {
        return Ending::Finished(
            RunOutcome::Failed(
                Error::unknown_workflow(&run.workflow, shared.registry.keys().copied()).to_string(),
            ),
            Vec::new(),
        );
    };
    let deadline = run.deadline_at;
    if deadline.is_some_and(|at| at <= shared.clock.now_ms()) {
        return Ending::Finished(RunOutcome::TimedOut, Vec::new());
    }
    let journal = match run.journal {
        Some(journal) => journal,
        None if run.executions > 1 => match shared.store.load_journal(lease.run_id).await {
            Ok(journal) => journal,
            Err(error) => return Ending::Stopped(error),
        },
        None => Vec::new(),
    };
    let context = RunContext::new(
        shared.clone(),
        slot.clone(),
        registered.name,
        lease,
        deadline,
        journal,
    );
    let ctx = Ctx::new(context.clone());
    let mut current = catch_unwind_future((registered.start)(ctx.clone(), run.input));
    // Set once the body failed and its compensations and on-failure hook run.
    let mut unwinding: Option<String> = None;
    let timeout = async {
        match deadline {
            Some(at) => shared.clock.sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(timeout);
    // The run's step records not written yet go with its finish.
    let finished =
        |outcome| Ending::Finished(outcome, std::mem::take(&mut context.state().unsaved));
    loop {
        let failure = tokio::select! {
            biased;
            result = &mut current => {
                if let Some(message) = unwinding {
                    return finished(RunOutcome::Failed(message));
                }
                match result {
                    Ok(Ok(output)) => return finished(outcome_of_output(shared, output)),
                    Ok(Err(message)) => message,
                    Err(panic) => format!("the workflow body {panic}"),
                }
            }
            () = context.control.notified() => {
                let mut state = context.state();
                if let Some(error) = state.stop.take() {
                    let unsaved = std::mem::take(&mut state.unsaved);
                    return match error {
                        Error::LeaseLost { .. }
                        | Error::Database(_)
                        | Error::StepRecordedElsewhere { .. } => Ending::Stopped(error),
                        Error::Aborted(reason) => {
                            Ending::Finished(RunOutcome::Cancelled(reason), unsaved)
                        }
                        // Non-determinism, duplicate steps, serialization and
                        // size errors end the run: retrying cannot fix them.
                        error => Ending::Finished(RunOutcome::Failed(error.to_string()), unsaved),
                    };
                }
                if state.busy == 0 && state.suspended {
                    let ready_at = state.ready_at(deadline, shared.config.claim_early_ms);
                    return Ending::Suspended(ready_at, std::mem::take(&mut state.unsaved));
                }
                match state.fail.take() {
                    Some(message) if unwinding.is_none() => message,
                    _ => continue,
                }
            }
            () = &mut timeout => return finished(RunOutcome::TimedOut),
        };
        // The body failed: run the compensations and the on-failure hook, as
        // durable steps, before the run is marked failed.
        let has_compensations = !context.state().compensations.is_empty();
        if !has_compensations && registered.on_failure.is_none() {
            return finished(RunOutcome::Failed(failure));
        }
        let hook = registered.on_failure;
        let unwind_ctx = ctx.clone();
        let message = failure.clone();
        let unwind: crate::BoxFuture<'static, Result<String, String>> = Box::pin(async move {
            unwind_ctx.unwind(&message, hook).await;
            Err(message)
        });
        current = catch_unwind_future(unwind);
        unwinding = Some(failure);
    }
}

/// How a run whose body returned `output` ends: completed, unless the
/// output is over its size limit.
fn outcome_of_output(shared: &Shared, output: String) -> RunOutcome {
    let limit = shared.config.limits.max_step_output_bytes;
    if output.len() > limit {
        let error = Error::PayloadTooLarge {
            what: "workflow output".into(),
            size: output.len(),
            limit,
            limit_name: "max_step_output_bytes",
        };
        return RunOutcome::Failed(error.to_string());
    }
    RunOutcome::Completed(output)
}
