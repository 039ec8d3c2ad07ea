//! Nested steps: `ctx.group` scopes its steps under its name, is recorded
//! as one step with its output once they completed, replays from that
//! record without running its body again, and is one node of the manifest
//! with its steps under it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use durable::prelude::*;
use durable::{StepKind, StepStatus};
use durable_tests::wait_for_status;

#[workflow]
async fn pack_twice(ctx: Ctx) -> Result<(String, String), Error> {
    let shipped = ctx
        .group("ship", async |ctx: Ctx| {
            let box_id = ctx
                .run("pack", async || Ok::<_, StepError>("box-1".to_string()))
                .await?;
            let label = format!("{box_id}/TRK");
            ctx.run("label", async || Ok::<_, StepError>(label.clone()))
                .await
        })
        .await?;
    // The same inner name in another group is another step.
    let gift = ctx
        .group("gift", async |ctx: Ctx| {
            ctx.run("pack", async || Ok::<_, StepError>("ribbon".to_string()))
                .await
        })
        .await?;
    Ok((shipped, gift))
}

#[tokio::test]
async fn a_group_scopes_its_steps_and_is_recorded_once_they_completed() {
    let db = test_db!();
    let engine = db.builder().register(PackTwice).start().await.unwrap();
    let run = PackTwice::trigger(&engine).await.unwrap();
    assert_eq!(
        run.result().await.unwrap(),
        ("box-1/TRK".to_string(), "ribbon".to_string())
    );
    let steps = run.steps().await.unwrap();
    let names: Vec<&str> = steps.iter().map(|step| step.name.as_str()).collect();
    for name in ["ship", "ship/pack", "ship/label", "gift", "gift/pack"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let ship = steps.iter().find(|step| step.name == "ship").unwrap();
    assert_eq!(ship.kind, StepKind::Group);
    assert_eq!(ship.status, StepStatus::Completed);
    assert_eq!(ship.output.as_ref(), Some(&serde_json::json!("box-1/TRK")));

    // The manifest: each group one node, its steps under it.
    let manifest: Vec<(&str, StepKind, Option<&str>)> = <PackTwice as Workflow>::STEPS
        .iter()
        .map(|step| (step.name, step.kind, step.parent))
        .collect();
    assert_eq!(
        manifest,
        [
            ("ship", StepKind::Group, None),
            ("pack", StepKind::Run, Some("ship")),
            ("label", StepKind::Run, Some("ship")),
            ("gift", StepKind::Group, None),
            ("pack", StepKind::Run, Some("gift")),
        ]
    );
    engine.shutdown().await;
}

static BODY_ENTRIES: AtomicU32 = AtomicU32::new(0);
static STEP_RUNS: AtomicU32 = AtomicU32::new(0);

#[workflow]
async fn prepare_then_nap(ctx: Ctx) -> Result<u32, Error> {
    let prepared = ctx
        .group("prepare", async |ctx: Ctx| {
            BODY_ENTRIES.fetch_add(1, Ordering::SeqCst);
            ctx.run("count", async || {
                Ok::<_, StepError>(STEP_RUNS.fetch_add(1, Ordering::SeqCst) + 41)
            })
            .await
        })
        .await?;
    // Suspends the run: its resumption replays the group from the journal.
    ctx.sleep("nap", "1h").await?;
    Ok(prepared + 1)
}

#[tokio::test]
async fn a_completed_group_replays_from_its_record_without_running_its_body() {
    let db = test_db!();
    let (engine, clock) = db
        .start_on_manual_clock(1_700_000_000_000, |builder| {
            builder.register(PrepareThenNap)
        })
        .await;
    let run = PrepareThenNap::trigger(&engine).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    clock.advance(Duration::from_secs(3600));
    assert_eq!(run.result().await.unwrap(), 42);
    assert_eq!(
        STEP_RUNS.load(Ordering::SeqCst),
        1,
        "the inner step ran once"
    );
    assert_eq!(
        BODY_ENTRIES.load(Ordering::SeqCst),
        1,
        "the resumption answered the group from its record"
    );
    engine.shutdown().await;
}

static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);
static FIRST_RUNS: AtomicU32 = AtomicU32::new(0);

#[workflow]
async fn fails_inside_a_group(ctx: Ctx) -> Result<u32, Error> {
    ctx.group("work", async |ctx: Ctx| {
        let first = ctx
            .run("first", async || {
                Ok::<_, StepError>(FIRST_RUNS.fetch_add(1, Ordering::SeqCst))
            })
            .await?;
        ctx.step("flaky")
            .retry(Retry::none())
            .run(async || {
                if FLAKY_CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(StepError::permanent("not yet"))
                } else {
                    Ok(first + 10)
                }
            })
            .await
    })
    .await
}

#[tokio::test]
async fn a_failed_group_records_nothing_and_a_retry_replays_its_completed_steps() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(FailsInsideAGroup)
        .start()
        .await
        .unwrap();
    let run = FailsInsideAGroup::trigger(&engine).await.unwrap();
    let error = run.result().await.unwrap_err().to_string();
    assert!(error.contains("work/flaky"), "{error}");
    let steps = run.steps().await.unwrap();
    assert!(
        !steps.iter().any(|step| step.name == "work"),
        "a failed group has no record: {steps:?}"
    );
    run.retry().await.unwrap();
    assert_eq!(run.result().await.unwrap(), 10);
    assert_eq!(
        FIRST_RUNS.load(Ordering::SeqCst),
        1,
        "the completed step replayed"
    );
    engine.shutdown().await;
}
