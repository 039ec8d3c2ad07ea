//! Conformance cases of workflows started by events: the catalog's
//! triggers, read for each workflow's latest version, and the runs an event
//! starts in the transaction that stores it, each once, naming the event
//! that the event names back.

use serde_json::json;

use super::catalog::{record, version};
use super::helpers::{NOW, event, new_run};
use crate::model::catalog::EventTriggerInfo;
use crate::model::event::TriggerError;
use crate::model::listing::EventFilter;
use crate::model::status::RunStatus;
use crate::store::{CreateOutcome, Store};

fn trigger(event: &str, filter: Option<serde_json::Value>) -> EventTriggerInfo {
    EventTriggerInfo {
        event: event.into(),
        filter,
    }
}

/// The catalog keeps each version's triggers; `triggered_workflows` reads
/// the latest version of each workflow that has some, and leaves out a
/// workflow whose latest version dropped them.
pub(crate) async fn the_catalog_names_the_workflows_events_start(store: &dyn Store) {
    assert!(store.triggered_workflows().await.unwrap().is_empty());
    let mut shipping = version("ship", "aaaa", "pack", NOW);
    shipping.on_event = vec![
        trigger("order.*", Some(json!({ "region": "eu" }))),
        trigger("order.imported", None),
    ];
    let mut dropped = version("mail", "cccc", "send", NOW);
    dropped.on_event = vec![trigger("order.created", None)];
    let plain = version("plain", "dddd", "work", NOW);
    store
        .record_worker(record(
            "w1",
            vec![shipping.clone(), dropped, plain.clone()],
            NOW,
        ))
        .await
        .unwrap();
    let read = store.triggered_workflows().await.unwrap();
    let names: Vec<&str> = read.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["mail", "ship"]);
    assert_eq!(read[1], shipping);
    assert_eq!(
        store.workflow_versions("ship".into()).await.unwrap()[0].on_event,
        shipping.on_event
    );
    // A newer version of `mail` without triggers: no event starts it now.
    let mut newer = version("mail", "eeee", "send", NOW + 10);
    newer.on_event = Vec::new();
    let mut moved = version("ship", "bbbb", "pack", NOW + 10);
    moved.on_event = vec![trigger("shipment.*", None)];
    store
        .record_worker(record("w2", vec![newer, moved.clone()], NOW + 10))
        .await
        .unwrap();
    assert_eq!(store.triggered_workflows().await.unwrap(), [moved]);
}

/// An event stores the runs it starts with itself: each pending, due
/// now, with the event's id and the key `event:<id>`, which no second run
/// of that workflow can take; the event records them and its trigger
/// errors, and its list entry shows both.
pub(crate) async fn an_event_starts_its_runs_with_itself(store: &dyn Store) {
    let mut sent_event = event("order.created", r#"{"id":"o-1"}"#, None, NOW + 5);
    let first = new_run("flow", r#"{"id":"o-1"}"#, None, NOW + 5);
    let second = new_run("audit", "null", None, NOW + 5);
    sent_event.starts = vec![first.clone(), second.clone()];
    let refused = TriggerError {
        workflow: "strict".into(),
        error: "id: invalid type".into(),
    };
    sent_event.trigger_errors = vec![refused.clone()];
    let sent = store.send_event(sent_event, None).await.unwrap();
    assert_eq!(sent.started, [first.id, second.id]);
    assert_eq!(sent.trigger_errors, std::slice::from_ref(&refused));
    let key = format!("event:{}", sent.id);
    for (run, input) in [(&first, json!({ "id": "o-1" })), (&second, json!(null))] {
        let info = store.get_run(run.id).await.unwrap().unwrap();
        assert_eq!(info.status, RunStatus::Pending);
        assert_eq!(info.event_id, Some(sent.id));
        assert_eq!(info.idempotency_key.as_deref(), Some(key.as_str()));
        assert_eq!(info.input, input);
    }
    // Claimable as any pending run.
    let claimed = store
        .claim_ready(super::helpers::claim_request(10, NOW + 5))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].lease.run_id, first.id);
    // A second run of `flow` for this event cannot be created.
    let again = new_run("flow", r#"{"id":"o-1"}"#, Some(&key), NOW + 6);
    assert_eq!(
        store.create_run(again).await.unwrap(),
        CreateOutcome::Existing(first.id)
    );
    // A run triggered otherwise names no event; an event that starts
    // nothing records nothing.
    let plain = new_run("flow", "{}", None, NOW);
    store.create_run(plain.clone()).await.unwrap();
    assert_eq!(
        store.get_run(plain.id).await.unwrap().unwrap().event_id,
        None
    );
    let quiet = store
        .send_event(event("order.created", "{}", None, NOW + 7), None)
        .await
        .unwrap();
    assert!(quiet.started.is_empty() && quiet.trigger_errors.is_empty());
    let listed = store.list_events(EventFilter::new()).await.unwrap();
    assert_eq!(listed.events.len(), 2);
    assert!(listed.events[0].started.is_empty());
    assert!(listed.events[0].trigger_errors.is_empty());
    assert_eq!(listed.events[1].id, sent.id);
    assert_eq!(listed.events[1].started, [first.id, second.id]);
    assert_eq!(listed.events[1].trigger_errors, [refused]);
}
