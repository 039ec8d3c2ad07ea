//! Changing a workflow's steps under runs in flight: with `ctx.patched`, a
//! run that started on the old code finishes on the old branch while a new
//! run takes the new one (and keeps taking it once the call is gone); with
//! neither a patch nor a version, the changed replay fails with a named
//! `NonDeterminism`, never silently.

use std::time::Duration;

use durable::StepKind;
use durable::prelude::*;
use durable_tests::{TestDb, named_step as named, outputs, steps_of, wait_for_status};

const START_MS: i64 = 1_700_000_000_000;
const HOUR_MS: i64 = 3_600_000;

/// Version 1: a, b, a nap, c.
#[workflow(name = "patch-charge", version = 1)]
async fn charge_v1(ctx: Ctx) -> Result<Vec<String>, Error> {
    let a = named(&ctx, "a").await?;
    let b = named(&ctx, "b").await?;
    ctx.sleep("nap", "1h").await?;
    Ok(vec![a, b, named(&ctx, "c").await?])
}

/// Version 2, patched: b becomes b2 for runs that reach it on this code.
#[workflow(name = "patch-charge", version = 1)]
async fn charge_v2(ctx: Ctx) -> Result<Vec<String>, Error> {
    let a = named(&ctx, "a").await?;
    let b = if ctx.patched("b2-instead-of-b").await? {
        named(&ctx, "b2").await?
    } else {
        named(&ctx, "b").await?
    };
    ctx.sleep("nap", "1h").await?;
    Ok(vec![a, b, named(&ctx, "c").await?])
}

/// Version 3: the patch deprecated once no run of version 1 is in flight.
#[workflow(name = "patch-charge", version = 1)]
async fn charge_v3(ctx: Ctx) -> Result<Vec<String>, Error> {
    let a = named(&ctx, "a").await?;
    let b = named(&ctx, "b2").await?;
    ctx.sleep("nap", "1h").await?;
    Ok(vec![a, b, named(&ctx, "c").await?])
}

/// Version 2 without a patch: b changed to b2 in place.
#[workflow(name = "patch-charge", version = 1)]
async fn charge_unpatched(ctx: Ctx) -> Result<Vec<String>, Error> {
    let a = named(&ctx, "a").await?;
    let b = named(&ctx, "b2").await?;
    ctx.sleep("nap", "1h").await?;
    Ok(vec![a, b, named(&ctx, "c").await?])
}

/// The id of a run started on version 1 that ran a and b and now sleeps,
/// its engine stopped.
async fn a_run_of_v1_asleep(db: &TestDb) -> RunId {
    let (engine, _clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(ChargeV1))
        .await;
    let run = ChargeV1::trigger(&engine).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    engine.shutdown().await;
    run.id()
}

fn kinds(steps: &[(&str, StepKind)]) -> Vec<(String, StepKind)> {
    steps
        .iter()
        .map(|(name, kind)| ((*name).to_owned(), *kind))
        .collect()
}

#[tokio::test]
async fn with_a_patch_old_and_new_runs_both_finish_correctly() {
    let db = test_db!();
    let old = a_run_of_v1_asleep(&db).await;

    // Two hours later, version 2 serves the workflow: the old run wakes.
    let (engine, clock) = db
        .start_on_manual_clock(START_MS + 2 * HOUR_MS, |builder| builder.register(ChargeV2))
        .await;
    let old = engine.run_handle::<Vec<String>>(old);
    assert_eq!(old.result().await.unwrap(), outputs(&["a", "b", "c"]));
    assert_eq!(
        steps_of(&old).await,
        kinds(&[
            ("a", StepKind::Run),
            ("b", StepKind::Run),
            ("nap", StepKind::Sleep),
            ("c", StepKind::Run),
        ]),
        "the old run recorded no marker and kept its positions"
    );
    let new = ChargeV2::trigger(&engine).await.unwrap();
    wait_for_status(&new, RunStatus::Suspended).await;
    let new_id = new.id();
    engine.shutdown().await;
    drop(clock);

    // Version 3 drops the call: the new run, which recorded the marker,
    // replays past it.
    let (engine, clock) = db
        .start_on_manual_clock(START_MS + 2 * HOUR_MS, |builder| builder.register(ChargeV3))
        .await;
    clock.advance(Duration::from_millis(2 * HOUR_MS as u64));
    let new = engine.run_handle::<Vec<String>>(new_id);
    assert_eq!(new.result().await.unwrap(), outputs(&["a", "b2", "c"]));
    assert_eq!(
        steps_of(&new).await,
        kinds(&[
            ("a", StepKind::Run),
            ("b2-instead-of-b", StepKind::Patch),
            ("b2", StepKind::Run),
            ("nap", StepKind::Sleep),
            ("c", StepKind::Run),
        ]),
    );
}

#[tokio::test]
async fn without_a_patch_the_changed_replay_fails_naming_both_steps() {
    let db = test_db!();
    let old = a_run_of_v1_asleep(&db).await;
    let (engine, _clock) = db
        .start_on_manual_clock(START_MS + 2 * HOUR_MS, |builder| {
            builder.register(ChargeUnpatched)
        })
        .await;
    let old = engine.run_handle::<Vec<String>>(old);
    match old.result().await {
        Err(Error::RunFailed { message, .. }) => assert!(
            message.contains("non-deterministic")
                && message.contains("reached step `b2` where the journal recorded step `b`"),
            "{message}"
        ),
        other => panic!("expected a failed run, got {other:?}"),
    }
}
