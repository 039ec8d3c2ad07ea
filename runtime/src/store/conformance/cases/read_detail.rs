//! The conformance case of one run in full: its steps with their times
//! and attempts, its children and its parent.

use uuid::Uuid;

use super::helpers::{NOW, create_claimed, finish, ids, json, record, run_at};
use crate::model::ids::RunId;
use crate::model::info::StepInfo;
use crate::model::status::{RunStatus, StepStatus};
use crate::model::workflow::StepKind;
use crate::store::{NewRun, RunOutcome, StepRecord, Store};

fn times(step: &StepInfo) -> (Option<i64>, Option<i64>) {
    (step.started_at, step.ended_at)
}

/// A run in full: its steps in seq order, each with its start (kept from
/// its first write, or the start its record carried) and its end (once
/// completed or failed) and attempts; its children oldest first; `None` for
/// an unknown run.
pub(crate) async fn run_detail_has_steps_and_children(store: &dyn Store) {
    let lease = create_claimed(store, run_at("flow", r#"{"n":1}"#, NOW)).await;
    let save = |step: StepRecord| store.save_step(lease, step);
    let detail = || async { store.run_detail(lease.run_id).await.unwrap().unwrap() };

    let fresh = detail().await;
    assert_eq!(fresh.run.id, lease.run_id);
    assert_eq!(fresh.run.status, RunStatus::Running);
    assert!(fresh.steps.is_empty() && fresh.children.is_empty());

    // `a`: running, then completed; the completion's start does not replace
    // the first write's.
    save(record("a", 0, StepStatus::Running, NOW + 10))
        .await
        .unwrap();
    let running = detail().await;
    assert_eq!(running.steps.len(), 1);
    assert_eq!(running.steps[0].status, StepStatus::Running);
    assert_eq!(times(&running.steps[0]), (Some(NOW + 10), None));
    save(StepRecord {
        output: Some("1".into()),
        started_at: Some(NOW + 15),
        ..record("a", 0, StepStatus::Completed, NOW + 20)
    })
    .await
    .unwrap();
    // `c` (reached after `b` but written first): its record names its start;
    // it fails twice, waits for a retry, then fails for good.
    save(StepRecord {
        started_at: Some(NOW + 5),
        ..record("c", 2, StepStatus::Running, NOW + 30)
    })
    .await
    .unwrap();
    save(StepRecord {
        attempts: 2,
        error: Some("e2".into()),
        wake_at: Some(NOW + 45),
        ..record("c", 2, StepStatus::Pending, NOW + 40)
    })
    .await
    .unwrap();
    let retrying = detail().await;
    assert_eq!(retrying.steps[1].name, "c");
    assert_eq!(times(&retrying.steps[1]), (Some(NOW + 5), None));
    save(StepRecord {
        attempts: 3,
        error: Some("e3".into()),
        ..record("c", 2, StepStatus::Failed, NOW + 50)
    })
    .await
    .unwrap();
    // `b`: completed at its first write.
    save(StepRecord {
        output: Some(r#"{"b":true}"#.into()),
        ..record("b", 1, StepStatus::Completed, NOW + 60)
    })
    .await
    .unwrap();

    let mut kids = Vec::new();
    for (seq, at) in [(3_i64, NOW + 100), (4, NOW + 200)] {
        let child = NewRun {
            queue: Default::default(),
            parent_id: Some(lease.run_id),
            ..run_at("flow", r#"{"child":true}"#, at)
        };
        let step = StepRecord {
            kind: StepKind::StartChild,
            input: Some(format!("\"{}\"", child.id)),
            ..record(&format!("start/{seq}"), seq, StepStatus::Waiting, at)
        };
        store
            .start_child(lease, step, child.clone(), false)
            .await
            .unwrap();
        kids.push(child.id);
    }

    let full = detail().await;
    let names: Vec<&str> = full.steps.iter().map(|step| step.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "start/3", "start/4"]);
    let seqs: Vec<i64> = full.steps.iter().map(|step| step.seq).collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4]);
    let (a, b, c) = (&full.steps[0], &full.steps[1], &full.steps[2]);
    assert_eq!(
        (a.status, a.output.clone(), a.attempts),
        (StepStatus::Completed, Some(json("1")), 1)
    );
    assert_eq!(times(a), (Some(NOW + 10), Some(NOW + 20)));
    assert_eq!(
        (b.status, b.output.clone()),
        (StepStatus::Completed, Some(json(r#"{"b":true}"#)))
    );
    assert_eq!(times(b), (Some(NOW + 60), Some(NOW + 60)));
    assert_eq!(
        (c.status, c.error.as_deref(), c.attempts),
        (StepStatus::Failed, Some("e3"), 3)
    );
    assert_eq!(times(c), (Some(NOW + 5), Some(NOW + 50)));
    assert_eq!(ids(&full.children), kids, "children oldest first");
    assert!(full.children.iter().all(
        |child| child.parent == Some(lease.run_id) && child.input == json(r#"{"child":true}"#)
    ));
    assert_eq!(full.run.parent, None);
    assert_eq!(full.run.input, json(r#"{"n":1}"#));

    // The journal carries the same times.
    let journal = store.load_journal(lease.run_id).await.unwrap();
    let mut journal_times: Vec<_> = journal
        .iter()
        .map(|step| (step.name.clone(), step.started_at, step.ended_at))
        .collect();
    journal_times.sort();
    let mut detail_times: Vec<_> = full
        .steps
        .iter()
        .map(|step| (step.name.clone(), step.started_at, step.ended_at))
        .collect();
    detail_times.sort();
    assert_eq!(journal_times, detail_times);

    // A child in full names its parent and has nothing of its own yet.
    let child = store.run_detail(kids[0]).await.unwrap().unwrap();
    assert_eq!(child.run.parent, Some(lease.run_id));
    assert!(child.steps.is_empty() && child.children.is_empty());

    finish(store, lease, RunOutcome::Completed("9".into()), NOW + 300).await;
    let done = detail().await;
    assert_eq!(
        (done.run.status, done.run.finished_at),
        (RunStatus::Completed, Some(NOW + 300))
    );
    assert_eq!(done.steps.len(), 5);

    assert!(
        store
            .run_detail(RunId(Uuid::now_v7()))
            .await
            .unwrap()
            .is_none()
    );
}
