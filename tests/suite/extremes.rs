//! Every builder and limit with extreme values: zero, the maximum, times
//! before the epoch or centuries ahead. Each gives sane behaviour or a
//! documented error; never a panic, a hang or an overflow.

use std::time::{Duration, UNIX_EPOCH};

use durable::prelude::*;
use durable::{Limits, Retention, StepStatus, TriggerOptions};
use durable_tests::wait_for_status;

const START_MS: i64 = 1_700_000_000_000;
const DAY: Duration = Duration::from_secs(86_400);
const CENTURY: Duration = Duration::from_secs(100 * 365 * 86_400);

#[workflow]
async fn echo(ctx: Ctx, n: u32) -> Result<u32, Error> {
    ctx.run("echo", async || Ok::<_, StepError>(n)).await
}

fn every_retention(period: Duration) -> Retention {
    Retention::default()
        .completed(period)
        .failed(period)
        .cancelled(period)
        .events(period)
}

#[tokio::test]
async fn engine_builder_extremes_start_or_are_refused() {
    let db = test_db!();
    for builder in [
        db.builder().register(Echo).concurrency(0),
        db.builder().register(Echo).lease(Duration::ZERO),
        db.builder().register(Echo).lease(0u64),
    ] {
        let error = builder.start().await.unwrap_err();
        assert!(matches!(error, Error::Config(_)), "{error}");
    }

    // The maxima work, and keep everything forever.
    let engine = db
        .builder()
        .register(Echo)
        .concurrency(usize::MAX)
        .lease(Duration::MAX)
        .keep_in_memory_below(Duration::MAX)
        .limits(Limits {
            max_input_bytes: usize::MAX,
            max_step_output_bytes: usize::MAX,
        })
        .retention(every_retention(Duration::MAX))
        .start()
        .await
        .unwrap();
    let run = Echo::trigger(&engine, 7).await.unwrap();
    assert_eq!(run.result().await.unwrap(), 7);
    engine.send_event("kept", json!({})).await.unwrap();
    let report = engine.run_maintenance().await.unwrap();
    assert_eq!((report.runs_deleted, report.events_deleted), (0, 0));
    engine.shutdown().await;
    drop((engine, run));

    // Zero limits refuse every payload before anything is written.
    let engine = db
        .builder()
        .register(Echo)
        .limits(Limits {
            max_input_bytes: 0,
            max_step_output_bytes: 0,
        })
        .start()
        .await
        .unwrap();
    let error = Echo::trigger(&engine, 7).await.unwrap_err();
    assert!(matches!(error, Error::PayloadTooLarge { .. }), "{error}");
    let error = engine.send_event("big", json!({})).await.unwrap_err();
    assert!(matches!(error, Error::PayloadTooLarge { .. }), "{error}");
    assert_eq!(db.count("SELECT COUNT(*) FROM wf_instance").await, 1);
    engine.shutdown().await;
    drop(engine);

    // A zero retention deletes what finished before now: the two runs and
    // the event (the ones above were recorded on the system clock, before
    // this clock's start).
    let (engine, clock) = db
        .start_on_manual_clock(4_000_000_000_000, |builder| {
            builder
                .register(Echo)
                .retention(every_retention(Duration::ZERO))
        })
        .await;
    let run = Echo::trigger(&engine, 8).await.unwrap();
    assert_eq!(run.result().await.unwrap(), 8);
    clock.advance(Duration::from_millis(1));
    let report = engine.run_maintenance().await.unwrap();
    assert_eq!((report.runs_deleted, report.events_deleted), (2, 1));
    assert_eq!(db.count("SELECT COUNT(*) FROM wf_instance").await, 0);
}

#[tokio::test]
async fn trigger_times_at_the_extremes_start_at_once_or_wait_without_overflow() {
    let db = test_db!();
    let (engine, clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(Echo))
        .await;
    let at = |options: TriggerOptions, n| Echo::trigger_with(&engine, n, options);
    let epoch = at(TriggerOptions::new().start_at(UNIX_EPOCH), 1)
        .await
        .unwrap();
    let before_epoch = at(TriggerOptions::new().start_at(UNIX_EPOCH - DAY), 2)
        .await
        .unwrap();
    let no_delay = at(TriggerOptions::new().delay(Duration::ZERO).unwrap(), 3)
        .await
        .unwrap();
    let never = at(TriggerOptions::new().delay(Duration::MAX).unwrap(), 4)
        .await
        .unwrap();
    let far = at(
        TriggerOptions::new().start_at(UNIX_EPOCH + CENTURY * 10_000),
        5,
    )
    .await
    .unwrap();
    assert_eq!(epoch.result().await.unwrap(), 1);
    assert_eq!(before_epoch.result().await.unwrap(), 2);
    assert_eq!(no_delay.result().await.unwrap(), 3);
    clock.advance(CENTURY);
    durable_tests::wait_for_idle(&engine).await;
    assert_eq!(never.status().await.unwrap(), RunStatus::Pending);
    assert_eq!(far.status().await.unwrap(), RunStatus::Pending);
    never.cancel().await.unwrap();
    assert_eq!(never.status().await.unwrap(), RunStatus::Cancelled);
}

/// Runs every step kind with zero or extreme settings and reports what
/// each did.
#[workflow]
async fn zero_settings(ctx: Ctx) -> Result<Vec<String>, Error> {
    let mut seen = Vec::new();
    let zero_attempts = ctx
        .step("zero-attempts")
        .retry(Retry::fixed(0, Duration::MAX))
        .run(async || Err::<(), _>(StepError::retryable("down")))
        .await;
    seen.push(match zero_attempts {
        Err(Error::StepFailed { attempts, .. }) => format!("failed after {attempts}"),
        other => format!("{other:?}"),
    });
    // Several times: an attempt done at once must never lose to its timeout.
    for key in 0..16 {
        let instant = ctx
            .step(("instant", key))
            .timeout(Duration::ZERO)
            .retry(Retry::none())
            .run(async || Ok::<_, StepError>(1u32))
            .await;
        if key == 0 || instant.is_err() {
            seen.push(format!("{instant:?}"));
        }
    }
    let slow = ctx
        .step("slow")
        .timeout(0u64)
        .retry(Retry::none())
        .run(async || {
            tokio::task::yield_now().await;
            Ok::<_, StepError>(2u32)
        })
        .await;
    seen.push(match slow {
        Err(Error::StepFailed { message, .. }) => message,
        other => format!("{other:?}"),
    });
    let unlimited = ctx
        .step("unlimited")
        .timeout(Duration::MAX)
        .run(async || Ok::<_, StepError>(3u32))
        .await;
    seen.push(format!("{unlimited:?}"));
    ctx.sleep("no-sleep", Duration::ZERO).await?;
    ctx.sleep("no-sleep-ms", 0u64).await?;
    ctx.sleep_until("epoch", UNIX_EPOCH).await?;
    ctx.sleep_until("before-epoch", UNIX_EPOCH - DAY).await?;
    let event: Option<u32> = ctx
        .wait_for_event("no-wait", "never.sent")
        .timeout(Duration::ZERO)
        .await?;
    seen.push(format!("{event:?}"));
    Ok(seen)
}

#[tokio::test]
async fn zero_attempts_timeouts_sleeps_and_waits_do_not_wait() {
    let db = test_db!();
    let (engine, _clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(ZeroSettings))
        .await;
    let run = ZeroSettings::trigger(&engine).await.unwrap();
    assert_eq!(
        run.result().await.unwrap(),
        [
            "failed after 1",
            "Ok(1)",
            "attempt 1 timed out after 0 ms",
            "Ok(3)",
            "None"
        ]
    );
}

/// Waits for as long as a duration can say, in one of several ways.
#[workflow]
async fn forever(ctx: Ctx, how: String) -> Result<String, Error> {
    match how.as_str() {
        "sleep" => ctx.sleep("nap", Duration::MAX).await?,
        "sleep-until" => {
            ctx.sleep_until("nap-until", UNIX_EPOCH + CENTURY * 10_000)
                .await?
        }
        "fixed" => {
            ctx.step("flaky-fixed")
                .retry(Retry::fixed(u32::MAX, Duration::MAX))
                .run(async || Err::<(), _>(StepError::retryable("down")))
                .await?
        }
        "exponential" => {
            ctx.step("flaky-exponential")
                .retry(Retry::exponential(u32::MAX, Duration::MAX).max_delay(Duration::MAX))
                .run(async || Err::<(), _>(StepError::retryable("down")))
                .await?
        }
        _ => {
            let ping: Option<u32> = ctx
                .wait_for_event("ping", "ping")
                .timeout(Duration::MAX)
                .await?;
            return Ok(format!("{ping:?}"));
        }
    }
    Ok(how)
}

#[tokio::test]
async fn the_longest_sleeps_back_offs_and_waits_suspend_without_overflow() {
    let db = test_db!();
    let (engine, clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(Forever))
        .await;
    let mut runs = Vec::new();
    for how in ["sleep", "sleep-until", "fixed", "exponential", "wait"] {
        let run = Forever::trigger(&engine, how.into()).await.unwrap();
        wait_for_status(&run, RunStatus::Suspended).await;
        runs.push((how, run));
    }
    for (how, run) in &runs[..4] {
        let step = run.steps().await.unwrap().remove(0);
        let expected = if how.starts_with("sleep") {
            StepStatus::Sleeping
        } else {
            StepStatus::Pending
        };
        assert_eq!(step.status, expected, "{how}");
        assert!(
            step.wake_at.unwrap() > START_MS + 100 * 365 * 86_400_000,
            "{how}"
        );
    }
    clock.advance(CENTURY);
    durable_tests::wait_for_idle(&engine).await;
    for (how, run) in &runs {
        assert_eq!(run.status().await.unwrap(), RunStatus::Suspended, "{how}");
    }
    engine.send_event("ping", json!(5)).await.unwrap();
    assert_eq!(runs[4].1.result().await.unwrap(), "Some(5)");
    for (_, run) in &runs[..4] {
        run.cancel().await.unwrap();
    }
}
