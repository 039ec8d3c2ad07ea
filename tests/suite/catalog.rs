//! The catalog through the engine: each engine records the versions of the
//! workflows it serves and itself; a client with only the database lists
//! them, checks an input against the stored schema and triggers by name for
//! a worker to run; a client on a SQLite file another engine holds reads
//! only; heartbeats move.

use std::time::{Duration, Instant};

use durable::prelude::*;
use durable::{RunId, WorkflowDetail};
use durable_tests::TestDb;

#[derive(Serialize, Deserialize, JsonSchema)]
struct OrderInput {
    order_id: String,
    qty: u32,
}

#[derive(Serialize, Deserialize, JsonSchema, PartialEq, Debug)]
struct Shipped {
    order_id: String,
    boxes: u32,
}

/// An output type with no JSON Schema: the workflow still compiles, and its
/// output schema is `None`.
#[derive(Serialize, Deserialize)]
struct Sealed(u32);

#[workflow(name = "catalog.orders", timeout = "1h")]
async fn orders_v1(ctx: Ctx, input: OrderInput) -> Result<Shipped, Error> {
    let boxes: u32 = ctx
        .run("pack", async || Ok::<_, StepError>(input.qty.div_ceil(2)))
        .await?;
    Ok(Shipped {
        order_id: input.order_id,
        boxes,
    })
}

#[workflow(name = "catalog.orders", timeout = "1h")]
async fn orders_v2(ctx: Ctx, input: OrderInput) -> Result<Shipped, Error> {
    let boxes: u32 = ctx
        .run("pack", async || Ok::<_, StepError>(input.qty.div_ceil(2)))
        .await?;
    ctx.sleep("settle", "1ms").await?;
    Ok(Shipped {
        order_id: input.order_id,
        boxes,
    })
}

#[workflow(name = "catalog.opaque")]
async fn opaque(ctx: Ctx) -> Result<Sealed, Error> {
    let n: u32 = ctx.run("n", async || Ok::<_, StepError>(7)).await?;
    Ok(Sealed(n))
}

fn is_postgres(db: &TestDb) -> bool {
    matches!(db, TestDb::Postgres { .. })
}

async fn runs(db: &TestDb) -> i64 {
    db.count("SELECT COUNT(*) FROM wf_instance").await
}

/// The fingerprints of a workflow's versions with the ids of their workers.
fn served(detail: &WorkflowDetail) -> Vec<(String, Vec<String>)> {
    detail
        .versions
        .iter()
        .map(|served| {
            let workers = served.workers.iter().map(|w| w.id.clone()).collect();
            (served.version.fingerprint.clone(), workers)
        })
        .collect()
}

#[tokio::test]
async fn two_manifests_of_one_name_keep_both_versions_with_their_workers() {
    let db = test_db!();
    let first = db.builder().register(OrdersV1).start().await.unwrap();
    let first_id = first.worker_id().unwrap().to_owned();
    let v1 = first.workflow("catalog.orders").await.unwrap();
    assert_eq!(served(&v1).len(), 1);
    let v1_fingerprint = v1.versions[0].version.fingerprint.clone();
    if !is_postgres(&db) {
        // A SQLite file serves one engine at a time.
        first.shutdown().await;
    }
    let second = db
        .builder()
        .register(OrdersV2)
        .register(Opaque)
        .start()
        .await
        .unwrap();
    let second_id = second.worker_id().unwrap().to_owned();
    let detail = second.workflow("catalog.orders").await.unwrap();
    let v2_fingerprint = detail.versions[0].version.fingerprint.clone();
    assert_ne!(v1_fingerprint, v2_fingerprint);
    let first_workers = if is_postgres(&db) {
        vec![first_id]
    } else {
        Vec::new()
    };
    assert_eq!(
        served(&detail),
        [
            (v2_fingerprint, vec![second_id.clone()]),
            (v1_fingerprint, first_workers)
        ]
    );
    let newest = &detail.versions[0].version;
    let steps: Vec<(&str, &str)> = newest
        .steps
        .iter()
        .map(|s| (s.name.as_str(), s.kind.as_str()))
        .collect();
    assert_eq!(steps, [("pack", "run"), ("settle", "sleep")]);
    assert_eq!(newest.steps[1].options, [("duration".into(), "1ms".into())]);
    assert_eq!(newest.timeout_ms, Some(3_600_000));
    assert_eq!(newest.input_schema["required"], json!(["order_id", "qty"]));
    let output = newest.output_schema.as_ref().expect("Shipped has a schema");
    assert_eq!(output["properties"]["boxes"]["type"], "integer");
    let all = second.workflows().await.unwrap();
    let opaque = all.iter().find(|v| v.name == "catalog.opaque").unwrap();
    assert_eq!(opaque.output_schema, None);
    assert_eq!(all.iter().filter(|v| v.name == "catalog.orders").count(), 2);
    let workers = second.workers().await.unwrap();
    let me = workers.iter().find(|w| w.id == second_id).unwrap();
    assert_eq!(me.pid, std::process::id());
    assert_eq!(me.workflows.len(), 2);
    assert!(matches!(
        second.workflow("catalog.none").await,
        Err(Error::UnknownWorkflow { .. })
    ));
}

#[tokio::test]
async fn a_client_lists_checks_and_triggers_runs_that_a_worker_runs() {
    let db = test_db!();
    let worker = db.builder().register(OrdersV1).start().await.unwrap();
    if !is_postgres(&db) {
        // The client must hold the SQLite file to write to it.
        worker.shutdown().await;
    }
    let client = db.builder().client().await.unwrap();
    assert!(!client.is_read_only());
    assert_eq!(client.worker_id(), None);
    let names: Vec<String> = client
        .workflows()
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, ["catalog.orders"]);

    let before = runs(&db).await;
    let missing = client
        .trigger_json("catalog.orders", json!({ "qty": 3 }))
        .await
        .unwrap_err();
    assert!(
        matches!(&missing, Error::InvalidInput { message, .. } if message.starts_with("order_id: ")),
        "{missing}"
    );
    let wrong = client
        .trigger_json(
            "catalog.orders",
            json!({ "order_id": "o-1", "qty": "three" }),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&wrong, Error::InvalidInput { message, .. } if message.starts_with("qty: ")),
        "{wrong}"
    );
    let unknown = client
        .trigger_json("catalog.nope", json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(&unknown, Error::UnknownWorkflow { registered, .. } if registered.contains("catalog.orders")),
        "{unknown}"
    );
    assert_eq!(runs(&db).await, before, "a refused trigger wrote nothing");

    let run = client
        .trigger_json("catalog.orders", json!({ "order_id": "o-1", "qty": 3 }))
        .await
        .unwrap();
    assert_eq!(runs(&db).await, before + 1);
    let id: RunId = run.id();
    if is_postgres(&db) {
        let output = tokio::time::timeout(Duration::from_secs(10), run.result())
            .await
            .expect("the worker runs the client's run")
            .unwrap();
        assert_eq!(output, json!({ "order_id": "o-1", "boxes": 2 }));
    } else {
        // The client claims nothing: the run waits for a worker.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(run.status().await.unwrap(), RunStatus::Pending);
        client.shutdown().await;
        let worker = db.builder().register(OrdersV1).start().await.unwrap();
        let output: Shipped = worker.run_handle(id).result().await.unwrap();
        assert_eq!(output.boxes, 2);
    }
}

#[tokio::test]
async fn a_client_of_a_held_sqlite_file_reads_and_refuses_writes() {
    let db = test_db!();
    let worker = db.builder().register(OrdersV1).start().await.unwrap();
    let done = OrdersV1::trigger(
        &worker,
        OrderInput {
            order_id: "o-9".into(),
            qty: 4,
        },
    )
    .await
    .unwrap();
    done.result().await.unwrap();
    let client = db.builder().client().await.unwrap();
    if is_postgres(&db) {
        // A shared database has no holder: the client writes.
        assert!(!client.is_read_only());
        return;
    }
    assert!(client.is_read_only());
    assert_eq!(
        client.run(done.id()).status().await.unwrap(),
        RunStatus::Completed
    );
    assert_eq!(client.workflows().await.unwrap().len(), 1);
    let before = runs(&db).await;
    let read_only = |error: &Error| matches!(error, Error::ReadOnly { reason } if reason.contains("another durable engine holds"));
    let refused = client
        .trigger_json("catalog.orders", json!({ "order_id": "o-1", "qty": 1 }))
        .await
        .unwrap_err();
    assert!(read_only(&refused), "{refused}");
    // The input is still checked first, and named.
    let invalid = client
        .trigger_json("catalog.orders", json!({ "qty": 1 }))
        .await
        .unwrap_err();
    assert!(matches!(invalid, Error::InvalidInput { .. }), "{invalid}");
    let retry = client.run(done.id()).retry().await.unwrap_err();
    assert!(
        matches!(retry, Error::InvalidTransition { .. }) || read_only(&retry),
        "{retry}"
    );
    let cancel = client.run(done.id()).cancel().await.unwrap_err();
    assert!(read_only(&cancel), "{cancel}");
    let sent = client.send_event("anything", json!({})).await.unwrap_err();
    assert!(read_only(&sent), "{sent}");
    assert_eq!(runs(&db).await, before);
    assert_eq!(db.count("SELECT COUNT(*) FROM wf_event").await, 0);
    // The worker is undisturbed: it still triggers and runs.
    let more = OrdersV1::trigger(
        &worker,
        OrderInput {
            order_id: "o-10".into(),
            qty: 1,
        },
    )
    .await
    .unwrap();
    assert_eq!(more.result().await.unwrap().boxes, 1);
}

#[tokio::test]
async fn heartbeats_move_the_worker_and_its_versions_and_shutdown_removes_it() {
    let db = test_db!();
    let start = 1_800_000_000_000;
    let (engine, clock) = db
        .start_on_manual_clock(start, |builder| {
            builder.register(OrdersV1).heartbeat("20ms")
        })
        .await;
    let id = engine.worker_id().unwrap().to_owned();
    let workers = engine.workers().await.unwrap();
    assert_eq!(
        workers
            .iter()
            .map(|w| (w.id.as_str(), w.started_at, w.heartbeat_at))
            .collect::<Vec<_>>(),
        [(id.as_str(), start, start)]
    );
    clock.advance(Duration::from_secs(5));
    let waited = Instant::now();
    loop {
        let workers = engine.workers().await.unwrap();
        if workers[0].heartbeat_at == start + 5_000 {
            assert_eq!(workers[0].started_at, start);
            break;
        }
        assert!(waited.elapsed() < Duration::from_secs(5), "no heartbeat");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let version = &engine.workflows().await.unwrap()[0];
    assert_eq!(
        (version.first_seen, version.last_seen),
        (start, start + 5_000)
    );
    engine.shutdown().await;
    let client = db.builder().client().await.unwrap();
    assert!(client.workers().await.unwrap().is_empty());
    assert_eq!(client.workflows().await.unwrap().len(), 1, "versions stay");
}

#[tokio::test]
async fn a_silent_worker_shows_stale_then_a_live_one_s_heartbeat_removes_it() {
    let db = test_db!();
    // A SQLite file has one engine at a time, whose start removes the rows
    // of those before it; the store's conformance suite covers its
    // heartbeat's removal.
    if !is_postgres(&db) {
        return;
    }
    let start = 1_800_000_000_000;
    let (live, clock) = db
        .start_on_manual_clock(start, |builder| {
            builder.register(OrdersV1).heartbeat("20ms")
        })
        .await;
    // Beats once an hour: silent, as a crashed worker is, for this test.
    let silent = db
        .builder()
        .clock(clock.clone())
        .register(OrdersV1)
        .heartbeat("1h")
        .start()
        .await
        .unwrap();
    let silent_id = silent.worker_id().unwrap().to_owned();
    let find = async |at: i64| {
        let waited = Instant::now();
        loop {
            let workers = live.workers().await.unwrap();
            let mine = workers
                .iter()
                .find(|w| Some(w.id.as_str()) == live.worker_id());
            if mine.is_some_and(|w| w.heartbeat_at == at) {
                return workers;
            }
            assert!(waited.elapsed() < Duration::from_secs(5), "no heartbeat");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let workers = find(start).await;
    assert_eq!(workers.len(), 2);
    assert!(workers.iter().all(|w| !live.is_stale(w)), "{workers:?}");

    // A minute later: stale (3 heartbeats of the live engine's 20 ms), but
    // not gone (5 minutes at least).
    clock.advance(Duration::from_secs(60));
    let workers = find(start + 60_000).await;
    let stale: Vec<&str> = workers
        .iter()
        .filter(|w| live.is_stale(w))
        .map(|w| w.id.as_str())
        .collect();
    assert_eq!(stale, [silent_id.as_str()]);

    // Past 5 minutes of silence, the live engine's next beat removes it.
    clock.advance(Duration::from_secs(241));
    let workers = find(start + 301_000).await;
    let ids: Vec<&str> = workers.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(ids, [live.worker_id().unwrap()]);
    silent.shutdown().await;
    live.shutdown().await;
}
