//! Debounce and throttle at the store: a debounced create joins its key's
//! run that has not started (new input, later start) or creates it, and a
//! claimed run is never joined; a throttled create is scheduled after the
//! window of its key's latest starts; an idempotency key answers first.

use super::helpers::{NOW, claim_request, new_run};
use crate::model::ids::RunId;
use crate::store::{CreateOutcome, Flow, NewRun, Store};

/// A run of `flow` triggered at `now` (due then, as a plain trigger is) with
/// input `input` and `flow`.
fn flowing(input: &str, now: i64, flow: Flow) -> NewRun {
    NewRun {
        now,
        flow: Some(flow),
        ..new_run("flow", input, None, now)
    }
}

fn debounce(key: &str) -> Flow {
    Flow::Debounce {
        key: key.into(),
        period_ms: 5_000,
        max_wait_ms: Some(12_000),
    }
}

fn throttle(key: &str) -> Flow {
    Flow::Throttle {
        key: key.into(),
        limit: 2,
        period_ms: 1_000,
    }
}

/// The id of the run `outcome` names, created or joined.
fn id_of(outcome: CreateOutcome) -> RunId {
    match outcome {
        CreateOutcome::Created(id) | CreateOutcome::Joined(id) => id,
        other => panic!("expected a created or joined run, got {other:?}"),
    }
}

pub(crate) async fn debounced_triggers_join_the_run_not_started(store: &dyn Store) {
    let first = flowing(r#"{"n":0}"#, NOW, debounce("a"));
    assert_eq!(
        store.create_run(first.clone()).await.unwrap(),
        CreateOutcome::Created(first.id)
    );
    for (n, at) in [(1, 4_000), (2, 8_000), (3, 11_000)] {
        let next = flowing(&format!(r#"{{"n":{n}}}"#), NOW + at, debounce("a"));
        assert_eq!(
            store.create_run(next).await.unwrap(),
            CreateOutcome::Joined(first.id),
            "trigger {n} joins"
        );
    }
    // Another key has a run of its own.
    let other = flowing(r#"{"n":9}"#, NOW, debounce("b"));
    assert_eq!(
        id_of(store.create_run(other.clone()).await.unwrap()),
        other.id
    );
    // Not due before max_wait after the first trigger (12 s), then with
    // the last input.
    let early = store
        .claim_ready(claim_request(10, NOW + 11_999))
        .await
        .unwrap();
    let early: Vec<RunId> = early.iter().map(|run| run.lease.run_id).collect();
    assert_eq!(early, vec![other.id], "only b is due (at 5 s)");
    let claimed = store
        .claim_ready(claim_request(10, NOW + 12_000))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].lease.run_id, first.id);
    let input: serde_json::Value = serde_json::from_str(&claimed[0].input).unwrap();
    assert_eq!(
        input,
        serde_json::json!({"n": 3}),
        "the last trigger's input"
    );
    // Claimed, it is never changed: the next trigger makes the next run.
    let after = flowing(r#"{"n":4}"#, NOW + 12_001, debounce("a"));
    assert_eq!(
        store.create_run(after.clone()).await.unwrap(),
        CreateOutcome::Created(after.id)
    );
    let info = store.get_run(first.id).await.unwrap().unwrap();
    assert_eq!(info.input, serde_json::json!({"n": 3}));
}

pub(crate) async fn an_idempotency_key_answers_before_a_debounce(store: &dyn Store) {
    let keyed = |input: &str| NewRun {
        idempotency_key: Some("k".into()),
        ..flowing(input, NOW, debounce("a"))
    };
    let first = keyed(r#"{"n":0}"#);
    store.create_run(first.clone()).await.unwrap();
    assert_eq!(
        store.create_run(keyed(r#"{"n":0}"#)).await.unwrap(),
        CreateOutcome::Existing(first.id)
    );
    assert_eq!(
        store.create_run(keyed(r#"{"n":1}"#)).await.unwrap(),
        CreateOutcome::Conflict(first.id)
    );
    let info = store.get_run(first.id).await.unwrap().unwrap();
    assert_eq!(
        info.input,
        serde_json::json!({"n": 0}),
        "a refused key changes nothing"
    );
}

pub(crate) async fn throttled_runs_start_in_windows_of_their_key(store: &dyn Store) {
    let mut a = Vec::new();
    for n in 0..6 {
        let run = flowing(&format!(r#"{{"n":{n}}}"#), NOW, throttle("a"));
        assert_eq!(id_of(store.create_run(run.clone()).await.unwrap()), run.id);
        a.push(run.id);
    }
    let b = flowing("{}", NOW, throttle("b"));
    store.create_run(b.clone()).await.unwrap();
    // Each window of 1 s starts two of a's runs; b is not held back.
    for (window, expected) in [
        (0, vec![a[0], a[1], b.id]),
        (1, vec![a[2], a[3]]),
        (2, vec![a[4], a[5]]),
    ] {
        let at = NOW + window * 1_000;
        let before = store.claim_ready(claim_request(10, at - 1)).await.unwrap();
        assert!(
            before.is_empty(),
            "nothing more is due before window {window}"
        );
        let claimed = store.claim_ready(claim_request(10, at)).await.unwrap();
        let mut ids: Vec<RunId> = claimed.iter().map(|run| run.lease.run_id).collect();
        ids.sort();
        let mut expected = expected;
        expected.sort();
        assert_eq!(ids, expected, "window {window}");
    }
    // Later, with the window past, a trigger is due at once.
    let late = flowing("{}", NOW + 10_000, throttle("a"));
    store.create_run(late.clone()).await.unwrap();
    let claimed = store
        .claim_ready(claim_request(10, NOW + 10_000))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].lease.run_id, late.id);
}
