//! Where runs come from besides a direct trigger: cron schedules, and
//! events (`#[workflow(on_event = ..)]`). The cron source starts runs
//! through the engine's core, as a trigger from outside does; the event
//! source decides the runs an event starts, which the store creates with
//! the event.

pub(crate) mod cron;
pub(crate) mod events;
