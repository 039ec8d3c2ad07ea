//! Where runs come from besides a direct trigger: cron schedules now, event
//! triggers next. Each source starts runs through the engine's core, as a
//! trigger from outside does.

pub(crate) mod cron;
