//! Flow control, each declared on the workflow: an event that starts a run,
//! a per-key concurrency limit, a debounce, and a run cancelled by an
//! event. Each check prints as it happens; the last line is
//! `flow_control: ok` only when every one held (the process exits with an
//! error otherwise).
//!
//! ```text
//! cargo run --example flow_control
//! ```

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use durable::prelude::*;

/// Started by every `order.created` event, with the event's data as input.
#[workflow(name = "confirm-order", on_event = "order.created")]
async fn confirm_order(ctx: Ctx, order: Order) -> Result<String, Error> {
    ctx.run("confirm", async || {
        Ok::<_, StepError>(format!("order {} confirmed", order.order_id))
    })
    .await
}

/// At most one run per customer at a time, across every engine.
#[workflow(name = "bill-customer", concurrency(limit = 1, key = "customer"))]
async fn bill_customer(ctx: Ctx, customer: String, cents: u64) -> Result<u64, Error> {
    ctx.run("charge", async || {
        // A slow payment provider: long enough to see the next run of this
        // customer wait while another customer's runs.
        tokio::time::sleep(Duration::from_millis(400)).await;
        println!("   charged {customer} {cents} cents");
        Ok::<_, StepError>(cents)
    })
    .await
}

/// Triggers of one user within 300 ms become one run, with the last input.
#[workflow(name = "reindex-user", debounce(period = "300ms", key = "user"))]
async fn reindex_user(ctx: Ctx, user: String, edits: u32) -> Result<String, Error> {
    ctx.run("reindex", async || {
        Ok::<_, StepError>(format!("reindexed {user} after {edits} edits"))
    })
    .await
}

/// Fulfilment waits for the courier; an `order.cancelled` event with the
/// same `order_id` cancels it, wherever it is.
#[workflow(
    name = "fulfil-order",
    cancel_on(event = "order.cancelled", match = "order_id")
)]
async fn fulfil_order(ctx: Ctx, order_id: String, items: u32) -> Result<String, Error> {
    ctx.sleep("courier", "1h").await?;
    Ok(format!("{items} items of {order_id} handed to the courier"))
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Order {
    order_id: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let engine = Engine::builder()
        .sqlite_memory()
        .register(ConfirmOrder)
        .register(BillCustomer)
        .register(ReindexUser)
        .register(FulfilOrder)
        .start()
        .await?;

    event_starts_a_run(&engine).await?;
    a_key_limit_holds_back_its_second_run(&engine).await?;
    a_debounce_collapses_triggers(&engine).await?;
    an_event_cancels_a_run(&engine).await?;

    engine.shutdown().await;
    println!("flow_control: ok");
    Ok(())
}

async fn event_starts_a_run(engine: &Engine) -> anyhow::Result<()> {
    println!("-- an event starts a workflow");
    let sent = engine
        .send_event("order.created", json!({ "order_id": "o-17" }))
        .await?;
    ensure!(
        sent.started.len() == 1,
        "one run started: {:?}",
        sent.started
    );
    let run = engine.run_handle::<String>(sent.started[0]);
    let confirmed = run.result().await?;
    println!("   event {} started run {}: {confirmed}", sent.id, run.id());
    ensure!(confirmed == "order o-17 confirmed", "{confirmed}");
    Ok(())
}

async fn a_key_limit_holds_back_its_second_run(engine: &Engine) -> anyhow::Result<()> {
    println!("-- a limit of 1 per customer");
    let first = BillCustomer::trigger(engine, "ada".into(), 500).await?;
    let second = BillCustomer::trigger(engine, "ada".into(), 700).await?;
    let other = BillCustomer::trigger(engine, "grace".into(), 900).await?;
    // While ada's first run charges, her second waits and grace's runs.
    let started = Instant::now();
    loop {
        let statuses = (
            first.status().await?,
            second.status().await?,
            other.status().await?,
        );
        if statuses == (RunStatus::Running, RunStatus::Pending, RunStatus::Running) {
            println!("   ada #1 running, ada #2 pending behind it, grace running beside it");
            break;
        }
        if started.elapsed() > Duration::from_secs(5) {
            bail!("never saw ada #2 held back while grace ran: {statuses:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (a, b, c) = (
        first.result().await?,
        second.result().await?,
        other.result().await?,
    );
    let first_ended = first.info().await?.finished_at.context("ada #1 ended")?;
    let second_started = second.info().await?.started_at.context("ada #2 started")?;
    ensure!(
        second_started >= first_ended,
        "ada #2 started only after ada #1 ended"
    );
    ensure!(
        (a, b, c) == (500, 700, 900),
        "each run charged its own amount"
    );
    println!("   ada #2 started after ada #1 ended");
    Ok(())
}

async fn a_debounce_collapses_triggers(engine: &Engine) -> anyhow::Result<()> {
    println!("-- a debounce of 300ms per user");
    let mut ids = Vec::new();
    for edits in 1..=5 {
        let run = ReindexUser::trigger(engine, "linus".into(), edits).await?;
        println!("   trigger {edits} joined run {}", run.id());
        ids.push(run.id());
    }
    ensure!(
        ids.iter().all(|id| *id == ids[0]),
        "five triggers joined one run: {ids:?}"
    );
    let outcome = engine.run_handle::<String>(ids[0]).result().await?;
    println!("   one run: {outcome}");
    ensure!(outcome == "reindexed linus after 5 edits", "{outcome}");
    Ok(())
}

async fn an_event_cancels_a_run(engine: &Engine) -> anyhow::Result<()> {
    println!("-- a run cancelled by an event");
    let doomed = FulfilOrder::trigger(engine, "o-41".into(), 2).await?;
    let kept = FulfilOrder::trigger(engine, "o-42".into(), 3).await?;
    let started = Instant::now();
    while doomed.status().await? != RunStatus::Suspended
        || kept.status().await? != RunStatus::Suspended
    {
        ensure!(
            started.elapsed() < Duration::from_secs(5),
            "both runs reached their sleep"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("   runs for o-41 and o-42 wait for the courier");
    let sent = engine
        .send_event("order.cancelled", json!({ "order_id": "o-41" }))
        .await?;
    ensure!(
        sent.cancelled == [doomed.id()],
        "only o-41's run cancelled: {:?}",
        sent.cancelled
    );
    match doomed.result().await {
        Err(Error::RunCancelled { reason, .. }) => {
            println!("   o-41's run: {reason}");
            ensure!(
                reason.contains("order.cancelled"),
                "the reason names the event"
            );
        }
        other => bail!("o-41's run was not cancelled: {other:?}"),
    }
    ensure!(
        kept.status().await? == RunStatus::Suspended,
        "o-42's run still waits"
    );
    println!("   o-42's run still waits for the courier");
    Ok(())
}
