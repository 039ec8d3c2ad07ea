//! Queues: `Workflow::QUEUE` from `queue = ".."` (default "default"), and
//! the literal `.queue(..)` and `.timeout(..)` of a child step in its
//! manifest.
use durable::prelude::*;
use durable::StepKind;

#[workflow(queue = "gpu.large-1")]
async fn render(ctx: Ctx, frame: u32) -> Result<u32, Error> {
    let _ = ctx;
    Ok(frame)
}

#[workflow]
async fn movie(ctx: Ctx) -> Result<u32, Error> {
    let first = ctx.invoke("first", Render, 1).await?;
    let second = ctx
        .invoke("second", Render, 2)
        .queue("gpu-small")
        .timeout("10m")
        .await?;
    let _id = ctx.start_child("third", Render, 3).queue("gpu").await?;
    Ok(first + second)
}

fn main() {
    assert_eq!(Render::QUEUE, "gpu.large-1");
    assert_eq!(Movie::QUEUE, "default");
    let steps: Vec<_> = Movie::STEPS
        .iter()
        .map(|s| (s.name, s.kind, s.options))
        .collect();
    assert_eq!(
        steps,
        [
            ("first", StepKind::Invoke, &[("workflow", "Render")][..]),
            (
                "second",
                StepKind::Invoke,
                &[("workflow", "Render"), ("queue", "gpu-small"), ("timeout", "10m")][..]
            ),
            (
                "third",
                StepKind::StartChild,
                &[("workflow", "Render"), ("queue", "gpu")][..]
            ),
        ]
    );
}
