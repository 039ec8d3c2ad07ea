//! Conformance cases of step records and the journal: completed steps are
//! never overwritten, writes that share a batch are refused one by one, and
//! a suspension saves the steps it carries.

use super::helpers::{
    NOW, claim_request, create_and_claim, futures_join_all, is_lease_lost, json, new_run, step,
    stored, waiting,
};
use crate::model::error::Error;
use crate::model::status::{RunStatus, StepStatus};
use crate::model::workflow::StepKind;
use crate::store::{Lease, NewRun, RunOutcome, StepRecord, Store, Wait};

/// A completed step record is never overwritten: a late `running` marker is
/// ignored, a second completion refused.
pub(crate) async fn completed_steps_are_never_overwritten(store: &dyn Store) {
    let lease = create_and_claim(store).await;
    store
        .save_step(lease, step("a", 0, StepStatus::Completed, Some("1")))
        .await
        .unwrap();
    store
        .save_step(lease, step("a", 0, StepStatus::Running, None))
        .await
        .unwrap();
    // A second completion means another execution recorded the step first:
    // refused with a named error, so the caller replays instead.
    let second = store
        .save_step(lease, step("a", 0, StepStatus::Completed, Some("2")))
        .await;
    assert!(
        matches!(second, Err(Error::StepRecordedElsewhere { .. })),
        "{second:?}"
    );
    let journal = store.load_journal(lease.run_id).await.unwrap();
    assert_eq!(
        (journal[0].status, journal[0].output.as_deref().map(json)),
        (StepStatus::Completed, Some(json("1")))
    );
}

/// Writes of many runs that share a batch: a fenced one fails alone.
pub(crate) async fn one_refused_write_does_not_fail_its_batch(store: &dyn Store) {
    let mut leases = Vec::new();
    for _ in 0..20 {
        leases.push(create_and_claim(store).await);
    }
    let stale = leases[7];
    store.cancel_run(stale.run_id, NOW).await.unwrap();
    let writes = leases
        .iter()
        .map(|lease| store.save_step(*lease, step("a", 0, StepStatus::Completed, Some("1"))));
    let results = futures_join_all(writes).await;
    for (index, result) in results.iter().enumerate() {
        assert_eq!(result.is_ok(), index != 7, "write {index}: {result:?}");
    }
    let finishes = leases
        .iter()
        .map(|lease| store.finish_run(*lease, RunOutcome::Completed("1".into()), Vec::new(), NOW));
    let results = futures_join_all(finishes).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 19);
}

/// Every write of a step under a stale lease (a step result, a child
/// started, a wait registered) writes nothing and fails with `LeaseLost`,
/// also when it shares a batch with the same writes of a live run.
pub(crate) async fn stale_step_writes_write_nothing_in_a_batch(store: &dyn Store) {
    let stale = create_and_claim(store).await;
    let live = create_and_claim(store).await;
    store.cancel_run(stale.run_id, NOW).await.unwrap();
    let child = |lease: Lease| NewRun {
        queue: Default::default(),
        parent_id: Some(lease.run_id),
        ..new_run("flow", "{}", None, NOW)
    };
    let (stale_child, live_child) = (child(stale), child(live));
    let wait = || Wait::Event {
        name: "paid".into(),
        filter: None,
        lookback_from: None,
    };
    let writes = |lease: Lease, child: NewRun| async move {
        tokio::join!(
            store.save_step(lease, step("a", 0, StepStatus::Completed, Some("1"))),
            store.start_child(
                lease,
                waiting("b", StepKind::StartChild, None),
                child,
                false
            ),
            store.register_wait(
                lease,
                waiting("c", StepKind::WaitForEvent, Some(NOW + 1_000)),
                wait()
            ),
        )
    };
    let ((saved, started, registered), live_results) = tokio::join!(
        writes(stale, stale_child.clone()),
        writes(live, live_child.clone())
    );
    assert!(is_lease_lost(saved), "step result");
    assert!(is_lease_lost(started), "child started");
    assert!(is_lease_lost(registered), "wait registered");
    assert!(store.load_journal(stale.run_id).await.unwrap().is_empty());
    assert!(store.get_run(stale_child.id).await.unwrap().is_none());
    let (saved, started, registered) = live_results;
    saved.unwrap();
    started.unwrap();
    assert_eq!(registered.unwrap(), None);
    assert_eq!(store.load_journal(live.run_id).await.unwrap().len(), 3);
    assert!(store.get_run(live_child.id).await.unwrap().is_some());
}

/// A suspension saves the step records it carries (a sleep's record) in the
/// same transaction, fenced like the suspension: a stale lease writes
/// neither. The claim that takes the run again reads its journal along
/// (both stores do, saving a read per woken run).
pub(crate) async fn a_suspension_saves_the_steps_it_carries(store: &dyn Store) {
    let lease = create_and_claim(store).await;
    let sleeping = StepRecord {
        kind: StepKind::Sleep,
        wake_at: Some(NOW + 1_000),
        ..step("nap", 0, StepStatus::Sleeping, None)
    };
    store
        .suspend_run(lease, Some(NOW + 1_000), vec![sleeping.clone()], NOW)
        .await
        .unwrap();
    assert_eq!(
        store.load_journal(lease.run_id).await.unwrap(),
        [stored(&sleeping)]
    );
    let info = store.get_run(lease.run_id).await.unwrap().unwrap();
    assert_eq!(info.status, RunStatus::Suspended);
    // Claimed again at its wake time, by a newer lease; the old one is
    // fenced out and carries nothing in.
    let claimed = store
        .claim_ready(claim_request(10, NOW + 1_000))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        claimed[0].journal.as_deref(),
        Some(&[stored(&sleeping)][..]),
        "the claim read the journal along"
    );
    let later = StepRecord {
        name: "later".into(),
        seq: 1,
        ..sleeping.clone()
    };
    assert!(is_lease_lost(
        store
            .suspend_run(lease, Some(NOW + 5_000), vec![later], NOW + 1_000)
            .await
    ));
    assert_eq!(
        store.load_journal(lease.run_id).await.unwrap(),
        [stored(&sleeping)]
    );
}
