use durable::prelude::*;

#[workflow(timeout = "1h")]
async fn nap(ctx: Ctx) -> Result<(), Error> {
    ctx.sleep("exact", "60m").await?;
    ctx.sleep("long", "1d").await?;
    ctx.step("slow").timeout("2h").run(async || Ok::<_, StepError>(())).await?;
    Ok(())
}

fn main() {}
