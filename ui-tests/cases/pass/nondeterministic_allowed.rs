//! Nondeterministic calls inside steps, and on statements marked
//! `#[durable::allow_nondeterministic]`, compile; the mark is removed.
use durable::prelude::*;
use std::time::{Instant, SystemTime};

#[workflow]
async fn timed(ctx: Ctx) -> Result<u64, Error> {
    #[durable::allow_nondeterministic] // only logged, never decides anything
    let started = Instant::now();
    let at: SystemTime = ctx.run("stamp", async || Ok::<_, StepError>(SystemTime::now())).await?;
    let id = ctx.step("draw").run(async || Ok::<_, StepError>(fastrand::u64(..))).await?;
    #[durable::allow_nondeterministic]
    ctx.progress(format!("drew {id} at {at:?} after {:?}", started.elapsed()));
    Ok(id)
}

fn main() {
    assert_eq!(Timed::STEPS.len(), 2);
}
