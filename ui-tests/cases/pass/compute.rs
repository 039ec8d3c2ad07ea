//! Step bodies that cannot fail return their output itself, through
//! `ctx.compute` and `.compute` on a configured step: no error type to name.

use durable::prelude::*;

#[workflow(name = "compute")]
async fn totals(ctx: Ctx, items: Vec<u64>) -> Result<(u64, String), Error> {
    let total: u64 = ctx.compute("total", async || items.iter().sum()).await?;
    let label = ctx
        .step("label")
        .timeout("5s")
        .input(&total)
        .compute(async || format!("{total} in all"))
        .await?;
    let kept: u64 = ctx
        .step("kept")
        .compensate(|_kept: u64| async move { Ok::<_, StepError>(()) })
        .compute(async || total)
        .await?;
    Ok((kept, label))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let engine = Engine::builder().sqlite_memory().register(Totals).start().await?;
    let run = Totals::trigger(&engine, vec![1, 2, 3]).await?;
    assert_eq!(run.result().await?, (6, "6 in all".to_owned()));
    let steps = run.steps().await?;
    assert_eq!(steps.len(), 3);
    assert!(steps.iter().all(|step| step.kind == durable::StepKind::Run));
    Ok(())
}
