use durable::prelude::*;

#[workflow]
async fn mixed(ctx: Ctx) -> Result<(), Error> {
    ctx.send_event("notify", "order.shipped", json!({})).await?;
    let _: Option<u32> = ctx.wait_for_event("notify", "order.paid").await?;
    Ok(())
}

fn main() {}
