//! The change feed (`Engine::changes`): a run's statuses, steps and log
//! lines in commit order, the workflow of a run cancelled from outside, and
//! the feed's end at shutdown.

use std::time::Duration;

use durable::prelude::*;
use durable::{ChangeKind, ChangesError, RunChange, StepStatus};
use durable_tests::{statuses, until_ended, wait_for_status};

#[workflow(name = "changes.two-steps")]
async fn two_steps(ctx: Ctx, fail: bool) -> Result<u32, Error> {
    let a: u32 = ctx.run("first", async || Ok::<_, StepError>(1)).await?;
    ctx.progress("between the steps");
    let b: u32 = ctx
        .run("second", async || {
            if fail {
                Err(StepError::permanent("told to fail"))
            } else {
                Ok(2)
            }
        })
        .await?;
    Ok(a + b)
}

#[workflow(name = "changes.sleeper")]
async fn sleeper(ctx: Ctx) -> Result<(), Error> {
    ctx.sleep("nap", "1h").await
}

#[tokio::test]
async fn a_run_s_statuses_steps_and_logs_come_in_commit_order() {
    let db = test_db!();
    let engine = db.builder().register(TwoSteps).start().await.unwrap();
    let mut changes = engine.changes();
    let run = TwoSteps::trigger(&engine, false).await.unwrap();
    assert_eq!(run.result().await.unwrap(), 3);
    let seen = until_ended(&mut changes, run.id()).await;
    assert!(
        seen.iter()
            .all(|change| &*change.workflow == "changes.two-steps")
    );
    assert!(seen.windows(2).all(|pair| pair[0].seq < pair[1].seq));
    assert_eq!(statuses(&seen).last(), Some(&RunStatus::Completed));
    assert!(statuses(&seen).contains(&RunStatus::Running));
    let completed: Vec<&str> = seen
        .iter()
        .filter_map(|change| match &change.kind {
            ChangeKind::Step {
                name,
                status: StepStatus::Completed,
                attempts,
                duration_ms,
            } => {
                assert_eq!(*attempts, 1);
                assert!(duration_ms.is_some_and(|ms| ms >= 0));
                Some(name.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(completed, ["first", "second"]);
    let log_at = seen
        .iter()
        .position(|change| change.kind == ChangeKind::Log)
        .expect("the log line's change");
    let second_at = seen
        .iter()
        .position(|change| matches!(&change.kind, ChangeKind::Step { name, status: StepStatus::Completed, .. } if name == "second"))
        .unwrap();
    assert!(
        log_at < second_at,
        "the log line was written before the second step ended"
    );
    match seen.iter().find(|c| {
        matches!(
            c.kind,
            ChangeKind::Status {
                status: RunStatus::Running,
                ..
            }
        )
    }) {
        Some(RunChange {
            kind: ChangeKind::Status { execution, .. },
            ..
        }) => assert_eq!(*execution, Some(1)),
        _ => unreachable!(),
    }
    engine.shutdown().await;
}

#[tokio::test]
async fn a_failure_and_a_cancel_from_outside_are_told_with_their_workflow() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(TwoSteps)
        .register(Sleeper)
        .start()
        .await
        .unwrap();
    let mut changes = engine.changes();
    let failing = TwoSteps::trigger(&engine, true).await.unwrap();
    assert!(failing.result().await.is_err());
    let seen = until_ended(&mut changes, failing.id()).await;
    assert_eq!(statuses(&seen).last(), Some(&RunStatus::Failed));
    assert!(seen.iter().any(|c| matches!(&c.kind, ChangeKind::Step { name, status: StepStatus::Failed, .. } if name == "second")));

    let sleeping = Sleeper::trigger(&engine).await.unwrap();
    wait_for_status(&sleeping, RunStatus::Suspended).await;
    // A second engine's view: the run is not held by this one any more, so
    // the cancel's write names only the run; the feed reads its workflow.
    sleeping.cancel().await.unwrap();
    let seen = until_ended(&mut changes, sleeping.id()).await;
    assert_eq!(
        statuses(&seen),
        [
            RunStatus::Running,
            RunStatus::Suspended,
            RunStatus::Cancelled
        ]
    );
    assert!(
        seen.iter()
            .all(|change| &*change.workflow == "changes.sleeper")
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn every_status_change_of_many_runs_is_told_once() {
    let db = test_db!();
    let engine = db.builder().register(TwoSteps).start().await.unwrap();
    let mut changes = engine.changes();
    let mut runs = Vec::new();
    for _ in 0..50 {
        runs.push(TwoSteps::trigger(&engine, false).await.unwrap());
    }
    for run in &runs {
        run.result().await.unwrap();
    }
    let mut completed = std::collections::HashMap::new();
    let mut last_seq = 0;
    while completed.len() < runs.len() {
        let change = changes.recv().await.unwrap();
        assert!(change.seq > last_seq);
        last_seq = change.seq;
        if let ChangeKind::Status {
            status: RunStatus::Completed,
            ..
        } = change.kind
        {
            *completed.entry(change.run_id).or_insert(0) += 1;
        }
    }
    assert!(completed.values().all(|&count| count == 1));
    assert!(runs.iter().all(|run| completed.contains_key(&run.id())));
}

#[tokio::test]
async fn the_feed_ends_at_shutdown() {
    let db = test_db!();
    let engine = db.builder().register(TwoSteps).start().await.unwrap();
    let mut changes = engine.changes();
    engine.shutdown().await;
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), changes.recv())
            .await
            .unwrap(),
        Err(ChangesError::Closed)
    );
    assert_eq!(engine.changes().recv().await, Err(ChangesError::Closed));
}
