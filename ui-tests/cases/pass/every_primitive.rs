//! Every step primitive in one workflow, and the manifest the macro builds
//! for it (kinds, events, child workflow, fan-out parents).
use durable::prelude::*;
use durable::{FanOut, Failure, LogLevel, StepKind, branch};

#[derive(Serialize, Deserialize)]
struct Scan {
    location: String,
}

#[workflow]
async fn child(ctx: Ctx, value: u32) -> Result<u32, Error> {
    ctx.run("double", async || Ok::<_, StepError>(value * 2)).await
}

async fn on_failure(ctx: Ctx, failure: Failure) -> Result<(), Error> {
    let _ = (ctx, failure);
    Ok(())
}

#[workflow(on_failure = on_failure)]
async fn everything(ctx: Ctx, ids: Vec<u32>) -> Result<(), Error> {
    let _scan: Option<Scan> = ctx
        .wait_for_event("scanned", "shipment.scanned")
        .matching(json!({ "orderId": "o-1" }))
        .timeout("7d")
        .lookback("10m")
        .await?;
    let _approved: Option<bool> = ctx.listen("approval", "approve").timeout("1h").await?;
    ctx.send_event("announce", "order.shipped", json!({ "orderId": "o-1" })).await?;
    let _doubled: u32 = ctx.invoke("child", Child, 21).await?;
    let started = ctx.start_child("background", Child, 1).await?;
    let _later: u32 = ctx.wait_for_run("background-done", started).await?;
    ctx.map("each", ids.clone(), FanOut::new().concurrency(4), async |ctx, id| {
        ctx.run("charge", async || Ok::<_, StepError>(id)).await
    })
    .await?;
    ctx.for_each("notify-all", ids.clone(), FanOut::new().all_settled(), async |ctx, id| {
        ctx.run("notify", async || Ok::<_, StepError>(id)).await.map(|_| ())
    })
    .await;
    ctx.batch("chunks", ids, 10, FanOut::new(), async |ctx, chunk| {
        ctx.run("sum", async || Ok::<_, StepError>(chunk.iter().sum::<u32>())).await
    })
    .await?;
    ctx.parallel(
        "both",
        FanOut::new(),
        vec![
            branch(async |ctx: Ctx| ctx.run("left", async || Ok::<_, StepError>(1)).await),
            branch(async |ctx: Ctx| ctx.run("right", async || Ok::<_, StepError>(2)).await),
        ],
    )
    .await?;
    ctx.step("refundable")
        .compensate(|cents: u64| async move {
            let _refunded = cents;
            Ok::<_, StepError>(())
        })
        .run(async || Ok::<_, StepError>(100u64))
        .await?;
    ctx.progress("done");
    ctx.log(LogLevel::Info, "bye", ());
    Ok(())
}

fn main() {
    assert!(<Everything as Workflow>::HAS_ON_FAILURE);
    let steps: Vec<_> = Everything::STEPS
        .iter()
        .map(|s| (s.name, s.kind, s.parent, s.options))
        .collect();
    assert_eq!(
        steps,
        [
            ("scanned", StepKind::WaitForEvent, None, &[("event", "shipment.scanned"), ("timeout", "7d"), ("lookback", "10m")][..]),
            ("approval", StepKind::Listen, None, &[("event", "approve"), ("timeout", "1h")][..]),
            ("announce", StepKind::SendEvent, None, &[("event", "order.shipped")][..]),
            ("child", StepKind::Invoke, None, &[("workflow", "Child")][..]),
            ("background", StepKind::StartChild, None, &[("workflow", "Child")][..]),
            ("background-done", StepKind::WaitForRun, None, &[][..]),
            ("each", StepKind::Map, None, &[][..]),
            ("charge", StepKind::Run, Some("each"), &[][..]),
            ("notify-all", StepKind::ForEach, None, &[][..]),
            ("notify", StepKind::Run, Some("notify-all"), &[][..]),
            ("chunks", StepKind::Batch, None, &[][..]),
            ("sum", StepKind::Run, Some("chunks"), &[][..]),
            ("both", StepKind::Parallel, None, &[][..]),
            ("left", StepKind::Run, Some("both"), &[][..]),
            ("right", StepKind::Run, Some("both"), &[][..]),
            ("refundable", StepKind::Run, None, &[][..]),
        ]
    );
}
