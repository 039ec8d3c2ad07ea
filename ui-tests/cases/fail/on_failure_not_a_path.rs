use durable::prelude::*;

#[workflow(on_failure = "notify")]
async fn hooked(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

fn main() {}
