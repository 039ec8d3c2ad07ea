//! The bench's W4 (many runs waiting for one event name, each with its own
//! filter, woken by events sent from outside): its workflow and what it
//! measures.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use durable::prelude::*;
use durable::{Engine, EngineBuilder};

/// The event every W4 run waits for.
const W4_EVENT: &str = "payment.received";

/// The events W4 sends at once.
const W4_IN_FLIGHT: usize = 64;

/// When each W4 run's step after its wait began, by its order number (the
/// body runs once: a replay answers it from the journal).
static W4_RESUMED: Mutex<Option<HashMap<u32, Instant>>> = Mutex::new(None);

#[workflow(name = "bench-waiter")]
async fn waiter(ctx: Ctx, order: u32) -> Result<u32, Error> {
    let payment: Option<serde_json::Value> = ctx
        .wait_for_event("payment", W4_EVENT)
        .matching(json!({ "order": order }))
        .await?;
    let order_paid = payment
        .and_then(|payment| payment.get("order").and_then(serde_json::Value::as_u64))
        .unwrap_or(u64::MAX);
    ctx.run("resumed", async || {
        W4_RESUMED
            .lock()
            .expect("poisoned")
            .get_or_insert_default()
            .insert(order, Instant::now());
        Ok::<_, StepError>(())
    })
    .await?;
    Ok(u32::try_from(order_paid).unwrap_or(u32::MAX))
}

/// Registers W4's workflow.
pub(crate) fn register(builder: EngineBuilder) -> EngineBuilder {
    builder.register(Waiter)
}

/// What one W4 round measured.
pub(crate) struct WaiterFigures {
    /// Events sent per second (first send to the last send's answer).
    pub(crate) events_per_s: f64,
    /// Median time from starting a send to its run's next step, ms.
    pub(crate) p50_ms: f64,
    /// 99th percentile of the same, ms.
    pub(crate) p99_ms: f64,
}

/// Starts `waiters` runs each waiting for [`W4_EVENT`] with the filter
/// `{"order": i}`, waits until every one is suspended, then sends `events`
/// events (spread evenly over the orders, each with one more field than the
/// filter names), [`W4_IN_FLIGHT`] at a time, and checks that each woke
/// exactly its run.
pub(crate) async fn workload_w4(
    engine: &Engine,
    waiters: u32,
    events: u32,
) -> anyhow::Result<WaiterFigures> {
    W4_RESUMED.lock().expect("poisoned").replace(HashMap::new());
    let triggers: Vec<_> = (0..waiters)
        .map(|order| {
            let engine = engine.clone();
            tokio::spawn(async move { Waiter::trigger(&engine, order).await })
        })
        .collect();
    let mut runs = Vec::with_capacity(triggers.len());
    for trigger in triggers {
        runs.push(trigger.await??);
    }
    for run in &runs {
        while run.status().await? != RunStatus::Suspended {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let step = (waiters / events.max(1)).max(1);
    let orders: Arc<Vec<u32>> = Arc::new((0..events).map(|i| i * step).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let senders: Vec<_> = (0..W4_IN_FLIGHT)
        .map(|_| {
            let (engine, orders, next) = (engine.clone(), orders.clone(), next.clone());
            tokio::spawn(async move {
                let mut sent = Vec::new();
                while let Some(&order) = orders.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let begun = Instant::now();
                    let event = json!({ "order": order, "amount": 100 + order });
                    let woken = engine.send_event(W4_EVENT, event).await?.woken;
                    anyhow::ensure!(woken.len() == 1, "order {order} woke {} runs", woken.len());
                    sent.push((order, begun));
                }
                Ok::<_, anyhow::Error>(sent)
            })
        })
        .collect();
    let mut sent = Vec::with_capacity(orders.len());
    for sender in senders {
        sent.extend(sender.await??);
    }
    let sending = started.elapsed();
    for &order in orders.iter() {
        let paid = runs[order as usize].result().await?;
        anyhow::ensure!(paid == order, "run {order} was woken by order {paid}");
    }
    let resumed = W4_RESUMED
        .lock()
        .expect("poisoned")
        .take()
        .unwrap_or_default();
    let mut latencies = sent
        .into_iter()
        .map(|(order, begun)| {
            resumed
                .get(&order)
                .map(|at| at.saturating_duration_since(begun))
                .with_context(|| format!("run {order} did not resume"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (p50_ms, p99_ms) = crate::l1::p50_p99(&mut latencies);
    Ok(WaiterFigures {
        events_per_s: f64::from(events) / sending.as_secs_f64(),
        p50_ms,
        p99_ms,
    })
}
