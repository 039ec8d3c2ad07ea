//! Conformance cases of named queues: a claim takes only the runs waiting
//! in a queue it serves (by the plain claim and by the claim of limited
//! workflows), the next due time reads only those, and a run, a workflow
//! version and a worker keep their queues.

use super::catalog::{record, version};
use super::helpers::{NOW, claim_request, new_run};
use crate::model::listing::RunFilter;
use crate::store::{ClaimRequest, NewRun, Queue, Served, Store};

/// A due run of `flow` waiting in `queue`, due at `ready_at`.
fn in_queue(queue: &str, ready_at: i64) -> NewRun {
    NewRun {
        queue: Queue {
            name: queue.into(),
            ..Queue::default()
        },
        ..new_run("flow", "{}", None, ready_at)
    }
}

/// A claim of up to 10 `flow` runs from `queues`, `flow` limited to
/// `limit` runs at once if given.
fn claim_from(queues: &[&str], limit: Option<u32>) -> ClaimRequest {
    let served = Served::from(r#"["flow"]"#).with_queues(queues.iter().copied());
    ClaimRequest {
        workflows: match limit {
            Some(limit) => served.with_limits([("flow", limit)]),
            None => served,
        },
        ..claim_request(10, NOW)
    }
}

pub(crate) async fn claims_take_only_runs_of_served_queues(store: &dyn Store) {
    let plain = in_queue("default", NOW - 30);
    let billing = in_queue("billing", NOW - 20);
    let gpu = in_queue("gpu", NOW - 10);
    for run in [&plain, &billing, &gpu] {
        store.create_run(run.clone()).await.unwrap();
    }
    // The default claim serves "default" only.
    assert_eq!(
        store.next_ready_at(r#"["flow"]"#.into()).await.unwrap(),
        Some(NOW - 30)
    );
    let claimed = store.claim_ready(claim_request(10, NOW)).await.unwrap();
    let ids: Vec<_> = claimed.iter().map(|run| run.lease.run_id).collect();
    assert_eq!(ids, [plain.id]);
    // (On PostgreSQL, the claimed run's lease expiry is its next time.)
    let next = store.next_ready_at(r#"["flow"]"#.into()).await.unwrap();
    assert!(
        next.is_none_or(|at| at > NOW),
        "no run of a queue it serves is waiting, yet one is due at {next:?}"
    );
    // A limited workflow's claim reads the queues too.
    let limited = claim_from(&["gpu"], Some(5));
    assert_eq!(
        store
            .next_ready_at(limited.workflows.clone())
            .await
            .unwrap(),
        Some(NOW - 10)
    );
    let claimed = store.claim_ready(limited).await.unwrap();
    let ids: Vec<_> = claimed.iter().map(|run| run.lease.run_id).collect();
    assert_eq!(ids, [gpu.id]);
    let claimed = store
        .claim_ready(claim_from(&["billing", "default", "gpu"], None))
        .await
        .unwrap();
    let ids: Vec<_> = claimed.iter().map(|run| run.lease.run_id).collect();
    assert_eq!(ids, [billing.id]);
}

pub(crate) async fn runs_versions_and_workers_keep_their_queues(store: &dyn Store) {
    let gpu = in_queue("gpu", NOW);
    store.create_run(gpu.clone()).await.unwrap();
    let plain = new_run("flow", "{}", None, NOW);
    store.create_run(plain.clone()).await.unwrap();
    assert_eq!(store.get_run(gpu.id).await.unwrap().unwrap().queue, "gpu");
    assert_eq!(
        store.get_run(plain.id).await.unwrap().unwrap().queue,
        "default"
    );
    let mut worker = record("w-gpu", vec![version("render", "f1", "draw", NOW)], NOW);
    worker.versions[0].queue = "gpu".into();
    worker.worker.queues = vec!["default".into(), "gpu".into()];
    store.record_worker(worker).await.unwrap();
    let workers = store.list_workers().await.unwrap();
    assert_eq!(workers[0].queues, ["default", "gpu"]);
    let versions = store.workflow_versions("render".into()).await.unwrap();
    assert_eq!(versions[0].queue, "gpu");
}

pub(crate) async fn runs_of_a_queue_no_live_worker_serves_are_unserved(store: &dyn Store) {
    // A live worker serves `flow` in "default" only.
    store
        .record_worker(record(
            "w-default",
            vec![version("flow", "f1", "s", NOW)],
            NOW,
        ))
        .await
        .unwrap();
    let served = in_queue("default", NOW);
    let gpu = in_queue("gpu", NOW);
    for run in [&served, &gpu] {
        store.create_run(run.clone()).await.unwrap();
    }
    let groups = store.unserved_runs(NOW - 1).await.unwrap();
    let groups: Vec<_> = groups
        .iter()
        .map(|group| (group.workflow.as_str(), group.queue.as_str(), group.runs))
        .collect();
    assert_eq!(groups, [("flow", "gpu", 1)]);
    let page = store
        .list_runs(RunFilter::new().unserved(), NOW - 1)
        .await
        .unwrap();
    let ids: Vec<_> = page.runs.iter().map(|run| run.id).collect();
    assert_eq!(ids, [gpu.id]);
}
