use durable::prelude::*;

#[workflow]
async fn pay_all(ctx: Ctx, ids: Vec<u32>) -> Result<(), Error> {
    let calls: Vec<_> = ids.iter().map(|_| ctx.now("stamp")).collect();
    drop(calls);
    Ok(())
}

fn main() {}
