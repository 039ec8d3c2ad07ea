//! The store conformance suite: one set of cases ([`cases`]) that every
//! backend passes, each case on a fresh, empty store. Adding a case to
//! `every_case!` runs it on every backend.

mod cases;
mod postgres;
mod read_cases;
mod sqlite;
mod support;
