//! The bench's E1 (W1 started by events): 2,000 events, each starting a
//! run of a three-step workflow through `#[workflow(on_event = ..)]`, 64
//! events in flight: events per second, and the p50/p99 time from starting
//! a send to the run's result.

use std::sync::Arc;
use std::time::{Duration, Instant};

use durable::EngineBuilder;
use durable::prelude::*;

/// The event that starts E1's runs.
const E1_EVENT: &str = "bench.order.created";

#[derive(Serialize, Deserialize, JsonSchema)]
struct Order {
    order: u32,
}

#[workflow(name = "bench-on-order", on_event = "bench.order.created")]
async fn on_order(ctx: Ctx, order: Order) -> Result<u32, Error> {
    let a: u32 = ctx
        .run("a", async || Ok::<_, StepError>(order.order))
        .await?;
    let b: u32 = ctx.run("b", async || Ok::<_, StepError>(1)).await?;
    let c: u32 = ctx.run("c", async || Ok::<_, StepError>(1)).await?;
    Ok(a + b + c)
}

/// Registers E1's workflow.
pub(crate) fn register(builder: EngineBuilder) -> EngineBuilder {
    builder.register(OnOrder)
}

/// Sends `count` events with at most `in_flight` unfinished at once, each
/// waited for until the run it started finished; returns the elapsed time
/// and each event's send-to-result latency.
pub(crate) async fn event_loop(
    engine: &Engine,
    count: u32,
    in_flight: usize,
) -> anyhow::Result<(Duration, Vec<Duration>)> {
    let slots = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for order in 0..count {
        let permit = slots.clone().acquire_owned().await?;
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let begun = Instant::now();
            let sent = engine.send_event(E1_EVENT, Order { order }).await?;
            anyhow::ensure!(sent.started.len() == 1, "{sent:?}");
            let run = engine.run_handle::<u32>(sent.started[0]);
            anyhow::ensure!(run.result().await? == order + 2, "wrong result");
            Ok::<_, anyhow::Error>(begun.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    for task in tasks {
        latencies.push(task.await??);
    }
    Ok((started.elapsed(), latencies))
}
