use durable::prelude::*;

#[workflow(cron = "0 25 * * mon-fri", overlap = "queue")]
async fn report(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

fn main() {}
