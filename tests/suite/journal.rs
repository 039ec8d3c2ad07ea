//! A run's journal: step results committed before the next step body runs
//! (the last one with the run's finish), step names shared by branches of
//! which only one runs, and the backstops when code and journal disagree (a
//! step name reached twice, a replay reaching other steps).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use durable::prelude::*;
use durable::{EngineBuilder, ManualClock, StepStatus};
use durable_tests::{TestDb, wait_for_status};

const START_MS: i64 = 1_700_000_000_000;

// ---------------------------------------------------------------- when results are written

/// Stops `engine`, moves `clock` an hour on, and starts an engine on `db`
/// with what `configure` registers, as a deploy during a sleep does.
async fn an_hour_later(
    db: &TestDb,
    engine: Engine,
    clock: ManualClock,
    configure: impl FnOnce(EngineBuilder) -> EngineBuilder,
) -> Engine {
    engine.shutdown().await;
    drop(engine);
    clock.advance(Duration::from_secs(3600));
    configure(db.builder().clock(clock)).start().await.unwrap()
}

/// The steps of a run, each with its status, in order.
async fn step_statuses<O: serde::de::DeserializeOwned>(
    run: &RunHandle<O>,
) -> Vec<(String, StepStatus)> {
    run.steps()
        .await
        .unwrap()
        .into_iter()
        .map(|step| (step.name, step.status))
        .collect()
}

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
    assert_eq!(
        step_statuses(&run).await,
        [
            ("first".to_owned(), StepStatus::Completed),
            ("stamp".to_owned(), StepStatus::Completed),
            ("second".to_owned(), StepStatus::Completed),
        ]
    );
    ENGINE_OF_SEES_EARLIER_RESULTS.lock().unwrap().take();
}

// ---------------------------------------------------------------- names shared by exclusive branches

/// How many times a `ship` body ran, in either branch.
static SHIP_BODIES: AtomicU32 = AtomicU32::new(0);

/// Names `ship` in both arms of an `if` and `confirm` in both arms of a
/// `match`, which the macro accepts: only one arm runs.
#[workflow]
async fn ships_one_way(ctx: Ctx, express: bool) -> Result<String, Error> {
    let how = if express {
        ctx.run("ship", async || {
            SHIP_BODIES.fetch_add(1, Ordering::SeqCst);
            Ok::<_, StepError>("express".to_owned())
        })
        .await?
    } else {
        ctx.run("ship", async || {
            SHIP_BODIES.fetch_add(1, Ordering::SeqCst);
            Ok::<_, StepError>("ground".to_owned())
        })
        .await?
    };
    ctx.sleep("settle", "1h").await?;
    match express {
        true => {
            ctx.run("confirm", async || {
                Ok::<_, StepError>(format!("{how}, fast"))
            })
            .await
        }
        false => {
            ctx.run("confirm", async || {
                Ok::<_, StepError>(format!("{how}, slow"))
            })
            .await
        }
    }
}

#[tokio::test]
async fn a_step_name_shared_by_two_branches_runs_and_replays_either_way() {
    let db = test_db!();
    let (engine, clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(ShipsOneWay))
        .await;
    let express = ShipsOneWay::trigger(&engine, true).await.unwrap();
    let ground = ShipsOneWay::trigger(&engine, false).await.unwrap();
    wait_for_status(&express, RunStatus::Suspended).await;
    wait_for_status(&ground, RunStatus::Suspended).await;
    let ids = (express.id(), ground.id());
    // A new engine replays both runs past their sleep: each takes its own
    // branch again and finds that branch's `ship` in its journal.
    let engine = an_hour_later(&db, engine, clock, |builder| builder.register(ShipsOneWay)).await;
    let express = engine.run_handle::<String>(ids.0);
    let ground = engine.run_handle::<String>(ids.1);
    assert_eq!(express.result().await.unwrap(), "express, fast");
    assert_eq!(ground.result().await.unwrap(), "ground, slow");
    assert_eq!(
        SHIP_BODIES.load(Ordering::SeqCst),
        2,
        "each ship body ran once"
    );
    for run in [&express, &ground] {
        assert_eq!(
            step_statuses(run).await,
            [
                ("ship".to_owned(), StepStatus::Completed),
                ("settle".to_owned(), StepStatus::Completed),
                ("confirm".to_owned(), StepStatus::Completed),
            ]
        );
    }
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

#[workflow(name = "versioned", version = 1)]
async fn versioned_v1(ctx: Ctx) -> Result<(), Error> {
    ctx.run("reserve", async || Ok::<_, StepError>(1)).await?;
    ctx.sleep("wait", "1h").await?;
    ctx.run("ship", async || {
        Ok::<_, StepError>(V1_SHIPPED.fetch_add(1, Ordering::SeqCst))
    })
    .await?;
    Ok(())
}

#[workflow(name = "versioned", version = 1)]
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
    // Deploy v2 under the same name while the run sleeps.
    let engine = an_hour_later(&db, engine, clock, |builder| builder.register(VersionedV2)).await;
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
