use durable::prelude::*;

#[workflow]
async fn child(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

#[workflow(timeout = "1h")]
async fn parent(ctx: Ctx) -> Result<(), Error> {
    ctx.invoke("bad-queue", Child, ()).queue("gpu/large").await?;
    ctx.start_child("bad-timeout", Child, ()).timeout("5 minutes").await?;
    ctx.invoke("too-long", Child, ()).queue("gpu").timeout("2h").await?;
    Ok(())
}

fn main() {}
