use durable::prelude::*;

#[workflow]
async fn no_ctx() -> Result<(), Error> {
    Ok(())
}

fn main() {}
