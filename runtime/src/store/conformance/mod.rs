//! The store conformance suite: one set of cases ([`cases`], a file per
//! role) that every backend passes, each case on a fresh, empty store.
//! Adding a case to `every_case!` runs it on every backend.

mod cases;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
mod support;
