use durable::prelude::*;

#[workflow(timeout = "24 hours")]
async fn slow(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

fn main() {}
