//! Every supported shape of `#[workflow]`, triggered and run to the end.
use std::time::{Duration, SystemTime};

use durable::prelude::*;

type Result<T> = std::result::Result<T, Error>;

#[derive(Serialize, Deserialize, JsonSchema)]
struct Order {
    id: String,
}

#[workflow]
async fn no_input(ctx: Ctx) -> Result<u32> {
    ctx.run("one", async || Ok::<_, StepError>(1)).await
}

#[workflow(name = "single-input", timeout = "1h30m")]
async fn single_input(ctx: Ctx, order: Order) -> std::result::Result<String, Error> {
    ctx.run("id", async || Ok::<_, StepError>(order.id.clone())).await
}

#[workflow]
pub async fn several_inputs(ctx: Ctx, name: String, times: u32, items: Vec<u64>) -> Result<u64> {
    let mut total = 0;
    for item in items {
        total += ctx.run(("add", item), async || Ok::<_, StepError>(item)).await?;
    }
    let step_total: u64 = ctx
        .step("scale")
        .retry(Retry::exponential(3, "10ms").max_delay("1s"))
        .timeout("30s")
        .input(&times)
        .run_with_attempt(async |_attempt| Ok::<_, StepError>(total * u64::from(times)))
        .await?;
    ctx.sleep("nap", "1ms").await?;
    ctx.sleep("nap-duration", Duration::from_millis(1)).await?;
    // The recorded time, not `SystemTime::now()`: the macro rejects reading
    // the clock outside a step.
    let started: SystemTime = ctx.now("started").await?;
    ctx.sleep_until("until", started).await?;
    let _id: durable::Uuid = ctx.uuid("id").await?;
    let _ = name;
    Ok(step_total)
}

#[workflow]
async fn concurrent_steps(ctx: Ctx) -> Result<u32> {
    let (a, b) = tokio::join!(
        ctx.run("left", async || Ok::<_, StepError>(1u32)),
        ctx.run("right", async || Ok::<_, StepError>(2u32)),
    );
    Ok(a? + b?)
}

#[tokio::main]
async fn main() -> Result<()> {
    let engine = Engine::builder()
        .sqlite_memory()
        .register(NoInput)
        .register(SingleInput)
        .register(SeveralInputs)
        .register(ConcurrentSteps)
        .start()
        .await?;
    assert_eq!(NoInput::trigger(&engine).await?.result().await?, 1);
    let order = Order { id: "o-1".into() };
    assert_eq!(SingleInput::trigger(&engine, order).await?.result().await?, "o-1");
    let run = SeveralInputs::trigger(&engine, "ada".into(), 2, vec![1, 2, 3]).await?;
    assert_eq!(run.result().await?, 12);
    let _input = SeveralInputsInput { name: "x".into(), times: 1, items: vec![] };
    assert_eq!(ConcurrentSteps::trigger(&engine).await?.result().await?, 3);
    Ok(())
}
