use durable::prelude::*;

#[workflow]
async fn nap(ctx: Ctx) -> Result<(), Error> {
    ctx.sleep("nap", "5min").await?;
    Ok(())
}

fn main() {}
