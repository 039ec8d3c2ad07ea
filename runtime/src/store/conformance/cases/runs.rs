//! Conformance cases of runs and claims: fencing by lease, recovery,
//! idempotency keys, which runs a claim takes, expired leases, and runs
//! claimed as they are created.

use super::helpers::{
    NOW, claim_request, create_and_claim, futures_join_all, is_lease_lost, new_run, step,
};
use crate::model::status::{RunStatus, StepStatus};
use crate::store::{
    ClaimAtCreate, CreateOutcome, Lease, NewRun, RunOutcome, Store, TransitionOutcome,
};

/// A cancel bumps the fencing token: the old lease can write nothing.
pub(crate) async fn a_stale_lease_cannot_write(store: &dyn Store) {
    let lease = create_and_claim(store).await;
    store
        .save_step(lease, step("a", 0, StepStatus::Completed, Some("1")))
        .await
        .unwrap();
    assert_eq!(
        store.cancel_run(lease.run_id, NOW).await.unwrap(),
        (TransitionOutcome::Done, vec![lease.run_id])
    );
    assert!(is_lease_lost(
        store
            .save_step(lease, step("b", 1, StepStatus::Completed, Some("2")))
            .await
    ));
    assert!(is_lease_lost(
        store
            .finish_run(lease, RunOutcome::Completed("3".into()), Vec::new(), NOW)
            .await
    ));
    assert!(is_lease_lost(
        store.suspend_run(lease, Some(NOW), Vec::new(), NOW).await
    ));
    assert!(is_lease_lost(store.release_run(lease, NOW).await));
    let journal = store.load_journal(lease.run_id).await.unwrap();
    assert_eq!(
        journal.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["a"]
    );
    let info = store.get_run(lease.run_id).await.unwrap().unwrap();
    assert_eq!(info.status, RunStatus::Cancelled);
}

/// Recovery hands orphaned runs back with a new token; the old one is fenced.
/// (A store whose leases expire hands runs back by expiry instead; see
/// [`an_expired_lease_is_claimed_by_another_worker`].)
pub(crate) async fn recovery_fences_the_previous_worker(store: &dyn Store) {
    if store.lease_duration().is_some() {
        return;
    }
    let old = create_and_claim(store).await;
    assert_eq!(store.recover(NOW).await.unwrap(), 1);
    assert!(is_lease_lost(
        store
            .save_step(old, step("a", 0, StepStatus::Completed, Some("1")))
            .await
    ));
    let claimed = store.claim_ready(claim_request(10, NOW)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(claimed[0].lease.token > old.token);
    assert_eq!(claimed[0].executions, 2);
    store
        .finish_run(
            claimed[0].lease,
            RunOutcome::Completed("7".into()),
            Vec::new(),
            NOW,
        )
        .await
        .unwrap();
    let info = store.get_run(old.run_id).await.unwrap().unwrap();
    assert_eq!(
        (info.status, info.output),
        (RunStatus::Completed, Some(serde_json::json!(7)))
    );
}

/// Idempotency keys: same input returns the run, another input is refused.
pub(crate) async fn idempotency_keys_name_one_run(store: &dyn Store) {
    let first = new_run("flow", r#"{"a":1}"#, Some("k"), NOW);
    assert_eq!(
        store.create_run(first.clone()).await.unwrap(),
        CreateOutcome::Created(first.id)
    );
    let same = new_run("flow", r#"{"a":1}"#, Some("k"), NOW);
    assert_eq!(
        store.create_run(same).await.unwrap(),
        CreateOutcome::Existing(first.id)
    );
    // The same value written otherwise (as a client in another language
    // may write it) is the same input on every backend.
    let respelled = new_run("flow", r#"{ "a": 1.0 }"#, Some("k"), NOW);
    assert_eq!(
        store.create_run(respelled).await.unwrap(),
        CreateOutcome::Existing(first.id)
    );
    let other = new_run("flow", r#"{"a":2}"#, Some("k"), NOW);
    assert_eq!(
        store.create_run(other).await.unwrap(),
        CreateOutcome::Conflict(first.id)
    );
    let other_workflow = new_run("other", r#"{"a":2}"#, Some("k"), NOW);
    assert!(matches!(
        store.create_run(other_workflow).await.unwrap(),
        CreateOutcome::Created(_)
    ));
    // Concurrent creates with one key (they share a batch): one run.
    let runs = (0..50).map(|_| new_run("flow", r#"{"b":1}"#, Some("k2"), NOW));
    let outcomes = futures_join_all(runs.map(|run| store.create_run(run))).await;
    let created = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(CreateOutcome::Created(_))))
        .count();
    assert_eq!(created, 1, "{outcomes:?}");
}

/// Claims take only due runs of the named workflows, oldest first.
pub(crate) async fn claims_respect_ready_time_and_workflow(store: &dyn Store) {
    let later = new_run("flow", "{}", None, NOW + 5_000);
    let due = new_run("flow", "{}", None, NOW - 10);
    let foreign = new_run("other", "{}", None, NOW - 20);
    for run in [&later, &due, &foreign] {
        store.create_run(run.clone()).await.unwrap();
    }
    assert_eq!(
        store.next_ready_at(r#"["flow"]"#.into()).await.unwrap(),
        Some(NOW - 10)
    );
    let claimed = store.claim_ready(claim_request(10, NOW)).await.unwrap();
    assert_eq!(
        claimed.iter().map(|c| c.lease.run_id).collect::<Vec<_>>(),
        [due.id]
    );
    assert_eq!(
        store.next_ready_at(r#"["flow"]"#.into()).await.unwrap(),
        Some(NOW + 5_000)
    );
    assert!(
        store
            .claim_ready(claim_request(10, NOW + 4_999))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .claim_ready(claim_request(10, NOW + 5_000))
            .await
            .unwrap()
            .len(),
        1
    );
}

/// On a store shared by many workers, a run whose lease expired (its worker
/// died or stalled) is claimed again, and the old lease is fenced out.
pub(crate) async fn an_expired_lease_is_claimed_by_another_worker(store: &dyn Store) {
    if store.lease_duration().is_none() {
        return;
    }
    let old = create_and_claim(store).await;
    // `claim_request` leases runs for 10 s.
    let expiry = NOW + 10_000;
    assert!(
        store
            .claim_ready(claim_request(10, expiry - 1))
            .await
            .unwrap()
            .is_empty()
    );
    // A renewal before expiry keeps it; a lapse lets another worker take it.
    assert!(
        store
            .renew_leases(vec![old], expiry + 5_000)
            .await
            .unwrap()
            .lost
            .is_empty()
    );
    assert!(
        store
            .claim_ready(claim_request(10, expiry + 1))
            .await
            .unwrap()
            .is_empty()
    );
    let taken = store
        .claim_ready(claim_request(10, expiry + 5_001))
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert!(taken[0].lease.token > old.token);
    assert!(is_lease_lost(
        store
            .save_step(old, step("a", 0, StepStatus::Completed, Some("1")))
            .await
    ));
    assert_eq!(
        store
            .renew_leases(vec![old], expiry + 9_000)
            .await
            .unwrap()
            .lost,
        [old.run_id]
    );
}

/// A run claimed as it is created is `running` under the creator's lease
/// (token [`ClaimAtCreate::TOKEN`], one execution): no claim takes it, its
/// writes are fenced by that token, and a cancel fences them out.
pub(crate) async fn a_run_can_be_claimed_as_it_is_created(store: &dyn Store) {
    let run = NewRun {
        claimed_by: Some(ClaimAtCreate {
            owner: "creator".into(),
            lease_expires_at: Some(NOW + 10_000),
            limit: None,
        }),
        ..new_run("flow", "{}", None, NOW)
    };
    assert_eq!(
        store.create_run(run.clone()).await.unwrap(),
        CreateOutcome::Created(run.id)
    );
    let info = store.get_run(run.id).await.unwrap().unwrap();
    assert_eq!((info.status, info.executions), (RunStatus::Running, 1));
    assert!(
        store
            .claim_ready(claim_request(10, NOW + 1_000))
            .await
            .unwrap()
            .is_empty()
    );
    let lease = Lease {
        run_id: run.id,
        token: ClaimAtCreate::TOKEN,
    };
    store
        .save_step(lease, step("a", 0, StepStatus::Completed, Some("1")))
        .await
        .unwrap();
    let stale = Lease {
        token: ClaimAtCreate::TOKEN - 1,
        ..lease
    };
    assert!(is_lease_lost(
        store
            .save_step(stale, step("b", 1, StepStatus::Completed, Some("2")))
            .await
    ));
    // An unclaimed run created beside it is left for the dispatcher.
    let plain = new_run("flow", "{}", None, NOW);
    store.create_run(plain.clone()).await.unwrap();
    let claimed = store.claim_ready(claim_request(10, NOW)).await.unwrap();
    assert_eq!(
        claimed.iter().map(|c| c.lease.run_id).collect::<Vec<_>>(),
        [plain.id]
    );
    store
        .finish_run(lease, RunOutcome::Completed("1".into()), Vec::new(), NOW)
        .await
        .unwrap();
    let info = store.get_run(run.id).await.unwrap().unwrap();
    assert_eq!(info.status, RunStatus::Completed);
}

/// A journal lists a run's steps in the order the run reached them, not in
/// the order of their names: as `load_journal` reads it, and as a claim of
/// a resumed run hands it over.
pub(crate) async fn a_journal_keeps_the_order_the_run_reached_its_steps(store: &dyn Store) {
    let lease = create_and_claim(store).await;
    for (seq, name) in ["zeta", "alpha", "mid"].into_iter().enumerate() {
        store
            .save_step(
                lease,
                step(name, seq as i64, StepStatus::Completed, Some("1")),
            )
            .await
            .unwrap();
    }
    let reached = ["zeta", "alpha", "mid"];
    let journal = store.load_journal(lease.run_id).await.unwrap();
    assert_eq!(
        journal.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        reached
    );
    store
        .suspend_run(lease, Some(NOW), Vec::new(), NOW)
        .await
        .unwrap();
    let claimed = store.claim_ready(claim_request(1, NOW)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    if let Some(journal) = &claimed[0].journal {
        assert_eq!(
            journal.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            reached
        );
    }
}
