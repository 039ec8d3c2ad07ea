use durable::prelude::*;

#[workflow]
async fn ship(ctx: Ctx) -> Result<(), Error> {
    // A group may not take a scope the runtime records compensations under.
    ctx.group("compensate", async |ctx: Ctx| {
        ctx.run("pack", async || Ok::<_, StepError>(())).await
    })
    .await?;
    // Inner names are unique within their group...
    ctx.group("gift", async |ctx: Ctx| {
        ctx.run("wrap", async || Ok::<_, StepError>(())).await?;
        ctx.run("wrap", async || Ok::<_, StepError>(())).await
    })
    .await?;
    // ...and the group's own name is a step name of the body.
    ctx.run("gift", async || Ok::<_, StepError>(())).await?;
    Ok(())
}

fn main() {}
