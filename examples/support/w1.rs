//! What the bench's W1 shares between `bench.rs` and `bench_live.rs`: the
//! three-step workflow and the closed loop that runs it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use durable::prelude::*;

#[workflow(name = "bench-three-steps")]
pub(crate) async fn three_steps(ctx: Ctx) -> Result<u32, Error> {
    let a: u32 = ctx.run("a", async || Ok::<_, StepError>(1)).await?;
    let b: u32 = ctx.run("b", async || Ok::<_, StepError>(2)).await?;
    let c: u32 = ctx.run("c", async || Ok::<_, StepError>(3)).await?;
    Ok(a + b + c)
}

/// Runs `count` three-step runs with at most `in_flight` at once; returns
/// the elapsed time and every run's trigger-to-result latency.
pub(crate) async fn closed_loop(
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
