use durable::prelude::*;

#[workflow]
async fn wrong_order(id: u32, ctx: Ctx) -> Result<(), Error> {
    let _ = (id, ctx);
    Ok(())
}

fn main() {}
