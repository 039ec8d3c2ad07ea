//! The process the crash test kills: triggers a fixed set of runs
//! (idempotently, so every restart asks for the same ones) and executes them
//! until all are finished, then exits 0.
//!
//! ```text
//! crash_worker <database> <ledger> <batches>
//! ```
//!
//! Every step body appends `effect <run> <step> <execution id>` to the ledger
//! (one `write` per line, O_APPEND) and returns the execution id, so the test
//! can tell which execution's result was committed.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

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

/// One step: record the side effect, take a little time, return the
/// execution's id.
async fn effect(ledger: &str, run: &str, step: &str) -> Result<String, StepError> {
    let execution = durable::Uuid::new_v4().to_string();
    append(ledger, &format!("effect {run} {step} {execution}"))?;
    tokio::time::sleep(Duration::from_millis(fastrand_ms())).await;
    Ok(execution)
}

fn fastrand_ms() -> u64 {
    // 0 to 3 ms, from the clock's low bits: enough spread for kill points.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    u64::from(nanos / 1000 % 4)
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
    ctx.sleep("long-nap", "30ms").await?;
    let d: String = ctx
        .run("d", async || effect(&ledger, &run, "d").await)
        .await?;
    let e: String = ctx
        .run("e", async || effect(&ledger, &run, "e").await)
        .await?;
    Ok(vec![a, b, c, d, e])
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
        .start()
        .await?;
    let mut runs = Vec::new();
    for index in 0..batches * RUNS_PER_BATCH {
        let run = format!("run-{index}");
        let options = TriggerOptions::new().idempotency_key(run.clone());
        runs.push(CrashLedger::trigger_with(&engine, ledger.clone(), run, options).await?);
    }
    for run in runs {
        run.result().await?;
    }
    engine.shutdown().await;
    Ok(())
}
