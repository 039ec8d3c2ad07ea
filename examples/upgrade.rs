//! Deploying changed workflows under runs in flight. Runs start on version 1
//! of two workflows and wait for an event; the engine stops; a new engine
//! starts with version 2 of one workflow kept beside version 1 (pinning), and
//! a patched body of the other (`ctx.patched`). Every run then gets its
//! event, and the example prints how each finished, ending with
//! `upgrade: ok` only when each finished as the README's "Upgrading
//! workflows" section says it does.
//!
//! ```text
//! cargo run --example upgrade
//! ```

use std::time::Duration;

use durable::prelude::*;

/// Runs the step `name`, whose output is its name.
async fn named(ctx: &Ctx, name: &'static str) -> Result<String, Error> {
    ctx.run(name, async || Ok::<_, StepError>(name.to_owned()))
        .await
}

/// Waits for `go` with this order's id.
async fn go(ctx: &Ctx, order: &str) -> Result<(), Error> {
    let _: Option<serde_json::Value> = ctx
        .wait_for_event("go", "order.go")
        .matching(json!({ "order": order }))
        .await?;
    Ok(())
}

/// Version 1 of `charge`: reserve, wait, capture.
#[workflow(name = "charge", version = 1)]
async fn charge_v1(ctx: Ctx, order: String) -> Result<Vec<String>, Error> {
    let reserve = named(&ctx, "reserve").await?;
    go(&ctx, &order).await?;
    Ok(vec![reserve, named(&ctx, "capture").await?])
}

/// Version 2 of `charge`: a fraud check before the wait, and a receipt at
/// the end. Its steps differ from version 1's, so it is a new version, and
/// runs of version 1 keep running on [`charge_v1`].
#[workflow(name = "charge", version = 2)]
async fn charge_v2(ctx: Ctx, order: String) -> Result<Vec<String>, Error> {
    let reserve = named(&ctx, "reserve").await?;
    let check = named(&ctx, "fraud-check").await?;
    go(&ctx, &order).await?;
    let capture = named(&ctx, "capture").await?;
    Ok(vec![reserve, check, capture, named(&ctx, "receipt").await?])
}

/// `ship` as it was: label, wait, hand over.
#[workflow(name = "ship", version = 1)]
async fn ship_before(ctx: Ctx, order: String) -> Result<Vec<String>, Error> {
    let label = named(&ctx, "label").await?;
    go(&ctx, &order).await?;
    Ok(vec![label, named(&ctx, "hand-over").await?])
}

/// `ship` patched in place (same version): runs that reach the patch for the
/// first time on this code insure the parcel; runs that had passed that
/// point on the old code replay as they were recorded.
#[workflow(name = "ship", version = 1)]
async fn ship_patched(ctx: Ctx, order: String) -> Result<Vec<String>, Error> {
    let mut done = vec![named(&ctx, "label").await?];
    // Before the wait, where runs of the old code have already passed: they
    // replay `false` here. (A run that reaches a patch after the point its
    // journal ends runs it for the first time, on new code, so it gets
    // `true`.)
    if ctx.patched("insure-parcels").await? {
        done.push(named(&ctx, "insure").await?);
    }
    go(&ctx, &order).await?;
    done.push(named(&ctx, "hand-over").await?);
    Ok(done)
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|name| (*name).to_owned()).collect()
}

/// Waits until `run` is suspended at its wait.
async fn until_waiting(run: &RunHandle<Vec<String>>) -> anyhow::Result<()> {
    for _ in 0..500 {
        if run.status().await? == RunStatus::Suspended {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    anyhow::bail!("run {} never reached its wait", run.id())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path = std::env::temp_dir().join(format!("durable-upgrade-{}.db", std::process::id()));

    // The first deploy: version 1 of both workflows.
    let engine = Engine::builder()
        .sqlite_file(&path)
        .register(ChargeV1)
        .register(ShipBefore)
        .start()
        .await?;
    let old_charge = ChargeV1::trigger(&engine, "o-1".into()).await?;
    let old_ship = ShipBefore::trigger(&engine, "o-2".into()).await?;
    until_waiting(&old_charge).await?;
    until_waiting(&old_ship).await?;
    let (old_charge, old_ship) = (old_charge.id(), old_ship.id());
    engine.shutdown().await;
    println!("deploy 1: two runs started on version 1 and wait for order.go");

    // The second deploy: charge v2 beside v1, ship patched.
    let engine = Engine::builder()
        .sqlite_file(&path)
        .register(ChargeV1)
        .register(ChargeV2)
        .register(ShipPatched)
        .start()
        .await?;
    let old_charge = engine.run_handle::<Vec<String>>(old_charge);
    let old_ship = engine.run_handle::<Vec<String>>(old_ship);
    // Triggered by name, as from the API or the CLI: the highest version.
    let new_charge = engine.trigger_json("charge", json!("o-3")).await?;
    let new_charge = engine.run_handle::<Vec<String>>(new_charge.id());
    let new_ship = ShipPatched::trigger(&engine, "o-4".into()).await?;
    until_waiting(&new_charge).await?;
    until_waiting(&new_ship).await?;
    println!("deploy 2: charge v2 beside v1, ship patched; two new runs wait");
    for order in ["o-1", "o-2", "o-3", "o-4"] {
        engine
            .send_event("order.go", json!({ "order": order }))
            .await?;
    }

    let expected = [
        (&old_charge, names(&["reserve", "capture"]), "v1"),
        (&old_ship, names(&["label", "hand-over"]), "v1"),
        (
            &new_charge,
            names(&["reserve", "fraud-check", "capture", "receipt"]),
            "v2",
        ),
        (&new_ship, names(&["label", "insure", "hand-over"]), "v1"),
    ];
    let mut all_as_documented = true;
    for (run, want, version) in expected {
        let info = run.info().await?;
        let got = run.result().await?;
        let as_documented = got == want && info.version.as_deref() == Some(version);
        all_as_documented &= as_documented;
        println!(
            "{} {} on {}: {}{}",
            info.workflow,
            run.id(),
            info.version.as_deref().unwrap_or("no version"),
            got.join(" → "),
            if as_documented {
                ""
            } else {
                "  (NOT as documented)"
            }
        );
    }
    engine.shutdown().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    anyhow::ensure!(
        all_as_documented,
        "upgrade: a run did not finish as documented"
    );
    println!("upgrade: ok");
    Ok(())
}
