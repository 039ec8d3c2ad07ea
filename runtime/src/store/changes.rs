//! The change feed: what each committed batch changed (runs' statuses,
//! step records, log lines), told to whoever subscribed, in commit order.
//!
//! Both backends' writers call [`ChangeFeed::observe`] once per committed
//! batch, with the batch's writes and their results, before they answer
//! the writes' callers: a caller that saw its write return and then reads
//! the feed finds the change there. PostgreSQL's claims, which bypass the
//! writer, call [`ChangeFeed::claimed`]. The changes are derived here, once
//! for both backends, from the writes themselves: nothing is read back.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::model::change::{ChangeKind, RunChange};
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::journal::StepRecord;
use crate::model::outcome::RunOutcome;
use crate::model::status::RunStatus;
use crate::model::sync::lock;
use crate::store::ops::{WriteOp, WriteOut};
use crate::store::records::{ClaimedRun, CreateOutcome, TransitionOutcome};
use crate::store::rows::outcome_columns;

/// How many changes the feed holds for a receiver that falls behind.
pub(crate) const FEED_CAPACITY: usize = 65_536;

/// The change feed of one store.
pub(crate) struct ChangeFeed {
    inner: Mutex<Inner>,
}

struct Inner {
    /// `None` once the store closed.
    sender: Option<broadcast::Sender<RunChange>>,
    /// The last change's `seq`.
    seq: u64,
    /// The workflow of each run this store's engine holds a lease on, so a
    /// finish (whose write names only the lease) names its workflow. Kept
    /// while nobody listens too: a listener that comes later sees the runs
    /// in flight named.
    leased: HashMap<RunId, Arc<str>>,
    /// One `Arc` per workflow name.
    names: HashSet<Arc<str>>,
}

/// The workflow of a change whose write does not name it (a cancel, a
/// retry, a timeout of a run this engine does not hold): the engine's
/// receiver reads it.
pub(crate) const UNKNOWN_WORKFLOW: &str = "";

impl Default for ChangeFeed {
    fn default() -> Self {
        ChangeFeed {
            inner: Mutex::new(Inner {
                sender: Some(broadcast::channel(FEED_CAPACITY).0),
                seq: 0,
                leased: HashMap::new(),
                names: HashSet::new(),
            }),
        }
    }
}

impl ChangeFeed {
    /// A receiver of every change committed from now on; closed at once
    /// when the store is.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<RunChange> {
        match &lock(&self.inner).sender {
            Some(sender) => sender.subscribe(),
            None => broadcast::channel(1).1,
        }
    }

    /// Ends every receiver (the store closed).
    pub(crate) fn close(&self) {
        lock(&self.inner).sender = None;
    }

    /// Tells the changes of a committed batch: `ops` and their `results`,
    /// position by position.
    pub(crate) fn observe(&self, ops: &[WriteOp], results: &[Result<WriteOut, Error>]) {
        let mut inner = lock(&self.inner);
        let mut changes = Changes {
            live: inner
                .sender
                .as_ref()
                .is_some_and(|s| s.receiver_count() > 0),
            list: Vec::new(),
        };
        for (op, result) in ops.iter().zip(results) {
            inner.derive(op, result, &mut changes);
        }
        inner.send(changes.list);
    }

    /// Tells the runs a claim outside the writer (PostgreSQL's) took.
    #[cfg_attr(
        not(feature = "postgres"),
        allow(dead_code, reason = "only PostgreSQL claims outside its writer")
    )]
    pub(crate) fn claimed(&self, runs: &[ClaimedRun], now: i64) {
        let mut inner = lock(&self.inner);
        let mut changes = Changes {
            live: inner
                .sender
                .as_ref()
                .is_some_and(|s| s.receiver_count() > 0),
            list: Vec::new(),
        };
        inner.claims(runs, now, &mut changes);
        inner.send(changes.list);
    }
}

/// The changes of one batch, collected only when someone listens.
struct Changes {
    live: bool,
    list: Vec<(RunId, Arc<str>, i64, ChangeKind)>,
}

impl Changes {
    fn push(&mut self, run_id: RunId, workflow: &Arc<str>, at: i64, kind: ChangeKind) {
        if self.live {
            self.list.push((run_id, workflow.clone(), at, kind));
        }
    }

    fn status(&mut self, run_id: RunId, workflow: &Arc<str>, at: i64, status: RunStatus) {
        let kind = ChangeKind::Status {
            status,
            execution: None,
        };
        self.push(run_id, workflow, at, kind);
    }

    fn steps(&mut self, run_id: RunId, workflow: &Arc<str>, steps: &[StepRecord]) {
        for step in steps {
            self.step(run_id, workflow, step);
        }
    }

    fn step(&mut self, run_id: RunId, workflow: &Arc<str>, step: &StepRecord) {
        if !self.live {
            return;
        }
        let duration_ms = step
            .started_at
            .filter(|_| step.status.is_finished())
            .map(|started| (step.updated_at - started).max(0));
        let kind = ChangeKind::Step {
            name: step.name.clone(),
            status: step.status,
            attempts: step.attempts,
            duration_ms,
        };
        self.push(run_id, workflow, step.updated_at, kind);
    }
}

impl Inner {
    fn name(&mut self, workflow: &str) -> Arc<str> {
        if let Some(name) = self.names.get(workflow) {
            return name.clone();
        }
        let name: Arc<str> = workflow.into();
        self.names.insert(name.clone());
        name
    }

    /// The workflow of a run this engine holds, or [`UNKNOWN_WORKFLOW`].
    fn workflow_of(&mut self, run_id: &RunId) -> Arc<str> {
        match self.leased.get(run_id) {
            Some(name) => name.clone(),
            None => self.name(UNKNOWN_WORKFLOW),
        }
    }

    /// The workflow of a run whose lease a write ends.
    fn release(&mut self, run_id: &RunId) -> Arc<str> {
        match self.leased.remove(run_id) {
            Some(name) => name,
            None => self.name(UNKNOWN_WORKFLOW),
        }
    }

    fn claims(&mut self, runs: &[ClaimedRun], now: i64, changes: &mut Changes) {
        for run in runs {
            let name = self.name(&run.workflow);
            self.leased.insert(run.lease.run_id, name.clone());
            let kind = ChangeKind::Status {
                status: RunStatus::Running,
                execution: Some(run.executions),
            };
            changes.push(run.lease.run_id, &name, now, kind);
        }
    }

    fn derive(&mut self, op: &WriteOp, result: &Result<WriteOut, Error>, changes: &mut Changes) {
        let out = match result {
            Ok(out) => out,
            Err(Error::LeaseLost { run_id }) => {
                self.leased.remove(run_id);
                return;
            }
            Err(_) => return,
        };
        match (op, out) {
            (WriteOp::Create(run), WriteOut::Created(CreateOutcome::Created(id))) => {
                let name = self.name(&run.workflow);
                if run.claimed_by.is_some() {
                    self.leased.insert(*id, name.clone());
                    let kind = ChangeKind::Status {
                        status: RunStatus::Running,
                        execution: Some(1),
                    };
                    changes.push(*id, &name, run.now, kind);
                } else {
                    changes.status(*id, &name, run.now, RunStatus::Pending);
                }
            }
            (WriteOp::Claim(request), WriteOut::Claimed(runs)) => {
                self.claims(runs, request.now, changes);
            }
            (WriteOp::SaveStep(lease, step), _) => {
                let name = self.workflow_of(&lease.run_id);
                changes.step(lease.run_id, &name, step);
            }
            (WriteOp::RegisterWait { lease, step, .. }, _) => {
                let name = self.workflow_of(&lease.run_id);
                changes.step(lease.run_id, &name, step);
            }
            (WriteOp::AppendLog(lease, line), _) => {
                let name = self.workflow_of(&lease.run_id);
                changes.push(lease.run_id, &name, line.created_at, ChangeKind::Log);
            }
            (
                WriteOp::StartChild {
                    lease, step, child, ..
                },
                _,
            ) => {
                let name = self.workflow_of(&lease.run_id);
                changes.step(lease.run_id, &name, step);
                let child_name = self.name(&child.workflow);
                changes.status(child.id, &child_name, child.now, RunStatus::Pending);
            }
            (
                WriteOp::Suspend {
                    lease, steps, now, ..
                },
                _,
            ) => {
                let name = self.release(&lease.run_id);
                changes.steps(lease.run_id, &name, steps);
                changes.status(lease.run_id, &name, *now, RunStatus::Suspended);
            }
            (WriteOp::Release { lease, now }, _) => {
                let name = self.release(&lease.run_id);
                changes.status(lease.run_id, &name, *now, RunStatus::Pending);
            }
            (
                WriteOp::Finish {
                    lease,
                    outcome,
                    steps,
                    now,
                },
                WriteOut::Finished(effects),
            ) => {
                let name = self.release(&lease.run_id);
                changes.steps(lease.run_id, &name, steps);
                let recorded: &RunOutcome = effects.recorded.as_ref().unwrap_or(outcome);
                let (status, _, _) = outcome_columns(recorded);
                changes.status(lease.run_id, &name, *now, status);
                self.ended(&effects.cancelled, *now, RunStatus::Cancelled, changes);
            }
            (WriteOp::Cancel { now, .. }, WriteOut::Transition(_, cancelled)) => {
                self.ended(cancelled, *now, RunStatus::Cancelled, changes);
            }
            (
                WriteOp::Retry { run_id, now, .. },
                WriteOut::Transition(TransitionOutcome::Done, _),
            ) => {
                let name = self.workflow_of(run_id);
                changes.status(*run_id, &name, *now, RunStatus::Pending);
            }
            (WriteOp::TimeOutOverdue { now, .. }, WriteOut::Ended(ended)) => {
                self.ended(ended, *now, RunStatus::TimedOut, changes);
            }
            _ => {}
        }
    }

    /// Runs that a write ended besides its own (a cancelled tree, timed-out
    /// runs), each named if this engine held it.
    fn ended(&mut self, runs: &[RunId], now: i64, status: RunStatus, changes: &mut Changes) {
        for run_id in runs {
            let name = self.release(run_id);
            changes.status(*run_id, &name, now, status);
        }
    }

    fn send(&mut self, changes: Vec<(RunId, Arc<str>, i64, ChangeKind)>) {
        let Some(sender) = &self.sender else { return };
        for (run_id, workflow, at, kind) in changes {
            self.seq += 1;
            // No receiver left: the next batch sees it and collects nothing.
            let _ = sender.send(RunChange {
                seq: self.seq,
                run_id,
                workflow,
                at,
                kind,
            });
        }
    }
}
