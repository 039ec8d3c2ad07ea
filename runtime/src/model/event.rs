//! What sending an event did.

use crate::model::ids::RunId;

/// What sending an event did ([`Engine::send_event`](crate::Engine::send_event), [`Ctx::send_event`](crate::Ctx::send_event)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentEvent {
    /// The event's id (`wf_event.id`).
    pub id: i64,
    /// The runs whose waits it satisfied.
    pub woken: Vec<RunId>,
}
