use durable::prelude::*;

#[workflow]
async fn call(ctx: Ctx) -> Result<(), Error> {
    ctx.step("call").timeout("30").run(async || Ok::<_, StepError>(())).await?;
    Ok(())
}

fn main() {}
