use durable::prelude::*;

#[workflow(cron = "0 9 * * 1-5", timezone = "Europe/Berlin")]
async fn report(ctx: Ctx, recipient: String) -> Result<(), Error> {
    let _ = (ctx, recipient);
    Ok(())
}

#[workflow(timezone = "Europe/Berlin")]
async fn not_cron(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

fn main() {}
