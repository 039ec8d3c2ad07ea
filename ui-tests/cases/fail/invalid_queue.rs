use durable::prelude::*;

#[workflow(queue = "gpu large")]
async fn spaced(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

#[workflow(queue = "")]
async fn empty(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

#[workflow(queue = 2)]
async fn numbered(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

fn main() {}
