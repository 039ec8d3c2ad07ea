use durable::prelude::*;

#[workflow]
async fn reserve(ctx: Ctx, cents: u64) -> Result<u64, Error> {
    // `Ok(..)` alone leaves the body's error type open.
    let held: u64 = ctx.run("hold", async || Ok(cents)).await?;
    let charged: u64 = ctx
        .step("charge")
        .compensate(|_charged: u64| async move { Ok(()) })
        .run(async || Ok::<_, StepError>(held))
        .await?;
    Ok(charged)
}

fn main() {}
