//! A saga: debit one account, credit another; the credit fails, so the debit
//! is compensated (refunded) as a durable step, and the on-failure hook
//! reports what happened.
//!
//! ```text
//! cargo run --example transfer_funds
//! ```

use durable::Failure;
use durable::prelude::*;

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Transfer {
    from: String,
    to: String,
    cents: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Debit {
    account: String,
    cents: u64,
}

async fn report(ctx: Ctx, failure: Failure) -> Result<(), Error> {
    ctx.run("alert-support", async || {
        println!(
            "  [on-failure] {} (completed before: {:?})",
            failure.error, failure.completed_steps
        );
        Ok::<_, StepError>(())
    })
    .await
}

#[workflow(name = "transfer-funds", on_failure = report)]
async fn transfer_funds(ctx: Ctx, transfer: Transfer) -> Result<(), Error> {
    ctx.step("debit")
        .compensate(|debit: Debit| async move {
            println!(
                "  [compensate/debit] refunding {} cents to {}",
                debit.cents, debit.account
            );
            Ok::<_, StepError>(())
        })
        .run(async || {
            println!(
                "  [debit] taking {} cents from {}",
                transfer.cents, transfer.from
            );
            Ok::<_, StepError>(Debit {
                account: transfer.from.clone(),
                cents: transfer.cents,
            })
        })
        .await?;
    ctx.step("credit")
        .retry(Retry::fixed(2, "100ms"))
        .run_with_attempt(async |attempt| {
            println!("  [credit] crediting {} (attempt {attempt})", transfer.to);
            Err::<(), _>(StepError::retryable(format!(
                "account {} is frozen",
                transfer.to
            )))
        })
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let engine = Engine::builder()
        .sqlite_memory()
        .register(TransferFunds)
        .start()
        .await?;
    let transfer = Transfer {
        from: "alice".into(),
        to: "bob".into(),
        cents: 2_500,
    };
    let run = TransferFunds::trigger(&engine, transfer).await?;
    let outcome = run.result().await;
    println!(
        "final status: {} ({})",
        run.status().await?,
        outcome.err().map(|e| e.to_string()).unwrap_or_default()
    );
    for step in run.steps().await? {
        println!("  step {:<22} {}", step.name, step.status);
    }
    engine.shutdown().await;
    Ok(())
}
