//! Workflows started by events (`#[workflow(on_event = ..)]`): names and
//! wildcards, filters, several workflows on one event, data that does not
//! fit (an error on the event, no run), events sent from a run, a sender
//! with only the database, and one run per event and workflow with several
//! senders and engines.

use std::collections::HashSet;

use durable::prelude::*;
use durable::{EventFilter, RunInfo, SentEvent};
use durable_tests::TestDb;

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct OrderCreated {
    order_id: String,
    region: String,
}

#[workflow(name = "confirm-order", on_event = "order.created")]
async fn confirm_order(ctx: Ctx, order: OrderCreated) -> Result<String, Error> {
    let id = order.order_id.clone();
    ctx.run("confirm", async || {
        Ok::<_, StepError>(format!("confirmed {id}"))
    })
    .await
}

#[workflow(name = "count-orders", on_event = "order.*")]
async fn count_orders(ctx: Ctx) -> Result<String, Error> {
    ctx.run("count", async || Ok::<_, StepError>("counted".to_owned()))
        .await
}

#[workflow(
    name = "eu-orders",
    on_event(name = "order.created", filter = r#"{"region": "eu"}"#),
    on_event(name = "order.*.eu")
)]
async fn eu_orders(ctx: Ctx, data: serde_json::Value) -> Result<serde_json::Value, Error> {
    ctx.run("file", async || Ok::<_, StepError>(data.clone()))
        .await
}

/// A run's info, once it ended.
async fn ended(engine: &Engine, id: RunId) -> RunInfo {
    let run = engine.run(id);
    run.result().await.unwrap();
    run.info().await.unwrap()
}

/// The workflows of the runs `sent` started, sorted.
async fn started_workflows(engine: &Engine, sent: &SentEvent) -> Vec<String> {
    let mut names = Vec::new();
    for id in &sent.started {
        let info = engine.run(*id).info().await.unwrap();
        assert_eq!(info.event_id, Some(sent.id), "{info:?}");
        names.push(info.workflow);
    }
    names.sort();
    names
}

fn order(region: &str) -> serde_json::Value {
    json!({ "order_id": "o-1", "region": region })
}

#[tokio::test]
async fn an_event_starts_each_workflow_it_matches_with_its_data() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(ConfirmOrder)
        .register(CountOrders)
        .register(EuOrders)
        .start()
        .await
        .unwrap();
    let sent = engine
        .send_event("order.created", order("eu"))
        .await
        .unwrap();
    assert!(sent.trigger_errors.is_empty(), "{sent:?}");
    assert_eq!(
        started_workflows(&engine, &sent).await,
        ["confirm-order", "count-orders", "eu-orders"]
    );
    for id in &sent.started {
        let info = ended(&engine, *id).await;
        let expected = match info.workflow.as_str() {
            "confirm-order" => json!("confirmed o-1"),
            "count-orders" => json!("counted"),
            _ => order("eu"),
        };
        assert_eq!(info.output, Some(expected));
        // The event is the run's input; a workflow without input gets null.
        let input = if info.workflow == "count-orders" {
            json!(null)
        } else {
            order("eu")
        };
        assert_eq!(info.input, input);
    }
    // The filter keeps `eu-orders` out of other regions.
    let us = engine
        .send_event("order.created", order("us"))
        .await
        .unwrap();
    assert_eq!(
        started_workflows(&engine, &us).await,
        ["confirm-order", "count-orders"]
    );
    // A trailing `*` takes the rest of the name, a middle one one segment.
    let late = engine.send_event("order.paid.eu", json!({})).await.unwrap();
    assert_eq!(
        started_workflows(&engine, &late).await,
        ["count-orders", "eu-orders"]
    );
    let deep = engine
        .send_event("order.paid.late.eu", json!({}))
        .await
        .unwrap();
    assert_eq!(started_workflows(&engine, &deep).await, ["count-orders"]);
    for unmatched in ["order", "orders.created", "invoice.created"] {
        let sent = engine.send_event(unmatched, order("eu")).await.unwrap();
        assert!(sent.started.is_empty(), "{unmatched}: {sent:?}");
    }
    // The event's record names the runs it started.
    let events = engine.list_events(&EventFilter::new()).await.unwrap();
    let first = events
        .events
        .iter()
        .find(|event| event.id == sent.id)
        .unwrap();
    assert_eq!(first.started, sent.started);
}

#[tokio::test]
async fn data_that_does_not_fit_is_an_error_on_the_event_and_starts_nothing_of_that_workflow() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(ConfirmOrder)
        .register(CountOrders)
        .start()
        .await
        .unwrap();
    let sent = engine
        .send_event_json("order.created", r#"{"region": "eu"}"#)
        .await
        .unwrap();
    assert_eq!(started_workflows(&engine, &sent).await, ["count-orders"]);
    assert_eq!(sent.trigger_errors.len(), 1, "{sent:?}");
    let error = &sent.trigger_errors[0];
    assert_eq!(error.workflow, "confirm-order");
    assert!(
        error
            .error
            .contains("does not fit the input of workflow `confirm-order`")
            && error.error.contains("order_id"),
        "{error:?}"
    );
    let events = engine.list_events(&EventFilter::new()).await.unwrap();
    assert_eq!(events.events[0].trigger_errors, sent.trigger_errors);
    let confirm = db
        .count("SELECT COUNT(*) FROM wf_instance WHERE workflow = 'confirm-order'")
        .await;
    assert_eq!(confirm, 0);
}

#[workflow(name = "place-order")]
async fn place_order(ctx: Ctx, order_id: String) -> Result<i64, Error> {
    let data = json!({ "order_id": order_id, "region": "eu" });
    ctx.send_event("announce", "order.created", data).await
}

#[tokio::test]
async fn an_event_sent_from_a_run_starts_workflows_once() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(PlaceOrder)
        .register(ConfirmOrder)
        .start()
        .await
        .unwrap();
    let run = PlaceOrder::trigger(&engine, "o-7".into()).await.unwrap();
    let event_id = run.result().await.unwrap();
    let page = engine
        .list_runs(&durable::RunFilter::new().workflow("confirm-order"))
        .await
        .unwrap();
    assert_eq!(page.runs.len(), 1, "{page:?}");
    assert_eq!(page.runs[0].event_id, Some(event_id));
    let info = ended(&engine, page.runs[0].id).await;
    assert_eq!(info.output, Some(json!("confirmed o-7")));
    let events = engine.list_events(&EventFilter::new()).await.unwrap();
    assert_eq!(events.events[0].started, [info.id]);
}

/// Whether `announce_then_fail`'s last step failed once already (each test
/// binary runs the test that uses it once).
static FAILED_ONCE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[workflow(name = "announce-then-fail")]
async fn announce_then_fail(ctx: Ctx) -> Result<i64, Error> {
    let data = json!({ "order_id": "o-9", "region": "eu" });
    let event = ctx.send_event("announce", "order.created", data).await?;
    ctx.run("flaky", async || {
        if FAILED_ONCE.swap(true, std::sync::atomic::Ordering::SeqCst) {
            Ok(())
        } else {
            Err(StepError::permanent("the first time"))
        }
    })
    .await?;
    Ok(event)
}

#[tokio::test]
async fn a_replayed_send_starts_nothing_again() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(AnnounceThenFail)
        .register(ConfirmOrder)
        .start()
        .await
        .unwrap();
    let run = AnnounceThenFail::trigger(&engine).await.unwrap();
    assert!(run.result().await.is_err());
    run.retry().await.unwrap();
    let event = run.result().await.unwrap();
    let started = db
        .count("SELECT COUNT(*) FROM wf_instance WHERE workflow = 'confirm-order'")
        .await;
    assert_eq!(started, 1);
    let events = engine.list_events(&EventFilter::new()).await.unwrap();
    assert_eq!(events.events.len(), 1);
    assert_eq!(events.events[0].id, event);
}

#[tokio::test]
async fn a_process_with_only_the_database_starts_the_workflows_of_the_catalog() {
    let db = test_db!();
    // The worker records its workflows and their triggers, then stops.
    let worker = db.builder().register(ConfirmOrder).start().await.unwrap();
    worker.shutdown().await;
    drop(worker);
    let client = db.builder().client().await.unwrap();
    let sent = client
        .send_event("order.created", order("eu"))
        .await
        .unwrap();
    assert_eq!(sent.started.len(), 1, "{sent:?}");
    // Checked against the catalog's input schema.
    let refused = client
        .send_event("order.created", json!({ "order_id": 7 }))
        .await
        .unwrap();
    assert!(refused.started.is_empty());
    assert!(
        refused.trigger_errors[0].error.contains("order_id"),
        "{refused:?}"
    );
    client.shutdown().await;
    drop(client);
    let worker = db.builder().register(ConfirmOrder).start().await.unwrap();
    let info = ended(&worker, sent.started[0]).await;
    assert_eq!(info.output, Some(json!("confirmed o-1")));
    assert_eq!(info.event_id, Some(sent.id));
}

#[tokio::test]
async fn each_event_starts_one_run_per_workflow_whatever_the_senders_and_engines() {
    let db = test_db!();
    let start = || {
        db.builder()
            .register(ConfirmOrder)
            .register(CountOrders)
            .start()
    };
    let mut engines = vec![start().await.unwrap()];
    // Several engines share a PostgreSQL database; a SQLite file has one.
    if matches!(db, TestDb::Postgres { .. }) {
        engines.push(start().await.unwrap());
    }
    const EVENTS: usize = 24;
    let sends = (0..EVENTS).map(|index| {
        let engine = engines[index % engines.len()].clone();
        tokio::spawn(async move {
            let data = json!({ "order_id": format!("o-{index}"), "region": "eu" });
            engine.send_event("order.created", data).await.unwrap()
        })
    });
    let sent: Vec<SentEvent> = futures_join(sends).await;
    let mut runs = HashSet::new();
    for event in &sent {
        assert_eq!(event.started.len(), 2, "{event:?}");
        runs.extend(event.started.iter().copied());
    }
    assert_eq!(runs.len(), 2 * EVENTS);
    for id in &runs {
        let info = ended(&engines[0], *id).await;
        assert!(sent.iter().any(|event| Some(event.id) == info.event_id));
    }
    let total = db
        .count("SELECT COUNT(*) FROM wf_instance WHERE event_id IS NOT NULL")
        .await;
    assert_eq!(total, 2 * EVENTS as i64);
    let distinct = db
        .count("SELECT COUNT(DISTINCT workflow || ':' || CAST(event_id AS TEXT)) FROM wf_instance")
        .await;
    assert_eq!(distinct, 2 * EVENTS as i64);
}

/// Every task's output, in order.
async fn futures_join<T: Send + 'static>(
    tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut outputs = Vec::new();
    for task in tasks {
        outputs.push(task.await.unwrap());
    }
    outputs
}
