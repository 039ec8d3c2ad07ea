use durable::prelude::*;

// A schedule starts a run with no input, an event with its data: one
// workflow takes one of them.
#[workflow(cron = "0 9 * * 1-5", on_event = "report.requested")]
async fn report(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

fn main() {}
