//! Child workflows: invoke with typed input and output, deadlines inherited
//! from the parent, failures and cancellations flowing up and down, and
//! fire-and-forget children awaited by id.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use durable::StepStatus;
use durable::prelude::*;
use durable_tests::wait_for_status;

const START_MS: i64 = 1_700_000_000_000;

static CHILD_RUNS: AtomicU32 = AtomicU32::new(0);

#[derive(Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
struct Parcel {
    weight_grams: u32,
}

#[workflow(timeout = "1d")]
async fn weigh(ctx: Ctx, parcel: Parcel, fail: bool) -> Result<u32, Error> {
    CHILD_RUNS.fetch_add(1, Ordering::SeqCst);
    ctx.sleep("settle", "10ms").await?;
    if fail {
        return Err(Error::RunFailed {
            run_id: ctx.run_id(),
            message: "scale broken".into(),
        });
    }
    Ok(parcel.weight_grams * 2)
}

#[workflow(timeout = "1h")]
async fn ship(ctx: Ctx, weight_grams: u32, fail: bool) -> Result<String, Error> {
    let doubled = ctx
        .invoke(
            "weigh",
            Weigh,
            WeighInput {
                parcel: Parcel { weight_grams },
                fail,
            },
        )
        .await?;
    Ok(format!("{doubled} g"))
}

#[tokio::test]
async fn invoke_returns_the_childs_typed_output_and_replays_attach_to_the_same_child() {
    let db = test_db!();
    let engine = db
        .builder()
        .keep_in_memory_below("1ms")
        .register(Ship)
        .register(Weigh)
        .start()
        .await
        .unwrap();
    let before = CHILD_RUNS.load(Ordering::SeqCst);
    let run = Ship::trigger(&engine, 21, false).await.unwrap();
    assert_eq!(run.result().await.unwrap(), "42 g");
    // The parent suspended while the child ran, and replayed after.
    assert!(run.info().await.unwrap().executions >= 2);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM wf_instance WHERE workflow = 'weigh'")
            .await,
        1,
        "one child"
    );
    assert!(CHILD_RUNS.load(Ordering::SeqCst) - before >= 1);
    let parent_deadline = run.info().await.unwrap().deadline_at.unwrap();
    let child_deadline = db
        .count("SELECT deadline_at FROM wf_instance WHERE workflow = 'weigh'")
        .await;
    assert!(
        child_deadline <= parent_deadline,
        "the child inherits the parent's shorter deadline"
    );
    assert!(parent_deadline - child_deadline < 1_000);
}

#[tokio::test]
async fn run_info_names_the_parent_and_the_handle_lists_the_children() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(Ship)
        .register(Weigh)
        .start()
        .await
        .unwrap();
    let run = Ship::trigger(&engine, 3, false).await.unwrap();
    assert_eq!(run.result().await.unwrap(), "6 g");
    let parent = run.info().await.unwrap();
    assert_eq!(parent.parent, None, "triggered from outside");
    let started = parent.started_at.expect("the parent ran");
    let finished = parent.finished_at.expect("the parent finished");
    assert!(parent.created_at <= started && started <= finished);

    let children = run.children().await.unwrap();
    assert_eq!(children.len(), 1, "{children:?}");
    let child = engine.run(children[0]).info().await.unwrap();
    assert_eq!(child.workflow, "weigh");
    assert_eq!(child.parent, Some(run.id()));
    assert!(child.started_at.is_some() && child.finished_at.is_some());
    assert!(engine.run(children[0]).children().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_child_fails_the_invoke_step_and_a_retry_starts_a_new_child() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(Ship)
        .register(Weigh)
        .start()
        .await
        .unwrap();
    let run = Ship::trigger(&engine, 5, true).await.unwrap();
    let error = run.result().await.unwrap_err().to_string();
    assert!(error.contains("step `weigh`: run"), "{error}");
    assert!(
        error.contains("ended failed") && error.contains("scale broken"),
        "{error}"
    );
    let step = &run.steps().await.unwrap()[0];
    assert_eq!(step.status, StepStatus::Failed);
    run.retry().await.unwrap();
    assert!(run.result().await.is_err());
    assert_eq!(
        db.count("SELECT COUNT(*) FROM wf_instance WHERE workflow = 'weigh'")
            .await,
        2,
        "the retry started a new child"
    );
}

#[workflow]
async fn sleepy_child(ctx: Ctx) -> Result<(), Error> {
    ctx.sleep("long", "2h").await
}

#[workflow(timeout = "1h")]
async fn parent_of_sleepers(ctx: Ctx) -> Result<(), Error> {
    let id = ctx.start_child("background", SleepyChild, ()).await?;
    ctx.invoke("foreground", SleepyChild, ()).await?;
    ctx.wait_for_run::<()>("background-done", id).await
}

#[tokio::test]
async fn cancelling_a_parent_cancels_its_children() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(ParentOfSleepers)
        .register(SleepyChild)
        .start()
        .await
        .unwrap();
    let run = ParentOfSleepers::trigger(&engine).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    while db.count("SELECT COUNT(*) FROM wf_instance WHERE workflow = 'sleepy-child' AND status = 'suspended'").await < 2
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    run.cancel().await.unwrap();
    assert_eq!(
        db.count("SELECT COUNT(*) FROM wf_instance WHERE status = 'cancelled'")
            .await,
        3
    );
}

/// The children inherit their parent's deadline, so the two come due
/// together; whichever the engine handles first (the parent's timeout, a
/// child's own, or the maintenance pass), the parent ends `timed_out` and
/// every child `cancelled`. Repeated, since the order is up to the engine.
#[tokio::test]
async fn a_parent_timing_out_cancels_its_children() {
    let db = test_db!();
    let (engine, clock) = db
        .start_on_manual_clock(START_MS, |builder| {
            builder.register(ParentOfSleepers).register(SleepyChild)
        })
        .await;
    for round in 0..50 {
        let run = ParentOfSleepers::trigger(&engine).await.unwrap();
        let children = |status: &str| {
            format!(
                "SELECT COUNT(*) FROM wf_instance WHERE parent_id = '{}' AND status = '{status}'",
                run.id()
            )
        };
        wait_for_status(&run, RunStatus::Suspended).await;
        while db.count(&children("suspended")).await < 2 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        clock.advance(Duration::from_secs(3600));
        if round % 2 == 1 {
            // The maintenance pass races the claims of the due runs.
            engine.run_maintenance().await.unwrap();
        }
        assert!(
            matches!(run.result().await, Err(Error::RunTimedOut { .. })),
            "round {round}"
        );
        for _ in 0..2_000 {
            if db.count(&children("cancelled")).await == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(
            db.count(&children("cancelled")).await,
            2,
            "round {round}: a child of the timed-out parent did not end cancelled \
             ({} timed out)",
            db.count(&children("timed_out")).await
        );
    }
}

#[workflow]
async fn quick_child(ctx: Ctx, value: u32) -> Result<u32, Error> {
    ctx.run("double", async || Ok::<_, StepError>(value * 2))
        .await
}

#[workflow]
async fn fan_children(ctx: Ctx) -> Result<u32, Error> {
    let first = ctx.start_child("start-a", QuickChild, 1).await?;
    let second = ctx.start_child("start-b", QuickChild, 2).await?;
    let a: u32 = ctx.wait_for_run("wait-a", first).await?;
    let b: u32 = ctx.wait_for_run("wait-b", second).await?;
    Ok(a + b)
}

#[tokio::test]
async fn fire_and_forget_children_can_be_awaited_by_id() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(FanChildren)
        .register(QuickChild)
        .start()
        .await
        .unwrap();
    assert_eq!(
        FanChildren::trigger(&engine)
            .await
            .unwrap()
            .result()
            .await
            .unwrap(),
        6
    );
}

#[workflow]
async fn unregistered_child(ctx: Ctx) -> Result<String, Error> {
    match ctx.invoke("missing", QuickChild, 1).await {
        Err(error) => Ok(error.to_string()),
        Ok(_) => Ok("ran".into()),
    }
}

#[tokio::test]
async fn invoking_an_unregistered_workflow_is_an_error_in_the_parent() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(UnregisteredChild)
        .start()
        .await
        .unwrap();
    let message = UnregisteredChild::trigger(&engine)
        .await
        .unwrap()
        .result()
        .await
        .unwrap();
    assert!(
        message.contains("workflow `quick-child` is not registered"),
        "{message}"
    );
}
