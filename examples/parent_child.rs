//! Child workflows: a parent invokes a child and uses its output; then a
//! second parent is cancelled while its child sleeps, and the child is
//! cancelled with it.
//!
//! ```text
//! cargo run --example parent_child
//! ```

use std::time::Duration;

use durable::prelude::*;

#[workflow(name = "pack-box")]
async fn pack_box(ctx: Ctx, items: u32, wait: bool) -> Result<String, Error> {
    if wait {
        println!("  [child] waiting for the courier (1h)");
        ctx.sleep("courier", "1h").await?;
    }
    ctx.run("pack", async || {
        println!("  [child] packing {items} items");
        Ok::<_, StepError>(format!("box with {items} items"))
    })
    .await
}

#[workflow(name = "ship-order", timeout = "1d")]
async fn ship_order(ctx: Ctx, items: u32, wait: bool) -> Result<String, Error> {
    let packed = ctx
        .invoke("pack", PackBox, PackBoxInput { items, wait })
        .await?;
    println!("  [parent] child returned: {packed}");
    Ok(format!("shipped {packed}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let engine = Engine::builder()
        .sqlite_memory()
        .register(ShipOrder)
        .register(PackBox)
        .start()
        .await?;

    let run = ShipOrder::trigger(&engine, 3, false).await?;
    println!("parent 1: {}", run.result().await?);

    let run = ShipOrder::trigger(&engine, 5, true).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let child_step = run.steps().await?.into_iter().find(|s| s.name == "pack");
    let child_id: RunId = child_step
        .and_then(|step| step.input)
        .and_then(|id| id.as_str().map(str::to_owned))
        .ok_or_else(|| anyhow::anyhow!("the parent has not started its child"))?
        .parse()?;
    let child = engine.run_handle::<String>(child_id);
    println!(
        "parent 2 is {}, its child is {}",
        run.status().await?,
        child.status().await?
    );
    run.cancel().await?;
    println!(
        "after cancelling the parent: parent {}, child {}",
        run.status().await?,
        child.status().await?
    );
    engine.shutdown().await;
    Ok(())
}
