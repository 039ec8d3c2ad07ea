//! Conformance cases of runs cancelled by an event
//! (`#[workflow(cancel_on(..))]`): the runs registered for an event's name
//! and its value at their path are cancelled in the event's transaction,
//! fenced and with the event named as their error; other values, signals,
//! runs of plain workflows and ended runs are left alone; the event's
//! record names the runs it cancelled; and the deadline a run sets itself
//! (`Ctx::set_deadline`), stored with its step.

use super::helpers::{
    NOW, create, create_and_claim, create_claimed, event, finish, is_lease_lost, new_run, step,
};
use crate::core::cancel_on::{ANY_RUN, CancelKey};
use crate::model::ids::RunId;
use crate::model::listing::EventFilter;
use crate::model::status::{RunStatus, StepStatus};
use crate::model::workflow::StepKind;
use crate::store::{NewRun, RunOutcome, StepRecord, Store};

/// A `flow` run of `input` registered for `keys`, as (event, path, value).
fn registered(input: &str, keys: &[(&str, &str, &str)]) -> NewRun {
    NewRun {
        cancel_on: keys
            .iter()
            .map(|(event, path, value)| CancelKey {
                event: (*event).into(),
                path: (*path).into(),
                value: (*value).into(),
            })
            .collect(),
        ..new_run("flow", input, None, NOW)
    }
}

async fn status_and_error(store: &dyn Store, id: RunId) -> (RunStatus, Option<String>) {
    let info = store.get_run(id).await.unwrap().unwrap();
    (info.status, info.error)
}

/// An event cancels, in its own transaction, the unfinished runs
/// registered under its name whose value at their path is the data's
/// (compared as JSON text), and those registered without a path; a
/// running one is fenced. A signal of the name, another value, a plain run
/// and an ended run are left alone.
pub(crate) async fn an_event_cancels_the_runs_registered_for_its_value(store: &dyn Store) {
    let by_order = ("order.cancelled", "order.id", "1");
    let first = create(store, registered(r#"{"order":{"id":1}}"#, &[by_order])).await;
    let other = create(
        store,
        registered(
            r#"{"order":{"id":2}}"#,
            &[("order.cancelled", "order.id", "2")],
        ),
    )
    .await;
    let running = create_claimed(store, registered(r#"{"order":{"id":1}}"#, &[by_order])).await;
    let every = create(
        store,
        registered("{}", &[("order.cancelled", ANY_RUN, ANY_RUN)]),
    )
    .await;
    let plain = create(store, new_run("flow", r#"{"order":{"id":1}}"#, None, NOW)).await;
    let ended = create_claimed(store, registered(r#"{"order":{"id":1}}"#, &[by_order])).await;
    finish(store, ended, RunOutcome::Completed("null".into()), NOW + 1).await;

    // A signal to a run is no broadcast: it cancels nothing.
    let signal = event(
        "order.cancelled",
        r#"{"order":{"id":1}}"#,
        Some(first),
        NOW + 2,
    );
    assert!(
        store
            .send_event(signal, None)
            .await
            .unwrap()
            .cancelled
            .is_empty()
    );
    // The string "1" is not the number 1; but a run registered without a
    // path takes every event of the name.
    let string = event("order.cancelled", r#"{"order":{"id":"1"}}"#, None, NOW + 3);
    let sent = store.send_event(string, None).await.unwrap();
    assert_eq!(sent.cancelled, [every]);

    let matching = event(
        "order.cancelled",
        r#"{"order":{"id":1},"why":"x"}"#,
        None,
        NOW + 4,
    );
    let sent = store.send_event(matching, None).await.unwrap();
    let mut cancelled = sent.cancelled.clone();
    cancelled.sort();
    let mut expected = vec![first, running.run_id];
    expected.sort();
    assert_eq!(cancelled, expected);
    let named = format!("cancelled by event \"order.cancelled\" (id {})", sent.id);
    for id in [first, running.run_id] {
        assert_eq!(
            status_and_error(store, id).await,
            (RunStatus::Cancelled, Some(named.clone()))
        );
    }
    assert!(is_lease_lost(
        store
            .save_step(running, step("late", 0, StepStatus::Completed, Some("1")))
            .await
    ));
    assert_eq!(status_and_error(store, other).await.0, RunStatus::Pending);
    assert_eq!(status_and_error(store, plain).await.0, RunStatus::Pending);
    assert_eq!(
        status_and_error(store, ended.run_id).await.0,
        RunStatus::Completed
    );
    // Sent again, it finds nobody: the cancelled runs left the index.
    let again = event("order.cancelled", r#"{"order":{"id":1}}"#, None, NOW + 5);
    assert!(
        store
            .send_event(again, None)
            .await
            .unwrap()
            .cancelled
            .is_empty()
    );
    // An event of a name nobody registered cancels nothing.
    let unknown = event("order.created", r#"{"order":{"id":2}}"#, None, NOW + 6);
    assert!(
        store
            .send_event(unknown, None)
            .await
            .unwrap()
            .cancelled
            .is_empty()
    );
    assert_eq!(status_and_error(store, other).await.0, RunStatus::Pending);
}

/// A run registered under two paths of one event name is cancelled by a
/// match on either; the distinct paths of a name are each looked up.
pub(crate) async fn every_path_of_an_event_name_is_looked_up(store: &dyn Store) {
    let by_customer = create(
        store,
        registered(
            r#"{"customer":"c-1"}"#,
            &[("account.closed", "customer", "\"c-1\"")],
        ),
    )
    .await;
    let by_account = create(
        store,
        registered(r#"{"account":7}"#, &[("account.closed", "account", "7")]),
    )
    .await;
    let both = create(
        store,
        registered(
            r#"{"account":8,"customer":"c-2"}"#,
            &[
                ("account.closed", "account", "8"),
                ("account.closed", "customer", "\"c-2\""),
            ],
        ),
    )
    .await;
    let closed = event(
        "account.closed",
        r#"{"account":7,"customer":"c-1"}"#,
        None,
        NOW + 1,
    );
    let mut cancelled = store.send_event(closed, None).await.unwrap().cancelled;
    cancelled.sort();
    let mut expected = vec![by_customer, by_account];
    expected.sort();
    assert_eq!(cancelled, expected);
    let closed = event("account.closed", r#"{"customer":"c-2"}"#, None, NOW + 2);
    assert_eq!(
        store.send_event(closed, None).await.unwrap().cancelled,
        [both]
    );
}

/// The event's stored record names the runs it cancelled, as the send
/// answered them; an event that cancelled nothing names none, and a later
/// event does not change an earlier one's record.
pub(crate) async fn an_event_records_the_runs_it_cancelled(store: &dyn Store) {
    let by_order = ("order.cancelled", "order.id", "1");
    let first = create(store, registered(r#"{"order":{"id":1}}"#, &[by_order])).await;
    let running = create_claimed(store, registered(r#"{"order":{"id":1}}"#, &[by_order])).await;
    let other = create(
        store,
        registered(
            r#"{"order":{"id":2}}"#,
            &[("order.cancelled", "order.id", "2")],
        ),
    )
    .await;
    let matching = event("order.cancelled", r#"{"order":{"id":1}}"#, None, NOW + 1);
    let sent = store.send_event(matching, None).await.unwrap();
    let nothing = event("order.cancelled", r#"{"order":{"id":3}}"#, None, NOW + 2);
    let unmatched = store.send_event(nothing, None).await.unwrap();
    let second = event("order.cancelled", r#"{"order":{"id":2}}"#, None, NOW + 3);
    let later = store.send_event(second, None).await.unwrap();
    assert_eq!(later.cancelled, [other]);

    let page = store.list_events(EventFilter::new()).await.unwrap();
    let listed = |id: i64| {
        page.events
            .iter()
            .find(|info| info.id == id)
            .expect("the event is listed")
            .clone()
    };
    let mut expected = vec![first, running.run_id];
    expected.sort();
    let mut recorded = listed(sent.id).cancelled;
    recorded.sort();
    assert_eq!(recorded, expected);
    let mut answered = sent.cancelled.clone();
    answered.sort();
    assert_eq!(recorded, answered, "the record is what the send answered");
    assert!(listed(unmatched.id).cancelled.is_empty());
    assert_eq!(listed(later.id).cancelled, [other]);
    // Neither waiter nor trigger: it woke and started nothing.
    assert!(listed(sent.id).woke.is_empty() && listed(sent.id).started.is_empty());
}

/// `set_deadline` stores the run's new deadline and the step that set it
/// together, fenced by the lease: a stale lease moves nothing.
pub(crate) async fn a_deadline_is_set_with_its_step_under_the_lease(store: &dyn Store) {
    let lease = create_and_claim(store).await;
    let mut record = step("extend", 0, StepStatus::Completed, Some("1700000009000"));
    record.kind = StepKind::SetDeadline;
    store
        .set_deadline(lease, record.clone(), Some(NOW + 9_000))
        .await
        .unwrap();
    let info = store.get_run(lease.run_id).await.unwrap().unwrap();
    assert_eq!(info.deadline_at, Some(NOW + 9_000));
    let journal = store.load_journal(lease.run_id).await.unwrap();
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].kind, StepKind::SetDeadline);
    assert_eq!(journal[0].output.as_deref(), Some("1700000009000"));

    store.cancel_run(lease.run_id, NOW + 1).await.unwrap();
    let late = StepRecord {
        name: "again".into(),
        seq: 1,
        ..record
    };
    assert!(is_lease_lost(
        store.set_deadline(lease, late, Some(NOW + 1)).await
    ));
    let info = store.get_run(lease.run_id).await.unwrap().unwrap();
    assert_eq!(info.deadline_at, Some(NOW + 9_000));
    assert_eq!(store.load_journal(lease.run_id).await.unwrap().len(), 1);
}
