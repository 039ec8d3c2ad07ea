//! The execution layer: drives one claimed run's body against the store,
//! with the time source, the concurrency slots and the narrow environment
//! the step API (`ctx`) sees instead of the whole engine. Imports only
//! `model`, `core` and `store`.

pub(crate) mod clock;
pub(crate) mod unwind;
