//! Rules both backends apply to what their statements report, with no SQL:
//! a backend runs its statements, then asks these what the result means.

use crate::model::error::Error;
use crate::store::ops::WriteOut;
use crate::store::rows::parse_run_status;
use crate::store::{Lease, TransitionOutcome};

/// The result of a write fenced by `lease` that had to change its run's row:
/// done if it did, else the lease was lost (the run moved on without it).
pub(crate) fn fenced(changed_its_row: bool, lease: &Lease) -> Result<WriteOut, Error> {
    if changed_its_row {
        Ok(WriteOut::Done)
    } else {
        Err(Error::LeaseLost {
            run_id: lease.run_id,
        })
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
