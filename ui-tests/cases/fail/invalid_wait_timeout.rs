use durable::prelude::*;

#[workflow]
async fn approval(ctx: Ctx) -> Result<(), Error> {
    let _: Option<bool> = ctx.wait_for_event("approved", "approval").timeout("2 days").lookback("1hour").await?;
    Ok(())
}

fn main() {}
