//! Cancelled by an event (`#[workflow(cancel_on(..))]`): a matching event
//! cancels a run that sleeps, waits for an event or is mid-step, with its
//! children, whoever sends it (from outside, from a run, from another
//! engine); an event of another value cancels nothing; the runs' error
//! names the event, and the event's record lists them; the index holds
//! only unfinished runs.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use durable::EventFilter;
use durable::prelude::*;
use durable_tests::{TestDb, wait_for_idle, wait_for_status};

/// The orders whose run of [`order_flow`] started its step `block` (tests
/// run at once: each waits for its own order).
static BLOCK_STARTED: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Set if a step `block` ever returned: a cancelled run's must not.
static BLOCK_FINISHED: AtomicBool = AtomicBool::new(false);

/// Sleeps, waits for an event or is stuck in a step, as `mode` says.
#[workflow(cancel_on(event = "order.cancelled", match = "order_id"))]
async fn order_flow(ctx: Ctx, order_id: String, mode: String) -> Result<(), Error> {
    match mode.as_str() {
        "sleep" => ctx.sleep("nap", "1h").await,
        "wait" => {
            let _: Option<serde_json::Value> = ctx.wait_for_event("paid", "order.paid").await?;
            Ok(())
        }
        _ => {
            ctx.run("block", async || {
                BLOCK_STARTED.lock().unwrap().push(order_id.clone());
                tokio::time::sleep(Duration::from_secs(3600)).await;
                BLOCK_FINISHED.store(true, Ordering::SeqCst);
                Ok::<(), StepError>(())
            })
            .await
        }
    }
}

/// Waits (up to 10 s) until the step `block` of the run of `order` started.
async fn until_blocked(order: &str) {
    for _ in 0..5_000 {
        if BLOCK_STARTED
            .lock()
            .unwrap()
            .iter()
            .any(|started| started == order)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("the step `block` never started");
}

/// The error a cancelled run's result gives, which must name the event
/// (within 30 s: a run left alone would sleep for an hour).
async fn cancel_reason(run: &RunHandle<()>) -> String {
    let result = tokio::time::timeout(Duration::from_secs(30), run.result())
        .await
        .expect("the run ended");
    match result {
        Err(Error::RunCancelled { reason, .. }) => reason,
        other => panic!("expected the run cancelled, got {other:?}"),
    }
}

#[tokio::test]
async fn a_matching_event_cancels_sleeping_waiting_and_running_runs_only() {
    let db = test_db!();
    let engine = db.builder().register(OrderFlow).start().await.unwrap();
    let sleeping = OrderFlow::trigger(&engine, "o-1".into(), "sleep".into())
        .await
        .unwrap();
    let waiting = OrderFlow::trigger(&engine, "o-1".into(), "wait".into())
        .await
        .unwrap();
    let other = OrderFlow::trigger(&engine, "o-2".into(), "sleep".into())
        .await
        .unwrap();
    wait_for_status(&sleeping, RunStatus::Suspended).await;
    wait_for_status(&waiting, RunStatus::Suspended).await;
    wait_for_status(&other, RunStatus::Suspended).await;
    let running = OrderFlow::trigger(&engine, "o-1".into(), "step".into())
        .await
        .unwrap();
    until_blocked("o-1").await;

    // Another value at the path, or none, cancels nothing.
    let unrelated = engine
        .send_event("order.cancelled", json!({ "order_id": "o-3" }))
        .await
        .unwrap();
    assert!(unrelated.cancelled.is_empty());
    let untyped = engine
        .send_event("order.cancelled", json!({ "order_id": 1 }))
        .await
        .unwrap();
    assert!(untyped.cancelled.is_empty());
    assert_eq!(running.status().await.unwrap(), RunStatus::Running);

    let sent = engine
        .send_event(
            "order.cancelled",
            json!({ "order_id": "o-1", "why": "customer" }),
        )
        .await
        .unwrap();
    let mut cancelled = sent.cancelled.clone();
    cancelled.sort();
    let mut expected = vec![sleeping.id(), waiting.id(), running.id()];
    expected.sort();
    assert_eq!(cancelled, expected);
    let named = format!("cancelled by event \"order.cancelled\" (id {})", sent.id);
    for run in [&sleeping, &waiting, &running] {
        assert_eq!(cancel_reason(run).await, named);
        assert_eq!(run.info().await.unwrap().error.as_deref(), Some(&*named));
    }
    // The step in progress was stopped, not left to finish.
    wait_for_idle(&engine).await;
    assert!(!BLOCK_FINISHED.load(Ordering::SeqCst));
    assert_eq!(other.status().await.unwrap(), RunStatus::Suspended);
    // The cancelled runs left the index; the other one is in it.
    assert_eq!(
        db.count("SELECT COUNT(*) FROM wf_cancel_on WHERE live")
            .await,
        1
    );
    // The error message names the event too.
    let error = sleeping.result().await.unwrap_err().to_string();
    assert!(error.contains("order.cancelled"), "{error}");
    engine.shutdown().await;
}

/// A child that sleeps long.
#[workflow]
async fn napping_child(ctx: Ctx) -> Result<(), Error> {
    ctx.sleep("nap", "1h").await
}

/// Any `shop.closed` cancels every unfinished run of it, and so its child;
/// the event's record lists them all.
#[workflow(cancel_on(event = "shop.closed"))]
async fn shop_parent(ctx: Ctx, shop: String) -> Result<(), Error> {
    let _ = shop;
    ctx.invoke("child", NappingChild, ()).await
}

#[tokio::test]
async fn an_event_without_match_cancels_every_run_with_its_children() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(ShopParent)
        .register(NappingChild)
        .start()
        .await
        .unwrap();
    let first = ShopParent::trigger(&engine, "a".into()).await.unwrap();
    let second = ShopParent::trigger(&engine, "b".into()).await.unwrap();
    wait_for_status(&first, RunStatus::Suspended).await;
    wait_for_status(&second, RunStatus::Suspended).await;
    let children = first.children().await.unwrap();
    assert_eq!(children.len(), 1);
    let child = engine.run(children[0]);
    wait_for_status(&child, RunStatus::Suspended).await;

    let sent = engine.send_event("shop.closed", json!({})).await.unwrap();
    assert_eq!(sent.cancelled.len(), 4, "two parents and their children");
    assert!(sent.cancelled.contains(&child.id()));
    // The event's record names them too, read back from the database.
    let events = engine.list_events(&EventFilter::new()).await.unwrap();
    assert_eq!(events.events.len(), 1);
    let mut recorded = events.events[0].cancelled.clone();
    recorded.sort();
    let mut expected = sent.cancelled.clone();
    expected.sort();
    assert_eq!(recorded, expected);
    assert_eq!(first.status().await.unwrap(), RunStatus::Cancelled);
    assert_eq!(second.status().await.unwrap(), RunStatus::Cancelled);
    assert_eq!(child.status().await.unwrap(), RunStatus::Cancelled);
    // A plain workflow's runs wrote nothing in the index.
    assert_eq!(
        db.count("SELECT COUNT(*) FROM wf_cancel_on WHERE run_id IN (SELECT id FROM wf_instance WHERE workflow = 'napping_child')")
            .await,
        0
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM wf_cancel_on WHERE live")
            .await,
        0
    );
    engine.shutdown().await;
}

/// Sends the cancelling event of `order_id` from a run.
#[workflow]
async fn canceller(ctx: Ctx, order_id: String) -> Result<i64, Error> {
    ctx.send_event("cancel", "order.cancelled", json!({ "order_id": order_id }))
        .await
}

#[tokio::test]
async fn an_event_sent_from_a_run_cancels() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(OrderFlow)
        .register(Canceller)
        .start()
        .await
        .unwrap();
    let sleeping = OrderFlow::trigger(&engine, "o-7".into(), "sleep".into())
        .await
        .unwrap();
    wait_for_status(&sleeping, RunStatus::Suspended).await;
    let sender = Canceller::trigger(&engine, "o-7".into()).await.unwrap();
    let event = sender.result().await.unwrap();
    assert_eq!(
        cancel_reason(&sleeping).await,
        format!("cancelled by event \"order.cancelled\" (id {event})")
    );
    engine.shutdown().await;
}

/// Fails at its first execution, completes at its next, unless an event
/// cancels it between the two.
static FAIL_ONCE: AtomicBool = AtomicBool::new(true);

#[workflow(cancel_on(event = "invoice.voided", match = "invoice"))]
async fn invoice_flow(ctx: Ctx, invoice: u64, customer: String) -> Result<(), Error> {
    let _ = (invoice, customer);
    ctx.step("charge")
        .retry(Retry::none())
        .run(async || {
            if FAIL_ONCE.swap(false, Ordering::SeqCst) {
                Err(StepError::permanent("card declined"))
            } else {
                Ok(())
            }
        })
        .await?;
    ctx.sleep("settle", "1h").await
}

#[tokio::test]
async fn a_run_leaves_the_index_when_it_ends_and_comes_back_when_retried() {
    let db = test_db!();
    let engine = db.builder().register(InvoiceFlow).start().await.unwrap();
    let run = InvoiceFlow::trigger(&engine, 12, "c-1".into())
        .await
        .unwrap();
    assert!(run.result().await.is_err());
    assert_eq!(
        db.count("SELECT COUNT(*) FROM wf_cancel_on WHERE live")
            .await,
        0
    );
    // Ended, it is not cancelled (nor read).
    let sent = engine
        .send_event("invoice.voided", json!({ "invoice": 12 }))
        .await
        .unwrap();
    assert!(sent.cancelled.is_empty());
    assert_eq!(run.status().await.unwrap(), RunStatus::Failed);

    run.retry().await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    assert_eq!(
        db.count("SELECT COUNT(*) FROM wf_cancel_on WHERE live")
            .await,
        1
    );
    let sent = engine
        .send_event("invoice.voided", json!({ "invoice": 12 }))
        .await
        .unwrap();
    assert_eq!(sent.cancelled, [run.id()]);
    assert_eq!(run.status().await.unwrap(), RunStatus::Cancelled);
    engine.shutdown().await;
}

#[tokio::test]
async fn an_event_sent_by_one_engine_cancels_a_run_another_executes() {
    let db = test_db!();
    if !matches!(db, TestDb::Postgres { .. }) {
        // One engine owns a SQLite file.
        return;
    }
    let worker = db
        .builder()
        .register(OrderFlow)
        .lease("600ms")
        .start()
        .await
        .unwrap();
    let sender = db.builder().client().await.unwrap();
    let running = OrderFlow::trigger(&worker, "o-42".into(), "step".into())
        .await
        .unwrap();
    until_blocked("o-42").await;
    assert_eq!(worker.active_run_count(), 1);

    let sent = sender
        .send_event("order.cancelled", json!({ "order_id": "o-42" }))
        .await
        .unwrap();
    assert_eq!(sent.cancelled, [running.id()]);
    assert_eq!(
        cancel_reason(&running).await,
        format!("cancelled by event \"order.cancelled\" (id {})", sent.id)
    );
    // The worker finds out at its next lease renewal and stops the step.
    wait_for_idle(&worker).await;
    assert!(!BLOCK_FINISHED.load(Ordering::SeqCst));
    sender.shutdown().await;
    worker.shutdown().await;
}
