use durable::prelude::*;

#[workflow]
async fn pay(ctx: Ctx, step: String) -> Result<(), Error> {
    ctx.run(step, async || Ok::<_, StepError>(())).await?;
    Ok(())
}

fn main() {}
