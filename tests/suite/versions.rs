//! Deploying a changed workflow under runs in flight: each run is pinned to
//! the version it started on and only an engine that registers that version
//! executes it; keeping the old version beside the new one under the same
//! name finishes the old runs on the old code while new runs take the new.

use std::time::Duration;

use durable::StepKind;
use durable::prelude::*;
use durable_tests::{TestDb, named_step as named, outputs, steps_of, wait_for_status};

const START_MS: i64 = 1_700_000_000_000;
const HOUR_MS: i64 = 3_600_000;
const HOUR: Duration = Duration::from_millis(HOUR_MS as u64);

/// Version 1: a, an hour's nap, c.
#[workflow(name = "pin-charge", version = 1)]
async fn charge_v1(ctx: Ctx) -> Result<Vec<String>, Error> {
    let a = named(&ctx, "a").await?;
    ctx.sleep("nap", "1h").await?;
    Ok(vec![a, named(&ctx, "c").await?])
}

/// Version 2: a step more before the nap, and another last step.
#[workflow(name = "pin-charge", version = 2)]
async fn charge_v2(ctx: Ctx) -> Result<Vec<String>, Error> {
    let a = named(&ctx, "a").await?;
    let b = named(&ctx, "b2").await?;
    ctx.sleep("nap", "1h").await?;
    Ok(vec![a, b, named(&ctx, "c2").await?])
}

/// Version 1 without a declared version: pinned to its fingerprint. Its
/// steps are written in the body, where the macro sees them (a step behind
/// a helper such as [`named`] is not in the manifest, so not in the
/// fingerprint).
#[workflow(name = "pin-auto")]
async fn auto_before(ctx: Ctx) -> Result<Vec<String>, Error> {
    let a = ctx
        .run("a", async || Ok::<_, StepError>("a".to_owned()))
        .await?;
    ctx.sleep("nap", "1h").await?;
    let c = ctx
        .run("c", async || Ok::<_, StepError>("c".to_owned()))
        .await?;
    Ok(vec![a, c])
}

/// The same workflow with a step added, still without a declared version:
/// a new fingerprint, so a new version.
#[workflow(name = "pin-auto")]
async fn auto_after(ctx: Ctx) -> Result<Vec<String>, Error> {
    let a = ctx
        .run("a", async || Ok::<_, StepError>("a".to_owned()))
        .await?;
    let b = ctx
        .run("b", async || Ok::<_, StepError>("b".to_owned()))
        .await?;
    ctx.sleep("nap", "1h").await?;
    let c = ctx
        .run("c", async || Ok::<_, StepError>("c".to_owned()))
        .await?;
    Ok(vec![a, b, c])
}

async fn version_of<O: serde::de::DeserializeOwned>(run: &RunHandle<O>) -> Option<String> {
    run.info().await.unwrap().version
}

/// A run of `trigger`'s workflow started at [`START_MS`] on an engine that
/// registers only it, left asleep in its nap with the engine stopped.
async fn asleep_on<W: Workflow<Input = ()> + Default>(db: &TestDb) -> RunId {
    let (engine, _clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(W::default()))
        .await;
    let run = engine.trigger::<W>(()).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    engine.shutdown().await;
    run.id()
}

/// Waits a while (the engine claims meanwhile) and checks `run` still waits.
async fn still_suspended<O: serde::de::DeserializeOwned>(run: &RunHandle<O>, why: &str) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(run.status().await.unwrap(), RunStatus::Suspended, "{why}");
}

#[tokio::test]
async fn pinned_runs_finish_on_their_version_while_new_runs_take_the_new_one() {
    let db = test_db!();
    let old_id = asleep_on::<ChargeV1>(&db).await;

    // Version 2 alone is deployed two hours later: the old run's nap is
    // over, but no engine serves version 1, so it waits; new runs take 2.
    let (engine, clock) = db
        .start_on_manual_clock(START_MS + 2 * HOUR_MS, |builder| builder.register(ChargeV2))
        .await;
    let old = engine.run_handle::<Vec<String>>(old_id);
    assert_eq!(version_of(&old).await.as_deref(), Some("v1"));
    let new = ChargeV2::trigger(&engine).await.unwrap();
    wait_for_status(&new, RunStatus::Suspended).await;
    clock.advance(HOUR);
    assert_eq!(new.result().await.unwrap(), outputs(&["a", "b2", "c2"]));
    assert_eq!(version_of(&new).await.as_deref(), Some("v2"));
    still_suspended(&old, "no engine serves version 1").await;
    engine.shutdown().await;

    // Version 1 kept beside version 2: the old run finishes on version 1,
    // and a run triggered by name takes the highest version.
    let (engine, clock) = db
        .start_on_manual_clock(START_MS + 4 * HOUR_MS, |builder| {
            builder.register(ChargeV1).register(ChargeV2)
        })
        .await;
    let old = engine.run_handle::<Vec<String>>(old_id);
    assert_eq!(old.result().await.unwrap(), outputs(&["a", "c"]));
    assert_eq!(
        steps_of(&old).await,
        [
            ("a".to_owned(), StepKind::Run),
            ("nap".to_owned(), StepKind::Sleep),
            ("c".to_owned(), StepKind::Run),
        ]
    );
    let by_name = engine
        .trigger_json("pin-charge", serde_json::Value::Null)
        .await
        .unwrap();
    wait_for_status(&by_name, RunStatus::Suspended).await;
    assert_eq!(version_of(&by_name).await.as_deref(), Some("v2"));
    // A typed trigger of the kept version starts a run of it.
    let on_v1 = ChargeV1::trigger(&engine).await.unwrap();
    wait_for_status(&on_v1, RunStatus::Suspended).await;
    assert_eq!(version_of(&on_v1).await.as_deref(), Some("v1"));
    clock.advance(HOUR);
    assert_eq!(
        by_name.result().await.unwrap(),
        serde_json::json!(["a", "b2", "c2"])
    );
    assert_eq!(on_v1.result().await.unwrap(), outputs(&["a", "c"]));
}

#[tokio::test]
async fn a_changed_workflow_without_a_declared_version_leaves_old_runs_to_the_old_code() {
    let db = test_db!();
    let old_id = asleep_on::<AutoBefore>(&db).await;

    // The changed code alone: its fingerprint differs, so the old run
    // waits rather than replaying on steps it never recorded.
    let (engine, clock) = db
        .start_on_manual_clock(START_MS + 2 * HOUR_MS, |builder| {
            builder.register(AutoAfter)
        })
        .await;
    let old = engine.run_handle::<Vec<String>>(old_id);
    let pinned = version_of(&old).await.expect("pinned at its first claim");
    assert_eq!(pinned.len(), 16, "a fingerprint: {pinned}");
    let new = AutoAfter::trigger(&engine).await.unwrap();
    wait_for_status(&new, RunStatus::Suspended).await;
    assert_ne!(version_of(&new).await.as_deref(), Some(pinned.as_str()));
    clock.advance(HOUR);
    assert_eq!(new.result().await.unwrap(), outputs(&["a", "b", "c"]));
    still_suspended(&old, "the engine with the changed code leaves it").await;
    engine.shutdown().await;

    // A worker still on the old code finishes it.
    let (engine, _clock) = db
        .start_on_manual_clock(START_MS + 2 * HOUR_MS, |builder| {
            builder.register(AutoBefore)
        })
        .await;
    let old = engine.run_handle::<Vec<String>>(old_id);
    assert_eq!(old.result().await.unwrap(), outputs(&["a", "c"]));
}

#[tokio::test]
async fn versions_of_one_name_must_be_declared_and_distinct() {
    let db = test_db!();
    let error = db
        .builder()
        .register(AutoBefore)
        .register(AutoAfter)
        .start()
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains(
            "two workflows are registered under the name `pin-auto`; to keep an older version \
             beside a newer one, declare each one's version"
        ),
        "{error}"
    );
    let error = db
        .builder()
        .register(ChargeV1)
        .register(ChargeV1)
        .start()
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("workflow `pin-charge` is registered twice"),
        "{error}"
    );
}
