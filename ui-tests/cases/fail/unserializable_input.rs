use durable::prelude::*;

struct Secret;

#[workflow]
async fn keep(ctx: Ctx, secret: Secret) -> Result<(), Error> {
    let _ = (ctx, secret);
    Ok(())
}

fn main() {}
