//! The behaviour suite (`tests/suite`) on PostgreSQL, a fresh schema per
//! test. Needs `DURABLE_TEST_POSTGRES_URL` (`.ci/run` sets it); without it
//! each test prints a notice and passes.

use durable_tests::TestDb;

fn test_db(label: &str) -> Option<TestDb> {
    TestDb::postgres(label)
}

#[path = "../suite/mod.rs"]
mod suite;
