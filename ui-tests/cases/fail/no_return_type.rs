use durable::prelude::*;

#[workflow]
async fn nothing(ctx: Ctx) {
    let _ = ctx;
}

fn main() {}
