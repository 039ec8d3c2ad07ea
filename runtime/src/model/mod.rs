//! Plain data: ids, statuses, run and step info, trigger and fork options, journal
//! records, leases, log lines, events, payload limits and the error type.
//!
//! The bottom layer: nothing here does I/O, and nothing here imports a
//! module outside `model`.

pub(crate) mod catalog;
pub(crate) mod change;
pub(crate) mod duration;
pub(crate) mod error;
pub(crate) mod event;
pub(crate) mod fork;
pub(crate) mod ids;
pub(crate) mod info;
pub(crate) mod journal;
pub(crate) mod lease;
pub(crate) mod limits;
pub(crate) mod listing;
pub(crate) mod log;
pub(crate) mod outcome;
pub(crate) mod status;
pub(crate) mod sync;
pub(crate) mod trigger;
pub(crate) mod workflow;
