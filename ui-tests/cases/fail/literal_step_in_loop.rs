use durable::prelude::*;

#[workflow]
async fn pay_all(ctx: Ctx, ids: Vec<u32>) -> Result<(), Error> {
    for id in ids {
        ctx.run("charge", async || Ok::<_, StepError>(id)).await?;
    }
    Ok(())
}

fn main() {}
