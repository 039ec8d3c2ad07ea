//! The writes of the store, as the group-commit writers of every backend
//! queue and apply them, and the order a batch applies them in.

use super::{
    ClaimRequest, ClaimedRun, CreateOutcome, DeleteFinished, Lease, LogLine, NewEvent, NewRun,
    RunOutcome, SentEvent, StepRecord, TransitionOutcome, Wait,
};
use crate::RunId;

/// One write queued for the writer.
pub(crate) enum WriteOp {
    Recover {
        now: i64,
    },
    Create(NewRun),
    Claim(ClaimRequest),
    SaveStep(Lease, StepRecord),
    Suspend {
        lease: Lease,
        ready_at: Option<i64>,
        now: i64,
    },
    Release {
        lease: Lease,
        now: i64,
    },
    Finish {
        lease: Lease,
        outcome: RunOutcome,
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
    AppendLog(Lease, LogLine),
    RenewLeases {
        leases: Vec<Lease>,
        until: i64,
    },
    DeleteFinished(DeleteFinished),
    DeleteEvents {
        before: i64,
        limit: usize,
    },
    Retry {
        run_id: RunId,
        now: i64,
        deadline_at: Option<i64>,
    },
}

impl WriteOp {
    /// Whether the op changes the database with one statement, so it is
    /// atomic without an explicit transaction (its other statements only
    /// read). Ops that write twice (a finish and the waiters it settles, a
    /// child and the step that started it, an event and its waiters) must
    /// not be cut in half by a crash, so they always get a transaction.
    pub(crate) fn is_single_write(&self) -> bool {
        matches!(
            self,
            WriteOp::Recover { .. }
                | WriteOp::Create(_)
                | WriteOp::Claim(_)
                | WriteOp::SaveStep(..)
                | WriteOp::Suspend { .. }
                | WriteOp::Release { .. }
                | WriteOp::ResolveWait { .. }
                | WriteOp::AppendLog(..)
                | WriteOp::RenewLeases { .. }
                | WriteOp::DeleteFinished(_)
                | WriteOp::DeleteEvents { .. }
        )
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
            WriteOp::Retry { .. } => 3,
            WriteOp::SaveStep(..) | WriteOp::AppendLog(..) | WriteOp::RenewLeases { .. } => 4,
            // Waits before sends, so a wait and a send that share a batch meet.
            WriteOp::RegisterWait { .. } | WriteOp::StartChild { .. } => 5,
            WriteOp::SendEvent { .. } | WriteOp::ResolveWait { .. } => 6,
            WriteOp::Suspend { .. } | WriteOp::Release { .. } => 7,
            WriteOp::Finish { .. } => 8,
            WriteOp::Claim(_) => 9,
            WriteOp::DeleteFinished(_) | WriteOp::DeleteEvents { .. } => 10,
        }
    }
}

/// What one write returned.
pub(crate) enum WriteOut {
    Created(CreateOutcome),
    Claimed(Vec<ClaimedRun>),
    Count(u64),
    Transition(TransitionOutcome, Vec<RunId>),
    Finished(Vec<RunId>),
    Waited(Option<String>),
    Resolved(String),
    Sent(SentEvent),
    Lost(Vec<RunId>),
    Done,
}
