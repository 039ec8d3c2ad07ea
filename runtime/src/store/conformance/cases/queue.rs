//! The order and limits of claims: due runs by priority, then in trigger
//! order; at most a workflow's concurrency limit of the runs of one group
//! (workflow and concurrency key) running, counted by claims, by the next
//! due time, and by a store that claims runs as it creates them.

use super::helpers::{NOW, claim_request, new_run};
use crate::model::outcome::RunOutcome;
use crate::store::{ClaimAtCreate, ClaimRequest, CreateOutcome, NewRun, Queue, Served, Store};

/// A due run of `flow` with `priority` and concurrency key `key`, due at
/// `ready_at`.
fn queued(priority: i32, key: &str, ready_at: i64) -> NewRun {
    NewRun {
        queue: Queue {
            priority,
            concurrency_key: key.into(),
            ..Queue::default()
        },
        ..new_run("flow", "{}", None, ready_at)
    }
}

/// A claim of up to `limit` `flow` runs whose workflow has concurrency
/// limit 1.
fn limited_claim(limit: usize, now: i64) -> ClaimRequest {
    ClaimRequest {
        workflows: Served::from(r#"["flow"]"#).with_limits([("flow", 1)]),
        ..claim_request(limit, now)
    }
}

pub(crate) async fn claims_take_higher_priorities_first_in_trigger_order(store: &dyn Store) {
    let runs = [
        queued(0, "", NOW - 50),
        queued(5, "", NOW - 40),
        queued(-1, "", NOW - 30),
        queued(5, "", NOW - 20),
        queued(0, "", NOW - 10),
        // Not due yet, whatever its priority.
        queued(9, "", NOW + 1_000),
    ];
    for run in &runs {
        store.create_run(run.clone()).await.unwrap();
    }
    let mut order = Vec::new();
    loop {
        let claimed = store.claim_ready(claim_request(1, NOW)).await.unwrap();
        let Some(run) = claimed.first() else { break };
        order.push(run.lease.run_id);
    }
    let expected: Vec<_> = [1, 3, 0, 4, 2].iter().map(|&i| runs[i].id).collect();
    assert_eq!(order, expected);
}

pub(crate) async fn a_limit_holds_per_group_and_a_full_group_is_not_due(store: &dyn Store) {
    let first = queued(0, r#""k1""#, NOW - 30);
    let second = queued(0, r#""k1""#, NOW - 20);
    let other = queued(0, r#""k2""#, NOW - 10);
    for run in [&first, &second, &other] {
        store.create_run(run.clone()).await.unwrap();
    }
    let claimed = store.claim_ready(limited_claim(10, NOW)).await.unwrap();
    let mut ids: Vec<_> = claimed.iter().map(|run| run.lease.run_id).collect();
    ids.sort();
    let mut expected = vec![first.id, other.id];
    expected.sort();
    assert_eq!(ids, expected, "one run of each key");
    let served = limited_claim(10, NOW).workflows;
    let next = store.next_ready_at(served.clone()).await.unwrap();
    assert!(
        next.is_none_or(|at| at > NOW),
        "the second run of a full group is due at {next:?}"
    );
    assert!(
        store
            .claim_ready(limited_claim(10, NOW))
            .await
            .unwrap()
            .is_empty()
    );
    // Without the limit, the same run is due.
    assert_eq!(
        store.next_ready_at(r#"["flow"]"#.into()).await.unwrap(),
        Some(NOW - 20)
    );
    let lease = claimed
        .iter()
        .find(|run| run.lease.run_id == first.id)
        .unwrap()
        .lease;
    store
        .finish_run(lease, RunOutcome::Completed("1".into()), Vec::new(), NOW)
        .await
        .unwrap();
    assert_eq!(
        store.next_ready_at(served).await.unwrap(),
        Some(NOW - 20),
        "the group's slot is free again"
    );
    let claimed = store.claim_ready(limited_claim(10, NOW)).await.unwrap();
    assert_eq!(
        claimed
            .iter()
            .map(|run| run.lease.run_id)
            .collect::<Vec<_>>(),
        [second.id]
    );
}

pub(crate) async fn a_run_claimed_as_it_is_created_counts_its_group(store: &dyn Store) {
    let claimed_at_create = |key: &str| NewRun {
        claimed_by: Some(ClaimAtCreate {
            owner: "conformance".into(),
            lease_expires_at: store.lease_duration().map(|_| NOW + 10_000),
            limit: Some(1),
        }),
        ..queued(0, key, NOW)
    };
    let first = claimed_at_create(r#""k1""#);
    let second = claimed_at_create(r#""k1""#);
    let other = claimed_at_create(r#""k2""#);
    assert_eq!(
        store.create_run(first.clone()).await.unwrap(),
        CreateOutcome::Created(first.id)
    );
    assert_eq!(
        store.create_run(second.clone()).await.unwrap(),
        CreateOutcome::Queued(second.id),
        "its group's one slot is taken"
    );
    assert_eq!(
        store.create_run(other.clone()).await.unwrap(),
        CreateOutcome::Created(other.id)
    );
    assert!(
        store
            .claim_ready(limited_claim(10, NOW))
            .await
            .unwrap()
            .is_empty()
    );
    let lease = crate::store::Lease {
        run_id: first.id,
        token: ClaimAtCreate::TOKEN,
    };
    store
        .finish_run(lease, RunOutcome::Completed("1".into()), Vec::new(), NOW)
        .await
        .unwrap();
    let claimed = store.claim_ready(limited_claim(10, NOW)).await.unwrap();
    assert_eq!(
        claimed
            .iter()
            .map(|run| run.lease.run_id)
            .collect::<Vec<_>>(),
        [second.id]
    );
}
