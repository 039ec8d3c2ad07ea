//! Step retries: attempts until success or the policy's limit, permanent
//! errors and zero retries running the body once, long backoffs that suspend
//! the run, each attempt's own times and error, and panics failing an
//! attempt (retried) or the run, and attempts whose worker stopped inside
//! them logged when the run resumes.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use durable::StepStatus;
use durable::prelude::*;
use durable_tests::wait_for_status;

const START_MS: i64 = 1_700_000_000_000;

static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);

#[workflow]
async fn flaky(ctx: Ctx, failures: u32) -> Result<u32, Error> {
    ctx.step("flaky-call")
        .retry(Retry::fixed(3, "5ms"))
        .run_with_attempt(async |attempt| {
            FLAKY_CALLS.fetch_add(1, Ordering::SeqCst);
            if attempt <= failures {
                Err(StepError::retryable(format!("attempt {attempt} failed")))
            } else {
                Ok(attempt)
            }
        })
        .await
}

#[tokio::test]
async fn a_step_is_retried_until_it_succeeds_and_attempts_are_visible() {
    let db = test_db!();
    let engine = db.builder().register(Flaky).start().await.unwrap();
    let run = Flaky::trigger(&engine, 2).await.unwrap();
    assert_eq!(run.result().await.unwrap(), 3);
    let steps = run.steps().await.unwrap();
    assert_eq!(
        (steps[0].status, steps[0].attempts),
        (StepStatus::Completed, 3)
    );
    // Each attempt with its own times: the failed ones with their errors,
    // then the one that completed the step, each after the last ended.
    let log = &steps[0].attempt_log;
    assert_eq!(
        log.iter()
            .map(|a| (a.attempt, a.error.as_deref()))
            .collect::<Vec<_>>(),
        [
            (1, Some("attempt 1 failed")),
            (2, Some("attempt 2 failed")),
            (3, None)
        ]
    );
    assert!(log.windows(2).all(|w| w[0].ended_at <= w[1].started_at));
    assert_eq!(log[0].started_at, steps[0].started_at.unwrap());
    assert_eq!(log[2].ended_at, steps[0].ended_at.unwrap());
    // A step done at its first attempt keeps no log.
    let once = Flaky::trigger(&engine, 0).await.unwrap();
    assert_eq!(once.result().await.unwrap(), 1);
    assert!(once.steps().await.unwrap()[0].attempt_log.is_empty());
}

#[tokio::test]
async fn retries_stop_at_the_policy_limit_with_the_last_error() {
    let db = test_db!();
    let engine = db.builder().register(Flaky).start().await.unwrap();
    let run = Flaky::trigger(&engine, 10).await.unwrap();
    let error = run.result().await.unwrap_err().to_string();
    assert!(
        error.contains("step `flaky-call` failed after 3 attempt(s): attempt 3 failed"),
        "{error}"
    );
    let steps = run.steps().await.unwrap();
    assert_eq!(
        (steps[0].status, steps[0].attempts),
        (StepStatus::Failed, 3)
    );
    assert_eq!(run.status().await.unwrap(), RunStatus::Failed);
    let errors: Vec<Option<&str>> = steps[0]
        .attempt_log
        .iter()
        .map(|attempt| attempt.error.as_deref())
        .collect();
    assert_eq!(
        errors,
        [
            Some("attempt 1 failed"),
            Some("attempt 2 failed"),
            Some("attempt 3 failed")
        ]
    );
}

static NO_RETRY_CALLS: AtomicU32 = AtomicU32::new(0);

#[workflow]
async fn no_retry(ctx: Ctx, permanent: bool) -> Result<(), Error> {
    let policy = if permanent {
        Retry::fixed(5, "1ms")
    } else {
        Retry::none()
    };
    ctx.step("once")
        .retry(policy)
        .run(async || {
            NO_RETRY_CALLS.fetch_add(1, Ordering::SeqCst);
            if permanent {
                Err::<(), _>(StepError::permanent("card declined"))
            } else {
                Err(StepError::retryable("flaky"))
            }
        })
        .await
}

#[tokio::test]
async fn permanent_errors_and_zero_retries_run_the_body_once() {
    let db = test_db!();
    let engine = db.builder().register(NoRetry).start().await.unwrap();
    for permanent in [true, false] {
        let before = NO_RETRY_CALLS.load(Ordering::SeqCst);
        let run = NoRetry::trigger(&engine, permanent).await.unwrap();
        assert!(run.result().await.is_err());
        assert_eq!(
            NO_RETRY_CALLS.load(Ordering::SeqCst) - before,
            1,
            "permanent={permanent}"
        );
        assert_eq!(run.steps().await.unwrap()[0].attempts, 1);
    }
}

#[workflow]
async fn slow_retry(ctx: Ctx) -> Result<u32, Error> {
    ctx.step("slow")
        .retry(Retry::fixed(2, "1h").jitter(0.0))
        .run_with_attempt(async |attempt| {
            if attempt == 1 {
                Err(StepError::retryable("not yet"))
            } else {
                Ok(attempt)
            }
        })
        .await
}

/// An engine on a manual clock at [`START_MS`] with a `SlowRetry` run
/// suspended in its hour of back-off after its first attempt failed.
async fn slow_retry_in_backoff(
    db: &durable_tests::TestDb,
) -> (
    durable::Engine,
    durable::ManualClock,
    durable::RunHandle<u32>,
) {
    let (engine, clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(SlowRetry))
        .await;
    let run = SlowRetry::trigger(&engine).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    durable_tests::wait_for_idle(&engine).await;
    (engine, clock, run)
}

#[tokio::test]
async fn a_long_backoff_suspends_the_run_and_never_retries_early() {
    let db = test_db!();
    let (_engine, clock, run) = slow_retry_in_backoff(&db).await;
    let step = &run.steps().await.unwrap()[0];
    assert_eq!((step.status, step.attempts), (StepStatus::Pending, 1));
    assert_eq!(step.wake_at, Some(START_MS + 3_600_000));

    clock.advance(Duration::from_secs(3599));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        run.status().await.unwrap(),
        RunStatus::Suspended,
        "retried early"
    );

    clock.advance(Duration::from_secs(1));
    assert_eq!(run.result().await.unwrap(), 2);
}

#[tokio::test]
async fn each_attempt_keeps_its_own_times_and_error() {
    let db = test_db!();
    let (engine, clock, run) = slow_retry_in_backoff(&db).await;
    let waiting = &run.steps().await.unwrap()[0];
    let failed = durable::AttemptInfo {
        attempt: 1,
        started_at: START_MS,
        ended_at: START_MS,
        error: Some("not yet".into()),
    };
    assert_eq!(waiting.attempt_log, std::slice::from_ref(&failed));

    // The second attempt runs after the hour of back-off (in another
    // execution of the run) and completes the step.
    clock.advance(Duration::from_secs(3600));
    assert_eq!(run.result().await.unwrap(), 2);
    let retried = START_MS + 3_600_000;
    let completed = durable::AttemptInfo {
        attempt: 2,
        started_at: retried,
        ended_at: retried,
        error: None,
    };
    let detail = engine.run_detail(run.id()).await.unwrap();
    let step = &detail.steps[0];
    assert_eq!(step.attempt_log, [failed, completed]);
    assert_eq!(
        (step.started_at, step.ended_at),
        (Some(START_MS), Some(retried))
    );
    assert_eq!(run.steps().await.unwrap()[0].attempt_log, step.attempt_log);
}

// ------------------------------------------------- interrupted attempts

#[workflow]
async fn interrupted(ctx: Ctx, max_attempts: u32) -> Result<u32, Error> {
    ctx.step("long-call")
        .retry(Retry::fixed(max_attempts, "5ms"))
        .run_with_attempt(async |attempt| {
            if attempt == 1 {
                // Outlives the step's running marker (written 50 ms in):
                // the engine stops inside it.
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Ok::<_, StepError>(attempt)
        })
        .await
}

/// Starts an `Interrupted` run, stops its engine inside the first attempt's
/// body once the attempt is marked running, and resumes the run on a second
/// engine; returns that engine and the run's id.
async fn interrupted_then_resumed(
    db: &durable_tests::TestDb,
    max_attempts: u32,
) -> (durable::Engine, durable::RunId) {
    let first = db.builder().register(Interrupted).start().await.unwrap();
    let run = Interrupted::trigger(&first, max_attempts).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while run.steps().await.unwrap().first().map(|step| step.status) != Some(StepStatus::Running) {
        assert!(std::time::Instant::now() < deadline, "no running marker");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let id = run.id();
    first.shutdown().await;
    let second = db.builder().register(Interrupted).start().await.unwrap();
    (second, id)
}

#[tokio::test]
async fn an_attempt_whose_worker_stopped_inside_it_is_logged_when_the_run_resumes() {
    let db = test_db!();
    let (engine, id) = interrupted_then_resumed(&db, 3).await;
    let run = engine.run(id);
    let output: serde_json::Value = run.result().await.unwrap();
    assert_eq!(output, serde_json::json!(2));
    let step = &run.steps().await.unwrap()[0];
    let log = &step.attempt_log;
    assert_eq!(
        log.iter()
            .map(|a| (a.attempt, a.error.is_some()))
            .collect::<Vec<_>>(),
        [(1, true), (2, false)]
    );
    let error = log[0].error.as_deref().unwrap();
    assert!(error.starts_with("attempt 1 did not finish"), "{error}");
    assert_eq!(log[0].started_at, step.started_at.unwrap());
    assert!(log[0].started_at <= log[0].ended_at && log[0].ended_at <= log[1].started_at);
    engine.shutdown().await;
}

#[tokio::test]
async fn an_interrupted_last_attempt_fails_the_step_and_is_logged() {
    let db = test_db!();
    let (engine, id) = interrupted_then_resumed(&db, 1).await;
    let run = engine.run(id);
    assert!(run.result().await.is_err());
    let step = &run.steps().await.unwrap()[0];
    assert_eq!(step.status, StepStatus::Failed);
    assert_eq!(
        step.attempt_log
            .iter()
            .map(|a| (
                a.attempt,
                a.error
                    .as_deref()
                    .is_some_and(|e| e.contains("did not finish"))
            ))
            .collect::<Vec<_>>(),
        [(1, true)]
    );
    engine.shutdown().await;
}

// ---------------------------------------------------------------- panics

static PANICS_LEFT: AtomicU32 = AtomicU32::new(1);

#[workflow]
async fn panicky(ctx: Ctx, in_body: bool) -> Result<u32, Error> {
    if in_body {
        panic!("the workflow itself broke");
    }
    ctx.step("fragile")
        .retry(Retry::fixed(2, "1ms"))
        .run_with_attempt(async |attempt| {
            if PANICS_LEFT.fetch_sub(1, Ordering::SeqCst) == 1 {
                panic!("attempt {attempt} broke");
            }
            Ok::<_, StepError>(attempt)
        })
        .await
}

#[tokio::test]
async fn panics_fail_the_attempt_or_the_run_and_never_leave_it_running() {
    let db = test_db!();
    let engine = db.builder().register(Panicky).start().await.unwrap();
    let run = Panicky::trigger(&engine, false).await.unwrap();
    assert_eq!(
        run.result().await.unwrap(),
        2,
        "the panicking attempt was retried"
    );

    let run = Panicky::trigger(&engine, true).await.unwrap();
    let error = run.result().await.unwrap_err().to_string();
    assert!(
        error.contains("the workflow body panicked: the workflow itself broke"),
        "{error}"
    );
    durable_tests::wait_for_idle(&engine).await;
}
