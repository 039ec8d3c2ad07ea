//! The executor: runs one claimed run's body, and performs what the body's
//! context asks for (finish, suspend, stop) against the store.
//!
//! It knows workflow bodies only as type-erased functions of the run's
//! [`RunContext`] ([`Body`]); the engine builds them, wrapping the context
//! in the step API.

use std::sync::Arc;

use tracing::{Instrument, Span};

use crate::exec::active::{ActiveRuns, PauseFlag};
use crate::exec::env::RunEnv;
use crate::exec::run_state::RunContext;
use crate::exec::slots::{LimitedWorkflows, Slot, Slots};
use crate::exec::trace;
use crate::exec::unwind::catch_unwind_future;
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::journal::StepRecord;
use crate::model::lease::Lease;
use crate::model::outcome::RunOutcome;
use crate::model::sync::BoxFuture;
use crate::store::ClaimedRun;

/// Runs a workflow body on a JSON input; `Ok` is the output as JSON text,
/// `Err` the failure message.
pub(crate) type StartFn = fn(Arc<RunContext>, String) -> BoxFuture<'static, Result<String, String>>;

/// Runs the compensations of a failed run's completed steps, then its
/// on-failure hook, given the failure message.
pub(crate) type UnwindFn = fn(Arc<RunContext>, String) -> BoxFuture<'static, ()>;

/// How the executor runs one workflow, with its types erased.
#[derive(Clone, Copy)]
pub(crate) struct Body {
    pub(crate) start: StartFn,
    pub(crate) unwind: UnwindFn,
    /// Whether the workflow has an on-failure hook (`unwind` runs it).
    pub(crate) has_on_failure: bool,
}

/// Executes claimed runs: what every execution shares.
pub(crate) struct Executor {
    pub(crate) env: Arc<RunEnv>,
    /// The bodies of the registered workflows, by name and version, the
    /// current version of each name first.
    pub(crate) bodies: Vec<((&'static str, Arc<str>), Body)>,
    pub(crate) slots: Arc<Slots>,
    /// The workflows with a concurrency limit, whose runs that stop wake
    /// the dispatcher.
    pub(crate) limited: LimitedWorkflows,
    pub(crate) active: ActiveRuns,
}

impl Executor {
    /// Stops this engine's executions of runs that were cancelled in the
    /// database (their writes are fenced already), and wakes their waiters
    /// and any parents they woke.
    pub(crate) fn stop_local(&self, runs: &[RunId]) {
        for run_id in runs {
            self.active.abort(*run_id);
            self.active.notify_finished(*run_id);
        }
        if !runs.is_empty() {
            self.env.dispatch.notify_one();
        }
    }

    /// Marks this engine's execution of `run_id`, if any, paused (it stops
    /// before its next step, see [`Ending::Paused`]) or resumed.
    pub(crate) fn set_paused_local(&self, run_id: RunId, paused: bool) {
        self.active.set_paused(run_id, paused);
    }

    /// How many new runs the dispatcher may claim now.
    pub(crate) fn free_slots(&self) -> usize {
        self.slots.free(self.active.len())
    }

    /// Takes a slot for a run about to be created claimed, if one is free.
    pub(crate) fn try_take_slot(&self) -> Option<Arc<Slot>> {
        self.slots.try_take(self.active.len())
    }

    /// Spawns the execution of a run the dispatcher claimed for a slot it
    /// counted as free.
    pub(crate) fn spawn(self: &Arc<Self>, run: ClaimedRun) {
        self.start(self.slots.taken_for_claim(), run);
    }

    /// Spawns the execution of a claimed run in `slot`, and tracks it as active.
    pub(crate) fn start(self: &Arc<Self>, slot: Arc<Slot>, run: ClaimedRun) {
        let lease = run.lease;
        let guard = ActiveGuard {
            executor: self.clone(),
            slot,
            lease,
        };
        let span = trace::run_span(&run.workflow, lease.run_id, run.executions);
        let paused = PauseFlag::default();
        self.active.spawn(
            lease,
            paused.clone(),
            async move {
                let guard = guard;
                guard.executor.execute(&guard.slot, run, paused).await;
            }
            .instrument(span),
        );
    }

    async fn execute(&self, slot: &Arc<Slot>, run: ClaimedRun, paused: PauseFlag) {
        let lease = run.lease;
        let frees_a_limit = self.limited.frees_a_slot(&run.workflow);
        let ending = self.drive(slot, run, paused).await;
        // The body ended: what is left is waiting for the store, which takes
        // none of the engine's concurrency, so the slot goes to another run now.
        slot.end();
        let store = &self.env.store;
        let now = self.env.clock.now_ms();
        let span = Span::current();
        let written = match ending {
            Ending::Finished(outcome, steps) => {
                span.record("outcome", trace::run_outcome_name(&outcome));
                match store.finish_run(lease, outcome.clone(), steps, now).await {
                    Ok(effects) => {
                        // Off the active runs first: a waiter that comes after
                        // the hand-over below then reads the committed run.
                        self.active.forget(lease);
                        // The store may have recorded another outcome (a child
                        // that timed out with its parent is cancelled).
                        let outcome = effects.recorded.clone().unwrap_or(outcome);
                        self.active.finished_here(lease.run_id, &outcome);
                        if effects.woke_waiters || frees_a_limit {
                            // A parent waiting for this run is due now, or a
                            // run of its group may take the slot it freed.
                            // (Only then: a claim per finish would cost a
                            // busy engine a transaction per run.)
                            self.env.dispatch.notify_one();
                        }
                        self.stop_local(&effects.cancelled);
                        Ok(())
                    }
                    Err(error) => Err(error),
                }
            }
            // Suspended, due now: no claim takes it while it is paused, and
            // a resume (also one that came meanwhile) makes it claimable.
            Ending::Paused(steps) => {
                span.record("outcome", "paused");
                store.suspend_run(lease, Some(now), steps, now).await
            }
            Ending::Suspended(ready_at, steps) => {
                span.record("outcome", "suspended");
                trace::suspended(ready_at);
                let result = store.suspend_run(lease, ready_at, steps, now).await;
                // The run may be due again before the dispatcher's current timer.
                self.env.dispatch.notify_one();
                if frees_a_limit && result.is_ok() {
                    // Its slot is free for a run of its group, which another
                    // engine may be the one to claim.
                    store.announce_freed_slot().await
                } else {
                    result
                }
            }
            // A stale worker writes nothing: the run belongs to someone else.
            Ending::Stopped(Error::LeaseLost { .. }) => {
                span.record("outcome", "stopped");
                Ok(())
            }
            Ending::Stopped(error) => {
                span.record("outcome", "stopped");
                tracing::warn!(run_id = %lease.run_id, %error, "handing the run back to replay it");
                store.release_run(lease, now).await
            }
        };
        if let Err(error) = written {
            tracing::warn!(run_id = %lease.run_id, %error, "could not record how the run ended");
        }
    }

    /// Runs the body until it finishes, suspends, stops or times out.
    async fn drive(&self, slot: &Arc<Slot>, run: ClaimedRun, paused: PauseFlag) -> Ending {
        let lease = run.lease;
        let env = &self.env;
        let pinned = run.version.as_deref();
        let found = self.bodies.iter().find(|((name, version), _)| {
            *name == run.workflow && pinned.is_none_or(|pinned| **version == *pinned)
        });
        let Some(((name, _), body)) = found else {
            // A claim takes only the versions served here, so this is a run
            // created pinned to a version this engine lacks: another engine
            // may serve it.
            if self
                .bodies
                .iter()
                .any(|((name, _), _)| *name == run.workflow)
            {
                let version = pinned.unwrap_or_default();
                return Ending::Stopped(Error::Config(format!(
                    "run of workflow `{}` is pinned to version `{version}`, which this engine \
                     does not register",
                    run.workflow
                )));
            }
            let names = self.bodies.iter().map(|((name, _), _)| *name);
            return Ending::Finished(
                RunOutcome::Failed(Error::unknown_workflow(&run.workflow, names).to_string()),
                Vec::new(),
            );
        };
        let name = *name;
        let deadline = run.deadline_at;
        if deadline.is_some_and(|at| at <= env.clock.now_ms()) {
            return Ending::Finished(RunOutcome::TimedOut, Vec::new());
        }
        let journal = match run.journal {
            Some(journal) => journal,
            None if run.executions > 1 => match env.store.load_journal(lease.run_id).await {
                Ok(journal) => journal,
                Err(error) => return Ending::Stopped(error),
            },
            None => Vec::new(),
        };
        if !journal.is_empty() {
            trace::resumed(journal.len());
        }
        let context = RunContext::new(
            env.clone(),
            slot.clone(),
            name,
            lease,
            deadline,
            journal,
            paused,
        );
        let mut current = catch_unwind_future((body.start)(context.clone(), run.input));
        // Set once the body failed and its compensations and on-failure hook run.
        let mut unwinding: Option<String> = None;
        let mut timeout = deadline_timer(env, deadline);
        // The run's step records not written yet go with its finish.
        let finished = |outcome| Ending::Finished(outcome, context.state().unsaved.take_all());
        loop {
            let failure = tokio::select! {
                biased;
                result = &mut current => {
                    if let Some(message) = unwinding {
                        return finished(RunOutcome::Failed(message));
                    }
                    match result {
                        Ok(Ok(output)) => return finished(self.outcome_of_output(output)),
                        Ok(Err(message)) => message,
                        Err(panic) => format!("the workflow body {panic}"),
                    }
                }
                () = context.control.notified() => {
                    let mut state = context.state();
                    if std::mem::take(&mut state.deadline_moved) {
                        // `Ctx::set_deadline` stored a new deadline: the
                        // timeout follows it (at once if it passed).
                        timeout = deadline_timer(env, state.deadline_at);
                    }
                    if let Some(error) = state.stop.take() {
                        let unsaved = state.unsaved.take_all();
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
                    // A suspension wins over a pause: no claim takes the
                    // suspended run while it is paused either, and it keeps
                    // its wake-up time.
                    if state.busy == 0 && state.suspended {
                        let ready_at = state.ready_at(state.deadline_at, env.claim_early_ms);
                        return Ending::Suspended(ready_at, state.unsaved.take_all());
                    }
                    // A branch reached a step while the run is paused; the
                    // others finish what they are doing first.
                    if state.busy == 0 && state.pausing {
                        return Ending::Paused(state.unsaved.take_all());
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
            if !has_compensations && !body.has_on_failure {
                return finished(RunOutcome::Failed(failure));
            }
            let compensate = (body.unwind)(context.clone(), failure.clone());
            let message = failure.clone();
            let unwind: BoxFuture<'static, Result<String, String>> = Box::pin(async move {
                compensate.await;
                Err(message)
            });
            current = catch_unwind_future(unwind);
            unwinding = Some(failure);
        }
    }

    /// How a run whose body returned `output` ends: completed, unless the
    /// output is over its size limit.
    fn outcome_of_output(&self, output: String) -> RunOutcome {
        let limit = self.env.limits.max_step_output_bytes;
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
}

/// Releases a run's slot however its task ends, aborted included.
struct ActiveGuard {
    executor: Arc<Executor>,
    slot: Arc<Slot>,
    lease: Lease,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.executor.active.forget(self.lease);
        self.slot.end();
        // The run left memory: the dispatcher may have waited for room.
        self.slot.slots().left_memory();
    }
}

/// What ended one execution.
enum Ending {
    /// Finished, saving these step records with the finish.
    Finished(RunOutcome, Vec<StepRecord>),
    /// Suspended until the time (if any), saving these step records with
    /// the suspension.
    Suspended(Option<i64>, Vec<StepRecord>),
    /// Paused by an operator before a step, saving these step records as it
    /// hands the run back.
    Paused(Vec<StepRecord>),
    Stopped(Error),
}

/// Ends when the run's deadline `deadline` (ms) passes by the engine's
/// clock; never without one.
fn deadline_timer(env: &Arc<RunEnv>, deadline: Option<i64>) -> BoxFuture<'static, ()> {
    let clock = env.clock.clone();
    Box::pin(async move {
        match deadline {
            Some(at) => clock.sleep_until(at).await,
            None => std::future::pending().await,
        }
    })
}
