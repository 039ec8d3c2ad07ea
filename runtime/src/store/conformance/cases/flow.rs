//! Debounce and throttle at the store: a debounced create joins its key's
//! run that has not started (new input, later start) or creates it, and a
//! claimed run is never joined, and what cancels a joined run follows its
//! new input; a throttled create is scheduled after the window of its key's
//! latest starts, and registers what cancels it as it is created; an
//! idempotency key answers first.

use super::helpers::{NOW, claim_request, event, new_run};
use crate::core::cancel_on::{CancelKey, cancel_keys};
use crate::model::ids::RunId;
use crate::model::status::RunStatus;
use crate::model::workflow::CancelOn;
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

/// A `flowing` run of `input` cancelled by `user.deleted` matching its
/// `user_id`, as the engine computes its keys from its input.
fn cancellable(input: &str, now: i64, flow: Flow) -> NewRun {
    let cancel_on = [CancelOn {
        event: "user.deleted",
        matching: Some("user_id"),
    }];
    NewRun {
        cancel_on: cancel_keys(&cancel_on, input),
        ..flowing(input, now, flow)
    }
}

async fn status(store: &dyn Store, id: RunId) -> RunStatus {
    store.get_run(id).await.unwrap().unwrap().status
}

/// A trigger that joins a debounced run replaces its input and, in the same
/// transaction, what cancels it: an event matching only the first
/// trigger's value cancels nothing, one matching the joining trigger's
/// cancels the run. A joining trigger whose keys are none (a workflow
/// without `cancel_on` now) leaves the run uncancellable.
pub(crate) async fn a_joined_debounced_run_is_cancelled_by_its_new_inputs_value(store: &dyn Store) {
    let first = cancellable(r#"{"user_id":"u-1"}"#, NOW, debounce("a"));
    assert_eq!(
        store.create_run(first.clone()).await.unwrap(),
        CreateOutcome::Created(first.id)
    );
    let second = cancellable(r#"{"user_id":"u-2"}"#, NOW + 1_000, debounce("a"));
    assert_eq!(
        store.create_run(second).await.unwrap(),
        CreateOutcome::Joined(first.id)
    );
    let old = event("user.deleted", r#"{"user_id":"u-1"}"#, None, NOW + 2_000);
    assert!(
        store
            .send_event(old, None)
            .await
            .unwrap()
            .cancelled
            .is_empty(),
        "the first trigger's value no longer cancels it"
    );
    assert_eq!(status(store, first.id).await, RunStatus::Pending);
    let new = event("user.deleted", r#"{"user_id":"u-2"}"#, None, NOW + 3_000);
    assert_eq!(
        store.send_event(new, None).await.unwrap().cancelled,
        [first.id]
    );
    assert_eq!(status(store, first.id).await, RunStatus::Cancelled);

    // Joined by a trigger that registers nothing, it loses its rows.
    let third = cancellable(r#"{"user_id":"u-3"}"#, NOW + 4_000, debounce("b"));
    store.create_run(third.clone()).await.unwrap();
    let plain = flowing(r#"{"user_id":"u-4"}"#, NOW + 5_000, debounce("b"));
    assert_eq!(
        store.create_run(plain).await.unwrap(),
        CreateOutcome::Joined(third.id)
    );
    for user in ["u-3", "u-4"] {
        let data = format!(r#"{{"user_id":"{user}"}}"#);
        let sent = event("user.deleted", &data, None, NOW + 6_000);
        assert!(
            store
                .send_event(sent, None)
                .await
                .unwrap()
                .cancelled
                .is_empty()
        );
    }
    assert_eq!(status(store, third.id).await, RunStatus::Pending);
}

/// A throttled run waiting for its window registers what cancels it as it
/// is created: a matching event cancels it before it starts; another
/// value does not.
pub(crate) async fn a_throttled_run_is_cancelled_while_it_waits_its_window(store: &dyn Store) {
    let mut runs = Vec::new();
    for user in ["u-1", "u-1", "u-1", "u-2"] {
        let run = cancellable(&format!(r#"{{"user_id":"{user}"}}"#), NOW, throttle("a"));
        assert_eq!(id_of(store.create_run(run.clone()).await.unwrap()), run.id);
        runs.push(run);
    }
    assert_eq!(
        runs[2].cancel_on,
        [CancelKey {
            event: "user.deleted".into(),
            path: "user_id".into(),
            value: "\"u-1\"".into(),
        }]
    );
    // The third waits for the next window (two per second).
    let due = store.claim_ready(claim_request(10, NOW)).await.unwrap();
    assert_eq!(due.len(), 2);
    let sent = event("user.deleted", r#"{"user_id":"u-2"}"#, None, NOW + 1);
    assert_eq!(
        store.send_event(sent, None).await.unwrap().cancelled,
        [runs[3].id]
    );
    assert_eq!(status(store, runs[2].id).await, RunStatus::Pending);
    let sent = event("user.deleted", r#"{"user_id":"u-1"}"#, None, NOW + 2);
    let mut cancelled = store.send_event(sent, None).await.unwrap().cancelled;
    cancelled.sort();
    let mut expected = vec![runs[0].id, runs[1].id, runs[2].id];
    expected.sort();
    assert_eq!(cancelled, expected, "the waiting one with the started ones");
    let next = store
        .claim_ready(claim_request(10, NOW + 1_000))
        .await
        .unwrap();
    assert!(next.is_empty(), "the cancelled run is not claimed");
}
