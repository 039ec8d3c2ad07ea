use durable::prelude::*;

#[workflow]
async fn call(ctx: Ctx) -> Result<(), Error> {
    ctx.step("call")
        .retry(Retry::exponential(3, "1s").max_delay("1m30"))
        .run(async || Ok::<_, StepError>(()))
        .await?;
    Ok(())
}

fn main() {}
