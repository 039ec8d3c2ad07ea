use durable::prelude::*;

#[workflow(timeout = "1 day")]
async fn messy(ctx: Ctx) -> Result<(), Error> {
    ctx.run("a", async || Ok::<_, StepError>(())).await?;
    ctx.run("a", async || Ok::<_, StepError>(())).await?;
    ctx.sleep("b", "forever").await?;
    Ok(())
}

fn main() {}
