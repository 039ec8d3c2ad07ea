//! Named queues: a workflow's runs wait in its queue and only an engine
//! serving that queue runs them; a child sent to another queue with
//! `ctx.invoke(..).queue(..)` runs only where that queue is served, and
//! its step re-attaches to it after a restart; `.timeout(..)` on an invoke
//! bounds the child's deadline (the earliest of three) and fails the step
//! with a clear error when it passes.

use std::sync::atomic::{AtomicU32, Ordering};

use durable::prelude::*;
use durable::{RunFilter, Workflow};
use durable_tests::{wait_for_idle, wait_for_status};

const START_MS: i64 = 1_700_000_000_000;

#[workflow(name = "queues-invoice", queue = "billing")]
async fn invoice(ctx: Ctx, cents: u64) -> Result<u64, Error> {
    let _ = &ctx;
    Ok(cents + 1)
}

#[workflow(name = "queues-plain")]
async fn plain(ctx: Ctx) -> Result<u32, Error> {
    let _ = &ctx;
    Ok(7)
}

static RENDERS: AtomicU32 = AtomicU32::new(0);

#[workflow(name = "queues-render")]
async fn render(ctx: Ctx, frame: u32) -> Result<u32, Error> {
    let _ = &ctx;
    RENDERS.fetch_add(1, Ordering::SeqCst);
    Ok(frame * 10)
}

#[workflow(name = "queues-movie")]
async fn movie(ctx: Ctx, frame: u32) -> Result<u32, Error> {
    let rendered = ctx
        .invoke("render", Render, frame)
        .queue("gpu")
        .timeout("1h")
        .await?;
    Ok(rendered + 1)
}

#[tokio::test]
async fn a_run_waits_in_its_queue_for_an_engine_that_serves_it() {
    let db = test_db!();
    assert_eq!(Invoice::QUEUE, "billing");
    assert_eq!(Plain::QUEUE, "default");
    let a = db
        .builder()
        .register(Invoice)
        .register(Plain)
        .start()
        .await
        .unwrap();
    let billed = Invoice::trigger(&a, 41).await.unwrap();
    // Triggered after the invoice: a claim that could take the invoice
    // would have taken it first.
    let later = Plain::trigger(&a).await.unwrap();
    assert_eq!(later.result().await.unwrap(), 7);
    wait_for_idle(&a).await;
    let info = billed.info().await.unwrap();
    assert_eq!(
        (info.status, info.executions, info.queue.as_str()),
        (RunStatus::Pending, 0, "billing")
    );
    let waiting = a
        .list_runs(&RunFilter::new().queue("billing").unwrap())
        .await
        .unwrap();
    assert_eq!(
        waiting.runs.iter().map(|run| run.id).collect::<Vec<_>>(),
        [billed.id()]
    );
    a.shutdown().await;

    // An engine that serves "billing" (and so not "default") runs it.
    let b = db
        .builder()
        .register(Invoice)
        .queues(["billing"])
        .start()
        .await
        .unwrap();
    let billed = b.run_handle::<u64>(billed.id());
    assert_eq!(billed.result().await.unwrap(), 42);
    b.shutdown().await;
}

#[tokio::test]
async fn a_child_sent_to_a_queue_runs_only_where_it_is_served_and_its_step_reattaches() {
    let db = test_db!();
    let engine = |queues: &'static [&'static str]| {
        db.builder()
            .keep_in_memory_below("1ms")
            .register(Movie)
            .register(Render)
            .queues(queues.iter().copied())
            .start()
    };
    // A serves "default": the parent runs and waits; the child, sent to
    // "gpu", waits for a worker.
    let a = engine(&["default"]).await.unwrap();
    let parent = Movie::trigger(&a, 4).await.unwrap();
    wait_for_status(&parent, RunStatus::Suspended).await;
    wait_for_idle(&a).await;
    let children = a.run(parent.id()).children().await.unwrap();
    assert_eq!(children.len(), 1);
    let child = a.run_handle::<u32>(children[0]);
    let info = child.info().await.unwrap();
    assert_eq!(
        (info.status, info.executions, info.queue.as_str()),
        (RunStatus::Pending, 0, "gpu")
    );
    // A registers the child's version, but no live worker serves "gpu".
    let unserved = a.unserved_runs().await.unwrap();
    assert_eq!(
        unserved
            .iter()
            .map(|group| (group.workflow.as_str(), group.queue.as_str(), group.runs))
            .collect::<Vec<_>>(),
        [("queues-render", "gpu", 1)]
    );
    a.shutdown().await;

    // B serves "gpu" only: it runs the child, not the parent it wakes.
    let renders = RENDERS.load(Ordering::SeqCst);
    let b = engine(&["gpu"]).await.unwrap();
    let child = b.run_handle::<u32>(children[0]);
    assert_eq!(child.result().await.unwrap(), 40);
    wait_for_idle(&b).await;
    assert_eq!(
        b.run_handle::<u32>(parent.id())
            .info()
            .await
            .unwrap()
            .status,
        RunStatus::Suspended
    );
    b.shutdown().await;

    // C serves "default" again: the parent's replay re-attaches to the
    // child it started (no second child), whose outcome it reads.
    let c = engine(&["default"]).await.unwrap();
    let parent = c.run_handle::<u32>(parent.id());
    assert_eq!(parent.result().await.unwrap(), 41);
    assert_eq!(c.run(parent.id()).children().await.unwrap(), children);
    assert!(RENDERS.load(Ordering::SeqCst) - renders >= 1);
    c.shutdown().await;
}

/// On PostgreSQL, two live engines on one database split the work by
/// queue: the child that the "default" engine's parent sends to "gpu" is
/// run by the "gpu" engine, which registers no parent, and its end wakes
/// the parent on the other engine.
#[tokio::test]
async fn two_live_engines_split_a_parent_and_its_child_by_queue() {
    let db = test_db!();
    if !matches!(db, durable_tests::TestDb::Postgres { .. }) {
        // One engine at a time holds a SQLite file: the test above shows
        // the same with engines one after the other.
        return;
    }
    let cpu = db
        .builder()
        .register(Movie)
        .register(Render)
        .start()
        .await
        .unwrap();
    let gpu = db
        .builder()
        .register(Render)
        .queues(["gpu"])
        .start()
        .await
        .unwrap();
    let workers = cpu.workers().await.unwrap();
    let mut served: Vec<Vec<String>> = workers.iter().map(|w| w.queues.clone()).collect();
    served.sort();
    assert_eq!(served, [vec!["default".to_owned()], vec!["gpu".to_owned()]]);
    let parent = Movie::trigger(&cpu, 5).await.unwrap();
    assert_eq!(parent.result().await.unwrap(), 51);
    assert_eq!(cpu.unserved_runs().await.unwrap(), []);
    gpu.shutdown().await;
    // With the "gpu" engine gone, a new child waits for a worker, and the
    // read side says which queue nobody serves.
    let parent = Movie::trigger(&cpu, 6).await.unwrap();
    wait_for_status(&parent, RunStatus::Suspended).await;
    let unserved = cpu.unserved_runs().await.unwrap();
    assert_eq!(
        unserved
            .iter()
            .map(|group| (group.workflow.as_str(), group.queue.as_str(), group.runs))
            .collect::<Vec<_>>(),
        [("queues-render", "gpu", 1)]
    );
    cpu.shutdown().await;
}

#[workflow(name = "queues-slow", timeout = "1d")]
async fn slow(ctx: Ctx) -> Result<(), Error> {
    ctx.sleep("long", "1h").await
}

#[workflow(name = "queues-impatient", timeout = "1h")]
async fn impatient(ctx: Ctx) -> Result<String, Error> {
    match ctx.invoke("slow", Slow, ()).timeout("300ms").await {
        Ok(()) => Ok("finished".into()),
        Err(error) => Ok(error.to_string()),
    }
}

#[tokio::test]
async fn an_invokes_timeout_ends_the_child_and_fails_the_step_saying_so() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(Impatient)
        .register(Slow)
        .start()
        .await
        .unwrap();
    let parent = Impatient::trigger(&engine).await.unwrap();
    let message = parent.result().await.unwrap();
    let children = engine.run(parent.id()).children().await.unwrap();
    let child = engine.run_handle::<()>(children[0]).info().await.unwrap();
    assert_eq!(child.status, RunStatus::TimedOut);
    assert_eq!(
        message,
        format!(
            "step `slow`: run {} ended timed_out: the step's `.timeout` of 300 ms passed before the child ended",
            children[0]
        )
    );
    engine.shutdown().await;
}

#[workflow(name = "queues-bounded", timeout = "1h")]
async fn bounded(ctx: Ctx) -> Result<(), Error> {
    // Shorter than both the child's own day and the parent's hour.
    ctx.start_child("short", Slow, ()).timeout("10m").await?;
    // Longer than the parent's remaining hour: the parent's deadline wins
    // (not a literal, which the macro refuses as longer than the timeout).
    let two_hours = std::time::Duration::from_secs(2 * 3600);
    ctx.start_child("long", Slow, ()).timeout(two_hours).await?;
    // No timeout: the shorter of the child's day and the parent's hour.
    ctx.start_child("plain", Slow, ()).await?;
    Ok(())
}

#[workflow(name = "queues-own-timeout", timeout = "1m")]
async fn own_timeout(ctx: Ctx) -> Result<(), Error> {
    ctx.sleep("long", "50s").await
}

#[workflow(name = "queues-bounded-by-child", timeout = "1h")]
async fn bounded_by_child(ctx: Ctx) -> Result<(), Error> {
    // The child's own minute is the earliest of the three.
    ctx.start_child("own", OwnTimeout, ())
        .timeout("10m")
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_childs_deadline_is_the_earliest_of_its_own_the_steps_and_the_parents() {
    let db = test_db!();
    let (engine, _clock) = db
        .start_on_manual_clock(START_MS, |builder| {
            builder
                .register(Bounded)
                .register(BoundedByChild)
                .register(Slow)
                .register(OwnTimeout)
        })
        .await;
    let deadlines = async |parent: RunId| {
        let mut deadlines = Vec::new();
        for child in engine.run(parent).children().await.unwrap() {
            let info = engine.run_handle::<()>(child).info().await.unwrap();
            deadlines.push(info.deadline_at.unwrap() - START_MS);
        }
        deadlines
    };
    let run = Bounded::trigger(&engine).await.unwrap();
    run.result().await.unwrap();
    let (minute, hour) = (60_000, 3_600_000);
    assert_eq!(deadlines(run.id()).await, [10 * minute, hour, hour]);
    let run = BoundedByChild::trigger(&engine).await.unwrap();
    run.result().await.unwrap();
    assert_eq!(deadlines(run.id()).await, [minute]);
    engine.shutdown().await;
}

#[tokio::test]
async fn queue_names_are_checked_where_they_are_given() {
    let db = test_db!();
    let refused = db
        .builder()
        .register(Plain)
        .queues(["gpu large"])
        .start()
        .await
        .unwrap_err();
    assert!(matches!(&refused, Error::InvalidQueue(_)), "{refused:?}");
    assert!(
        refused
            .to_string()
            .contains("invalid queue name \"gpu large\"")
    );
    let none = db
        .builder()
        .register(Plain)
        .queues(Vec::<String>::new())
        .start()
        .await
        .unwrap_err();
    assert!(matches!(none, Error::Config(_)), "{none:?}");
    assert!(RunFilter::new().queue("a b").is_err());
}
