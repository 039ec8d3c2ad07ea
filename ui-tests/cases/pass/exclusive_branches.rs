//! A step name may be reused in the arms of one `if` or `match`: only one
//! runs. The manifest lists every use, each with its line.
use durable::prelude::*;

#[workflow]
async fn ship(ctx: Ctx, express: bool, tier: u8) -> Result<(), Error> {
    if express {
        ctx.run("ship", async || Ok::<_, StepError>(1)).await?;
    } else {
        ctx.run("ship", async || Ok::<_, StepError>(2)).await?;
    }
    match tier {
        0 => ctx.sleep("settle", "1s").await?,
        _ => ctx.run("settle", async || Ok::<_, StepError>(())).await?,
    }
    Ok(())
}

fn main() {
    let steps: Vec<_> = Ship::STEPS.iter().map(|s| (s.name, s.line)).collect();
    assert_eq!(steps, [("ship", 8), ("ship", 10), ("settle", 13), ("settle", 14)]);
}
