//! A public workflow in a module, triggered from outside it.
mod flows {
    use durable::prelude::*;

    /// Documented workflows keep their docs.
    #[workflow]
    pub async fn greet(ctx: Ctx, name: String) -> Result<String, Error> {
        ctx.run("compose", async || Ok::<_, StepError>(format!("hi {name}"))).await
    }
}

#[tokio::main]
async fn main() -> Result<(), durable::Error> {
    let engine = durable::Engine::builder().sqlite_memory().register(flows::Greet).start().await?;
    let run = flows::Greet::trigger(&engine, "ada".into()).await?;
    assert_eq!(run.result().await?, "hi ada");
    // The function itself stays callable, e.g. from unit tests.
    let _callable = flows::greet;
    Ok(())
}
