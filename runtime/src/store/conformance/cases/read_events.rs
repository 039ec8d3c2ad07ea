//! The conformance case of the event list: newest first, by name, keyset
//! pages, and the runs each event woke.

use super::helpers::{NOW, create_claimed, event, json, record, run_at};
use crate::model::listing::{EventFilter, EventInfo};
use crate::model::status::StepStatus;
use crate::model::workflow::StepKind;
use crate::store::{StepRecord, Store, Wait};

/// A waiting step written at `updated_at`.
fn waiting_since(name: &str, kind: StepKind, updated_at: i64) -> StepRecord {
    StepRecord {
        kind,
        ..record(name, 0, StepStatus::Waiting, updated_at)
    }
}

fn event_ids(events: &[EventInfo]) -> Vec<i64> {
    events.iter().map(|event| event.id).collect()
}

/// Events and signals are listed newest first, pages following `before`,
/// optionally by name; each names the runs whose waiting steps it settled
/// (by a send, or taken by a lookback later), none for one that settled
/// nothing.
pub(crate) async fn events_are_listed_with_the_runs_they_woke(store: &dyn Store) {
    let empty = store.list_events(EventFilter::new()).await.unwrap();
    assert!(empty.events.is_empty() && empty.next.is_none());

    let paid = |lookback_from| Wait::Event {
        name: "paid".into(),
        filter: None,
        lookback_from,
    };
    let mut waiters = Vec::new();
    for _ in 0..2 {
        let lease = create_claimed(store, run_at("shop", "{}", NOW)).await;
        let step = waiting_since("w", StepKind::WaitForEvent, NOW + 1);
        assert_eq!(
            store.register_wait(lease, step, paid(None)).await.unwrap(),
            None
        );
        store
            .suspend_run(lease, None, Vec::new(), NOW + 2)
            .await
            .unwrap();
        waiters.push(lease.run_id);
    }
    let listener = create_claimed(store, run_at("shop", "{}", NOW)).await;
    let listen = waiting_since("l", StepKind::Listen, NOW + 1);
    let signal = Wait::Signal { name: "go".into() };
    assert_eq!(
        store.register_wait(listener, listen, signal).await.unwrap(),
        None
    );

    let first = store
        .send_event(event("paid", r#"{"n":1}"#, None, NOW + 10), None)
        .await
        .unwrap();
    let mut woken = first.woken.clone();
    woken.sort();
    let mut expected = waiters.clone();
    expected.sort();
    assert_eq!(woken, expected);
    let nobody = store
        .send_event(event("other", "2", None, NOW + 20), None)
        .await
        .unwrap();
    assert!(nobody.woken.is_empty());
    let go = store
        .send_event(
            event("go", r#""now""#, Some(listener.run_id), NOW + 30),
            None,
        )
        .await
        .unwrap();
    assert_eq!(go.woken, [listener.run_id]);
    // A later wait's lookback takes the first event too.
    let late = create_claimed(store, run_at("shop", "{}", NOW + 35)).await;
    let taken = store
        .register_wait(
            late,
            waiting_since("w", StepKind::WaitForEvent, NOW + 40),
            paid(Some(NOW)),
        )
        .await
        .unwrap();
    assert!(taken.is_some(), "the lookback found the first event");
    let last = store
        .send_event(event("paid", r#"{"n":4}"#, None, NOW + 50), None)
        .await
        .unwrap();
    assert!(last.woken.is_empty(), "every wait was settled already");

    let page = store.list_events(EventFilter::new()).await.unwrap();
    assert_eq!(page.next, None);
    assert_eq!(
        event_ids(&page.events),
        [last.id, go.id, nobody.id, first.id]
    );
    let [e4, e3, e2, e1] = &page.events[..] else {
        panic!("four events: {:?}", page.events)
    };
    assert_eq!(
        (e4.name.as_str(), &e4.data, e4.target_run, e4.created_at),
        ("paid", &json(r#"{"n":4}"#), None, NOW + 50)
    );
    assert!(e4.woke.is_empty());
    assert_eq!(
        (e3.name.as_str(), &e3.data, e3.target_run, e3.created_at),
        ("go", &json(r#""now""#), Some(listener.run_id), NOW + 30)
    );
    assert_eq!(e3.woke, [listener.run_id]);
    assert_eq!((e2.name.as_str(), e2.woke.as_slice()), ("other", &[][..]));
    assert_eq!(e1.created_at, NOW + 10);
    assert_eq!(e1.woke.len(), 3, "{:?}", e1.woke);
    assert_eq!(e1.woke[2], late.run_id, "the lookback took it last");
    let mut by_send = e1.woke[..2].to_vec();
    by_send.sort();
    assert_eq!(by_send, expected);

    // The settled steps carry their end.
    for run_id in &waiters {
        let detail = store.run_detail(*run_id).await.unwrap().unwrap();
        assert_eq!(detail.steps[0].status, StepStatus::Completed);
        assert_eq!(detail.steps[0].ended_at, Some(NOW + 10));
    }

    // Pages by `before`.
    let two = EventFilter::new().limit(2).unwrap();
    let page = store.list_events(two.clone()).await.unwrap();
    assert_eq!(
        (event_ids(&page.events), page.next),
        (vec![last.id, go.id], Some(go.id))
    );
    let page = store.list_events(two.before(go.id)).await.unwrap();
    assert_eq!(
        (event_ids(&page.events), page.next),
        (vec![nobody.id, first.id], None)
    );
    let three = EventFilter::new().limit(3).unwrap();
    let page = store.list_events(three.clone()).await.unwrap();
    assert_eq!(page.next, Some(nobody.id));
    let page = store.list_events(three.before(nobody.id)).await.unwrap();
    assert_eq!((event_ids(&page.events), page.next), (vec![first.id], None));
    assert_eq!(page.events[0].woke.len(), 3, "woke on a later page too");

    // By name.
    let named = EventFilter::new().name("paid").limit(1).unwrap();
    let page = store.list_events(named.clone()).await.unwrap();
    assert_eq!(
        (event_ids(&page.events), page.next),
        (vec![last.id], Some(last.id))
    );
    let page = store.list_events(named.before(last.id)).await.unwrap();
    assert_eq!((event_ids(&page.events), page.next), (vec![first.id], None));
    let page = store
        .list_events(EventFilter::new().name("nothing"))
        .await
        .unwrap();
    assert!(page.events.is_empty());
}
