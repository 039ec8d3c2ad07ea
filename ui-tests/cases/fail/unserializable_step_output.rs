use durable::prelude::*;

struct Connection;

#[workflow]
async fn connect(ctx: Ctx) -> Result<(), Error> {
    let _connection: Connection = ctx.run("connect", async || Ok::<_, StepError>(Connection)).await?;
    Ok(())
}

fn main() {}
