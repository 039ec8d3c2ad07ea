use durable::prelude::*;
use durable::FanOut;

#[workflow]
async fn nested(ctx: Ctx, orders: Vec<Vec<u32>>) -> Result<(), Error> {
    ctx.map("orders", orders, FanOut::new(), async |ctx, items| {
        for item in items {
            ctx.run("line", async || Ok::<_, StepError>(item)).await?;
        }
        Ok(())
    })
    .await?;
    Ok(())
}

fn main() {}
