//! Waiting for a human: an expense waits for an approval event with a
//! timeout. One run is approved by an event; the other times out and is
//! rejected.
//!
//! ```text
//! cargo run --example approval
//! ```

use std::time::Duration;

use durable::prelude::*;

#[derive(Debug, Serialize, Deserialize)]
struct Decision {
    approver: String,
}

#[workflow(name = "expense-approval")]
async fn expense_approval(ctx: Ctx, expense_id: String) -> Result<String, Error> {
    println!("  [{expense_id}] waiting for approval (times out after 1s)");
    let decision: Option<Decision> = ctx
        .wait_for_event("approval", "expense.approved")
        .matching(json!({ "expense_id": expense_id }))
        .timeout("1s")
        .await?;
    let outcome = match decision {
        Some(decision) => format!("approved by {}", decision.approver),
        None => "rejected: no approval in time".to_string(),
    };
    println!("  [{expense_id}] {outcome}");
    Ok(outcome)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let engine = Engine::builder()
        .sqlite_memory()
        .register(ExpenseApproval)
        .start()
        .await?;
    let approved = ExpenseApproval::trigger(&engine, "exp-1".into()).await?;
    let ignored = ExpenseApproval::trigger(&engine, "exp-2".into()).await?;

    tokio::time::sleep(Duration::from_millis(200)).await;
    println!(
        "status while waiting: {} / {}",
        approved.status().await?,
        ignored.status().await?
    );
    let sent = engine
        .send_event(
            "expense.approved",
            json!({ "expense_id": "exp-1", "approver": "carol" }),
        )
        .await?;
    println!(
        "sent expense.approved for exp-1, woke {} run(s)",
        sent.woken.len()
    );

    println!("exp-1: {}", approved.result().await?);
    println!("exp-2: {}", ignored.result().await?);
    engine.shutdown().await;
    Ok(())
}
