//! The execution layer: drives one claimed run's body against the store
//! (`executor`), with the time source (`clock`), the concurrency slots
//! (`slots`), the runs in memory and their waiters (`active`), the
//! per-execution state the executor and the step API share (`run_state`),
//! and the narrow environment the step API (`ctx`) sees instead of the
//! whole engine (`env`), the typed events whose schemas sent events must
//! fit (`event_types`), the tracing spans and events it and the step API
//! emit (`trace`), and the step records a run keeps unsaved (`unsaved`).
//! Imports only `model`, `core` and `store`; workflow bodies reach it as
//! type-erased functions.

pub(crate) mod active;
pub(crate) mod clock;
pub(crate) mod env;
pub(crate) mod event_types;
pub(crate) mod executor;
pub(crate) mod run_state;
pub(crate) mod slots;
pub(crate) mod trace;
pub(crate) mod unsaved;
pub(crate) mod unwind;
