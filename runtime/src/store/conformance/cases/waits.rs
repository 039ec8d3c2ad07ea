//! Conformance cases of waits, events and signals: what a send settles,
//! lookback windows, buffered signals, and sends from a stale run.

use super::helpers::{
    NOW, claim_request, create_and_claim, event, is_lease_lost, json, step, waiting,
};
use crate::model::status::StepStatus;
use crate::model::workflow::StepKind;
use crate::store::{Store, Wait};

/// A send settles exactly the matching waits and wakes their runs; a
/// timeout that comes second sees the event's data.
pub(crate) async fn events_settle_matching_waits(store: &dyn Store) {
    let matching = create_and_claim(store).await;
    let other = create_and_claim(store).await;
    let wait = |filter: &str| Wait::Event {
        name: "paid".into(),
        filter: Some(filter.into()),
        lookback_from: None,
    };
    let step = waiting("w", StepKind::WaitForEvent, Some(NOW + 1_000));
    assert_eq!(
        store
            .register_wait(matching, step.clone(), wait(r#"{"order":"a"}"#))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .register_wait(other, step, wait(r#"{"order":"b"}"#))
            .await
            .unwrap(),
        None
    );
    store
        .suspend_run(matching, Some(NOW + 1_000), Vec::new(), NOW)
        .await
        .unwrap();
    // `other` is still running when the event comes: no wake-up is lost.
    let sent = store
        .send_event(
            event("paid", r#"{"order":"a","total":5}"#, None, NOW + 1),
            None,
        )
        .await
        .unwrap();
    assert_eq!(sent.woken, [matching.run_id]);
    let claimed = store.claim_ready(claim_request(10, NOW + 1)).await.unwrap();
    assert_eq!(
        claimed.iter().map(|c| c.lease.run_id).collect::<Vec<_>>(),
        [matching.run_id],
        "woken before its timeout"
    );
    let resolved = store
        .resolve_wait(claimed[0].lease, "w".into(), NOW + 2_000)
        .await
        .unwrap();
    assert_eq!(
        json(&resolved),
        json(&format!(
            r#"{{"data":{{"order":"a","total":5}},"event_id":{}}}"#,
            sent.id
        )),
        "the event won the race with the timeout"
    );
    let timed_out = store
        .resolve_wait(other, "w".into(), NOW + 2_000)
        .await
        .unwrap();
    assert_eq!(timed_out, "null");
}

/// A filter matches every event that contains it: a subset of the event's
/// fields, a nested object the event's holds with more in it, an array the
/// event's has more elements than; `{}` matches any event of its name. The
/// filters the event does not contain (another value, a field it lacks, a
/// nested value that differs) do not wake, and a second send wakes none.
pub(crate) async fn a_filter_matches_any_event_that_contains_it(store: &dyn Store) {
    let filters = [
        (r#"{"order":7}"#, true),
        (r#"{"customer":{"id":3}}"#, true),
        (r#"{"customer":{"id":3,"tier":{"level":2}}}"#, true),
        (r#"{"tags":["vip"]}"#, true),
        ("{}", true),
        (r#"{"order":8}"#, false),
        (r#"{"order":7,"currency":"EUR"}"#, false),
        (r#"{"customer":{"id":4}}"#, false),
        (r#"{"customer":{"id":3,"tier":{"level":1}}}"#, false),
        (r#"{"refund":true}"#, false),
    ];
    let mut wanted = Vec::new();
    let mut all = Vec::new();
    for (filter, matches) in filters {
        let lease = create_and_claim(store).await;
        let wait = Wait::Event {
            name: "paid".into(),
            filter: Some(filter.into()),
            lookback_from: None,
        };
        let step = waiting("w", StepKind::WaitForEvent, None);
        assert_eq!(store.register_wait(lease, step, wait).await.unwrap(), None);
        store
            .suspend_run(lease, None, Vec::new(), NOW)
            .await
            .unwrap();
        if matches {
            wanted.push(lease.run_id);
        }
        all.push((filter, lease.run_id));
    }
    let data = r#"{"order":7,"amount":3,"currency":"USD","tags":["new","vip"],
        "customer":{"id":3,"name":"Ada","tier":{"level":2,"since":2020}}}"#;
    let sent = store
        .send_event(event("paid", data, None, NOW + 1), None)
        .await
        .unwrap();
    let mut woken = sent.woken.clone();
    woken.sort();
    wanted.sort();
    let named = |runs: &[crate::model::ids::RunId]| {
        all.iter()
            .filter(|(_, run)| runs.contains(run))
            .map(|(filter, _)| *filter)
            .collect::<Vec<_>>()
    };
    assert_eq!(named(&woken), named(&wanted), "the filters the event woke");
    assert_eq!(woken.len(), wanted.len(), "each woken once");
    let again = store
        .send_event(event("paid", data, None, NOW + 2), None)
        .await
        .unwrap();
    assert_eq!(again.woken, [], "a settled wait is not woken again");
}

/// A lookback takes the oldest matching event of its window; without one,
/// earlier events do not count.
pub(crate) async fn lookback_sees_earlier_events(store: &dyn Store) {
    let lease = create_and_claim(store).await;
    store
        .send_event(event("tick", "1", None, NOW - 5_000), None)
        .await
        .unwrap();
    let second = store
        .send_event(event("tick", "2", None, NOW - 1_000), None)
        .await
        .unwrap();
    let wait = |from| Wait::Event {
        name: "tick".into(),
        filter: None,
        lookback_from: from,
    };
    let step = |name: &str| waiting(name, StepKind::WaitForEvent, None);
    assert_eq!(
        store
            .register_wait(lease, step("none"), wait(None))
            .await
            .unwrap(),
        None
    );
    let found = store
        .register_wait(lease, step("window"), wait(Some(NOW - 2_000)))
        .await
        .unwrap();
    assert_eq!(
        found.as_deref().map(json),
        Some(json(&format!(r#"{{"data":2,"event_id":{}}}"#, second.id)))
    );
}

/// An event a wait of a run took (from its lookback or sent to it) is not
/// offered to a later lookback wait of that run; another run still sees it.
pub(crate) async fn lookback_skips_events_the_run_took(store: &dyn Store) {
    let lease = create_and_claim(store).await;
    let wait = || Wait::Event {
        name: "paid".into(),
        filter: None,
        lookback_from: Some(NOW - 10_000),
    };
    let step = |name: &str| waiting(name, StepKind::WaitForEvent, None);
    let data = |output: Option<String>| output.map(|text| json(&text)["data"].clone());
    for value in ["1", "2"] {
        store
            .send_event(event("paid", value, None, NOW - 5_000), None)
            .await
            .unwrap();
    }
    let first = store
        .register_wait(lease, step("w0"), wait())
        .await
        .unwrap();
    assert_eq!(data(first), Some(json("1")), "the oldest in the window");
    let second = store
        .register_wait(lease, step("w1"), wait())
        .await
        .unwrap();
    assert_eq!(data(second), Some(json("2")), "not the one w0 took");
    // Nothing left in the window: w2 waits, and takes the next event sent.
    assert_eq!(
        store
            .register_wait(lease, step("w2"), wait())
            .await
            .unwrap(),
        None
    );
    store
        .send_event(event("paid", "3", None, NOW), None)
        .await
        .unwrap();
    assert_eq!(
        store
            .register_wait(lease, step("w3"), wait())
            .await
            .unwrap(),
        None,
        "the event w2 took is not offered again"
    );
    let journal = store.load_journal(lease.run_id).await.unwrap();
    let w2 = journal.iter().find(|record| record.name == "w2").unwrap();
    assert_eq!(data(w2.output.clone()), Some(json("3")));
    // Another run's lookback sees the oldest event again.
    let other = create_and_claim(store).await;
    let seen = store
        .register_wait(other, step("w0"), wait())
        .await
        .unwrap();
    assert_eq!(data(seen), Some(json("1")));
}

/// Signals go to one run, are kept until it listens, and each is taken once.
pub(crate) async fn signals_are_buffered_for_one_run(store: &dyn Store) {
    let lease = create_and_claim(store).await;
    let listen = |name: &str| waiting(name, StepKind::Listen, None);
    let signal = || Wait::Signal { name: "go".into() };
    let first = store
        .send_event(event("go", r#""first""#, Some(lease.run_id), NOW), None)
        .await
        .unwrap();
    let taken = store
        .register_wait(lease, listen("l1"), signal())
        .await
        .unwrap();
    assert_eq!(
        taken.as_deref().map(json),
        Some(json(&format!(
            r#"{{"data":"first","event_id":{}}}"#,
            first.id
        )))
    );
    assert_eq!(
        store
            .register_wait(lease, listen("l2"), signal())
            .await
            .unwrap(),
        None,
        "taken once"
    );
    let sent = store
        .send_event(event("go", r#""second""#, Some(lease.run_id), NOW), None)
        .await
        .unwrap();
    assert_eq!(sent.woken, [lease.run_id]);
}

/// A send from a run is refused whole for a stale lease.
pub(crate) async fn a_send_from_a_stale_run_writes_nothing(store: &dyn Store) {
    let lease = create_and_claim(store).await;
    store.cancel_run(lease.run_id, NOW).await.unwrap();
    let origin = step("announce", 0, StepStatus::Completed, None);
    let result = store
        .send_event(event("x", "1", None, NOW), Some((lease, origin)))
        .await;
    assert!(is_lease_lost(result));
    let waiter = create_and_claim(store).await;
    let wait = Wait::Event {
        name: "x".into(),
        filter: None,
        lookback_from: Some(0),
    };
    let seen = store
        .register_wait(waiter, waiting("w", StepKind::WaitForEvent, None), wait)
        .await
        .unwrap();
    assert_eq!(seen, None, "the refused send stored no event");
}
