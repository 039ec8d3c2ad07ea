//! Ending and resuming runs by hand: cancel (of running and suspended runs,
//! refused for finished ones), retry of a failed run from its failed step,
//! and the steps a run leaves when it ends during a sleep.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use durable::StepStatus;
use durable::prelude::*;
use durable_tests::wait_for_status;

const START_MS: i64 = 1_700_000_000_000;

// ---------------------------------------------------------------- cancel

static CANCELLED_BODY_FINISHED: AtomicBool = AtomicBool::new(false);

#[workflow]
async fn cancellable(ctx: Ctx, block: bool) -> Result<(), Error> {
    if block {
        ctx.run("block", async || {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            CANCELLED_BODY_FINISHED.store(true, Ordering::SeqCst);
            Ok::<(), StepError>(())
        })
        .await?;
    }
    ctx.sleep("wait", "1h").await
}

#[tokio::test]
async fn cancel_stops_running_and_suspended_runs_but_not_finished_ones() {
    let db = test_db!();
    let engine = db.builder().register(Cancellable).start().await.unwrap();

    let suspended = Cancellable::trigger(&engine, false).await.unwrap();
    wait_for_status(&suspended, RunStatus::Suspended).await;
    suspended.cancel().await.unwrap();
    assert!(matches!(
        suspended.result().await,
        Err(Error::RunCancelled { .. })
    ));

    let running = Cancellable::trigger(&engine, true).await.unwrap();
    wait_for_status(&running, RunStatus::Running).await;
    running.cancel().await.unwrap();
    assert_eq!(running.status().await.unwrap(), RunStatus::Cancelled);
    tokio::time::sleep(Duration::from_millis(20)).await;
    durable_tests::wait_for_idle(&engine).await;
    assert!(!CANCELLED_BODY_FINISHED.load(Ordering::SeqCst));

    match running.cancel().await {
        Err(Error::InvalidTransition {
            action: "cancel",
            status: RunStatus::Cancelled,
            ..
        }) => {}
        other => panic!("expected an invalid transition, got {other:?}"),
    }
}

// ---------------------------------------------------------------- retry

static RETRY_PREPARE_CALLS: AtomicU32 = AtomicU32::new(0);
static RETRY_SHOULD_FAIL: AtomicBool = AtomicBool::new(true);

#[workflow]
async fn retried(ctx: Ctx) -> Result<String, Error> {
    let prepared: u32 = ctx
        .run("prepare", async || {
            Ok::<_, StepError>(RETRY_PREPARE_CALLS.fetch_add(1, Ordering::SeqCst))
        })
        .await?;
    let shipped: String = ctx
        .step("ship")
        .retry(Retry::none())
        .run(async || {
            if RETRY_SHOULD_FAIL.load(Ordering::SeqCst) {
                Err(StepError::permanent("warehouse closed"))
            } else {
                Ok(format!("shipped after prepare #{prepared}"))
            }
        })
        .await?;
    Ok(shipped)
}

#[tokio::test]
async fn retry_resumes_a_failed_run_from_the_failed_step() {
    let db = test_db!();
    let engine = db.builder().register(Retried).start().await.unwrap();
    let run = Retried::trigger(&engine).await.unwrap();
    let error = run.result().await.unwrap_err().to_string();
    assert!(error.contains("warehouse closed"), "{error}");
    assert!(run.retry().await.is_ok());
    // A retried run may fail again without changing what it recorded.
    RETRY_SHOULD_FAIL.store(false, Ordering::SeqCst);
    let result = run.result().await;
    let output = match result {
        Ok(output) => output,
        Err(_) => {
            run.retry().await.unwrap();
            run.result().await.unwrap()
        }
    };
    assert_eq!(output, "shipped after prepare #0");
    assert_eq!(
        RETRY_PREPARE_CALLS.load(Ordering::SeqCst),
        1,
        "the completed step did not run again"
    );
    assert!(matches!(
        run.retry().await,
        Err(Error::InvalidTransition {
            action: "retry",
            status: RunStatus::Completed,
            ..
        })
    ));
}

// ------------------------------------------------- steps of ended runs

#[workflow(timeout = "1h")]
async fn naps_long(ctx: Ctx) -> Result<(), Error> {
    // Not a literal: the macro rejects a literal sleep longer than the
    // workflow's timeout, and this run is meant to time out asleep.
    ctx.sleep("nap", Duration::from_secs(2 * 3600)).await
}

/// A run cancelled, or timed out, during a sleep leaves the sleep
/// `sleeping`: it does not show `completed` once its wake time passes,
/// since the run ended before it woke.
#[tokio::test]
async fn a_sleep_of_a_run_that_ended_before_it_woke_never_completes() {
    let db = test_db!();
    let (engine, clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(NapsLong))
        .await;
    let cancelled = NapsLong::trigger(&engine).await.unwrap();
    let timed_out = NapsLong::trigger(&engine).await.unwrap();
    wait_for_status(&cancelled, RunStatus::Suspended).await;
    wait_for_status(&timed_out, RunStatus::Suspended).await;
    cancelled.cancel().await.unwrap();
    clock.advance(Duration::from_secs(3600));
    assert!(matches!(
        timed_out.result().await,
        Err(Error::RunTimedOut { .. })
    ));
    // Both past the sleep's wake time.
    clock.advance(Duration::from_secs(2 * 3600));
    for run in [&cancelled, &timed_out] {
        let steps = run.steps().await.unwrap();
        assert_eq!(steps[0].name, "nap");
        assert_eq!(
            steps[0].status,
            StepStatus::Sleeping,
            "the sleep of the {} run",
            run.status().await.unwrap()
        );
        assert_eq!(steps[0].output, None);
    }
}
