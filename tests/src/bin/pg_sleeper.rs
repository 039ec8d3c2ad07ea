//! A worker process of the take-over test: executes runs of a one-step
//! workflow whose step takes a second, on a shared PostgreSQL schema, until
//! it is killed. With a count of runs to trigger, it triggers them first, so
//! a backlog of pending runs builds up behind its few slots.
//!
//! ```text
//! pg_sleeper <url> <schema> <runs-to-trigger> <lease> <concurrency>
//! ```

use std::time::Duration;

use durable::prelude::*;

#[workflow(name = "sleeper")]
async fn sleeper(ctx: Ctx, run: u32) -> Result<u32, Error> {
    let run = ctx
        .run("nap", async || {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, StepError>(run)
        })
        .await?;
    Ok(run)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, schema, runs, lease, concurrency] = args.as_slice() else {
        anyhow::bail!("usage: pg_sleeper <url> <schema> <runs-to-trigger> <lease> <concurrency>");
    };
    let runs: u32 = runs.parse()?;
    let engine = Engine::builder()
        .postgres(url)
        .postgres_schema(schema)
        .lease(lease.as_str())
        .concurrency(concurrency.parse()?)
        .register(Sleeper)
        .start()
        .await?;
    // Trigger concurrently, so the triggers share group commits.
    let triggers: Vec<_> = (0..runs)
        .map(|run| {
            let engine = engine.clone();
            tokio::spawn(async move { Sleeper::trigger(&engine, run).await.map(|_| ()) })
        })
        .collect();
    for trigger in triggers {
        trigger.await??;
    }
    // Runs until killed: the test ends it.
    std::future::pending::<()>().await;
    Ok(())
}
