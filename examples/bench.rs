//! Fixed workloads that print one result line each, for comparing durable
//! over time and against other engines on the same machine.
//!
//! ```text
//! cargo run --release --example bench [-- --synchronous normal|full]
//! ```
//!
//! - W1: 2,000 runs of a 3-step no-op workflow, at most 64 in flight, after a
//!   warm-up of 200: runs per second, and p50/p99 trigger-to-result latency.
//! - W2: one run of 1,000 sequential no-op steps: mean latency per step.
//! - C1: W1 with one run in flight: p50/p99 latency.
//!
//! Each workload runs on a fresh SQLite file (WAL) in the temp directory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use durable::Durability;
use durable::prelude::*;

#[workflow(name = "bench-three-steps")]
async fn three_steps(ctx: Ctx) -> Result<u32, Error> {
    let a: u32 = ctx.run("a", async || Ok::<_, StepError>(1)).await?;
    let b: u32 = ctx.run("b", async || Ok::<_, StepError>(2)).await?;
    let c: u32 = ctx.run("c", async || Ok::<_, StepError>(3)).await?;
    Ok(a + b + c)
}

#[workflow(name = "bench-many-steps")]
async fn many_steps(ctx: Ctx, steps: u32) -> Result<u32, Error> {
    let mut total = 0;
    for i in 0..steps {
        total += ctx
            .run(("noop", i), async || Ok::<_, StepError>(1u32))
            .await?;
    }
    Ok(total)
}

struct Database {
    dir: std::path::PathBuf,
}

impl Database {
    fn new(label: &str) -> anyhow::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("durable-bench-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        Ok(Database { dir })
    }

    async fn engine(&self, durability: Durability) -> anyhow::Result<Engine> {
        Ok(Engine::builder()
            .sqlite_file(self.dir.join("bench.db"))
            .durability(durability)
            .concurrency(256)
            .register(ThreeSteps)
            .register(ManySteps)
            .start()
            .await?)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `count` three-step runs with at most `in_flight` at once; returns
/// the elapsed time and every run's trigger-to-result latency.
async fn closed_loop(
    engine: &Engine,
    count: usize,
    in_flight: usize,
) -> anyhow::Result<(Duration, Vec<Duration>)> {
    let slots = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for _ in 0..count {
        let permit = slots.clone().acquire_owned().await?;
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let begun = Instant::now();
            let run = ThreeSteps::trigger(&engine).await?;
            anyhow::ensure!(run.result().await? == 6, "wrong result");
            Ok::<_, anyhow::Error>(begun.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(count);
    for task in tasks {
        latencies.push(task.await??);
    }
    Ok((started.elapsed(), latencies))
}

fn percentile_ms(sorted: &[Duration], fraction: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let durability = match args
        .iter()
        .position(|a| a == "--synchronous")
        .map(|i| args.get(i + 1))
    {
        None => Durability::Normal,
        Some(Some(value)) if value == "normal" => Durability::Normal,
        Some(Some(value)) if value == "full" => Durability::Full,
        Some(other) => anyhow::bail!("--synchronous takes normal or full, got {other:?}"),
    };

    // W1: throughput and latency with 64 runs in flight.
    let database = Database::new("w1")?;
    let engine = database.engine(durability).await?;
    closed_loop(&engine, 200, 64).await.context("W1 warm-up")?;
    let (elapsed, mut latencies) = closed_loop(&engine, 2_000, 64).await.context("W1")?;
    latencies.sort();
    let w1_rate = 2_000.0 / elapsed.as_secs_f64();
    let (w1_p50, w1_p99) = (
        percentile_ms(&latencies, 0.50),
        percentile_ms(&latencies, 0.99),
    );
    engine.shutdown().await;
    drop(database);

    // W2: one run of 1,000 sequential steps.
    let database = Database::new("w2")?;
    let engine = database.engine(durability).await?;
    ManySteps::trigger(&engine, 10).await?.result().await?;
    let started = Instant::now();
    let total = ManySteps::trigger(&engine, 1_000).await?.result().await?;
    anyhow::ensure!(total == 1_000, "W2 ran {total} steps");
    let w2_step_ms = started.elapsed().as_secs_f64() * 1000.0 / 1_000.0;
    engine.shutdown().await;
    drop(database);

    // C1: latency with one run in flight.
    let database = Database::new("c1")?;
    let engine = database.engine(durability).await?;
    closed_loop(&engine, 50, 1).await.context("C1 warm-up")?;
    let (_, mut latencies) = closed_loop(&engine, 500, 1).await.context("C1")?;
    latencies.sort();
    let (c1_p50, c1_p99) = (
        percentile_ms(&latencies, 0.50),
        percentile_ms(&latencies, 0.99),
    );
    engine.shutdown().await;
    drop(database);

    println!(
        "durable-sqlite W1 wf/s={w1_rate:.0} p50_ms={w1_p50:.2} p99_ms={w1_p99:.2} | W2 step_ms={w2_step_ms:.3}"
    );
    println!("durable-sqlite C1 p50_ms={c1_p50:.2} p99_ms={c1_p99:.2}");
    Ok(())
}
