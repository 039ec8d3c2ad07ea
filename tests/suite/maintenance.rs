//! Maintenance: retention deletes finished runs (with their steps) and old
//! events after their period, per status and per workflow.

use std::time::Duration;

use durable::prelude::*;
use durable::{ManualClock, Retention};

const DAY: u64 = 86_400;

#[workflow]
async fn short_lived(ctx: Ctx, fail: bool) -> Result<(), Error> {
    ctx.run("work", async || {
        if fail {
            Err(StepError::permanent("broken"))
        } else {
            Ok(())
        }
    })
    .await
}

#[workflow(name = "keep-long")]
async fn keep_long(ctx: Ctx) -> Result<(), Error> {
    ctx.run("work", async || Ok::<_, StepError>(())).await
}

/// Runs maintenance and returns (runs, events) deleted.
async fn deleted(engine: &Engine) -> (u64, u64) {
    let report = engine.run_maintenance().await.unwrap();
    (report.runs_deleted, report.events_deleted)
}

#[tokio::test]
async fn retention_deletes_finished_runs_and_events_after_their_period() {
    let db = test_db!();
    let (engine, clock) = db
        .start_on_manual_clock(1_700_000_000_000, |builder| {
            builder
                .retention(
                    Retention::default()
                        .completed("1d")
                        .failed("3d")
                        .events("5d"),
                )
                .retention_for("keep-long", Retention::default().completed("10d"))
                .register(ShortLived)
                .register(KeepLong)
        })
        .await;
    let completed = ShortLived::trigger(&engine, false).await.unwrap();
    completed.result().await.unwrap();
    let failed = ShortLived::trigger(&engine, true).await.unwrap();
    assert!(failed.result().await.is_err());
    let kept = KeepLong::trigger(&engine).await.unwrap();
    kept.result().await.unwrap();
    engine.send_event("audit", json!({ "n": 1 })).await.unwrap();

    clock.advance(Duration::from_secs(2 * DAY));
    assert_eq!(deleted(&engine).await, (1, 0));
    assert!(matches!(
        completed.status().await,
        Err(Error::RunNotFound(_))
    ));
    assert_eq!(failed.status().await.unwrap(), RunStatus::Failed);
    assert_eq!(kept.status().await.unwrap(), RunStatus::Completed);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM wf_step").await,
        2,
        "the deleted run's steps went with it"
    );

    clock.advance(Duration::from_secs(4 * DAY));
    assert_eq!(deleted(&engine).await, (1, 1));
    assert_eq!(
        kept.status().await.unwrap(),
        RunStatus::Completed,
        "its workflow keeps runs 10 days"
    );
    clock.advance(Duration::from_secs(5 * DAY));
    assert_eq!(deleted(&engine).await, (1, 0));
    assert_eq!(db.count("SELECT COUNT(*) FROM wf_instance").await, 0);
}

#[tokio::test]
async fn retention_settings_are_checked() {
    let db = test_db!();
    let error = db
        .builder()
        .retention(Retention::default().failed("a month"))
        .start()
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains(r#"invalid duration "a month""#),
        "{error}"
    );
    let error = db
        .builder()
        .retention_for("nobody", Retention::default())
        .start()
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("workflow `nobody`, which is not registered"),
        "{error}"
    );
}

#[workflow(name = "orphaned", timeout = "1h")]
async fn orphaned(ctx: Ctx) -> Result<(), Error> {
    ctx.run("work", async || Ok::<_, StepError>(())).await
}

#[tokio::test]
async fn maintenance_times_out_runs_no_worker_can_claim() {
    let db = test_db!();
    let clock = ManualClock::new(1_700_000_000_000);
    // An engine that knows the workflow triggers a delayed run, then goes away.
    let engine = db
        .builder()
        .clock(clock.clone())
        .register(Orphaned)
        .start()
        .await
        .unwrap();
    let options = TriggerOptions::new().delay("10m").unwrap();
    let id = Orphaned::trigger_with(&engine, options).await.unwrap().id();
    engine.shutdown().await;
    drop(engine);
    // The engines left do not register it: nothing will ever claim the run.
    let engine = db
        .builder()
        .clock(clock.clone())
        .register(ShortLived)
        .start()
        .await
        .unwrap();
    clock.advance(Duration::from_secs(3600 + 600 - 1));
    assert_eq!(
        engine.run_maintenance().await.unwrap().timed_out,
        0,
        "not before its deadline"
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(engine.run_maintenance().await.unwrap().timed_out, 1);
    let run = engine.run_handle::<()>(id);
    assert!(matches!(run.result().await, Err(Error::RunTimedOut { .. })));
}
