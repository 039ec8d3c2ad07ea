//! Timeouts: a step timeout fails each attempt; a workflow timeout ends the
//! run whether it is suspended or running.

use std::time::Duration;

use durable::prelude::*;
use durable_tests::wait_for_status;

const START_MS: i64 = 1_700_000_000_000;

#[workflow]
async fn hangs(ctx: Ctx) -> Result<(), Error> {
    ctx.step("hang")
        .retry(Retry::fixed(2, "1ms"))
        .timeout("30ms")
        .run(async || {
            std::future::pending::<()>().await;
            Ok::<(), StepError>(())
        })
        .await
}

#[tokio::test]
async fn a_step_timeout_fails_each_attempt() {
    let db = test_db!();
    let engine = db.builder().register(Hangs).start().await.unwrap();
    let run = Hangs::trigger(&engine).await.unwrap();
    let error = run.result().await.unwrap_err().to_string();
    assert!(
        error.contains("failed after 2 attempt(s): attempt 2 timed out after 30 ms"),
        "{error}"
    );
}

#[workflow(timeout = "1h")]
async fn overslept(ctx: Ctx) -> Result<(), Error> {
    // Not a literal: the macro rejects a literal sleep longer than the
    // workflow's timeout, and this run is meant to time out asleep.
    ctx.sleep("nap", Duration::from_secs(2 * 3600)).await
}

#[workflow(timeout = "50ms")]
async fn stuck(ctx: Ctx) -> Result<(), Error> {
    ctx.run("forever", async || {
        std::future::pending::<()>().await;
        Ok::<(), StepError>(())
    })
    .await
}

#[tokio::test]
async fn the_workflow_timeout_ends_suspended_and_running_runs() {
    let db = test_db!();
    let (engine, clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(Overslept))
        .await;
    let run = Overslept::trigger(&engine).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    clock.advance(Duration::from_secs(3600));
    assert!(matches!(run.result().await, Err(Error::RunTimedOut { .. })));
    assert_eq!(run.status().await.unwrap(), RunStatus::TimedOut);
    engine.shutdown().await;

    let engine = db.builder().register(Stuck).start().await.unwrap();
    let run = Stuck::trigger(&engine).await.unwrap();
    assert!(matches!(run.result().await, Err(Error::RunTimedOut { .. })));
}
