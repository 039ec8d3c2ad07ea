//! A run's journal: step results committed before the next step body runs
//! (the last one with the run's finish), and the backstops when code and
//! journal disagree (a step name reached twice, a replay reaching other steps).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use durable::StepStatus;
use durable::prelude::*;
use durable_tests::wait_for_status;

const START_MS: i64 = 1_700_000_000_000;

// ---------------------------------------------------------------- when results are written

/// The engine the `sees_earlier_results` workflow reads its own steps from.
static ENGINE_OF_SEES_EARLIER_RESULTS: Mutex<Option<Engine>> = Mutex::new(None);

/// Its second step's body returns the steps of its run the store has
/// recorded completed by the time the body runs.
#[workflow]
async fn sees_earlier_results(ctx: Ctx) -> Result<Vec<String>, Error> {
    ctx.run("first", async || Ok::<_, StepError>(1)).await?;
    ctx.now("stamp").await?;
    let run_id = ctx.run_id();
    ctx.run("second", move || async move {
        let engine = ENGINE_OF_SEES_EARLIER_RESULTS.lock().unwrap().clone();
        let engine = engine.ok_or_else(|| StepError::permanent("no engine"))?;
        let steps = engine
            .run_handle::<Vec<String>>(run_id)
            .steps()
            .await
            .map_err(|error| StepError::permanent(error.to_string()))?;
        Ok::<_, StepError>(
            steps
                .into_iter()
                .filter(|step| step.status == StepStatus::Completed)
                .map(|step| step.name)
                .collect(),
        )
    })
    .await
}

#[tokio::test]
async fn a_step_body_runs_after_the_results_before_it_are_committed_and_the_last_goes_with_the_finish()
 {
    let db = test_db!();
    let engine = db
        .builder()
        .register(SeesEarlierResults)
        .start()
        .await
        .unwrap();
    *ENGINE_OF_SEES_EARLIER_RESULTS.lock().unwrap() = Some(engine.clone());
    let run = SeesEarlierResults::trigger(&engine).await.unwrap();
    // A completed step's result and a recorded value may wait to be written
    // with the run's next write, but never past the next step body.
    assert_eq!(run.result().await.unwrap(), ["first", "stamp"]);
    // The last result, not written before the run ended, went with its finish.
    let steps: Vec<(String, StepStatus)> = run
        .steps()
        .await
        .unwrap()
        .into_iter()
        .map(|step| (step.name, step.status))
        .collect();
    assert_eq!(
        steps,
        [
            ("first".to_owned(), StepStatus::Completed),
            ("stamp".to_owned(), StepStatus::Completed),
            ("second".to_owned(), StepStatus::Completed),
        ]
    );
    ENGINE_OF_SEES_EARLIER_RESULTS.lock().unwrap().take();
}

// ---------------------------------------------------------------- backstops

async fn charge_twice(ctx: &Ctx) -> Result<(), Error> {
    // Invisible to the macro: the same name twice through a helper.
    for _ in 0..2 {
        ctx.run(String::from("charge"), async || Ok::<_, StepError>(()))
            .await?;
    }
    Ok(())
}

#[workflow]
async fn duplicate_at_run_time(ctx: Ctx) -> Result<(), Error> {
    charge_twice(&ctx).await
}

#[tokio::test]
async fn a_duplicate_step_name_at_run_time_fails_the_run_with_a_named_error() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(DuplicateAtRunTime)
        .start()
        .await
        .unwrap();
    let run = DuplicateAtRunTime::trigger(&engine).await.unwrap();
    let error = run.result().await.unwrap_err().to_string();
    assert!(
        error.contains("step name `charge` was reached twice"),
        "{error}"
    );
}

static V1_SHIPPED: AtomicU32 = AtomicU32::new(0);

#[workflow(name = "versioned")]
async fn versioned_v1(ctx: Ctx) -> Result<(), Error> {
    ctx.run("reserve", async || Ok::<_, StepError>(1)).await?;
    ctx.sleep("wait", "1h").await?;
    ctx.run("ship", async || {
        Ok::<_, StepError>(V1_SHIPPED.fetch_add(1, Ordering::SeqCst))
    })
    .await?;
    Ok(())
}

#[workflow(name = "versioned")]
async fn versioned_v2(ctx: Ctx) -> Result<(), Error> {
    ctx.run("reserve", async || Ok::<_, StepError>(1)).await?;
    ctx.run("charge", async || Ok::<_, StepError>(2)).await?;
    ctx.sleep("wait", "1h").await?;
    Ok(())
}

#[tokio::test]
async fn a_replay_that_reaches_other_steps_fails_with_a_named_non_determinism_error() {
    let db = test_db!();
    let (engine, clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(VersionedV1))
        .await;
    let run = VersionedV1::trigger(&engine).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    let id = run.id();
    engine.shutdown().await;
    drop(engine);

    // Deploy v2 under the same name while the run sleeps.
    clock.advance(Duration::from_secs(3600));
    let engine = db
        .builder()
        .clock(clock)
        .register(VersionedV2)
        .start()
        .await
        .unwrap();
    let error = engine
        .run_handle::<()>(id)
        .result()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("reached step `charge` where the journal recorded step `wait`"),
        "{error}"
    );
    assert_eq!(V1_SHIPPED.load(Ordering::SeqCst), 0);
}
