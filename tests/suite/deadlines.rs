//! A run's own deadline (`Ctx::set_deadline`): extended, the run outlives
//! its declared timeout; shortened, it times out; recorded once, a replay
//! neither moves it again nor writes it again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use durable::StepKind;
use durable::prelude::*;
use durable_tests::wait_for_status;

const START_MS: i64 = 1_700_000_000_000;
const HOUR_MS: i64 = 3_600_000;

/// Extends its deadline to 3 h, then sleeps 2 h (past its 1 h timeout);
/// returns the deadline `set_deadline` answered, in ms.
#[workflow(timeout = "1h")]
async fn long_review(ctx: Ctx) -> Result<i64, Error> {
    let deadline = ctx.set_deadline("allow-more", "3h").await?;
    // Not a literal: the macro rejects a literal sleep past the timeout.
    ctx.sleep("wait", Duration::from_secs(2 * 3600)).await?;
    let ms = deadline.duration_since(UNIX_EPOCH).unwrap_or_default();
    Ok(i64::try_from(ms.as_millis()).unwrap_or(i64::MAX))
}

#[tokio::test]
async fn an_extended_deadline_outlives_the_timeout_and_a_replay_keeps_it() {
    let db = test_db!();
    let (engine, clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(LongReview))
        .await;
    let run = LongReview::trigger(&engine).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    assert_eq!(
        run.info().await.unwrap().deadline_at,
        Some(START_MS + 3 * HOUR_MS)
    );
    // Past the declared timeout and the sleep: the run wakes, replays the
    // step from its journal, and completes.
    clock.advance(Duration::from_secs(2 * 3600));
    assert_eq!(within(run.result()).await.unwrap(), START_MS + 3 * HOUR_MS);
    let info = run.info().await.unwrap();
    assert_eq!(info.executions, 2, "the wake-up replayed the journal");
    assert_eq!(info.deadline_at, Some(START_MS + 3 * HOUR_MS));
    let steps = run.steps().await.unwrap();
    let set: Vec<_> = steps
        .iter()
        .filter(|step| step.kind == StepKind::SetDeadline)
        .collect();
    assert_eq!(set.len(), 1);
    assert_eq!(set[0].name, "allow-more");
    assert_eq!(set[0].attempts, 1, "written once");
    assert_eq!(set[0].output, Some(json!(START_MS + 3 * HOUR_MS)));
    engine.shutdown().await;
}

/// `future`'s output, within 30 s (a run whose deadline did not move would
/// hang in its step).
async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), future)
        .await
        .expect("the run ended in time")
}

static AFTER_THE_DEADLINE: AtomicBool = AtomicBool::new(false);

/// Shortens its deadline to `ms` from now, then works (forever for a
/// future deadline).
#[workflow]
async fn hurried(ctx: Ctx, ms: u64) -> Result<(), Error> {
    ctx.set_deadline("hurry", Duration::from_millis(ms)).await?;
    ctx.run("work", async || {
        AFTER_THE_DEADLINE.store(ms == 0, Ordering::SeqCst);
        if ms > 0 {
            std::future::pending::<()>().await;
        }
        Ok::<(), StepError>(())
    })
    .await
}

#[tokio::test]
async fn a_shortened_deadline_times_the_run_out() {
    let db = test_db!();
    let engine = db.builder().register(Hurried).start().await.unwrap();
    let soon = Hurried::trigger(&engine, 50).await.unwrap();
    assert!(matches!(
        within(soon.result()).await,
        Err(Error::RunTimedOut { .. })
    ));
    assert_eq!(soon.status().await.unwrap(), RunStatus::TimedOut);

    // A deadline that passed already: no further step runs.
    let now = Hurried::trigger(&engine, 0).await.unwrap();
    assert!(matches!(
        within(now.result()).await,
        Err(Error::RunTimedOut { .. })
    ));
    assert!(!AFTER_THE_DEADLINE.load(Ordering::SeqCst));
    engine.shutdown().await;
}
