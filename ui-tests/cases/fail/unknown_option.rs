use durable::prelude::*;

#[workflow(nmae = "typo", timeout = 30)]
async fn typo(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

fn main() {}
