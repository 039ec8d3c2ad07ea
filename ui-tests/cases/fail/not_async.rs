use durable::prelude::*;

#[workflow]
fn sync_flow(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

fn main() {}
