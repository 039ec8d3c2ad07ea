//! Failure handling: compensations in reverse order as durable steps, the
//! on-failure hook, resuming compensation after a crash, `fail`, `abort`,
//! logs that land once, and retrying a compensated run.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use durable::prelude::*;
use durable::{Failure, FanOut, LogLevel, StepStatus};
use durable_tests::wait_for_status;

static EVENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn note(event: impl Into<String>) {
    EVENTS.lock().unwrap().push(event.into());
}

async fn report_failure(ctx: Ctx, failure: Failure) -> Result<(), Error> {
    ctx.run("notify", async || {
        note(format!(
            "hook: {} after {:?}",
            failure.error, failure.completed_steps
        ));
        Ok::<_, StepError>(())
    })
    .await
}

#[workflow(on_failure = report_failure)]
async fn transfer(ctx: Ctx, cents: u64) -> Result<(), Error> {
    ctx.step("debit")
        .compensate(|debited: u64| async move {
            note(format!("undo debit {debited}"));
            Ok::<_, StepError>(())
        })
        .run(async || Ok::<_, StepError>(cents))
        .await?;
    ctx.step("reserve")
        .compensate(|slot: String| async move {
            note(format!("undo reserve {slot}"));
            Ok::<_, StepError>(())
        })
        .run(async || Ok::<_, StepError>("slot-1".to_string()))
        .await?;
    ctx.step("credit")
        .retry(Retry::none())
        .run(async || Err::<(), _>(StepError::permanent("account closed")))
        .await
}

#[tokio::test]
async fn a_failed_run_compensates_in_reverse_order_then_calls_its_hook() {
    let db = test_db!();
    let engine = db.builder().register(Transfer).start().await.unwrap();
    let run = Transfer::trigger(&engine, 500).await.unwrap();
    let error = run.result().await.unwrap_err().to_string();
    assert!(
        error.contains("step `credit` failed after 1 attempt(s): account closed"),
        "{error}"
    );
    let events = EVENTS.lock().unwrap().clone();
    assert_eq!(events[0], "undo reserve slot-1");
    assert_eq!(events[1], "undo debit 500");
    assert!(
        events[2].starts_with("hook: step `credit` failed"),
        "{events:?}"
    );
    assert!(events[2].ends_with(r#"["debit", "reserve"]"#), "{events:?}");
    let steps: Vec<(String, StepStatus)> = run
        .steps()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.name, s.status))
        .collect();
    for name in [
        "compensate/reserve",
        "compensate/debit",
        "on-failure/notify",
    ] {
        assert!(
            steps.contains(&(name.to_string(), StepStatus::Completed)),
            "{name} in {steps:?}"
        );
    }
}

static UNDO_RESERVE: AtomicU32 = AtomicU32::new(0);
static UNDO_DEBIT: AtomicU32 = AtomicU32::new(0);
static DEBIT_UNDO_BLOCKS: AtomicBool = AtomicBool::new(true);

#[workflow]
async fn interrupted_saga(ctx: Ctx) -> Result<(), Error> {
    ctx.step("debit")
        .compensate(|_: u32| async move {
            UNDO_DEBIT.fetch_add(1, Ordering::SeqCst);
            if DEBIT_UNDO_BLOCKS.swap(false, Ordering::SeqCst) {
                // The process "dies" here: the test shuts the engine down.
                std::future::pending::<()>().await;
            }
            Ok::<_, StepError>(())
        })
        .run(async || Ok::<_, StepError>(1u32))
        .await?;
    ctx.step("reserve")
        .compensate(|_: u32| async move {
            UNDO_RESERVE.fetch_add(1, Ordering::SeqCst);
            Ok::<_, StepError>(())
        })
        .run(async || Ok::<_, StepError>(2u32))
        .await?;
    ctx.fail("no stock").await
}

#[tokio::test]
async fn a_crash_while_compensating_resumes_without_repeating_finished_compensations() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(InterruptedSaga)
        .start()
        .await
        .unwrap();
    let run = InterruptedSaga::trigger(&engine).await.unwrap();
    while UNDO_DEBIT.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let id = run.id();
    engine.shutdown().await;
    drop((engine, run));

    let engine = db
        .builder()
        .register(InterruptedSaga)
        .start()
        .await
        .unwrap();
    let run = engine.run_handle::<()>(id);
    let error = run.result().await.unwrap_err().to_string();
    assert!(error.ends_with("no stock"), "{error}");
    assert_eq!(
        UNDO_RESERVE.load(Ordering::SeqCst),
        1,
        "a finished compensation ran again"
    );
    assert_eq!(
        UNDO_DEBIT.load(Ordering::SeqCst),
        2,
        "the interrupted compensation ran again"
    );
}

static ABORT_UNDO: AtomicU32 = AtomicU32::new(0);

#[workflow]
async fn aborted(ctx: Ctx) -> Result<(), Error> {
    ctx.step("charge")
        .compensate(|_: u32| async move {
            ABORT_UNDO.fetch_add(1, Ordering::SeqCst);
            Ok::<_, StepError>(())
        })
        .run(async || Ok::<_, StepError>(1u32))
        .await?;
    ctx.abort("customer changed their mind").await
}

#[tokio::test]
async fn abort_ends_the_run_cancelled_without_compensating() {
    let db = test_db!();
    let engine = db.builder().register(Aborted).start().await.unwrap();
    let run = Aborted::trigger(&engine).await.unwrap();
    assert!(matches!(
        run.result().await,
        Err(Error::RunCancelled { .. })
    ));
    let info = run.info().await.unwrap();
    assert_eq!(info.status, RunStatus::Cancelled);
    assert_eq!(info.error.as_deref(), Some("customer changed their mind"));
    assert_eq!(ABORT_UNDO.load(Ordering::SeqCst), 0);
}

#[workflow]
async fn chatty(ctx: Ctx) -> Result<(), Error> {
    ctx.progress("started");
    ctx.log(LogLevel::Info, "charged", json!({ "cents": 4200 }));
    ctx.sleep("pause", "1h").await?;
    ctx.progress("finished");
    Ok(())
}

#[tokio::test]
async fn logs_and_progress_land_once_across_replays() {
    let db = test_db!();
    let (engine, clock) = db
        .start_on_manual_clock(1_700_000_000_000, |builder| builder.register(Chatty))
        .await;
    let run = Chatty::trigger(&engine).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    clock.advance(Duration::from_secs(3600));
    run.result().await.unwrap();
    let logs: Vec<(String, String, Option<serde_json::Value>)> = run
        .logs()
        .await
        .unwrap()
        .into_iter()
        .map(|l| {
            (
                l.level.as_str().to_owned(),
                l.message,
                l.fields.map(|f| serde_json::from_str(&f).unwrap()),
            )
        })
        .collect();
    assert_eq!(
        logs,
        [
            ("progress".into(), "started".into(), None),
            (
                "info".into(),
                "charged".into(),
                Some(json!({ "cents": 4200 }))
            ),
            ("progress".into(), "finished".into(), None),
        ]
    );
}

static RETRIED_DEBITS: AtomicU32 = AtomicU32::new(0);
static RETRIED_REFUNDS: AtomicU32 = AtomicU32::new(0);
static RETRIED_AUDITS: AtomicU32 = AtomicU32::new(0);
static RETRIED_HOLDS: AtomicU32 = AtomicU32::new(0);
static RETRIED_HOOKS: AtomicU32 = AtomicU32::new(0);
static RETRIED_LEGS: AtomicU32 = AtomicU32::new(0);
static RETRIED_LEG_REFUNDS: AtomicU32 = AtomicU32::new(0);
static CREDIT_FAILS: AtomicBool = AtomicBool::new(true);

async fn count_failure(ctx: Ctx, _failure: Failure) -> Result<(), Error> {
    ctx.run("notify", async || {
        RETRIED_HOOKS.fetch_add(1, Ordering::SeqCst);
        Ok::<_, StepError>(())
    })
    .await
}

/// `debit` and the fan-out's `leg`s are compensated when `credit` fails;
/// `audit` has no compensation; `hold`'s compensation fails for good, so it
/// stays in place.
#[workflow(on_failure = count_failure)]
async fn retried_transfer(ctx: Ctx) -> Result<u32, Error> {
    let debit: u32 = ctx
        .step("debit")
        .compensate(|_: u32| async move {
            RETRIED_REFUNDS.fetch_add(1, Ordering::SeqCst);
            Ok::<_, StepError>(())
        })
        .run(async || Ok::<_, StepError>(RETRIED_DEBITS.fetch_add(1, Ordering::SeqCst) + 1))
        .await?;
    ctx.map("legs", vec![1u32, 2], FanOut::new(), async |ctx, _leg| {
        ctx.step("leg")
            .compensate(|_: u32| async move {
                RETRIED_LEG_REFUNDS.fetch_add(1, Ordering::SeqCst);
                Ok::<_, StepError>(())
            })
            .run(async || Ok::<_, StepError>(RETRIED_LEGS.fetch_add(1, Ordering::SeqCst)))
            .await
    })
    .await?;
    ctx.run("audit", async || {
        RETRIED_AUDITS.fetch_add(1, Ordering::SeqCst);
        Ok::<_, StepError>(())
    })
    .await?;
    ctx.step("hold")
        .compensate(|_: u32| async move {
            Err::<(), _>(StepError::permanent("the hold cannot be released"))
        })
        .run(async || Ok::<_, StepError>(RETRIED_HOLDS.fetch_add(1, Ordering::SeqCst)))
        .await?;
    ctx.step("credit")
        .retry(Retry::none())
        .run(async || {
            if CREDIT_FAILS.load(Ordering::SeqCst) {
                Err(StepError::permanent("bank offline"))
            } else {
                Ok(())
            }
        })
        .await?;
    Ok(debit)
}

#[tokio::test]
async fn a_retry_after_compensation_runs_the_compensated_steps_again() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(RetriedTransfer)
        .start()
        .await
        .unwrap();
    let run = RetriedTransfer::trigger(&engine).await.unwrap();
    assert!(run.result().await.is_err());
    assert_eq!(RETRIED_REFUNDS.load(Ordering::SeqCst), 1);
    assert_eq!(RETRIED_HOOKS.load(Ordering::SeqCst), 1);

    // A second failure compensates again and calls the hook again.
    run.retry().await.unwrap();
    assert!(run.result().await.is_err());
    assert_eq!(RETRIED_DEBITS.load(Ordering::SeqCst), 2);
    assert_eq!(RETRIED_REFUNDS.load(Ordering::SeqCst), 2);
    assert_eq!(RETRIED_HOOKS.load(Ordering::SeqCst), 2);
    assert_eq!(RETRIED_LEGS.load(Ordering::SeqCst), 4);
    assert_eq!(RETRIED_LEG_REFUNDS.load(Ordering::SeqCst), 4);

    CREDIT_FAILS.store(false, Ordering::SeqCst);
    run.retry().await.unwrap();
    // The refunded debit ran again: the run's output is the third debit.
    assert_eq!(run.result().await.unwrap(), 3);
    assert_eq!(RETRIED_DEBITS.load(Ordering::SeqCst), 3);
    assert_eq!(RETRIED_REFUNDS.load(Ordering::SeqCst), 2);
    assert_eq!(RETRIED_LEGS.load(Ordering::SeqCst), 6);
    assert_eq!(RETRIED_LEG_REFUNDS.load(Ordering::SeqCst), 4);
    // A step without a compensation, and one whose compensation failed,
    // were not undone: they are replayed.
    assert_eq!(RETRIED_AUDITS.load(Ordering::SeqCst), 1);
    assert_eq!(RETRIED_HOLDS.load(Ordering::SeqCst), 1);
    let mut steps: Vec<(String, StepStatus)> = run
        .steps()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.name, s.status))
        .collect();
    // The debit that ran again was recorded last: sorted for the comparison.
    steps.sort_by(|a, b| a.0.cmp(&b.0));
    let completed = |name: &str| (name.to_string(), StepStatus::Completed);
    assert_eq!(
        steps,
        [
            completed("audit"),
            completed("credit"),
            completed("debit"),
            completed("hold"),
            completed("legs[0]/leg"),
            completed("legs[1]/leg")
        ],
        "the unwinding of the earlier failures is not left behind"
    );
}
