//! Cron workflows: one run per fire time, once across engines, a missed
//! window fired once on start, and the overlap policy.

use std::time::Duration;

use durable::ManualClock;
use durable::prelude::*;
use durable_tests::TestDb;

/// 2024-01-01 00:02:00 UTC.
const START_MS: i64 = 1_704_067_320_000;

#[workflow(name = "every-five", cron = "*/5 * * * *")]
async fn every_five(ctx: Ctx) -> Result<(), Error> {
    ctx.run("tick", async || Ok::<_, StepError>(())).await
}

#[workflow(name = "slow-cron", cron = "*/5 * * * *", overlap = "skip")]
async fn slow_cron(ctx: Ctx) -> Result<(), Error> {
    ctx.sleep("long", "1h").await
}

async fn cron_runs(db: &TestDb, workflow: &str) -> i64 {
    db.count(&format!(
        "SELECT COUNT(*) FROM wf_instance WHERE workflow = '{workflow}' AND idempotency_key LIKE 'cron:%'"
    ))
    .await
}

/// Waits until the workflow has `expected` cron runs, all of them
/// completed (the default overlap policy skips a fire time while a run goes).
async fn wait_for_runs(db: &TestDb, workflow: &str, expected: i64) {
    let finished = format!(
        "SELECT COUNT(*) FROM wf_instance WHERE workflow = '{workflow}' \
         AND idempotency_key LIKE 'cron:%' AND status = 'completed'"
    );
    for _ in 0..1000 {
        if cron_runs(db, workflow).await == expected && db.count(&finished).await == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!(
        "expected {expected} cron runs of {workflow}, found {}",
        cron_runs(db, workflow).await
    );
}

#[tokio::test]
async fn a_cron_workflow_runs_once_per_fire_time_and_fires_a_missed_window_once() {
    let db = test_db!();
    let (engine, clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(EveryFive))
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        cron_runs(&db, "every-five").await,
        0,
        "nothing fires before 00:05"
    );
    clock.advance(Duration::from_secs(3 * 60));
    wait_for_runs(&db, "every-five", 1).await;
    clock.advance(Duration::from_secs(5 * 60));
    wait_for_runs(&db, "every-five", 2).await;
    let key_of_first = db
        .count("SELECT COUNT(*) FROM wf_instance WHERE idempotency_key = 'cron:1704067500000'")
        .await;
    assert_eq!(key_of_first, 1, "the 00:05 run carries its fire time");
    engine.shutdown().await;

    // Every engine is down from 00:10 to 00:32: 00:15 ... 00:30 are missed.
    let (engine, clock) = db
        .start_on_manual_clock(START_MS + 30 * 60_000, |builder| {
            builder.register(EveryFive)
        })
        .await;
    wait_for_runs(&db, "every-five", 3).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        cron_runs(&db, "every-five").await,
        3,
        "the missed window fired once"
    );
    clock.advance(Duration::from_secs(3 * 60));
    wait_for_runs(&db, "every-five", 4).await;
    engine.shutdown().await;
}

#[tokio::test]
async fn overlapping_fire_times_are_skipped_while_the_previous_run_goes() {
    let db = test_db!();
    let (_engine, clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(SlowCron))
        .await;
    clock.advance(Duration::from_secs(3 * 60));
    while cron_runs(&db, "slow-cron").await < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Let the first run reach its sleep, then pass two more fire times.
    tokio::time::sleep(Duration::from_millis(50)).await;
    clock.advance(Duration::from_secs(5 * 60));
    tokio::time::sleep(Duration::from_millis(50)).await;
    clock.advance(Duration::from_secs(5 * 60));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(cron_runs(&db, "slow-cron").await, 1);
}

#[tokio::test]
async fn engines_sharing_a_database_fire_each_time_once() {
    let db = test_db!();
    if matches!(db, TestDb::Sqlite { .. }) {
        return; // an embedded file has one engine
    }
    let clock = ManualClock::new(START_MS);
    let mut engines = Vec::new();
    for _ in 0..3 {
        engines.push(
            db.builder()
                .clock(clock.clone())
                .register(EveryFive)
                .start()
                .await
                .unwrap(),
        );
    }
    for (minutes, runs) in [(3, 1), (5, 2), (5, 3)] {
        clock.advance(Duration::from_secs(minutes * 60));
        wait_for_runs(&db, "every-five", runs).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        cron_runs(&db, "every-five").await,
        3,
        "three engines, one run per fire time"
    );
}
