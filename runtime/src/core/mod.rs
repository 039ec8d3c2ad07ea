//! Pure decisions, each unit-tested with no store and no runtime: replay
//! (answer a step from the journal, run it, or fail as non-deterministic),
//! timing (when a run is due, when it times out), cron schedules and
//! overlap, retry policy, retention policy, JSON decoding and matching, the
//! catalog's fingerprints and schema checks, which event triggers an
//! event fires, the concurrency keys and limits of claims, the start
//! times of debounced and throttled runs, and what cancels a run of a
//! workflow with `cancel_on`.
//!
//! Imports only [`crate::model`].

pub(crate) mod cancel_on;
pub(crate) mod catalog;
pub(crate) mod concurrency;
pub(crate) mod cron;
pub(crate) mod flow;
pub(crate) mod json;
pub(crate) mod replay;
pub(crate) mod retention;
pub(crate) mod retry;
pub(crate) mod timing;
pub(crate) mod triggers;
