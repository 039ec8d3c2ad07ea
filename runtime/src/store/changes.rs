//! The change feed: what each committed batch changed (runs' statuses,
//! step records, log lines), told to whoever subscribed, in commit order.
//!
//! Both backends' writers call [`ChangeFeed::observe`] once per committed
//! batch, with the batch's writes and their results, before they answer
//! the writes' callers: a caller that saw its write return and then reads
//! the feed finds the change there. PostgreSQL's claims, which bypass the
//! writer, call [`ChangeFeed::claimed`]. The changes are derived here, once
//! for both backends, from the writes themselves: nothing is read back.
//!
//! On PostgreSQL the feed also relays: each batch's changes go, as notes
//! (see `store::change_notes`), to the other processes, whose listeners
//! hand them to [`ChangeFeed::told`]; a listener that lost its connection
//! tells its receivers with [`ChangeFeed::interrupted`]. A feed relays
//! only while another process wants its notes ([`ChangeFeed::wanted`],
//! renewed by that process's announcements): relaying every batch costs
//! a `NOTIFY` per commit, which a deployment with nobody watching from
//! another process should not pay.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, broadcast, mpsc};

use crate::model::change::{ChangeKind, RunChange};
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::journal::StepRecord;
use crate::model::outcome::RunOutcome;
use crate::model::status::RunStatus;
use crate::model::sync::lock;
use crate::store::change_notes::{NoteEntry, entries};
use crate::store::ops::{WriteOp, WriteOut};
use crate::store::records::{ClaimedRun, CreateOutcome, ForkOutcome, TransitionOutcome};
use crate::store::rows::outcome_columns;

/// How many changes the feed holds for a receiver that falls behind.
pub(crate) const FEED_CAPACITY: usize = 65_536;

/// How long a feed relays after another process said it wants the notes:
/// three of that process's announcements (see `postgres::notify`), so one
/// late announcement does not stop the relay.
pub(crate) const WANTED_FOR: Duration = Duration::from_secs(30);

/// What a feed's receiver gets.
#[derive(Debug, Clone)]
pub(crate) enum FeedItem {
    /// A change, this process's or another's.
    Change(RunChange),
    /// Other processes' changes may be missing here (the listener for them
    /// reconnected).
    Gap,
}

/// The change feed of one store.
pub(crate) struct ChangeFeed {
    inner: Mutex<Inner>,
}

/// Where a feed sends its batches' changes for the other processes.
struct Relay {
    /// Names this process in its notes, so its listener skips them.
    origin: Arc<str>,
    /// The schema of the tables, so listeners skip other schemas' notes.
    schema: Arc<str>,
    sender: mpsc::UnboundedSender<Vec<NoteEntry>>,
    /// Until when another process wants the notes; `None` before any did.
    wanted_until: Option<Instant>,
    /// Woken when this feed gets its first receiver: it announces to the
    /// other processes that it wants their notes.
    announce: Arc<Notify>,
}

impl Relay {
    fn active(&self) -> bool {
        self.wanted_until
            .is_some_and(|until| Instant::now() < until)
    }
}

struct Inner {
    /// Made by the first subscriber: the channel's ring of
    /// [`FEED_CAPACITY`] items is allocated whole when made (about 8 MB),
    /// which a process that never subscribes should not pay. `None` again
    /// once the store closed.
    sender: Option<broadcast::Sender<FeedItem>>,
    /// The store closed: a subscriber gets a closed receiver.
    closed: bool,
    /// `None` on SQLite, and once the store closed.
    relay: Option<Relay>,
    /// The last change's `seq`.
    seq: u64,
    /// The workflow of each run this store's engine holds a lease on, so a
    /// finish (whose write names only the lease) names its workflow. Kept
    /// only while someone listens (or the feed relays): a batch then costs
    /// nothing more than this check. A listener that comes later gets the
    /// runs already in flight with [`UNKNOWN_WORKFLOW`], which its receiver
    /// reads from the run's row.
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
                sender: None,
                closed: false,
                relay: None,
                seq: 0,
                leased: HashMap::new(),
                names: HashSet::new(),
            }),
        }
    }
}

impl ChangeFeed {
    /// A feed that also hands each batch's changes to `sender`, for the
    /// other processes, named as coming from `origin` on `schema`.
    #[cfg_attr(
        not(feature = "postgres"),
        allow(dead_code, reason = "only PostgreSQL relays to other processes")
    )]
    pub(crate) fn relayed(
        origin: Arc<str>,
        schema: Arc<str>,
        sender: mpsc::UnboundedSender<Vec<NoteEntry>>,
    ) -> Self {
        let feed = ChangeFeed::default();
        lock(&feed.inner).relay = Some(Relay {
            origin,
            schema,
            sender,
            wanted_until: None,
            announce: Arc::new(Notify::new()),
        });
        feed
    }

    /// What wakes this feed's announcer (its first receiver came), if it
    /// relays.
    #[cfg_attr(
        not(feature = "postgres"),
        allow(dead_code, reason = "only PostgreSQL relays to other processes")
    )]
    pub(crate) fn announcer(&self) -> Option<Arc<Notify>> {
        Some(lock(&self.inner).relay.as_ref()?.announce.clone())
    }

    /// Another process wants this feed's notes: relay for [`WANTED_FOR`].
    /// Whether the relay begins now (it did not relay a moment ago, so
    /// the wanter may have missed changes).
    #[cfg_attr(
        not(feature = "postgres"),
        allow(dead_code, reason = "only PostgreSQL relays to other processes")
    )]
    pub(crate) fn wanted(&self) -> bool {
        let mut inner = lock(&self.inner);
        let Some(relay) = &mut inner.relay else {
            return false;
        };
        let began = !relay.active();
        relay.wanted_until = Some(Instant::now() + WANTED_FOR);
        began
    }

    /// The origin and schema this feed's notes carry, if it relays.
    #[cfg_attr(
        not(feature = "postgres"),
        allow(dead_code, reason = "only PostgreSQL relays to other processes")
    )]
    pub(crate) fn relay_names(&self) -> Option<(Arc<str>, Arc<str>)> {
        let inner = lock(&self.inner);
        let relay = inner.relay.as_ref()?;
        Some((relay.origin.clone(), relay.schema.clone()))
    }

    /// A receiver of every change committed from now on; closed at once
    /// when the store is.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<FeedItem> {
        let mut inner = lock(&self.inner);
        if inner.closed {
            return broadcast::channel(1).1;
        }
        let first = !inner.listened();
        let receiver = inner
            .sender
            .get_or_insert_with(|| broadcast::channel(FEED_CAPACITY).0)
            .subscribe();
        if first && let Some(relay) = &inner.relay {
            relay.announce.notify_one();
        }
        receiver
    }

    /// Whether anyone receives: other processes' notes need no reading
    /// while nobody does.
    #[cfg_attr(
        not(feature = "postgres"),
        allow(dead_code, reason = "only PostgreSQL hears other processes")
    )]
    pub(crate) fn listened(&self) -> bool {
        lock(&self.inner).listened()
    }

    /// Ends every receiver, and the relay once it sent what it holds (the
    /// store closed).
    pub(crate) fn close(&self) {
        let mut inner = lock(&self.inner);
        inner.closed = true;
        inner.sender = None;
        inner.relay = None;
    }

    /// Tells the changes another process committed, as its note told them.
    #[cfg_attr(
        not(feature = "postgres"),
        allow(dead_code, reason = "only PostgreSQL hears other processes")
    )]
    pub(crate) fn told(&self, entries: Vec<NoteEntry>) {
        let mut inner = lock(&self.inner);
        for entry in entries {
            let kind = entry.kind();
            inner.seq += 1;
            let change = RunChange {
                seq: inner.seq,
                run_id: entry.run_id,
                workflow: entry.workflow,
                at: entry.at,
                kind,
                remote: true,
            };
            if let Some(sender) = &inner.sender {
                // No receiver left: nothing to tell.
                let _ = sender.send(FeedItem::Change(change));
            }
        }
    }

    /// Tells every receiver that other processes' changes may be missing.
    #[cfg_attr(
        not(feature = "postgres"),
        allow(dead_code, reason = "only PostgreSQL hears other processes")
    )]
    pub(crate) fn interrupted(&self) {
        if let Some(sender) = &lock(&self.inner).sender {
            let _ = sender.send(FeedItem::Gap);
        }
    }

    /// Tells the changes of a committed batch: `ops` and their `results`,
    /// position by position.
    pub(crate) fn observe(&self, ops: &[WriteOp], results: &[Result<WriteOut, Error>]) {
        let mut inner = lock(&self.inner);
        let mut changes = Changes {
            live: inner.listened() || inner.relaying(),
            list: Vec::new(),
        };
        if !changes.live {
            inner.forget();
            return;
        }
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
            live: inner.listened() || inner.relaying(),
            list: Vec::new(),
        };
        if !changes.live {
            inner.forget();
            return;
        }
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
    fn listened(&self) -> bool {
        self.sender
            .as_ref()
            .is_some_and(|sender| sender.receiver_count() > 0)
    }

    /// Another process wants the notes now.
    fn relaying(&self) -> bool {
        self.relay.as_ref().is_some_and(Relay::active)
    }

    /// Nobody listens: the runs' workflows are not kept (see `leased`).
    fn forget(&mut self) {
        if !self.leased.is_empty() {
            self.leased = HashMap::new();
        }
    }

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
            (WriteOp::Create(run), WriteOut::Created(CreateOutcome::Queued(id))) => {
                let name = self.name(&run.workflow);
                changes.status(*id, &name, run.now, RunStatus::Pending);
            }
            (WriteOp::SendEvent { event, .. }, WriteOut::Sent(sent)) => {
                // The runs it started (event triggers) are new, pending runs.
                for run in event
                    .starts
                    .iter()
                    .filter(|run| sent.started.contains(&run.id))
                {
                    let name = self.name(&run.workflow);
                    changes.status(run.id, &name, run.now, RunStatus::Pending);
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
            (
                WriteOp::SetPaused {
                    run_id,
                    paused,
                    now,
                },
                WriteOut::Transition(TransitionOutcome::Done, _),
            ) => {
                let name = self.workflow_of(run_id);
                let kind = if *paused {
                    ChangeKind::Paused
                } else {
                    ChangeKind::Resumed
                };
                changes.push(*run_id, &name, *now, kind);
            }
            (WriteOp::Fork(fork), WriteOut::Forked(ForkOutcome::Created(id))) => {
                let name = self.name(&fork.run.workflow);
                changes.status(*id, &name, fork.run.now, RunStatus::Pending);
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
        if let Some(relay) = &self.relay
            && relay.active()
            && !changes.is_empty()
        {
            // The relay ended only when the store closed: nothing to tell.
            let _ = relay.sender.send(entries(&changes));
        }
        if !self.listened() {
            return;
        }
        let Some(sender) = &self.sender else { return };
        for (run_id, workflow, at, kind) in changes {
            self.seq += 1;
            // No receiver left: the next batch sees it and collects nothing.
            let _ = sender.send(FeedItem::Change(RunChange {
                seq: self.seq,
                run_id,
                workflow,
                at,
                kind,
                remote: false,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(feed: &ChangeFeed, run_id: RunId) {
        let mut inner = lock(&feed.inner);
        let name = inner.name("wf");
        let kind = ChangeKind::Log;
        inner.send(vec![(run_id, name, 1, kind)]);
    }

    #[test]
    fn the_feeds_ring_is_made_by_its_first_subscriber_and_dropped_on_close() {
        let feed = ChangeFeed::default();
        change(&feed, RunId::new());
        assert!(lock(&feed.inner).sender.is_none(), "nobody subscribed");
        let mut receiver = feed.subscribe();
        assert!(lock(&feed.inner).sender.is_some());
        let run_id = RunId::new();
        change(&feed, run_id);
        let Ok(FeedItem::Change(got)) = receiver.try_recv() else {
            panic!("the change is told to the subscriber");
        };
        assert_eq!((got.run_id, got.kind), (run_id, ChangeKind::Log));
        feed.close();
        assert!(lock(&feed.inner).sender.is_none());
        assert!(matches!(
            receiver.try_recv(),
            Err(broadcast::error::TryRecvError::Closed)
        ));
        let mut late = feed.subscribe();
        assert!(matches!(
            late.try_recv(),
            Err(broadcast::error::TryRecvError::Closed)
        ));
        assert!(
            lock(&feed.inner).sender.is_none(),
            "a closed feed stays closed"
        );
    }

    #[tokio::test]
    async fn a_feed_relays_only_while_another_process_wants_its_notes() {
        let (sender, mut relayed) = mpsc::unbounded_channel();
        let feed = ChangeFeed::relayed("me".into(), "public".into(), sender);
        change(&feed, RunId::new());
        assert!(relayed.try_recv().is_err(), "nobody wanted the notes");
        assert!(feed.wanted(), "the relay begins");
        assert!(!feed.wanted(), "and goes on");
        let run_id = RunId::new();
        change(&feed, run_id);
        let notes = relayed.try_recv().expect("relayed once wanted");
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].run_id, run_id);
        // Wanted long ago: the relay stops.
        if let Some(relay) = &mut lock(&feed.inner).relay {
            relay.wanted_until = Some(Instant::now() - Duration::from_millis(1));
        }
        change(&feed, RunId::new());
        assert!(relayed.try_recv().is_err(), "the want expired");
        assert!(feed.wanted(), "the relay begins again");
    }

    #[tokio::test]
    async fn the_first_receiver_wakes_the_announcer_and_a_second_does_not() {
        let (sender, _relayed) = mpsc::unbounded_channel();
        let feed = ChangeFeed::relayed("me".into(), "public".into(), sender);
        let wake = feed.announcer().expect("a relayed feed announces");
        let woken = || {
            let wake = wake.clone();
            async move {
                tokio::time::timeout(Duration::from_millis(50), wake.notified())
                    .await
                    .is_ok()
            }
        };
        assert!(!woken().await, "no receiver yet");
        let _first = feed.subscribe();
        assert!(woken().await, "the first receiver announces");
        let _second = feed.subscribe();
        assert!(!woken().await, "a second receiver does not");
    }
}
