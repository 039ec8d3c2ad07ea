//! Flow control of a workflow known only from the catalog: a client engine
//! that does not register a workflow triggers its runs with the
//! concurrency key, the debounce or throttle and the `cancel_on` rows the catalog
//! recorded of it, as an engine that registers it would.
//!
//! On PostgreSQL the worker runs beside the client. On SQLite, whose file
//! one engine holds at a time, the worker records the catalog and stops,
//! the client triggers, and the worker starts again to run what it wrote.

use std::sync::Mutex;
use std::time::Duration;

use durable::prelude::*;
use durable::{Engine, EngineBuilder};
use durable_tests::{TestDb, wait_for_status};

/// The tags of [`keyed`]'s runs whose step may end.
static RELEASED: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Order {
    customer: String,
    tag: String,
}

/// Holds its step until its tag is released.
#[workflow(name = "catalogflow.keyed", concurrency(limit = 1, key = "customer"))]
async fn keyed(ctx: Ctx, order: Order) -> Result<String, Error> {
    ctx.run("hold", async || {
        while !RELEASED.lock().unwrap().contains(&order.tag) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok::<_, StepError>(order.tag.clone())
    })
    .await
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Ping {
    user: String,
    n: u32,
}

#[workflow(
    name = "catalogflow.debounced",
    debounce(period = "300ms", key = "user")
)]
async fn debounced(ctx: Ctx, ping: Ping) -> Result<u32, Error> {
    ctx.run("echo", async || Ok::<_, StepError>(ping.n)).await
}

#[workflow(
    name = "catalogflow.throttled",
    throttle(limit = 1, period = "1h", key = "user")
)]
async fn throttled(ctx: Ctx, ping: Ping) -> Result<u32, Error> {
    ctx.run("echo", async || Ok::<_, StepError>(ping.n)).await
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct OrderRef {
    order_id: String,
}

#[workflow(
    name = "catalogflow.cancellable",
    cancel_on(event = "catalogflow.order.cancelled", match = "order_id")
)]
async fn cancellable(ctx: Ctx, order: OrderRef) -> Result<(), Error> {
    let _ = order;
    ctx.sleep("nap", "1h").await
}

fn is_postgres(db: &TestDb) -> bool {
    matches!(db, TestDb::Postgres { .. })
}

/// A worker that registers what `register` adds has recorded the catalog,
/// and a client that registers nothing is open: returns the worker still
/// running on PostgreSQL (`None` on SQLite, where it stopped so that the
/// client may write), and the client.
async fn recorded_then_client(
    db: &TestDb,
    register: impl Fn(EngineBuilder) -> EngineBuilder,
) -> (Option<Engine>, Engine) {
    let worker = register(db.builder()).start().await.unwrap();
    let worker = if is_postgres(db) {
        Some(worker)
    } else {
        worker.shutdown().await;
        None
    };
    let client = db.builder().client().await.unwrap();
    assert_eq!(client.worker_id(), None, "the client registers nothing");
    (worker, client)
}

/// The engine that runs what the client triggered: the worker, on
/// PostgreSQL beside the client; on SQLite started again once the client
/// stopped.
async fn serving(
    db: &TestDb,
    worker: Option<Engine>,
    client: Engine,
    register: impl Fn(EngineBuilder) -> EngineBuilder,
) -> Engine {
    match worker {
        Some(worker) => {
            client.shutdown().await;
            worker
        }
        None => {
            client.shutdown().await;
            register(db.builder()).start().await.unwrap()
        }
    }
}

#[tokio::test]
async fn a_clients_runs_of_a_keyed_workflow_are_grouped_by_their_key() {
    let db = test_db!();
    let register = |builder: EngineBuilder| builder.register(Keyed);
    let (worker, client) = recorded_then_client(&db, register).await;
    let tag = |name: &str| format!("{}-{name}", test_name!());
    let mut ids = Vec::new();
    for (customer, name) in [("a", "a1"), ("b", "b1"), ("a", "a2")] {
        let input = json!({ "customer": customer, "tag": tag(name) });
        let run = client
            .trigger_json("catalogflow.keyed", input)
            .await
            .unwrap();
        ids.push(run.id());
    }
    // The key is the input's value at the recorded path, as a registered
    // trigger computes it.
    let of_a = db
        .count(r#"SELECT COUNT(*) FROM wf_instance WHERE concurrency_key = '"a"'"#)
        .await;
    assert_eq!(of_a, 2, "the runs of customer a have its key");
    let engine = serving(&db, worker, client, register).await;
    let [a1, b1, a2] = [ids[0], ids[1], ids[2]].map(|id| engine.run_handle::<String>(id));
    // Two keys run at once; the second run of one key waits for the first.
    wait_for_status(&a1, RunStatus::Running).await;
    wait_for_status(&b1, RunStatus::Running).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(a2.status().await.unwrap(), RunStatus::Pending);
    RELEASED.lock().unwrap().push(tag("a1"));
    assert_eq!(a1.result().await.unwrap(), tag("a1"));
    wait_for_status(&a2, RunStatus::Running).await;
    RELEASED.lock().unwrap().extend([tag("b1"), tag("a2")]);
    assert_eq!(a2.result().await.unwrap(), tag("a2"));
    assert_eq!(b1.result().await.unwrap(), tag("b1"));
    engine.shutdown().await;
}

#[tokio::test]
async fn a_clients_triggers_of_a_debounced_workflow_join_one_run() {
    let db = test_db!();
    let register = |builder: EngineBuilder| builder.register(Debounced);
    let (worker, client) = recorded_then_client(&db, register).await;
    let mut ids = Vec::new();
    for (user, n) in [("u1", 1), ("u1", 2), ("u2", 9), ("u1", 3)] {
        let input = json!({ "user": user, "n": n });
        let run = client
            .trigger_json("catalogflow.debounced", input)
            .await
            .unwrap();
        ids.push(run.id());
    }
    assert_eq!(ids[0], ids[1], "the second trigger joined the first's run");
    assert_eq!(ids[0], ids[3], "the last trigger joined it too");
    assert_ne!(ids[0], ids[2], "another key is another run");
    let runs = db
        .count("SELECT COUNT(*) FROM wf_instance WHERE workflow = 'catalogflow.debounced'")
        .await;
    assert_eq!(runs, 2);
    let engine = serving(&db, worker, client, register).await;
    let joined = engine.run_handle::<u32>(ids[0]);
    let other = engine.run_handle::<u32>(ids[2]);
    let within = Duration::from_secs(10);
    let last = tokio::time::timeout(within, joined.result()).await.unwrap();
    assert_eq!(last.unwrap(), 3, "the run has the last trigger's input");
    let alone = tokio::time::timeout(within, other.result()).await.unwrap();
    assert_eq!(alone.unwrap(), 9);
    engine.shutdown().await;
}

#[tokio::test]
async fn a_clients_run_of_a_cancel_on_workflow_is_cancelled_by_its_event() {
    let db = test_db!();
    let register = |builder: EngineBuilder| builder.register(Cancellable);
    let (worker, client) = recorded_then_client(&db, register).await;
    let mut ids = Vec::new();
    for order in ["o-1", "o-2"] {
        let input = json!({ "order_id": order });
        let run = client
            .trigger_json("catalogflow.cancellable", input)
            .await
            .unwrap();
        ids.push(run.id());
    }
    let engine = serving(&db, worker, client, register).await;
    let [first, second] = [ids[0], ids[1]].map(|id| engine.run_handle::<()>(id));
    wait_for_status(&first, RunStatus::Suspended).await;
    wait_for_status(&second, RunStatus::Suspended).await;
    engine
        .send_event("catalogflow.order.cancelled", json!({ "order_id": "o-1" }))
        .await
        .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), first.result())
        .await
        .expect("the event cancels the run");
    match ended {
        Err(Error::RunCancelled { reason, .. }) => {
            assert!(reason.contains("catalogflow.order.cancelled"), "{reason}");
        }
        other => panic!("expected the run cancelled, got {other:?}"),
    }
    assert_eq!(second.status().await.unwrap(), RunStatus::Suspended);
    engine.shutdown().await;
}

#[tokio::test]
async fn a_clients_triggers_of_a_throttled_workflow_wait_their_window() {
    let db = test_db!();
    let register = |builder: EngineBuilder| builder.register(Throttled);
    let (worker, client) = recorded_then_client(&db, register).await;
    for (user, n) in [("u1", 1), ("u1", 2), ("u2", 3)] {
        let input = json!({ "user": user, "n": n });
        client
            .trigger_json("catalogflow.throttled", input)
            .await
            .unwrap();
    }
    // One run per key an hour: u1's second run is scheduled an hour after
    // its first, u2's first is due at once.
    let later = db
        .count(
            "SELECT COUNT(*) FROM wf_instance WHERE workflow = 'catalogflow.throttled' \
             AND ready_at >= created_at + 3599000",
        )
        .await;
    assert_eq!(later, 1, "one run waits for its key's window");
    serving(&db, worker, client, register)
        .await
        .shutdown()
        .await;
}
