//! Fan-out: `map` over 100 items with at most 8 at once; each item is a
//! durable step in its own branch (`price-all[i]/price`), and the results
//! come back in input order.
//!
//! ```text
//! cargo run --example fan_out
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use durable::FanOut;
use durable::prelude::*;

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

#[workflow(name = "price-catalog")]
async fn price_catalog(ctx: Ctx, skus: Vec<u32>) -> Result<u64, Error> {
    let prices: Vec<u64> = ctx
        .map(
            "price-all",
            skus,
            FanOut::new().concurrency(8),
            async |ctx, sku| {
                ctx.run("price", async || {
                    let now = IN_FLIGHT.fetch_add(1, Ordering::SeqCst) + 1;
                    PEAK.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, StepError>(u64::from(sku) * 100)
                })
                .await
            },
        )
        .await?;
    println!("  first prices: {:?} ...", &prices[..5]);
    Ok(prices.iter().sum())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let engine = Engine::builder()
        .sqlite_memory()
        .register(PriceCatalog)
        .start()
        .await?;
    let started = std::time::Instant::now();
    let run = PriceCatalog::trigger(&engine, (1..=100).collect()).await?;
    let total = run.result().await?;
    let steps = run.steps().await?;
    println!(
        "priced {} items in {:?}, at most {} at once; total {total} cents",
        steps.len(),
        started.elapsed(),
        PEAK.load(Ordering::SeqCst)
    );
    if let Some(step) = steps.iter().find(|step| step.name == "price-all[42]/price") {
        println!(
            "  e.g. step {} recorded {}",
            step.name,
            step.output.clone().unwrap_or_default()
        );
    }
    engine.shutdown().await;
    Ok(())
}
