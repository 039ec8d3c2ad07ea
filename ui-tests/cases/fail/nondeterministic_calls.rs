use durable::prelude::*;
use durable::Uuid;
use std::time::{Duration, Instant, SystemTime};

#[workflow]
async fn stamp(ctx: Ctx) -> Result<(), Error> {
    let _at = SystemTime::now();
    let _started = Instant::now();
    let _id = Uuid::new_v4();
    let _roll = fastrand::u8(..);
    tokio::time::sleep(Duration::from_millis(1)).await;
    std::thread::sleep(Duration::from_millis(1));
    tokio::spawn(async {});
    let _home = std::env::var("HOME");
    // Inside a step, the same calls are fine: the step's result is recorded.
    ctx.run("inside", async || Ok::<_, StepError>(SystemTime::now())).await?;
    Ok(())
}

fn main() {}
