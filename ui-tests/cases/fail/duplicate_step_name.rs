use durable::prelude::*;

#[workflow]
async fn pay(ctx: Ctx) -> Result<(), Error> {
    ctx.run("charge", async || Ok::<_, StepError>(())).await?;
    ctx.sleep("charge", "1s").await?;
    Ok(())
}

fn main() {}
