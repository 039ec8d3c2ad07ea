//! The writes of the store, as the group-commit writers of every backend
//! queue and apply them, and the order a batch applies them in.

use super::{
    ClaimRequest, ClaimedRun, CreateOutcome, DeleteFinished, FinishEffects, ForkOutcome, Lease,
    LogLine, NewEvent, NewFork, NewRun, Renewal, RunOutcome, SentEvent, StepRecord,
    TransitionOutcome, Wait,
};
use crate::model::catalog::{WorkerRecord, WorkflowRef};
use crate::model::ids::RunId;

/// One write queued for the writer.
pub(crate) enum WriteOp {
    Recover {
        #[cfg_attr(
            not(feature = "sqlite"),
            allow(dead_code, reason = "PostgreSQL recovers by lease expiry, not by time")
        )]
        now: i64,
    },
    Create(NewRun),
    Claim(ClaimRequest),
    SaveStep(Lease, StepRecord),
    Suspend {
        lease: Lease,
        ready_at: Option<i64>,
        /// Step records saved with the suspension (a sleep's record).
        steps: Vec<StepRecord>,
        now: i64,
    },
    Release {
        lease: Lease,
        now: i64,
    },
    Finish {
        lease: Lease,
        outcome: RunOutcome,
        /// Step records saved with the finish (the run's last results).
        steps: Vec<StepRecord>,
        now: i64,
    },
    Cancel {
        run_id: RunId,
        now: i64,
    },
    RegisterWait {
        lease: Lease,
        step: StepRecord,
        wait: Wait,
    },
    ResolveWait {
        lease: Lease,
        step: String,
        now: i64,
    },
    SendEvent {
        event: NewEvent,
        origin: Option<(Lease, StepRecord)>,
    },
    StartChild {
        lease: Lease,
        step: StepRecord,
        child: NewRun,
        wait: bool,
    },
    /// A run's new deadline with the step that set it (see
    /// `RunStore::set_deadline`).
    SetDeadline {
        lease: Lease,
        step: StepRecord,
        deadline_at: Option<i64>,
    },
    AppendLog(Lease, LogLine),
    #[cfg_attr(
        not(feature = "postgres"),
        allow(dead_code, reason = "only PostgreSQL's leases expire and are renewed")
    )]
    RenewLeases {
        leases: Vec<Lease>,
        until: i64,
    },
    DeleteFinished(DeleteFinished),
    DeleteEvents {
        before: i64,
        limit: usize,
    },
    TimeOutOverdue {
        now: i64,
        limit: usize,
    },
    Retry {
        run_id: RunId,
        now: i64,
        deadline_at: Option<i64>,
    },
    /// An operator's pause (`paused`) or resume of a run that has not ended
    /// (see `RunStore::set_paused`).
    SetPaused {
        run_id: RunId,
        paused: bool,
        now: i64,
    },
    /// A fork of an ended run (see `RunStore::fork_run`).
    Fork(NewFork),
    /// A starting engine's catalog rows (see `CatalogStore::record_worker`).
    RecordWorker(WorkerRecord),
    /// A worker's heartbeat, which also removes the workers whose
    /// heartbeat is older than `gone_before` (see
    /// `CatalogStore::heartbeat_worker`).
    Heartbeat {
        worker: String,
        workflows: Vec<WorkflowRef>,
        now: i64,
        gone_before: i64,
    },
    RemoveWorker(String),
}

impl WriteOp {
    /// Whether the op changes the database with one statement, so it is
    /// atomic without an explicit transaction (its other statements only
    /// read). Ops that write twice (a finish and the waiters it settles, a
    /// child and the step that started it, an event and its waiters) must
    /// not be cut in half by a crash, so they always get a transaction.
    ///
    /// Every backend applies such an op alone without BEGIN and COMMIT, so
    /// this is the one definition of both. Where other processes may claim
    /// the run in between (PostgreSQL), the op's lease check is part of its
    /// one statement, not a read before it.
    pub(crate) fn is_single_write(&self) -> bool {
        if let WriteOp::Suspend { steps, .. } = self {
            return steps.is_empty();
        }
        // A run of a workflow with `cancel_on` writes its rows beside it.
        if let WriteOp::Create(run) = self
            && !run.cancel_on.is_empty()
        {
            return false;
        }
        if self.appends_attempt() {
            return false;
        }
        if let WriteOp::Create(run) = self {
            // A debounce or a throttle reads under its key's lock (see
            // `NewRun::flow`), and a run claimed within a limit counts its
            // group under its workflow's (`ClaimAtCreate::limit`): locks
            // that last as long as their transaction.
            return run.flow.is_none() && run.claim_within_limit().is_none();
        }
        matches!(
            self,
            WriteOp::Recover { .. }
                | WriteOp::Claim(_)
                | WriteOp::SaveStep(..)
                | WriteOp::Release { .. }
                | WriteOp::ResolveWait { .. }
                | WriteOp::AppendLog(..)
                | WriteOp::RenewLeases { .. }
                | WriteOp::DeleteFinished(_)
                | WriteOp::DeleteEvents { .. }
                | WriteOp::RemoveWorker(_)
                | WriteOp::SetPaused { .. }
        )
    }

    /// Whether the op saves a step record that ends an attempt
    /// ([`StepRecord::finished_attempt`]): the step's write is then followed
    /// by the append to its attempt log, in the same transaction. Only a
    /// retried or failed step's writes do; a step that completes at its
    /// first attempt never does.
    pub(crate) fn appends_attempt(&self) -> bool {
        match self {
            WriteOp::SaveStep(_, step) => step.finished_attempt.is_some(),
            WriteOp::Suspend { steps, .. } | WriteOp::Finish { steps, .. } => {
                steps.iter().any(|step| step.finished_attempt.is_some())
            }
            _ => false,
        }
    }

    /// The order in which a batch applies its kinds of write. Writes that
    /// share a batch were submitted concurrently, so any order is a valid
    /// serial order; this one lets a run created in the batch be claimed in
    /// it, and groups writes of one kind into multi-row statements.
    pub(crate) fn phase(&self) -> u8 {
        match self {
            WriteOp::Recover { .. } => 0,
            WriteOp::Create(_) => 1,
            WriteOp::Cancel { .. } => 2,
            // Not with the creates, which a batch writes as one statement.
            WriteOp::Retry { .. } | WriteOp::SetPaused { .. } | WriteOp::Fork(_) => 3,
            WriteOp::SaveStep(..)
            | WriteOp::SetDeadline { .. }
            | WriteOp::AppendLog(..)
            | WriteOp::RenewLeases { .. } => 4,
            // Waits before sends, so a wait and a send that share a batch meet.
            WriteOp::RegisterWait { .. } | WriteOp::StartChild { .. } => 5,
            WriteOp::SendEvent { .. } | WriteOp::ResolveWait { .. } => 6,
            // Before suspends: a run's last step results land before it
            // suspends.
            WriteOp::Finish { .. } => FINISH_PHASE,
            WriteOp::Suspend { .. } | WriteOp::Release { .. } => 8,
            WriteOp::Claim(_) => 9,
            WriteOp::DeleteFinished(_)
            | WriteOp::DeleteEvents { .. }
            | WriteOp::TimeOutOverdue { .. } => 10,
            // The catalog touches no run: any place in the batch will do.
            WriteOp::RecordWorker(_) | WriteOp::Heartbeat { .. } | WriteOp::RemoveWorker(_) => 10,
        }
    }
}

/// What one write did inside a batch's transaction, as every backend's
/// writer answers it: the outer error fails the transaction (the writer
/// then applies the batch's writes one by one); the inner one refuses this
/// write alone (a stale lease, a step recorded elsewhere).
pub(crate) type Applied =
    Result<Result<WriteOut, crate::model::error::Error>, crate::model::error::Error>;

/// The results of a batch as a writer fills them in, by the position of
/// each write in the batch (`None` until applied).
pub(crate) type Slots = [Option<Result<WriteOut, crate::model::error::Error>>];

/// The phase of `Finish` writes (see [`WriteOp::phase`]).
pub(crate) const FINISH_PHASE: u8 = 7;

/// What one write returned.
pub(crate) enum WriteOut {
    Created(CreateOutcome),
    Claimed(Vec<ClaimedRun>),
    Count(u64),
    Transition(TransitionOutcome, Vec<RunId>),
    Finished(FinishEffects),
    /// Runs a maintenance write ended.
    Ended(Vec<RunId>),
    Waited(Option<String>),
    Resolved(String),
    Sent(SentEvent),
    Renewed(Renewal),
    Forked(ForkOutcome),
    Done,
}

/// The [`RunStore`](super::RunStore) methods that are one queued write, for a
/// backend with `async fn write(&self, WriteOp) -> Result<WriteOut, Error>`
/// and a `writer: GroupCommit<WriteOp, WriteOut>`: every backend answers
/// them the same way, through its `write` (which queues them for its writer,
/// but for PostgreSQL's claims).
macro_rules! queued_run_writes {
    () => {
        fn recover(&self, now: i64) -> BoxFuture<'_, Result<u64, Error>> {
            Box::pin(async move {
                match self.write(WriteOp::Recover { now }).await? {
                    WriteOut::Count(count) => Ok(count),
                    _ => Err(unexpected()),
                }
            })
        }

        fn create_run(&self, run: NewRun) -> BoxFuture<'_, Result<CreateOutcome, Error>> {
            Box::pin(async move {
                match self.write(WriteOp::Create(run)).await? {
                    WriteOut::Created(outcome) => Ok(outcome),
                    _ => Err(unexpected()),
                }
            })
        }

        fn claim_ready(
            &self,
            request: ClaimRequest,
        ) -> BoxFuture<'_, Result<Vec<ClaimedRun>, Error>> {
            Box::pin(async move {
                match self.write(WriteOp::Claim(request)).await? {
                    WriteOut::Claimed(runs) => Ok(runs),
                    _ => Err(unexpected()),
                }
            })
        }

        fn save_step(&self, lease: Lease, step: StepRecord) -> BoxFuture<'_, Result<(), Error>> {
            Box::pin(async move {
                self.write(WriteOp::SaveStep(lease, step)).await?;
                Ok(())
            })
        }

        fn save_step_detached(&self, lease: Lease, step: StepRecord) {
            self.writer.submit_detached(WriteOp::SaveStep(lease, step));
        }

        fn suspend_run(
            &self,
            lease: Lease,
            ready_at: Option<i64>,
            steps: Vec<StepRecord>,
            now: i64,
        ) -> BoxFuture<'_, Result<(), Error>> {
            Box::pin(async move {
                self.write(WriteOp::Suspend {
                    lease,
                    ready_at,
                    steps,
                    now,
                })
                .await?;
                Ok(())
            })
        }

        fn release_run(&self, lease: Lease, now: i64) -> BoxFuture<'_, Result<(), Error>> {
            Box::pin(async move {
                self.write(WriteOp::Release { lease, now }).await?;
                Ok(())
            })
        }

        fn finish_run(
            &self,
            lease: Lease,
            outcome: RunOutcome,
            steps: Vec<StepRecord>,
            now: i64,
        ) -> BoxFuture<'_, Result<FinishEffects, Error>> {
            Box::pin(async move {
                match self
                    .write(WriteOp::Finish {
                        lease,
                        outcome,
                        steps,
                        now,
                    })
                    .await?
                {
                    WriteOut::Finished(effects) => Ok(effects),
                    _ => Err(unexpected()),
                }
            })
        }

        fn cancel_run(
            &self,
            run_id: RunId,
            now: i64,
        ) -> BoxFuture<'_, Result<(TransitionOutcome, Vec<RunId>), Error>> {
            Box::pin(async move {
                match self.write(WriteOp::Cancel { run_id, now }).await? {
                    WriteOut::Transition(outcome, cancelled) => Ok((outcome, cancelled)),
                    _ => Err(unexpected()),
                }
            })
        }

        fn retry_run(
            &self,
            run_id: RunId,
            now: i64,
            deadline_at: Option<i64>,
        ) -> BoxFuture<'_, Result<TransitionOutcome, Error>> {
            Box::pin(async move {
                match self
                    .write(WriteOp::Retry {
                        run_id,
                        now,
                        deadline_at,
                    })
                    .await?
                {
                    WriteOut::Transition(outcome, _) => Ok(outcome),
                    _ => Err(unexpected()),
                }
            })
        }

        fn start_child(
            &self,
            lease: Lease,
            step: StepRecord,
            child: NewRun,
            wait: bool,
        ) -> BoxFuture<'_, Result<(), Error>> {
            Box::pin(async move {
                self.write(WriteOp::StartChild {
                    lease,
                    step,
                    child,
                    wait,
                })
                .await?;
                Ok(())
            })
        }

        fn set_deadline(
            &self,
            lease: Lease,
            step: StepRecord,
            deadline_at: Option<i64>,
        ) -> BoxFuture<'_, Result<(), Error>> {
            Box::pin(async move {
                self.write(WriteOp::SetDeadline {
                    lease,
                    step,
                    deadline_at,
                })
                .await?;
                Ok(())
            })
        }

        fn append_log(&self, lease: Lease, line: LogLine) {
            self.writer.submit_detached(WriteOp::AppendLog(lease, line));
        }

        fn renew_leases(
            &self,
            leases: Vec<Lease>,
            until: i64,
        ) -> BoxFuture<'_, Result<Renewal, Error>> {
            Box::pin(async move {
                match self.write(WriteOp::RenewLeases { leases, until }).await? {
                    WriteOut::Renewed(renewal) => Ok(renewal),
                    _ => Err(unexpected()),
                }
            })
        }

        fn fork_run(&self, fork: NewFork) -> BoxFuture<'_, Result<ForkOutcome, Error>> {
            Box::pin(async move {
                match self.write(WriteOp::Fork(fork)).await? {
                    WriteOut::Forked(outcome) => Ok(outcome),
                    _ => Err(unexpected()),
                }
            })
        }

        fn set_paused(
            &self,
            run_id: RunId,
            paused: bool,
            now: i64,
        ) -> BoxFuture<'_, Result<TransitionOutcome, Error>> {
            Box::pin(async move {
                match self
                    .write(WriteOp::SetPaused {
                        run_id,
                        paused,
                        now,
                    })
                    .await?
                {
                    WriteOut::Transition(outcome, _) => Ok(outcome),
                    _ => Err(unexpected()),
                }
            })
        }
    };
}

/// The [`WaitStore`](super::WaitStore) methods that are one queued write, for a
/// backend with `async fn write(&self, WriteOp) -> Result<WriteOut, Error>`
/// and a `writer: GroupCommit<WriteOp, WriteOut>`: every backend answers
/// them the same way, through its `write` (which queues them for its writer,
/// but for PostgreSQL's claims).
macro_rules! queued_wait_writes {
    () => {
        fn register_wait(
            &self,
            lease: Lease,
            step: StepRecord,
            wait: Wait,
        ) -> BoxFuture<'_, Result<Option<String>, Error>> {
            Box::pin(async move {
                match self
                    .write(WriteOp::RegisterWait { lease, step, wait })
                    .await?
                {
                    WriteOut::Waited(output) => Ok(output),
                    _ => Err(unexpected()),
                }
            })
        }

        fn resolve_wait(
            &self,
            lease: Lease,
            step: String,
            now: i64,
        ) -> BoxFuture<'_, Result<String, Error>> {
            Box::pin(async move {
                match self
                    .write(WriteOp::ResolveWait { lease, step, now })
                    .await?
                {
                    WriteOut::Resolved(output) => Ok(output),
                    _ => Err(unexpected()),
                }
            })
        }

        fn send_event(
            &self,
            event: NewEvent,
            origin: Option<(Lease, StepRecord)>,
        ) -> BoxFuture<'_, Result<SentEvent, Error>> {
            Box::pin(async move {
                match self.write(WriteOp::SendEvent { event, origin }).await? {
                    WriteOut::Sent(sent) => Ok(sent),
                    _ => Err(unexpected()),
                }
            })
        }
    };
}

/// The [`MaintenanceStore`](super::MaintenanceStore) methods that are one queued write, for a
/// backend with `async fn write(&self, WriteOp) -> Result<WriteOut, Error>`
/// and a `writer: GroupCommit<WriteOp, WriteOut>`: every backend answers
/// them the same way, through its `write` (which queues them for its writer,
/// but for PostgreSQL's claims).
macro_rules! queued_maintenance_writes {
    () => {
        fn delete_finished(&self, request: DeleteFinished) -> BoxFuture<'_, Result<u64, Error>> {
            Box::pin(async move {
                match self.write(WriteOp::DeleteFinished(request)).await? {
                    WriteOut::Count(count) => Ok(count),
                    _ => Err(unexpected()),
                }
            })
        }

        fn time_out_overdue(
            &self,
            now: i64,
            limit: usize,
        ) -> BoxFuture<'_, Result<Vec<RunId>, Error>> {
            Box::pin(async move {
                match self.write(WriteOp::TimeOutOverdue { now, limit }).await? {
                    WriteOut::Ended(ended) => Ok(ended),
                    _ => Err(unexpected()),
                }
            })
        }

        fn delete_events(&self, before: i64, limit: usize) -> BoxFuture<'_, Result<u64, Error>> {
            Box::pin(async move {
                match self.write(WriteOp::DeleteEvents { before, limit }).await? {
                    WriteOut::Count(count) => Ok(count),
                    _ => Err(unexpected()),
                }
            })
        }
    };
}

pub(crate) use {queued_maintenance_writes, queued_run_writes, queued_wait_writes};
