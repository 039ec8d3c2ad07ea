//! The store conformance suite on PostgreSQL, each case in a fresh schema.
//!
//! The server's URL comes from `DURABLE_TEST_POSTGRES_URL` (`.ci/run` sets
//! it); without it each case prints a notice and passes, so `cargo test`
//! works on a laptop without PostgreSQL.

use durable::store::postgres::{DEFAULT_LEASE, PostgresStore};
use durable_tests::{conformance, postgres_url, unique_schema};

macro_rules! conformance_cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let Some(url) = postgres_url() else { return };
                let schema = unique_schema(stringify!($case));
                let store = PostgresStore::open(&url, Some(&schema), DEFAULT_LEASE).await.unwrap();
                conformance::$case(&store).await;
            }
        )*
    };
}

durable_tests::every_case!(conformance_cases);
