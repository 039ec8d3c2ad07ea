//! Conformance cases of a run's end: finishing (with the steps it
//! carries), children settling their parents and cancelled with them,
//! timed-out runs cancelling their children, and retry.

use uuid::Uuid;

use super::helpers::{
    NOW, claim_request, create_and_claim, futures_join_all, is_lease_lost, json, new_run, step,
    stored, waiting,
};
use crate::model::ids::RunId;
use crate::model::status::{RunStatus, StepStatus};
use crate::model::workflow::StepKind;
use crate::store::{FinishEffects, NewRun, RunOutcome, StepRecord, Store, TransitionOutcome};

/// A finish saves the step records it carries first, in its transaction: a
/// step already completed keeps its result; a stale lease writes nothing.
pub(crate) async fn a_finish_saves_the_steps_it_carries(store: &dyn Store) {
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

/// Children: the waiting step settles when the child ends; a timed-out
/// parent cancels its unfinished children.
pub(crate) async fn children_settle_their_parent_and_die_with_it(store: &dyn Store) {
    let parent = create_and_claim(store).await;
    let child = NewRun {
        queue: Default::default(),
        parent_id: Some(parent.run_id),
        claimed_by: None,
        flow: None,
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
        queue: Default::default(),
        parent_id: Some(parent.run_id),
        claimed_by: None,
        flow: None,
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

/// Runs timing out in one batch, each at its own time: each one's running
/// child is cancelled at the time its own parent ended, not at another
/// finish's time in the same batch.
pub(crate) async fn each_timed_out_run_cancels_its_children_at_its_own_time(store: &dyn Store) {
    let mut parents = Vec::new();
    for _ in 0..2 {
        let parent = create_and_claim(store).await;
        let child = NewRun {
            queue: Default::default(),
            parent_id: Some(parent.run_id),
            claimed_by: None,
            flow: None,
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

/// Retry keeps completed steps and drops the failed one.
pub(crate) async fn retry_keeps_completed_steps(store: &dyn Store) {
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
