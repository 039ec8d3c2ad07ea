//! The console's route suite (`tests/suite`) on an in-memory SQLite
//! database per test.

use suite::Db;

fn test_db(_label: &str) -> Option<Db> {
    Some(Db::Memory)
}

#[path = "suite/mod.rs"]
mod suite;
