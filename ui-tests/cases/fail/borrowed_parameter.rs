use durable::prelude::*;

#[workflow]
async fn borrowed(ctx: Ctx, name: &str) -> Result<(), Error> {
    let _ = (ctx, name);
    Ok(())
}

fn main() {}
