//! The console's route suite (`tests/suite`) on a fresh SQLite file per
//! test.

use durable_tests::TestDb;
use suite::Db;

fn test_db(label: &str) -> Option<Db> {
    Some(Db::Test(TestDb::sqlite(label)))
}

#[path = "suite/mod.rs"]
mod suite;
