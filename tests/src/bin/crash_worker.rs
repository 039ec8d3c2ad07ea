//! The process the crash test kills: triggers a fixed set of runs
//! (idempotently, so every restart asks for the same ones), sends each run
//! the event it waits for, and executes them until all are finished, then
//! exits 0.
//!
//! ```text
//! crash_worker <database> <ledger> <batches>
//! ```
//!
//! Every step body appends `effect <run> <step> <execution id>` to the ledger
//! (one `write` per line, O_APPEND) and returns the execution id, so the test
//! can tell which execution's result was committed. Compensations append
//! `undo <run> <step> <execution id>`. The runs cover plain steps, durable
//! sleeps (in memory and suspended), a fan-out, a child workflow, an event
//! wait, and (every fifth run) a saga that fails and compensates.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use durable::FanOut;
use durable::prelude::*;

/// Runs per batch.
const RUNS_PER_BATCH: usize = 10;

fn append(ledger: &str, line: &str) -> Result<(), StepError> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(ledger)?;
    file.write_all(format!("{line}\n").as_bytes())?;
    Ok(())
}

/// One step body: record the side effect, take a little time, return the
/// execution's id.
async fn effect(ledger: &str, run: &str, step: &str) -> Result<String, StepError> {
    let execution = durable::Uuid::new_v4().to_string();
    append(ledger, &format!("effect {run} {step} {execution}"))?;
    tokio::time::sleep(Duration::from_millis(jitter_ms())).await;
    Ok(execution)
}

fn jitter_ms() -> u64 {
    // 0 to 3 ms, from the clock's low bits: enough spread for kill points.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    u64::from(nanos / 1000 % 4)
}

#[workflow(name = "crash-child")]
async fn crash_child(ctx: Ctx, ledger: String, run: String) -> Result<String, Error> {
    let first: String = ctx
        .run("child-a", async || effect(&ledger, &run, "child-a").await)
        .await?;
    ctx.sleep("child-nap", "20ms").await?;
    ctx.run("child-b", async || effect(&ledger, &run, "child-b").await)
        .await?;
    Ok(first)
}

#[workflow(name = "crash-ledger")]
async fn crash_ledger(ctx: Ctx, ledger: String, run: String) -> Result<Vec<String>, Error> {
    let a: String = ctx
        .run("a", async || effect(&ledger, &run, "a").await)
        .await?;
    let b: String = ctx
        .run("b", async || effect(&ledger, &run, "b").await)
        .await?;
    ctx.sleep("short-nap", "3ms").await?;
    let c: String = ctx
        .run("c", async || effect(&ledger, &run, "c").await)
        .await?;
    ctx.map("fan", 0..3u32, FanOut::new(), async |ctx, branch| {
        let step = format!("fan[{branch}]/m");
        ctx.run("m", async || effect(&ledger, &run, &step).await)
            .await
    })
    .await?;
    ctx.sleep("long-nap", "30ms").await?;
    let child_run = format!("{run}.child");
    ctx.invoke(
        "child",
        CrashChild,
        CrashChildInput {
            ledger: ledger.clone(),
            run: child_run,
        },
    )
    .await?;
    let go: Option<serde_json::Value> = ctx
        .wait_for_event("go", "crash.go")
        .matching(json!({ "run": run }))
        .lookback("1h")
        .timeout("1h")
        .await?;
    if go.is_none() {
        return Err(Error::RunFailed {
            run_id: ctx.run_id(),
            message: "the go event never came".into(),
        });
    }
    let d: String = ctx
        .run("d", async || effect(&ledger, &run, "d").await)
        .await?;
    let e: String = ctx
        .run("e", async || effect(&ledger, &run, "e").await)
        .await?;
    Ok(vec![a, b, c, d, e])
}

#[workflow(name = "crash-saga")]
async fn crash_saga(ctx: Ctx, ledger: String, run: String) -> Result<(), Error> {
    for step in ["x", "y"] {
        let (undo_ledger, undo_run) = (ledger.clone(), run.clone());
        ctx.step(("saga", step))
            .compensate(move |_: String| {
                let (ledger, run) = (undo_ledger.clone(), undo_run.clone());
                async move {
                    let execution = durable::Uuid::new_v4().to_string();
                    append(&ledger, &format!("undo {run} saga[{step}] {execution}"))?;
                    tokio::time::sleep(Duration::from_millis(jitter_ms())).await;
                    Ok::<_, StepError>(())
                }
            })
            .run(async || effect(&ledger, &run, &format!("saga[{step}]")).await)
            .await?;
    }
    ctx.fail("the saga fails on purpose").await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, database, ledger, batches] = args.as_slice() else {
        anyhow::bail!("usage: crash_worker <database> <ledger> <batches>");
    };
    let batches: usize = batches.parse()?;
    let engine = Engine::builder()
        .sqlite_file(PathBuf::from(database))
        .keep_in_memory_below("10ms")
        .concurrency(8)
        .register(CrashLedger)
        .register(CrashChild)
        .register(CrashSaga)
        .start()
        .await?;
    let mut plain = Vec::new();
    let mut sagas = Vec::new();
    for index in 0..batches * RUNS_PER_BATCH {
        let run = format!("run-{index}");
        let options = TriggerOptions::new().idempotency_key(run.clone());
        if index % 5 == 4 {
            sagas.push(CrashSaga::trigger_with(&engine, ledger.clone(), run, options).await?);
        } else {
            plain.push(
                CrashLedger::trigger_with(&engine, ledger.clone(), run.clone(), options).await?,
            );
            engine.send_event("crash.go", json!({ "run": run })).await?;
        }
    }
    for run in plain {
        run.result().await?;
    }
    for run in sagas {
        // A saga ends failed once it compensated.
        match run.result().await {
            Err(Error::RunFailed { message, .. }) if message.contains("on purpose") => {}
            other => anyhow::bail!("saga run ended with {other:?}"),
        }
    }
    engine.shutdown().await;
    Ok(())
}
