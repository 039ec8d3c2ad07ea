//! The behaviour suite (`tests/suite`) on SQLite, a fresh file per test.

use durable_tests::TestDb;

fn test_db(label: &str) -> Option<TestDb> {
    Some(TestDb::sqlite(label))
}

#[path = "../suite/mod.rs"]
mod suite;
