use durable::prelude::*;

#[workflow]
async fn count(ctx: Ctx) -> u32 {
    let _ = ctx;
    1
}

fn main() {}
