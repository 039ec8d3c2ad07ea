use durable::prelude::*;

#[workflow]
async fn greet(ctx: Ctx) -> Result<(), Error> {
    ctx.run("turbofish", async || Ok::<&str, StepError>("hello")).await?;
    let _bound: &str = ctx.run("bound", async || Ok::<_, StepError>("hello")).await?;
    ctx.run("annotated", async || -> Result<&[u8], StepError> { Ok(&b"hello"[..]) }).await?;
    Ok(())
}

fn main() {}
