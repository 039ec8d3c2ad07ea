//! What sending an event did.

use crate::model::ids::RunId;

/// What [`Store::send_event`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentEvent {
    /// The event's id (`wf_event.id`).
    pub id: i64,
    /// The runs whose waits it satisfied.
    pub woken: Vec<RunId>,
}
