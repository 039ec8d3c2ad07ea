//! Durable sleep: a sleep survives a restart and replays recorded values,
//! sleeping runs hold no task and wake exactly at their deadline, and a real
//! sleep wakes within milliseconds of it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use durable::StepStatus;
use durable::prelude::*;
use durable_tests::wait_for_status;

const START_MS: i64 = 1_700_000_000_000;

static BEFORE_SLEEP_CALLS: AtomicU32 = AtomicU32::new(0);
static FIRST_SEEN: Mutex<Option<(SystemTime, durable::Uuid)>> = Mutex::new(None);

#[workflow]
async fn sleeper(ctx: Ctx) -> Result<bool, Error> {
    ctx.run("before", async || {
        Ok::<_, StepError>(BEFORE_SLEEP_CALLS.fetch_add(1, Ordering::SeqCst))
    })
    .await?;
    let now = ctx.now("started-at").await?;
    let id = ctx.uuid("request-id").await?;
    FIRST_SEEN.lock().unwrap().get_or_insert((now, id));
    ctx.sleep("nap", "2h").await?;
    ctx.sleep_until("in-the-past", SystemTime::UNIX_EPOCH)
        .await?;
    let first = FIRST_SEEN.lock().unwrap().unwrap();
    Ok(first == (now, id))
}

#[tokio::test]
async fn a_durable_sleep_survives_a_restart_and_replays_recorded_values() {
    let db = test_db!();
    let (engine, _clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(Sleeper))
        .await;
    let run = Sleeper::trigger(&engine).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    let id = run.id();
    engine.shutdown().await;
    drop(engine);

    // A new engine, two hours later, on the same file.
    let (engine, _clock) = db
        .start_on_manual_clock(START_MS + 2 * 3_600_000, |builder| {
            builder.register(Sleeper)
        })
        .await;
    let run = engine.run_handle::<bool>(id);
    assert!(
        run.result().await.unwrap(),
        "now() and uuid() replayed their recorded values"
    );
    assert_eq!(
        BEFORE_SLEEP_CALLS.load(Ordering::SeqCst),
        1,
        "the step before the sleep did not run again"
    );
    let steps = run.steps().await.unwrap();
    assert!(
        steps
            .iter()
            .all(|step| step.status == StepStatus::Completed),
        "{steps:?}"
    );
}

#[workflow]
pub(super) async fn sleepy(ctx: Ctx, nap_ms: u64) -> Result<(), Error> {
    ctx.sleep("nap", nap_ms).await
}

#[tokio::test]
async fn sleeping_runs_hold_no_task_and_wake_exactly_at_their_deadline() {
    let db = test_db!();
    let (engine, clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(Sleepy))
        .await;
    let mut runs = Vec::new();
    for i in 0..50u64 {
        runs.push(Sleepy::trigger(&engine, 60_000 + i * 1000).await.unwrap());
    }
    for run in &runs {
        wait_for_status(run, RunStatus::Suspended).await;
    }
    durable_tests::wait_for_idle(&engine).await;
    // Nothing polls: with the clock standing still, nothing wakes.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for run in &runs {
        assert_eq!(run.status().await.unwrap(), RunStatus::Suspended);
    }
    // Move to the 10th deadline: exactly the first ten wake.
    clock.advance(Duration::from_millis(60_000 + 9 * 1000));
    for run in &runs[..10] {
        run.result().await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    for run in &runs[10..] {
        assert_eq!(
            run.status().await.unwrap(),
            RunStatus::Suspended,
            "woke early"
        );
    }
    // A sleep shows completed once its wake time passed (its record is not
    // rewritten), and sleeping before.
    let status_of_sleep = async |run: &RunHandle<()>| run.steps().await.unwrap()[0].status;
    assert_eq!(status_of_sleep(&runs[9]).await, StepStatus::Completed);
    assert_eq!(status_of_sleep(&runs[10]).await, StepStatus::Sleeping);
}

#[tokio::test]
async fn a_real_sleep_wakes_within_milliseconds_of_its_deadline() {
    let db = test_db!();
    let engine = db
        .builder()
        .keep_in_memory_below("10ms")
        .register(Sleepy)
        .start()
        .await
        .unwrap();
    let run = Sleepy::trigger(&engine, 300).await.unwrap();
    run.result().await.unwrap();
    let info = run.info().await.unwrap();
    let step = &run.steps().await.unwrap()[0];
    let wake_at = step.wake_at.unwrap();
    let finished = info.finished_at.unwrap();
    assert!(
        finished >= wake_at,
        "woke early: finished {finished}, deadline {wake_at}"
    );
    // A poll-based engine would be late by its poll interval; a timer is not.
    // The bound is loose for slow CI machines.
    assert!(
        finished - wake_at < 400,
        "woke {} ms late",
        finished - wake_at
    );
}
