use durable::prelude::*;

#[workflow]
async fn ship(ctx: Ctx, express: bool) -> Result<(), Error> {
    if express {
        ctx.run("ship", async || Ok::<_, StepError>(())).await?;
    }
    ctx.run("ship", async || Ok::<_, StepError>(())).await?;
    Ok(())
}

fn main() {}
