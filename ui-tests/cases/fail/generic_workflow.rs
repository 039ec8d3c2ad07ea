use durable::prelude::*;

#[workflow]
async fn generic<T: Serialize>(ctx: Ctx, value: T) -> Result<(), Error> {
    let _ = (ctx, value);
    Ok(())
}

fn main() {}
