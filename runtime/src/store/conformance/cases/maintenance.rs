//! Conformance cases of maintenance: retention, and the timeout of overdue
//! runs (a child overdue with its parent is cancelled, whichever deadline is
//! met first).

use super::helpers::{NOW, claim_request, create_and_claim, json, new_run, step, waiting};
use crate::model::log::{LogLevel, LogLine};
use crate::model::status::{RunStatus, StepStatus};
use crate::model::workflow::StepKind;
use crate::store::{DeleteFinished, NewRun, RunOutcome, StepRecord, Store};

/// Retention deletes a finished run with its steps and log lines, and
/// leaves runs that finished later alone.
pub(crate) async fn retention_deletes_a_run_with_its_steps_and_logs(store: &dyn Store) {
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

/// A child whose deadline passes with its parent's (it inherited it) ends
/// `cancelled`, as its parent's timeout would cancel it, in either order:
/// its own timed-out finish is recorded cancelled while the parent is
/// unfinished and overdue, and the maintenance pass cancels it rather than
/// timing it out.
pub(crate) async fn a_child_timing_out_with_its_parent_is_cancelled(store: &dyn Store) {
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
            queue: Default::default(),
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
