use durable::prelude::*;

#[workflow]
async fn slashed(ctx: Ctx) -> Result<(), Error> {
    ctx.run("charge/card", async || Ok::<_, StepError>(())).await?;
    Ok(())
}

fn main() {}
