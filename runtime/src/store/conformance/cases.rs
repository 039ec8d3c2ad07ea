//! The cases of the store conformance suite: what every backend must do,
//! written against the [`Store`] traits alone. Each backend's driver calls
//! every case here with a fresh, empty store, through `every_case!`.

use std::sync::Arc;

use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::log::{LogLevel, LogLine};
use crate::model::status::{RunStatus, StepStatus};
use crate::model::workflow::StepKind;
use crate::store::{
    ClaimAtCreate, ClaimRequest, CreateOutcome, DeleteFinished, FinishEffects, Lease, NewEvent,
    NewRun, RunOutcome, StepRecord, Store, TransitionOutcome, Wait,
};
use uuid::Uuid;

/// Calls `$cases!(..)` with the name of every case of this suite, so each
/// backend's test file runs them all and a new case cannot be left out.
macro_rules! every_case {
    ($cases:ident) => {
        $cases!(
            a_stale_lease_cannot_write,
            recovery_fences_the_previous_worker,
            idempotency_keys_name_one_run,
            claims_respect_ready_time_and_workflow,
            completed_steps_are_never_overwritten,
            retry_keeps_completed_steps,
            one_refused_write_does_not_fail_its_batch,
            stale_step_writes_write_nothing_in_a_batch,
            events_settle_matching_waits,
            lookback_sees_earlier_events,
            lookback_skips_events_the_run_took,
            signals_are_buffered_for_one_run,
            a_send_from_a_stale_run_writes_nothing,
            children_settle_their_parent_and_die_with_it,
            a_child_timing_out_with_its_parent_is_cancelled,
            each_timed_out_run_cancels_its_children_at_its_own_time,
            an_expired_lease_is_claimed_by_another_worker,
            retention_deletes_a_run_with_its_steps_and_logs,
            a_run_can_be_claimed_as_it_is_created,
            a_suspension_saves_the_steps_it_carries,
            a_finish_saves_the_steps_it_carries,
            runs_are_listed_newest_first,
            run_filters_narrow_the_list,
            runs_are_found_by_text,
            runs_are_listed_by_parent,
            pages_walk_every_run_once,
            page_sizes_outside_1_to_200_are_refused,
            runs_are_counted_by_workflow_and_status,
            the_series_counts_each_minute,
            run_detail_has_steps_and_children,
            events_are_listed_with_the_runs_they_woke,
        );
    };
}
pub(super) use every_case;

pub(super) use super::read_cases::*;

const NOW: i64 = 1_700_000_000_000;

fn new_run(workflow: &str, input: &str, key: Option<&str>, ready_at: i64) -> NewRun {
    NewRun {
        id: RunId(Uuid::now_v7()),
        workflow: workflow.into(),
        input: input.into(),
        idempotency_key: key.map(Into::into),
        now: NOW,
        ready_at,
        deadline_at: None,
        parent_id: None,
        claimed_by: None,
    }
}

fn claim_request(limit: usize, now: i64) -> ClaimRequest {
    ClaimRequest {
        owner: "conformance".into(),
        now,
        limit,
        workflows: Arc::from(r#"["flow"]"#),
        lease_expires_at: Some(now + 10_000),
    }
}

fn step(name: &str, seq: i64, status: StepStatus, output: Option<&str>) -> StepRecord {
    StepRecord {
        name: name.into(),
        seq,
        kind: StepKind::Run,
        status,
        input: None,
        output: output.map(Into::into),
        error: None,
        attempts: 1,
        wake_at: None,
        updated_at: NOW,
        started_at: None,
        ended_at: None,
    }
}

/// `step` as a store reads it back after writing it once: started when it
/// was written (it names no start), and ended then if it completed or failed.
fn stored(step: &StepRecord) -> StepRecord {
    let ended = matches!(step.status, StepStatus::Completed | StepStatus::Failed);
    StepRecord {
        started_at: step.started_at.or(Some(step.updated_at)),
        ended_at: ended.then_some(step.updated_at),
        ..step.clone()
    }
}

async fn create_and_claim(store: &dyn Store) -> Lease {
    let run = new_run("flow", "{}", None, NOW);
    assert_eq!(
        store.create_run(run.clone()).await.unwrap(),
        CreateOutcome::Created(run.id)
    );
    let claimed = store.claim_ready(claim_request(1, NOW)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].lease.run_id, run.id);
    assert_eq!(claimed[0].executions, 1);
    claimed[0].lease
}

fn is_lease_lost<T: std::fmt::Debug>(result: Result<T, Error>) -> bool {
    matches!(result, Err(Error::LeaseLost { .. }))
}

/// A cancel bumps the fencing token: the old lease can write nothing.
pub(super) async fn a_stale_lease_cannot_write(store: &dyn Store) {
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
pub(super) async fn recovery_fences_the_previous_worker(store: &dyn Store) {
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
pub(super) async fn idempotency_keys_name_one_run(store: &dyn Store) {
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
pub(super) async fn claims_respect_ready_time_and_workflow(store: &dyn Store) {
    let later = new_run("flow", "{}", None, NOW + 5_000);
    let due = new_run("flow", "{}", None, NOW - 10);
    let foreign = new_run("other", "{}", None, NOW - 20);
    for run in [&later, &due, &foreign] {
        store.create_run(run.clone()).await.unwrap();
    }
    assert_eq!(
        store.next_ready_at(Arc::from(r#"["flow"]"#)).await.unwrap(),
        Some(NOW - 10)
    );
    let claimed = store.claim_ready(claim_request(10, NOW)).await.unwrap();
    assert_eq!(
        claimed.iter().map(|c| c.lease.run_id).collect::<Vec<_>>(),
        [due.id]
    );
    assert_eq!(
        store.next_ready_at(Arc::from(r#"["flow"]"#)).await.unwrap(),
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

/// A completed step record is never overwritten: a late `running` marker is
/// ignored, a second completion refused.
pub(super) async fn completed_steps_are_never_overwritten(store: &dyn Store) {
    let lease = create_and_claim(store).await;
    store
        .save_step(lease, step("a", 0, StepStatus::Completed, Some("1")))
        .await
        .unwrap();
    store
        .save_step(lease, step("a", 0, StepStatus::Running, None))
        .await
        .unwrap();
    // A second completion means another execution recorded the step first:
    // refused with a named error, so the caller replays instead.
    let second = store
        .save_step(lease, step("a", 0, StepStatus::Completed, Some("2")))
        .await;
    assert!(
        matches!(second, Err(Error::StepRecordedElsewhere { .. })),
        "{second:?}"
    );
    let journal = store.load_journal(lease.run_id).await.unwrap();
    assert_eq!(
        (journal[0].status, journal[0].output.as_deref().map(json)),
        (StepStatus::Completed, Some(json("1")))
    );
}

/// Retry keeps completed steps and drops the failed one.
pub(super) async fn retry_keeps_completed_steps(store: &dyn Store) {
    let lease = create_and_claim(store).await;
    store
        .save_step(lease, step("done", 0, StepStatus::Completed, Some("1")))
        .await
        .unwrap();
    store
        .save_step(lease, step("broken", 1, StepStatus::Failed, None))
        .await
        .unwrap();
    assert_eq!(
        store.retry_run(lease.run_id, NOW, None).await.unwrap(),
        TransitionOutcome::Refused(RunStatus::Running)
    );
    store
        .finish_run(lease, RunOutcome::Failed("broken".into()), Vec::new(), NOW)
        .await
        .unwrap();
    assert_eq!(
        store
            .retry_run(lease.run_id, NOW, Some(NOW + 1))
            .await
            .unwrap(),
        TransitionOutcome::Done
    );
    let journal = store.load_journal(lease.run_id).await.unwrap();
    assert_eq!(
        journal.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["done"]
    );
    let info = store.get_run(lease.run_id).await.unwrap().unwrap();
    assert_eq!(
        (info.status, info.error, info.deadline_at),
        (RunStatus::Pending, None, Some(NOW + 1))
    );
    let missing = RunId(Uuid::now_v7());
    assert_eq!(
        store.retry_run(missing, NOW, None).await.unwrap(),
        TransitionOutcome::NotFound
    );
}

/// Writes of many runs that share a batch: a fenced one fails alone.
pub(super) async fn one_refused_write_does_not_fail_its_batch(store: &dyn Store) {
    let mut leases = Vec::new();
    for _ in 0..20 {
        leases.push(create_and_claim(store).await);
    }
    let stale = leases[7];
    store.cancel_run(stale.run_id, NOW).await.unwrap();
    let writes = leases
        .iter()
        .map(|lease| store.save_step(*lease, step("a", 0, StepStatus::Completed, Some("1"))));
    let results = futures_join_all(writes).await;
    for (index, result) in results.iter().enumerate() {
        assert_eq!(result.is_ok(), index != 7, "write {index}: {result:?}");
    }
    let finishes = leases
        .iter()
        .map(|lease| store.finish_run(*lease, RunOutcome::Completed("1".into()), Vec::new(), NOW));
    let results = futures_join_all(finishes).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 19);
}

/// Every write of a step under a stale lease (a step result, a child
/// started, a wait registered) writes nothing and fails with `LeaseLost`,
/// also when it shares a batch with the same writes of a live run.
pub(super) async fn stale_step_writes_write_nothing_in_a_batch(store: &dyn Store) {
    let stale = create_and_claim(store).await;
    let live = create_and_claim(store).await;
    store.cancel_run(stale.run_id, NOW).await.unwrap();
    let child = |lease: Lease| NewRun {
        parent_id: Some(lease.run_id),
        ..new_run("flow", "{}", None, NOW)
    };
    let (stale_child, live_child) = (child(stale), child(live));
    let wait = || Wait::Event {
        name: "paid".into(),
        filter: None,
        lookback_from: None,
    };
    let writes = |lease: Lease, child: NewRun| async move {
        tokio::join!(
            store.save_step(lease, step("a", 0, StepStatus::Completed, Some("1"))),
            store.start_child(
                lease,
                waiting("b", StepKind::StartChild, None),
                child,
                false
            ),
            store.register_wait(
                lease,
                waiting("c", StepKind::WaitForEvent, Some(NOW + 1_000)),
                wait()
            ),
        )
    };
    let ((saved, started, registered), live_results) = tokio::join!(
        writes(stale, stale_child.clone()),
        writes(live, live_child.clone())
    );
    assert!(is_lease_lost(saved), "step result");
    assert!(is_lease_lost(started), "child started");
    assert!(is_lease_lost(registered), "wait registered");
    assert!(store.load_journal(stale.run_id).await.unwrap().is_empty());
    assert!(store.get_run(stale_child.id).await.unwrap().is_none());
    let (saved, started, registered) = live_results;
    saved.unwrap();
    started.unwrap();
    assert_eq!(registered.unwrap(), None);
    assert_eq!(store.load_journal(live.run_id).await.unwrap().len(), 3);
    assert!(store.get_run(live_child.id).await.unwrap().is_some());
}

/// Polls every future together, so their writes share batches.
async fn futures_join_all<T>(
    futures: impl Iterator<Item = impl std::future::Future<Output = T>>,
) -> Vec<T> {
    let mut futures: Vec<_> = futures.map(Box::pin).collect();
    let mut results: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, result) in futures.iter_mut().zip(results.iter_mut()) {
            if result.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *result = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results
        .into_iter()
        .map(|result| result.expect("every future finished"))
        .collect()
}

/// Parses JSON text: backends may store it in another layout (JSONB).
fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("valid JSON")
}

fn waiting(name: &str, kind: StepKind, wake_at: Option<i64>) -> StepRecord {
    StepRecord {
        kind,
        wake_at,
        ..step(name, 0, StepStatus::Waiting, None)
    }
}

fn event(name: &str, data: &str, target: Option<RunId>, now: i64) -> NewEvent {
    NewEvent {
        name: name.into(),
        data: data.into(),
        target,
        now,
    }
}

/// A send settles exactly the matching waits and wakes their runs; a
/// timeout that comes second sees the event's data.
pub(super) async fn events_settle_matching_waits(store: &dyn Store) {
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

/// A lookback takes the oldest matching event of its window; without one,
/// earlier events do not count.
pub(super) async fn lookback_sees_earlier_events(store: &dyn Store) {
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
pub(super) async fn lookback_skips_events_the_run_took(store: &dyn Store) {
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
pub(super) async fn signals_are_buffered_for_one_run(store: &dyn Store) {
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
pub(super) async fn a_send_from_a_stale_run_writes_nothing(store: &dyn Store) {
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

/// Children: the waiting step settles when the child ends; a timed-out
/// parent cancels its unfinished children.
pub(super) async fn children_settle_their_parent_and_die_with_it(store: &dyn Store) {
    let parent = create_and_claim(store).await;
    let child = NewRun {
        parent_id: Some(parent.run_id),
        claimed_by: None,
        ..new_run("flow", "{}", None, NOW)
    };
    let step = StepRecord {
        input: Some(format!("\"{}\"", child.id)),
        ..waiting("invoke", StepKind::Invoke, None)
    };
    store
        .start_child(parent, step, child.clone(), true)
        .await
        .unwrap();
    store
        .suspend_run(parent, None, Vec::new(), NOW)
        .await
        .unwrap();
    let claimed = store.claim_ready(claim_request(10, NOW)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].lease.run_id, child.id);
    let child_finish = store
        .finish_run(
            claimed[0].lease,
            RunOutcome::Completed("42".into()),
            Vec::new(),
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(
        child_finish,
        FinishEffects {
            cancelled: Vec::new(),
            woke_waiters: true,
            recorded: None,
        },
        "the child's finish says it settled its parent's step"
    );
    let parent_again = store.claim_ready(claim_request(10, NOW)).await.unwrap();
    assert_eq!(
        parent_again[0].lease.run_id, parent.run_id,
        "the child's end woke the parent"
    );
    let journal = store.load_journal(parent.run_id).await.unwrap();
    assert_eq!(journal[0].status, StepStatus::Completed);
    assert_eq!(
        journal[0].output.as_deref().map(json),
        Some(json(r#"{"error":null,"output":42,"status":"completed"}"#))
    );

    let second = NewRun {
        parent_id: Some(parent.run_id),
        claimed_by: None,
        ..new_run("flow", "{}", None, NOW + 10_000)
    };
    store
        .start_child(
            parent_again[0].lease,
            waiting("later", StepKind::StartChild, None),
            second.clone(),
            false,
        )
        .await
        .unwrap();
    let parent_finish = store
        .finish_run(parent_again[0].lease, RunOutcome::TimedOut, Vec::new(), NOW)
        .await
        .unwrap();
    assert_eq!(
        parent_finish,
        FinishEffects {
            cancelled: vec![second.id],
            woke_waiters: false,
            recorded: None,
        },
        "nothing waits for the parent"
    );
    let status = store.get_run(second.id).await.unwrap().unwrap().status;
    assert_eq!(status, RunStatus::Cancelled);
}

/// A child whose deadline passes with its parent's (it inherited it) ends
/// `cancelled`, as its parent's timeout would cancel it, in either order:
/// its own timed-out finish is recorded cancelled while the parent is
/// unfinished and overdue, and the maintenance pass cancels it rather than
/// timing it out.
pub(super) async fn a_child_timing_out_with_its_parent_is_cancelled(store: &dyn Store) {
    let deadline = NOW + 1_000;
    let parent_with_child = || async {
        let parent = NewRun {
            deadline_at: Some(deadline),
            ..new_run("flow", "{}", None, NOW)
        };
        store.create_run(parent.clone()).await.unwrap();
        let lease = store.claim_ready(claim_request(1, NOW)).await.unwrap()[0].lease;
        assert_eq!(lease.run_id, parent.id);
        let child = NewRun {
            parent_id: Some(parent.id),
            deadline_at: Some(deadline),
            ..new_run("flow", "{}", None, NOW)
        };
        let step = StepRecord {
            input: Some(format!("\"{}\"", child.id)),
            ..waiting("invoke", StepKind::Invoke, None)
        };
        store
            .start_child(lease, step, child.clone(), true)
            .await
            .unwrap();
        store
            .suspend_run(lease, Some(deadline), Vec::new(), NOW)
            .await
            .unwrap();
        (parent.id, child.id)
    };
    let status = |run_id| async move { store.get_run(run_id).await.unwrap().unwrap().status };

    // The child's timeout is handled first.
    let (parent, child) = parent_with_child().await;
    let claimed = store.claim_ready(claim_request(10, NOW)).await.unwrap();
    assert_eq!(claimed[0].lease.run_id, child);
    let effects = store
        .finish_run(claimed[0].lease, RunOutcome::TimedOut, Vec::new(), deadline)
        .await
        .unwrap();
    assert_eq!(effects.recorded, Some(RunOutcome::Cancelled(String::new())));
    assert_eq!(status(child).await, RunStatus::Cancelled);
    let journal = store.load_journal(parent).await.unwrap();
    assert_eq!(journal[0].status, StepStatus::Failed);
    assert_eq!(
        journal[0].output.as_deref().map(json).unwrap()["status"],
        "cancelled"
    );

    // The maintenance pass meets both deadlines at once.
    let (second_parent, second_child) = parent_with_child().await;
    let ended = store.time_out_overdue(deadline, 100).await.unwrap();
    assert!(ended.contains(&second_child), "{ended:?}");
    assert_eq!(status(second_child).await, RunStatus::Cancelled);
    assert_eq!(status(second_parent).await, RunStatus::TimedOut);
    assert_eq!(status(parent).await, RunStatus::TimedOut);
}

/// Runs timing out in one batch, each at its own time: each one's running
/// child is cancelled at the time its own parent ended, not at another
/// finish's time in the same batch.
pub(super) async fn each_timed_out_run_cancels_its_children_at_its_own_time(store: &dyn Store) {
    let mut parents = Vec::new();
    for _ in 0..2 {
        let parent = create_and_claim(store).await;
        let child = NewRun {
            parent_id: Some(parent.run_id),
            claimed_by: None,
            ..new_run("flow", "{}", None, NOW)
        };
        store
            .start_child(
                parent,
                waiting("start", StepKind::StartChild, None),
                child.clone(),
                false,
            )
            .await
            .unwrap();
        let claimed = store.claim_ready(claim_request(1, NOW)).await.unwrap();
        assert_eq!(claimed[0].lease.run_id, child.id);
        parents.push((parent, child.id));
    }
    let ends = [NOW + 1_000, NOW + 2_000];
    let finishes = parents
        .iter()
        .zip(ends)
        .map(|((parent, _), end)| store.finish_run(*parent, RunOutcome::TimedOut, Vec::new(), end));
    let results = futures_join_all(finishes).await;
    for (((_, child), end), result) in parents.iter().zip(ends).zip(results) {
        // A backend may report a batch's cancelled runs with each finish.
        let cancelled = result.unwrap().cancelled;
        assert!(cancelled.contains(child), "{cancelled:?}");
        let info = store.get_run(*child).await.unwrap().unwrap();
        assert_eq!(info.status, RunStatus::Cancelled);
        assert_eq!(
            info.finished_at,
            Some(end),
            "cancelled when its parent ended"
        );
    }
}

/// On a store shared by many workers, a run whose lease expired (its worker
/// died or stalled) is claimed again, and the old lease is fenced out.
pub(super) async fn an_expired_lease_is_claimed_by_another_worker(store: &dyn Store) {
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
        store.renew_leases(vec![old], expiry + 9_000).await.unwrap(),
        [old.run_id]
    );
}

/// Retention deletes a finished run with its steps and log lines, and
/// leaves runs that finished later alone.
pub(super) async fn retention_deletes_a_run_with_its_steps_and_logs(store: &dyn Store) {
    let old = create_and_claim(store).await;
    let recent = create_and_claim(store).await;
    for (lease, finished_at) in [(old, NOW), (recent, NOW + 5_000)] {
        store.append_log(
            lease,
            LogLine {
                key: "0#0".into(),
                level: LogLevel::Info,
                message: "hello".into(),
                fields: None,
                created_at: NOW,
            },
        );
        store
            .save_step(lease, step("a", 0, StepStatus::Completed, Some("1")))
            .await
            .unwrap();
        store
            .finish_run(
                lease,
                RunOutcome::Completed("1".into()),
                Vec::new(),
                finished_at,
            )
            .await
            .unwrap();
    }
    let request = DeleteFinished {
        statuses: &["completed"],
        workflow: None,
        except: "[]".into(),
        finished_before: NOW + 1,
        limit: 10,
    };
    assert_eq!(store.delete_finished(request).await.unwrap(), 1);
    assert!(store.get_run(old.run_id).await.unwrap().is_none());
    assert!(store.load_journal(old.run_id).await.unwrap().is_empty());
    assert!(store.load_logs(old.run_id).await.unwrap().is_empty());
    assert!(store.get_run(recent.run_id).await.unwrap().is_some());
    assert_eq!(store.load_journal(recent.run_id).await.unwrap().len(), 1);
    assert_eq!(store.load_logs(recent.run_id).await.unwrap().len(), 1);
}

/// A run claimed as it is created is `running` under the creator's lease
/// (token [`ClaimAtCreate::TOKEN`], one execution): no claim takes it, its
/// writes are fenced by that token, and a cancel fences them out.
pub(super) async fn a_run_can_be_claimed_as_it_is_created(store: &dyn Store) {
    let run = NewRun {
        claimed_by: Some(ClaimAtCreate {
            owner: "creator".into(),
            lease_expires_at: Some(NOW + 10_000),
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

/// A suspension saves the step records it carries (a sleep's record) in the
/// same transaction, fenced like the suspension: a stale lease writes
/// neither. The claim that takes the run again reads its journal along
/// (both stores do, saving a read per woken run).
pub(super) async fn a_suspension_saves_the_steps_it_carries(store: &dyn Store) {
    let lease = create_and_claim(store).await;
    let sleeping = StepRecord {
        kind: StepKind::Sleep,
        wake_at: Some(NOW + 1_000),
        ..step("nap", 0, StepStatus::Sleeping, None)
    };
    store
        .suspend_run(lease, Some(NOW + 1_000), vec![sleeping.clone()], NOW)
        .await
        .unwrap();
    assert_eq!(
        store.load_journal(lease.run_id).await.unwrap(),
        [stored(&sleeping)]
    );
    let info = store.get_run(lease.run_id).await.unwrap().unwrap();
    assert_eq!(info.status, RunStatus::Suspended);
    // Claimed again at its wake time, by a newer lease; the old one is
    // fenced out and carries nothing in.
    let claimed = store
        .claim_ready(claim_request(10, NOW + 1_000))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        claimed[0].journal.as_deref(),
        Some(&[stored(&sleeping)][..]),
        "the claim read the journal along"
    );
    let later = StepRecord {
        name: "later".into(),
        seq: 1,
        ..sleeping.clone()
    };
    assert!(is_lease_lost(
        store
            .suspend_run(lease, Some(NOW + 5_000), vec![later], NOW + 1_000)
            .await
    ));
    assert_eq!(
        store.load_journal(lease.run_id).await.unwrap(),
        [stored(&sleeping)]
    );
}

/// A finish saves the step records it carries first, in its transaction: a
/// step already completed keeps its result; a stale lease writes nothing.
pub(super) async fn a_finish_saves_the_steps_it_carries(store: &dyn Store) {
    let lease = create_and_claim(store).await;
    let first = step("a", 0, StepStatus::Completed, Some("1"));
    store.save_step(lease, first.clone()).await.unwrap();
    let rewritten = step("a", 0, StepStatus::Completed, Some("99"));
    let last = step("b", 1, StepStatus::Completed, Some("2"));
    store
        .finish_run(
            lease,
            RunOutcome::Completed("3".into()),
            vec![rewritten, last.clone()],
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(
        store.load_journal(lease.run_id).await.unwrap(),
        [stored(&first), stored(&last)]
    );
    let info = store.get_run(lease.run_id).await.unwrap().unwrap();
    assert_eq!(info.status, RunStatus::Completed);
    assert_eq!(info.output, Some(serde_json::json!(3)));
    // The run is over: a second finish under the same lease is refused, and
    // its steps with it.
    let late = step("c", 2, StepStatus::Completed, Some("4"));
    assert!(is_lease_lost(
        store
            .finish_run(lease, RunOutcome::Completed("5".into()), vec![late], NOW)
            .await
    ));
    assert_eq!(
        store.load_journal(lease.run_id).await.unwrap(),
        [stored(&first), stored(&last)]
    );
}
