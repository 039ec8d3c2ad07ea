//! The storage of waiting steps, events and signals.

use super::records::NewEvent;
use crate::model::error::Error;
use crate::model::event::SentEvent;
use crate::model::journal::{StepRecord, Wait};
use crate::model::lease::Lease;
use crate::model::sync::BoxFuture;

/// Waiting steps and the events and signals that settle them.
pub(crate) trait WaitStore: Send + Sync + 'static {
    /// Records a waiting step, unless something already satisfies it (an
    /// event within the lookback, a buffered signal, a finished run): then
    /// the step is recorded completed and its output returned.
    fn register_wait(
        &self,
        lease: Lease,
        step: StepRecord,
        wait: Wait,
    ) -> BoxFuture<'_, Result<Option<String>, Error>>;

    /// Completes a waiting step at its timeout with the output `null`, unless
    /// it was satisfied first; returns the step's output either way.
    fn resolve_wait(
        &self,
        lease: Lease,
        step: String,
        now: i64,
    ) -> BoxFuture<'_, Result<String, Error>>;

    /// Stores an event (or signal) and settles every matching waiting step
    /// (for a signal: the oldest waiting `listen` of its run), waking their
    /// runs. With an origin step, that step is recorded completed in the
    /// same transaction, so a send from a run happens exactly once.
    fn send_event(
        &self,
        event: NewEvent,
        origin: Option<(Lease, StepRecord)>,
    ) -> BoxFuture<'_, Result<SentEvent, Error>>;
}
