//! Conformance cases of the counts by workflow and status and of the
//! per-minute series.

use super::helpers::{NOW, create, create_claimed, finish, fixture, run_at};
use crate::model::listing::{MinuteCounts, StatusCount};
use crate::model::status::RunStatus;
use crate::store::listing::MINUTE_MS;
use crate::store::{ClaimRequest, RunOutcome, Store};

/// Counts are per workflow and status, by workflow then status (as text),
/// without the pairs that have no run.
pub(crate) async fn runs_are_counted_by_workflow_and_status(store: &dyn Store) {
    assert!(store.count_runs().await.unwrap().is_empty());
    fixture(store).await;
    create(store, run_at("orders", "{}", NOW + 9_000)).await;
    let count = |workflow: &str, status, count| StatusCount {
        workflow: workflow.into(),
        status,
        count,
    };
    assert_eq!(
        store.count_runs().await.unwrap(),
        [
            count("mail", RunStatus::Failed, 1),
            count("mail", RunStatus::Suspended, 1),
            count("mail", RunStatus::TimedOut, 1),
            count("orders", RunStatus::Cancelled, 1),
            count("orders", RunStatus::Completed, 1),
            count("orders", RunStatus::Pending, 2),
            count("orders", RunStatus::Running, 1),
        ]
    );
}

/// The oldest due pending run is the one due longest: delayed runs not yet
/// due, suspended and running runs do not count.
pub(crate) async fn the_oldest_due_pending_run_is_found(store: &dyn Store) {
    assert_eq!(store.oldest_due_pending(NOW).await.unwrap(), None);
    let fixture = fixture(store).await;
    // The fixture's one pending run was due at NOW; a later one and a
    // delayed one do not change that.
    create(store, run_at("orders", "{}", NOW + 2_000)).await;
    let mut delayed = run_at("orders", "{}", NOW - 60_000);
    delayed.ready_at = NOW + 60_000;
    create(store, delayed).await;
    assert_eq!(
        store.oldest_due_pending(NOW + 10_000).await.unwrap(),
        Some(NOW)
    );
    // Before anything was due, nothing is.
    assert_eq!(store.oldest_due_pending(NOW - 1).await.unwrap(), None);
    // Once the oldest is cancelled, the next one is the oldest.
    store
        .cancel_run(fixture.pending, NOW + 10_000)
        .await
        .unwrap();
    assert_eq!(
        store.oldest_due_pending(NOW + 10_000).await.unwrap(),
        Some(NOW + 2_000)
    );
    // The delayed run counts once it is due.
    assert_eq!(
        store.oldest_due_pending(NOW + 120_000).await.unwrap(),
        Some(NOW + 2_000)
    );
}

fn claim_flow(now: i64) -> ClaimRequest {
    ClaimRequest {
        owner: "reads".into(),
        now,
        limit: 10,
        workflows: r#"["flow"]"#.into(),
        lease_expires_at: Some(now + 3_600_000),
    }
}

/// The series counts each minute's first starts, completions and failures
/// (timeouts included), with zeros for a minute without any; a run started
/// again later counts once, a cancelled one not at all.
pub(crate) async fn the_series_counts_each_minute(store: &dyn Store) {
    let base = (NOW / MINUTE_MS + 1) * MINUTE_MS;
    let minute = |index: i64| base + index * MINUTE_MS;
    // Started in minute 0, completed in minute 1.
    let a = create_claimed(store, run_at("a", "{}", minute(0) + 1_000)).await;
    finish(
        store,
        a,
        RunOutcome::Completed("1".into()),
        minute(1) + 1_000,
    )
    .await;
    // Started in minute 0, released, started again in minute 1, failed in
    // minute 2.
    create(store, run_at("flow", "{}", minute(0) + 2_000)).await;
    let first = store
        .claim_ready(claim_flow(minute(0) + 5_000))
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    store
        .release_run(first[0].lease, minute(0) + 6_000)
        .await
        .unwrap();
    let again = store
        .claim_ready(claim_flow(minute(1) + 5_000))
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    finish(
        store,
        again[0].lease,
        RunOutcome::Failed("no".into()),
        minute(2) + 5_000,
    )
    .await;
    // Started and timed out in minute 2.
    let c = create_claimed(store, run_at("c", "{}", minute(2) + 10_000)).await;
    finish(store, c, RunOutcome::TimedOut, minute(2) + 30_000).await;
    // Never started.
    create(store, run_at("idle", "{}", minute(0) + 3_000)).await;
    // Started in minute 0, cancelled in minute 1.
    let e = create_claimed(store, run_at("e", "{}", minute(0) + 10_000)).await;
    store
        .cancel_run(e.run_id, minute(1) + 10_000)
        .await
        .unwrap();
    // Before and after the series.
    let g = create_claimed(store, run_at("g", "{}", minute(-1) + 1_000)).await;
    finish(
        store,
        g,
        RunOutcome::Completed("1".into()),
        minute(-1) + 2_000,
    )
    .await;
    let h = create_claimed(store, run_at("h", "{}", minute(4) + 1_000)).await;
    finish(
        store,
        h,
        RunOutcome::Failed("late".into()),
        minute(4) + 2_000,
    )
    .await;

    let counts = |index: i64, started, completed, failed| MinuteCounts {
        minute: minute(index),
        started,
        completed,
        failed,
    };
    assert_eq!(
        store.run_series(minute(0), minute(4)).await.unwrap(),
        [
            counts(0, 3, 0, 0),
            counts(1, 0, 1, 0),
            counts(2, 1, 0, 2),
            counts(3, 0, 0, 0),
        ]
    );
    // The minute holding `from` is counted whole, up to the one holding
    // `until - 1`.
    assert_eq!(
        store
            .run_series(minute(0) + 30_000, minute(1))
            .await
            .unwrap(),
        [counts(0, 3, 0, 0)]
    );
    assert_eq!(
        store.run_series(minute(3), minute(5) - 1).await.unwrap(),
        [counts(3, 0, 0, 0), counts(4, 1, 0, 1)]
    );
    assert_eq!(
        store.run_series(minute(10), minute(12)).await.unwrap(),
        [counts(10, 0, 0, 0), counts(11, 0, 0, 0)]
    );
}
