//! durable's tracing spans and events, printed by `tracing-subscriber`: a
//! run span per execution, a step span per attempt (a retry shows as a
//! second attempt), and the retry, suspend and resume events. A subscriber
//! such as `tracing-opentelemetry` exports the same spans as traces.
//!
//! ```text
//! cargo run --example tracing
//! ```

use durable::prelude::*;
use tracing_subscriber::fmt::format::FmtSpan;

#[workflow(name = "send-invoice")]
async fn send_invoice(ctx: Ctx, customer: String) -> Result<String, Error> {
    let invoice: String = ctx
        .run("render", async || {
            Ok::<_, StepError>(format!("invoice for {customer}"))
        })
        .await?;
    ctx.step("email")
        .retry(Retry::fixed(2, "50ms"))
        .run_with_attempt(async |attempt| {
            if attempt == 1 {
                return Err(StepError::retryable("the mail server said try again"));
            }
            Ok(())
        })
        .await?;
    // Long enough to leave memory: the run suspends, then resumes.
    ctx.sleep("settle", "200ms").await?;
    Ok(invoice)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_span_events(FmtSpan::CLOSE)
        .init();
    let engine = Engine::builder()
        .sqlite_memory()
        .keep_in_memory_below("100ms")
        .register(SendInvoice)
        .start()
        .await?;
    let run = SendInvoice::trigger(&engine, "ada".to_owned()).await?;
    println!("result: {}", run.result().await?);
    engine.shutdown().await;
    Ok(())
}
