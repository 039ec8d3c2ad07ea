//! Rules both backends apply to what their statements report, with no SQL:
//! a backend runs its statements, then asks these what the result means.

use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::status::StepStatus;
use crate::store::ops::WriteOut;
use crate::store::rows::{parse_run_id, parse_run_status};
use crate::store::{
    CreateOutcome, FinishEffects, Lease, RunOutcome, StepRecord, TransitionOutcome,
};

/// The answer to a write whose run is no longer held by `lease` (the run
/// moved on without it).
pub(crate) fn lease_lost(lease: &Lease) -> Result<WriteOut, Error> {
    Err(Error::LeaseLost {
        run_id: lease.run_id,
    })
}

/// The result of a write fenced by `lease` that had to change its run's row:
/// done if it did, else the lease was lost.
pub(crate) fn fenced(changed_its_row: bool, lease: &Lease) -> Result<WriteOut, Error> {
    if changed_its_row {
        Ok(WriteOut::Done)
    } else {
        lease_lost(lease)
    }
}

/// A transition that changed no row, given the run's stored status (`None`
/// when there is no such run): refused by that status, or not found.
pub(crate) fn refused_transition(status: Option<&str>) -> Result<TransitionOutcome, Error> {
    Ok(match status {
        Some(status) => TransitionOutcome::Refused(parse_run_status(status)?),
        None => TransitionOutcome::NotFound,
    })
}

/// A create whose idempotency key the run `id` holds already: that run if
/// it was created with the same input, else a conflict.
pub(crate) fn existing_run(id: &str, same_input: bool) -> Result<CreateOutcome, Error> {
    let existing = parse_run_id(id)?;
    Ok(if same_input {
        CreateOutcome::Existing(existing)
    } else {
        CreateOutcome::Conflict(existing)
    })
}

/// The result of a finish under `lease`: done, with the runs the batch
/// cancelled and whether the run's waiters were settled, if the finish
/// `applied`; else the lease was lost.
pub(crate) fn finished(
    lease: &Lease,
    applied: bool,
    woke_waiters: bool,
    cancelled: &[RunId],
) -> Result<WriteOut, Error> {
    if applied {
        Ok(WriteOut::Finished(FinishEffects {
            cancelled: cancelled.to_vec(),
            woke_waiters,
            recorded: None,
        }))
    } else {
        lease_lost(lease)
    }
}

/// The finish of the run `run_id`, which timed out while its parent was
/// unfinished and overdue too, so it was cancelled with its tree as its
/// parent's timeout would cancel it: recorded `cancelled`, its parent's
/// waiting step settled, and the rest of the tree (`cancelled` without the
/// run) stopped.
pub(crate) fn finished_as_cancelled(run_id: RunId, mut cancelled: Vec<RunId>) -> WriteOut {
    cancelled.retain(|id| *id != run_id);
    WriteOut::Finished(FinishEffects {
        cancelled,
        woke_waiters: true,
        recorded: Some(RunOutcome::Cancelled(String::new())),
    })
}

/// The result of a step write that wrote nothing, given whether the run's
/// lease still holds: refused for a stale lease; for a completed step (never
/// overwritten) harmless if the write was a `running` marker, else a sign
/// that another execution recorded the step first.
pub(crate) fn unwritten_step(
    holds_lease: bool,
    lease: &Lease,
    step: &StepRecord,
) -> Result<WriteOut, Error> {
    if !holds_lease {
        lease_lost(lease)
    } else if step.status == StepStatus::Running {
        Ok(WriteOut::Done)
    } else {
        Err(Error::StepRecordedElsewhere {
            run_id: lease.run_id,
            step: step.name.clone(),
        })
    }
}
