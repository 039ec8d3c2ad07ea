//! Conformance cases of workflow versions: a claim takes only the runs of
//! the versions it serves, and pins a run not pinned yet to the current
//! one.

use super::helpers::{NOW, claim_request, new_run};
use crate::store::{NewRun, Served, Store};

/// `flow` served at versions `v1` and `v2`, `v2` current.
fn served_v1_and_v2() -> Served {
    Served::of([("flow", vec!["v2", "v1"], "v2")])
}

fn pinned(version: Option<&str>, ready_at: i64) -> NewRun {
    NewRun {
        version: version.map(Into::into),
        ..new_run("flow", "{}", None, ready_at)
    }
}

/// Runs pinned to a served version are claimed and keep their version;
/// a run not pinned yet is claimed and pinned to the current version; a
/// run pinned to a version not served is neither claimed nor counted as
/// the next wake-up (a dispatcher would spin on it), and another engine
/// that serves its version claims it.
pub(crate) async fn claims_take_only_served_versions_and_pin_the_rest(store: &dyn Store) {
    let old = pinned(Some("v1"), NOW - 30);
    let unpinned = pinned(None, NOW - 20);
    let unserved = pinned(Some("v0"), NOW - 40);
    let later_unserved = pinned(Some("v0"), NOW + 1_000);
    let later = pinned(Some("v2"), NOW + 2_000);
    for run in [&old, &unpinned, &unserved, &later_unserved, &later] {
        store.create_run(run.clone()).await.unwrap();
    }
    assert_eq!(
        store.next_ready_at(served_v1_and_v2()).await.unwrap(),
        Some(NOW - 30),
        "the run pinned to v0 is not this engine's next wake-up"
    );
    let request = || {
        let mut request = claim_request(10, NOW);
        request.workflows = served_v1_and_v2();
        request
    };
    let mut claimed: Vec<_> = store
        .claim_ready(request())
        .await
        .unwrap()
        .into_iter()
        .map(|run| (run.lease.run_id, run.version))
        .collect();
    claimed.sort();
    let mut expected = vec![
        (old.id, Some("v1".to_owned())),
        (unpinned.id, Some("v2".to_owned())),
    ];
    expected.sort();
    assert_eq!(claimed, expected);
    let info = store.get_run(unpinned.id).await.unwrap().unwrap();
    assert_eq!(info.version.as_deref(), Some("v2"), "pinned by its claim");
    assert_eq!(
        store.next_ready_at(served_v1_and_v2()).await.unwrap(),
        Some(NOW + 2_000)
    );
    assert!(store.claim_ready(request()).await.unwrap().is_empty());
    let mut elsewhere = claim_request(10, NOW);
    elsewhere.workflows = Served::of([("flow", vec!["v0"], "v0")]);
    let taken: Vec<_> = store
        .claim_ready(elsewhere)
        .await
        .unwrap()
        .into_iter()
        .map(|run| (run.lease.run_id, run.version))
        .collect();
    assert_eq!(taken, [(unserved.id, Some("v0".to_owned()))]);
}
