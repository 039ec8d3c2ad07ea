//! The conformance cases of a step's attempt log: the writes that end an
//! attempt append its times and error, once each, the last 100 kept, fenced
//! like the step's write; the run's detail and its journal read them back.

use super::helpers::{NOW, create_and_claim, futures_join_all, is_lease_lost, record, step};
use crate::model::info::{AttemptInfo, StepInfo};
use crate::model::status::StepStatus;
use crate::store::{Lease, RunOutcome, StepRecord, Store};

/// Attempt `n` of a step, from `started` to `ended`, failed with `error`.
fn attempt(n: u32, started: i64, ended: i64, error: Option<&str>) -> AttemptInfo {
    AttemptInfo {
        attempt: n,
        started_at: started,
        ended_at: ended,
        error: error.map(str::to_owned),
    }
}

/// The write of `name`'s attempt `n` failing at `ended`, retried 30 ms later.
fn failed(name: &str, n: u32, started: i64, ended: i64) -> StepRecord {
    let error = format!("e{n}");
    StepRecord {
        attempts: n,
        started_at: Some(started),
        wake_at: Some(ended + 30),
        finished_attempt: Some(Box::new(attempt(n, started, ended, Some(&error)))),
        error: Some(error),
        ..record(name, 1, StepStatus::Pending, ended)
    }
}

/// The step `name` of the run in full.
async fn detail_step(store: &dyn Store, lease: Lease, name: &str) -> StepInfo {
    let detail = store.run_detail(lease.run_id).await.unwrap().unwrap();
    detail
        .steps
        .into_iter()
        .find(|step| step.name == name)
        .expect("the step is recorded")
}

/// A step that fails twice and then completes (its completion carried by
/// the run's finish) reads back with its two failed attempts and the one
/// that completed it, oldest first, each within the step's start and end
/// and the next starting after the last ended; a write applied again
/// appends nothing; a step done at its first attempt has an empty log.
pub(crate) async fn each_ended_attempt_keeps_its_times(store: &dyn Store) {
    let lease = create_and_claim(store).await;
    store
        .save_step(lease, step("once", 0, StepStatus::Completed, Some("1")))
        .await
        .unwrap();
    store
        .save_step(lease, failed("flaky", 1, NOW + 10, NOW + 20))
        .await
        .unwrap();
    // The same write again (a commit retried after an unclear answer).
    store
        .save_step(lease, failed("flaky", 1, NOW + 10, NOW + 20))
        .await
        .unwrap();
    store
        .save_step(lease, failed("flaky", 2, NOW + 50, NOW + 60))
        .await
        .unwrap();
    let retrying = detail_step(store, lease, "flaky").await;
    assert_eq!(
        retrying.attempt_log,
        [
            attempt(1, NOW + 10, NOW + 20, Some("e1")),
            attempt(2, NOW + 50, NOW + 60, Some("e2")),
        ]
    );
    let completed = StepRecord {
        output: Some("2".into()),
        attempts: 3,
        started_at: Some(NOW + 100),
        finished_attempt: Some(Box::new(attempt(3, NOW + 100, NOW + 110, None))),
        ..record("flaky", 1, StepStatus::Completed, NOW + 110)
    };
    store
        .finish_run(
            lease,
            RunOutcome::Completed("2".into()),
            vec![completed],
            NOW + 120,
        )
        .await
        .unwrap();
    let flaky = detail_step(store, lease, "flaky").await;
    let log = &flaky.attempt_log;
    assert_eq!(
        log.iter().map(|a| a.error.as_deref()).collect::<Vec<_>>(),
        [Some("e1"), Some("e2"), None]
    );
    let (start, end) = (flaky.started_at.unwrap(), flaky.ended_at.unwrap());
    assert_eq!((start, end), (NOW + 10, NOW + 110));
    assert!(
        log.iter()
            .all(|a| start <= a.started_at && a.started_at <= a.ended_at)
    );
    assert!(log.iter().all(|a| a.ended_at <= end));
    assert!(log.windows(2).all(|w| w[0].ended_at <= w[1].started_at));
    assert_eq!(flaky.attempts, 3);
    assert!(
        detail_step(store, lease, "once")
            .await
            .attempt_log
            .is_empty()
    );
    let journal = store.load_journal(lease.run_id).await.unwrap();
    let journaled = journal.iter().find(|step| step.name == "flaky").unwrap();
    assert_eq!(
        &*journaled.attempt_log,
        log.as_slice(),
        "the journal reads the same log"
    );
}

/// A log keeps the last 100 attempts (the count stays exact); writes that
/// share a batch append each to its own step; a write refused (a completed
/// step, a stale lease) appends nothing.
pub(crate) async fn the_attempt_log_keeps_the_last_attempts(store: &dyn Store) {
    let lease = create_and_claim(store).await;
    for n in 1..=105_u32 {
        let at = NOW + i64::from(n) * 10;
        store
            .save_step(lease, failed("many", n, at, at + 5))
            .await
            .unwrap();
    }
    let many = detail_step(store, lease, "many").await;
    assert_eq!(many.attempts, 105);
    let numbers: Vec<u32> = many.attempt_log.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, (6..=105).collect::<Vec<_>>());

    // Two steps' failed attempts in one batch.
    let writes = ["x", "y"].map(|name| store.save_step(lease, failed(name, 1, NOW, NOW + 1)));
    for written in futures_join_all(writes.into_iter()).await {
        written.unwrap();
    }
    for name in ["x", "y"] {
        let logged = detail_step(store, lease, name).await.attempt_log;
        assert_eq!(logged, [attempt(1, NOW, NOW + 1, Some("e1"))], "{name}");
    }

    // A completed step is never overwritten, its log neither.
    store
        .save_step(lease, step("done", 1, StepStatus::Completed, Some("1")))
        .await
        .unwrap();
    let _refused = store
        .save_step(lease, failed("done", 2, NOW + 5, NOW + 6))
        .await;
    assert!(
        detail_step(store, lease, "done")
            .await
            .attempt_log
            .is_empty()
    );

    // Once the run is over, its lease writes nothing.
    store
        .finish_run(
            lease,
            RunOutcome::Failed("boom".into()),
            Vec::new(),
            NOW + 2_000,
        )
        .await
        .unwrap();
    assert!(is_lease_lost(
        store
            .save_step(lease, failed("x", 2, NOW + 3_000, NOW + 3_001))
            .await
    ));
    assert_eq!(detail_step(store, lease, "x").await.attempt_log.len(), 1);
}
