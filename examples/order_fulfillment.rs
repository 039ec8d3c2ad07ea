//! The order workflow of the README: validate, charge, confirm, a durable
//! sleep, notify. Runs on the embedded default, a SQLite file `durable.db`
//! in the working directory, and serves the web console beside its run on
//! a loopback port, printing the URL of the run's inspector: open it while
//! the run sleeps and watch the graph and the timeline fill in.
//!
//! ```text
//! cargo run --example order_fulfillment                 # ends 5 s after the run
//! cargo run --example order_fulfillment -- --keep-open  # serves until Ctrl-C
//! ```
//!
//! Stop it with Ctrl-C during the cool-off sleep and start it again: the run
//! resumes after the sleep, and the finished steps do not run again.
//!
//! It is an example of the `durable-console` package (which depends on
//! `durable`), so that serving the console needs no dependency of `durable`
//! on its own console.

use std::time::Duration;

use durable::prelude::*;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct OrderInput {
    order_id: String,
    customer_id: String,
    amount_cents: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Order {
    order_id: String,
    amount_cents: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Charge {
    charge_id: String,
    amount_cents: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Fulfilled {
    order_id: String,
    charge_id: String,
}

fn say(step: &str, message: impl std::fmt::Display) {
    println!("  [{step}] {message}");
}

#[workflow(name = "order-fulfillment", timeout = "24h")]
async fn order_fulfillment(ctx: Ctx, input: OrderInput) -> Result<Fulfilled, Error> {
    let order: Order = ctx
        .run("validate-order", async || {
            say(
                "validate-order",
                format!("checking order {}", input.order_id),
            );
            if input.amount_cents == 0 {
                return Err(StepError::permanent("an order must cost something"));
            }
            Ok(Order {
                order_id: input.order_id.clone(),
                amount_cents: input.amount_cents,
            })
        })
        .await?;

    let charge: Charge = ctx
        .step("charge-payment")
        .retry(Retry::exponential(3, "100ms"))
        .timeout("30s")
        .run_with_attempt(async |attempt| {
            say(
                "charge-payment",
                format!("charging {} cents (attempt {attempt})", order.amount_cents),
            );
            if attempt == 1 {
                // The payment provider is flaky: the first attempt fails and
                // the retry policy tries again.
                return Err(StepError::retryable("payment provider timed out"));
            }
            Ok(Charge {
                charge_id: format!("ch_{}", order.order_id),
                amount_cents: order.amount_cents,
            })
        })
        .await?;

    ctx.run("confirm-order", async || {
        say(
            "confirm-order",
            format!(
                "order {} confirmed, charge {}",
                order.order_id, charge.charge_id
            ),
        );
        Ok::<_, StepError>(())
    })
    .await?;

    // Code outside steps runs again on every replay, so this prints twice:
    // once before the run suspends and once when it resumes.
    say("workflow", "reached the 5s cool-off sleep");
    ctx.sleep("cool-off", "5s").await?;

    ctx.run("notify-customer", async || {
        say(
            "notify-customer",
            format!("emailing customer {}", input.customer_id),
        );
        Ok::<_, StepError>(())
    })
    .await?;

    Ok(Fulfilled {
        order_id: order.order_id,
        charge_id: charge.charge_id,
    })
}

/// How long the console stays up after the run ended, without `--keep-open`:
/// long enough to see the finished run, short enough for CI to wait for.
const LINGER: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let keep_open = std::env::args().skip(1).any(|arg| arg == "--keep-open");
    let engine = Engine::builder().register(OrderFulfillment).start().await?;
    // Loopback only, with a random token that the printed URL carries.
    let console = durable_console::Console::new(&engine)
        .bind("127.0.0.1:0")
        .await?;

    let order_id = format!("order-{}", std::process::id());
    println!("triggering order-fulfillment for {order_id}");
    let run = OrderFulfillment::trigger(
        &engine,
        OrderInput {
            order_id,
            customer_id: "customer-7".into(),
            amount_cents: 4_200,
        },
    )
    .await?;
    println!("run {} started", run.id());
    println!(
        "watch it in the console: {}#/run/{}?view=graph",
        console.url(),
        run.id()
    );

    tokio::time::sleep(Duration::from_millis(1_500)).await;
    println!("status while sleeping: {}", run.status().await?);

    let fulfilled = run.result().await?;
    println!("final status: {} ({fulfilled:?})", run.status().await?);
    for step in run.steps().await? {
        println!(
            "  step {:<16} {:<10} attempts={}",
            step.name, step.status, step.attempts
        );
    }
    if keep_open {
        println!("the console stays up until Ctrl-C: {}", console.url());
        tokio::signal::ctrl_c().await?;
    } else {
        println!(
            "the console stays up {} s more (pass -- --keep-open to keep it until Ctrl-C)",
            LINGER.as_secs()
        );
        tokio::time::sleep(LINGER).await;
    }
    // A page left open holds its live stream: stopping waits for the
    // requests in flight a moment, then the process ends them.
    let _ = tokio::time::timeout(Duration::from_secs(1), console.shutdown()).await;
    engine.shutdown().await;
    Ok(())
}
