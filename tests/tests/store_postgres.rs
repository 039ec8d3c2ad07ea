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

conformance_cases!(
    a_stale_lease_cannot_write,
    idempotency_keys_name_one_run,
    claims_respect_ready_time_and_workflow,
    completed_steps_are_never_overwritten,
    retry_keeps_completed_steps,
    one_refused_write_does_not_fail_its_batch,
    events_settle_matching_waits,
    lookback_sees_earlier_events,
    signals_are_buffered_for_one_run,
    a_send_from_a_stale_run_writes_nothing,
    children_settle_their_parent_and_die_with_it,
    an_expired_lease_is_claimed_by_another_worker,
);
