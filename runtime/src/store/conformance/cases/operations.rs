//! Conformance cases of an operator's operations on runs: pause, resume
//! and fork.

use super::helpers::{NOW, claim_request, create_and_claim, new_run, step};
use crate::model::ids::RunId;
use crate::model::info::ForkOrigin;
use crate::model::listing::RunFilter;
use crate::model::status::{RunStatus, StepStatus};
use crate::store::{CreateOutcome, ForkOutcome, NewFork, RunOutcome, Store, TransitionOutcome};

/// A paused pending run, and a paused suspended one, are neither claimed
/// nor due for the dispatcher, and keep their status; once resumed, a claim
/// takes them.
pub(crate) async fn a_paused_run_is_not_claimed_until_resumed(store: &dyn Store) {
    let pending = new_run("flow", "{}", None, NOW);
    assert_eq!(
        store.create_run(pending.clone()).await.unwrap(),
        CreateOutcome::Created(pending.id)
    );
    assert_eq!(
        store.set_paused(pending.id, true, NOW).await.unwrap(),
        TransitionOutcome::Done
    );
    let info = store.get_run(pending.id).await.unwrap().unwrap();
    assert_eq!(
        (info.status, info.paused_at),
        (RunStatus::Pending, Some(NOW))
    );
    assert!(
        store
            .claim_ready(claim_request(10, NOW + 1))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.next_ready_at("[\"flow\"]".into()).await.unwrap(),
        None
    );
    assert_eq!(
        store.set_paused(pending.id, false, NOW + 2).await.unwrap(),
        TransitionOutcome::Done
    );
    assert_eq!(
        store.get_run(pending.id).await.unwrap().unwrap().paused_at,
        None
    );
    assert_eq!(
        store.next_ready_at("[\"flow\"]".into()).await.unwrap(),
        Some(NOW)
    );
    let claimed = store.claim_ready(claim_request(10, NOW + 3)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].lease.run_id, pending.id);

    // A suspended run whose wake-up passed while it was paused is claimed
    // once resumed.
    store
        .suspend_run(claimed[0].lease, Some(NOW + 10), Vec::new(), NOW + 4)
        .await
        .unwrap();
    store.set_paused(pending.id, true, NOW + 5).await.unwrap();
    let info = store.get_run(pending.id).await.unwrap().unwrap();
    assert_eq!(
        (info.status, info.paused_at),
        (RunStatus::Suspended, Some(NOW + 5))
    );
    assert!(
        store
            .claim_ready(claim_request(10, NOW + 20))
            .await
            .unwrap()
            .is_empty()
    );
    store.set_paused(pending.id, false, NOW + 21).await.unwrap();
    let claimed = store
        .claim_ready(claim_request(10, NOW + 22))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].executions, 2);
}

/// Pausing a run that is paused already keeps the time of its first pause,
/// and resuming a run that is not paused changes nothing; both are done.
pub(crate) async fn pause_and_resume_are_idempotent(store: &dyn Store) {
    let run = new_run("flow", "{}", None, NOW);
    store.create_run(run.clone()).await.unwrap();
    assert_eq!(
        store.set_paused(run.id, false, NOW).await.unwrap(),
        TransitionOutcome::Done
    );
    assert_eq!(
        store.get_run(run.id).await.unwrap().unwrap().paused_at,
        None
    );
    store.set_paused(run.id, true, NOW + 1).await.unwrap();
    assert_eq!(
        store.set_paused(run.id, true, NOW + 9).await.unwrap(),
        TransitionOutcome::Done
    );
    assert_eq!(
        store.get_run(run.id).await.unwrap().unwrap().paused_at,
        Some(NOW + 1)
    );
}

/// A run that ended cannot be paused or resumed (the refusal names its
/// status), nor can a run that does not exist; a run that ended while
/// paused reads as not paused, and a retry of it is claimed.
pub(crate) async fn pause_of_an_ended_run_is_refused(store: &dyn Store) {
    let lease = create_and_claim(store).await;
    store
        .finish_run(lease, RunOutcome::Completed("1".into()), Vec::new(), NOW)
        .await
        .unwrap();
    for paused in [true, false] {
        assert_eq!(
            store.set_paused(lease.run_id, paused, NOW).await.unwrap(),
            TransitionOutcome::Refused(RunStatus::Completed)
        );
    }
    assert_eq!(
        store
            .set_paused(RunId(uuid::Uuid::now_v7()), true, NOW)
            .await
            .unwrap(),
        TransitionOutcome::NotFound
    );

    // Paused while running, then failed: no longer paused, and its retry
    // is not paused either.
    let run = new_run("flow", "{}", None, NOW);
    store.create_run(run.clone()).await.unwrap();
    let claimed = store.claim_ready(claim_request(1, NOW)).await.unwrap();
    assert_eq!(claimed[0].lease.run_id, run.id);
    store.set_paused(run.id, true, NOW).await.unwrap();
    let info = store.get_run(run.id).await.unwrap().unwrap();
    assert_eq!(
        (info.status, info.paused_at),
        (RunStatus::Running, Some(NOW))
    );
    store
        .finish_run(
            claimed[0].lease,
            RunOutcome::Failed("boom".into()),
            Vec::new(),
            NOW + 1,
        )
        .await
        .unwrap();
    let info = store.get_run(run.id).await.unwrap().unwrap();
    assert_eq!((info.status, info.paused_at), (RunStatus::Failed, None));
    assert_eq!(
        store.retry_run(run.id, NOW + 2, None).await.unwrap(),
        TransitionOutcome::Done
    );
    assert_eq!(
        store.get_run(run.id).await.unwrap().unwrap().paused_at,
        None
    );
    let claimed = store.claim_ready(claim_request(1, NOW + 3)).await.unwrap();
    assert_eq!(claimed.len(), 1);
}

/// A paused run keeps its deadline: maintenance times it out like any run
/// past its deadline that no worker claims.
pub(crate) async fn a_paused_run_still_times_out(store: &dyn Store) {
    let run = crate::store::NewRun {
        deadline_at: Some(NOW + 100),
        ..new_run("flow", "{}", None, NOW)
    };
    store.create_run(run.clone()).await.unwrap();
    store.set_paused(run.id, true, NOW).await.unwrap();
    assert!(
        store
            .time_out_overdue(NOW + 99, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.time_out_overdue(NOW + 100, 10).await.unwrap(),
        [run.id]
    );
    let info = store.get_run(run.id).await.unwrap().unwrap();
    assert_eq!((info.status, info.paused_at), (RunStatus::TimedOut, None));
}

/// A lease renewal names the held runs that are paused, so a worker of
/// another process stops them at their next step; a resumed run is named
/// no more. (A store whose leases never expire has no renewals: its one
/// engine pauses its runs itself.)
pub(crate) async fn a_renewal_names_the_paused_runs(store: &dyn Store) {
    if store.lease_duration().is_none() {
        return;
    }
    let lease = create_and_claim(store).await;
    store.set_paused(lease.run_id, true, NOW).await.unwrap();
    let renewal = store.renew_leases(vec![lease], NOW + 5_000).await.unwrap();
    assert!(renewal.lost.is_empty());
    assert_eq!(renewal.paused, [lease.run_id]);
    // Its lease expired: still no claim takes it over while it is paused.
    assert!(
        store
            .claim_ready(claim_request(10, NOW + 5_001))
            .await
            .unwrap()
            .is_empty()
    );
    store
        .set_paused(lease.run_id, false, NOW + 1)
        .await
        .unwrap();
    let renewal = store.renew_leases(vec![lease], NOW + 6_000).await.unwrap();
    assert!(renewal.lost.is_empty() && renewal.paused.is_empty());
    // The paused run's execution hands it back: suspended, due now, and
    // skipped by claims while it is paused again.
    store.set_paused(lease.run_id, true, NOW + 2).await.unwrap();
    store
        .suspend_run(lease, Some(NOW + 3), Vec::new(), NOW + 3)
        .await
        .unwrap();
    assert!(
        store
            .claim_ready(claim_request(10, NOW + 4))
            .await
            .unwrap()
            .is_empty()
    );
}

/// A fork of an ended run writes a pending run that names its source and
/// step, with a copy of the source's records before that step in journal
/// order that completed, failed or slept (not one in progress, nor one
/// undone by its compensation, nor the compensation's record); its first
/// claim reads them. A source that has not ended, a step that is not in
/// the journal and an unknown source are refused, writing nothing.
pub(crate) async fn a_fork_copies_the_journal_before_its_step(store: &dyn Store) {
    let lease = create_and_claim(store).await;
    let source = lease.run_id;
    // "u" completed and was undone by its compensation, which (as the
    // unwinding always does) came after it.
    let records = [
        step("a", 0, StepStatus::Completed, Some("1")),
        step("r", 1, StepStatus::Running, None),
        step("u", 2, StepStatus::Completed, Some("9")),
        step("compensate/u", 3, StepStatus::Completed, None),
        step("b", 4, StepStatus::Completed, Some("2")),
        step("c", 5, StepStatus::Failed, None),
    ];
    for record in &records {
        store.save_step(lease, record.clone()).await.unwrap();
    }
    let fork = |from_step: &str, input: &str| NewFork {
        run: new_run("flow", input, None, NOW + 5),
        source,
        from_step: from_step.into(),
    };
    // Not ended yet.
    assert_eq!(
        store.fork_run(fork("c", "{}")).await.unwrap(),
        ForkOutcome::NotEnded(RunStatus::Running)
    );
    store
        .finish_run(lease, RunOutcome::Failed("c".into()), Vec::new(), NOW + 1)
        .await
        .unwrap();
    let new = fork("c", r#"{"edited":true}"#);
    let id = new.run.id;
    assert_eq!(store.fork_run(new).await.unwrap(), ForkOutcome::Created(id));
    let info = store.get_run(id).await.unwrap().unwrap();
    assert_eq!(info.status, RunStatus::Pending);
    assert_eq!(info.input, serde_json::json!({"edited": true}));
    assert_eq!(
        info.forked_from,
        Some(ForkOrigin {
            run: source,
            step: "c".into()
        })
    );
    let copied: Vec<_> = store
        .load_journal(id)
        .await
        .unwrap()
        .into_iter()
        .map(|record| (record.name, record.status, record.output))
        .collect();
    assert_eq!(
        copied,
        [
            ("a".to_owned(), StepStatus::Completed, Some("1".to_owned())),
            ("b".to_owned(), StepStatus::Completed, Some("2".to_owned())),
        ]
    );
    // The source is as it was.
    assert_eq!(store.load_journal(source).await.unwrap().len(), 6);
    assert_eq!(
        store.get_run(source).await.unwrap().unwrap().forked_from,
        None
    );
    // Its first claim reads the journal it starts with.
    let claimed = store.claim_ready(claim_request(10, NOW + 6)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].lease.run_id, id);
    let journal = match &claimed[0].journal {
        Some(journal) => journal.clone(),
        None => store.load_journal(id).await.unwrap(),
    };
    assert_eq!(
        journal.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );

    // A fork from the first step keeps nothing.
    let first = fork("a", "{}");
    let first_id = first.run.id;
    assert_eq!(
        store.fork_run(first).await.unwrap(),
        ForkOutcome::Created(first_id)
    );
    assert!(store.load_journal(first_id).await.unwrap().is_empty());

    let refused = fork("nope", "{}");
    let refused_id = refused.run.id;
    assert_eq!(
        store.fork_run(refused).await.unwrap(),
        ForkOutcome::NoSuchStep
    );
    assert!(store.get_run(refused_id).await.unwrap().is_none());
    let unknown = NewFork {
        source: RunId(uuid::Uuid::now_v7()),
        ..fork("a", "{}")
    };
    assert_eq!(
        store.fork_run(unknown).await.unwrap(),
        ForkOutcome::NotFound
    );
}

/// The run list's `paused` filter lists the runs paused now, whatever
/// their status: not the ones resumed, never paused, or ended while paused.
pub(crate) async fn paused_runs_are_listed_by_their_filter(store: &dyn Store) {
    let mut runs = Vec::new();
    for _ in 0..3 {
        let run = new_run("flow", "{}", None, NOW + 1_000);
        store.create_run(run.clone()).await.unwrap();
        runs.push(run.id);
    }
    // A running run, paused, then ended: it keeps its mark.
    let ended = create_and_claim(store).await;
    store.set_paused(ended.run_id, true, NOW).await.unwrap();
    store
        .finish_run(ended, RunOutcome::Completed("1".into()), Vec::new(), NOW)
        .await
        .unwrap();
    store.set_paused(runs[0], true, NOW).await.unwrap();
    store.set_paused(runs[1], true, NOW).await.unwrap();
    store.set_paused(runs[1], false, NOW).await.unwrap();
    let listed = |filter: RunFilter| async move {
        let page = store.list_runs(filter, 0).await.unwrap();
        page.runs.iter().map(|run| run.id).collect::<Vec<_>>()
    };
    assert_eq!(listed(RunFilter::new().paused()).await, [runs[0]]);
    assert_eq!(
        listed(RunFilter::new().paused().workflow("flow")).await,
        [runs[0]]
    );
    assert!(
        listed(
            RunFilter::new()
                .paused()
                .statuses([RunStatus::Completed, RunStatus::Suspended])
        )
        .await
        .is_empty()
    );
    assert_eq!(listed(RunFilter::new()).await.len(), 4);
}
