//! The store conformance suite on SQLite, each case on a fresh database file
//! and on a fresh in-memory database.

use durable::Durability;
use durable::store::sqlite::{SqliteLocation, SqliteStore};
use durable_tests::{Scratch, conformance};

macro_rules! conformance_cases {
    ($($case:ident),* $(,)?) => {
        mod file {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    let scratch = Scratch::new(stringify!($case));
                    let location = SqliteLocation::File(scratch.join("store.db"));
                    let store = SqliteStore::open(&location, Durability::Normal).await.unwrap();
                    conformance::$case(&store).await;
                }
            )*
        }
        mod memory {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    let store = SqliteStore::open(&SqliteLocation::Memory, Durability::Full).await.unwrap();
                    conformance::$case(&store).await;
                }
            )*
        }
    };
}

conformance_cases!(
    a_stale_lease_cannot_write,
    recovery_fences_the_previous_worker,
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
);
