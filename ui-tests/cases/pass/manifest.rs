//! The generated manifest: names, kinds, keys, literal options, lines.
use durable::prelude::*;
use durable::StepKind;

#[workflow(name = "manifest", timeout = "2d")]
async fn manifest(ctx: Ctx, ids: Vec<u32>) -> Result<(), Error> {
    ctx.run("first", async || Ok::<_, StepError>(())).await?;
    for id in ids {
        ctx.run(("each", id), async || Ok::<_, StepError>(())).await?;
    }
    ctx.step("timed").timeout("30s").run(async || Ok::<_, StepError>(())).await?;
    ctx.sleep("nap", "5m").await?;
    Ok(())
}

fn main() {
    assert_eq!(Manifest::NAME, "manifest");
    assert_eq!(Manifest::TIMEOUT_MS, Some(2 * 24 * 3_600_000));
    let steps: Vec<_> = Manifest::STEPS
        .iter()
        .map(|s| (s.name, s.kind, s.keyed, s.options, s.line))
        .collect();
    assert_eq!(
        steps,
        [
            ("first", StepKind::Run, false, &[][..], 7),
            ("each", StepKind::Run, true, &[][..], 9),
            ("timed", StepKind::Run, false, &[("timeout", "30s")][..], 11),
            ("nap", StepKind::Sleep, false, &[("duration", "5m")][..], 12),
        ]
    );
    let schema = Manifest::input_schema();
    assert_eq!(schema["type"], "array");
}
