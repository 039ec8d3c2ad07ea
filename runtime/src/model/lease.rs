//! A worker's claim on a run, carried by every write it makes.

use crate::model::ids::RunId;

/// A worker's claim on a run: the run and its fencing token. A write carrying
/// a token other than the run's current `wf_instance.lease_token` is refused
/// with [`Error::LeaseLost`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lease {
    /// The run.
    pub run_id: RunId,
    /// The fencing token handed out by the claim.
    pub token: i64,
}
