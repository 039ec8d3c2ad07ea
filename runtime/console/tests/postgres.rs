//! The console's route suite (`tests/suite`) on PostgreSQL, a fresh schema
//! per test. Needs `DURABLE_TEST_POSTGRES_URL` (`.ci/run` sets it); without
//! it each test prints a notice and passes.

use durable_tests::TestDb;
use suite::Db;

fn test_db(label: &str) -> Option<Db> {
    TestDb::postgres(label).map(Db::Test)
}

#[path = "suite/mod.rs"]
mod suite;
