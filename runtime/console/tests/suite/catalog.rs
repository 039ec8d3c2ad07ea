//! The catalog's routes: a workflow with its versions, step manifest and
//! workers, the workers, and a standalone console (a client engine that
//! registers nothing) that lists, checks and triggers through the catalog,
//! or says it is read-only on a SQLite file another engine holds.

use super::{Api, Db, wait_for};

#[tokio::test]
async fn a_workflow_shows_its_versions_manifest_and_workers() {
    let db = test_db!();
    let engine = db.engine().await;
    let me = engine.worker_id().expect("a worker").to_owned();
    let api = Api::new(&engine);
    let list = api.get("/api/v1/workflows").await;
    assert_eq!(list.status, 200, "{}", list.body);
    let workflows = list.body["workflows"].as_array().unwrap();
    // Listed from the catalog, with no run yet.
    let order = workflows
        .iter()
        .find(|w| w["name"] == "console.order")
        .expect("console.order is listed before any run");
    assert_eq!(order["versions"], 1);
    assert_eq!(order["registered_here"], true);
    assert_eq!(order["steps"][0]["name"], "charge");
    assert_eq!(order["output_schema"]["type"], "string");
    let one = api.get("/api/v1/workflows/console.parent").await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body["steps"][0]["kind"], "invoke");
    assert_eq!(one.body["fingerprint"].as_str().unwrap().len(), 16);
    let versions = one.body["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["fingerprint"], one.body["fingerprint"]);
    assert_eq!(versions[0]["workers"][0]["id"], me.as_str());
    let workers = api.get("/api/v1/workers").await;
    assert_eq!(workers.status, 200, "{}", workers.body);
    let listed = workers.body["workers"].as_array().unwrap();
    let mine = listed.iter().find(|w| w["id"] == me.as_str()).unwrap();
    assert_eq!(mine["pid"], std::process::id());
    assert_eq!(mine["workflows"].as_array().unwrap().len(), 6);
    let unknown = api
        .get_refused("/api/v1/workflows/nope", 404, "unknown_workflow")
        .await;
    assert!(unknown.contains("console.order"), "{unknown}");
}

#[tokio::test]
async fn a_worker_silent_for_3_heartbeats_is_stale() {
    let db = test_db!();
    let clock = durable::ManualClock::new(1_800_000_000_000);
    // Its own heartbeat comes in an hour of real time: not in this test.
    let engine = db
        .builder()
        .clock(clock.clone())
        .heartbeat("1h")
        .start()
        .await
        .unwrap();
    let api = Api::new(&engine);
    let stale = async || {
        let workers = api.get("/api/v1/workers").await.body;
        let one = api.get("/api/v1/workflows/console.order").await.body;
        (
            workers["workers"][0]["stale"].clone(),
            one["versions"][0]["workers"][0]["stale"].clone(),
        )
    };
    assert_eq!(stale().await, (false.into(), false.into()));
    clock.advance(std::time::Duration::from_secs(3 * 3600));
    assert_eq!(
        stale().await,
        (false.into(), false.into()),
        "3 h is not over 3 h"
    );
    clock.advance(std::time::Duration::from_millis(1));
    assert_eq!(stale().await, (true.into(), true.into()));
}

#[tokio::test]
async fn a_standalone_console_triggers_through_the_catalog() {
    let db = test_db!();
    let Db::Test(test) = &db else {
        // An in-memory database has no second process to share it with.
        return;
    };
    let worker = db.engine().await;
    let postgres = matches!(test, durable_tests::TestDb::Postgres { .. });
    let client = test.builder().client().await.unwrap();
    let api = Api::new(&client);
    let one = api.get("/api/v1/workflows/console.order").await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body["registered_here"], false);
    let path = "/api/v1/workflows/console.order/trigger";
    let violation = api
        .post_refused(
            path,
            r#"{"input": {"order_id": "o-1", "amount": "five"}}"#,
            422,
            "invalid_input",
        )
        .await;
    assert!(violation.contains("amount"), "names the field: {violation}");
    api.post_refused(path, r#"{"input": {"amount": 5}}"#, 422, "invalid_input")
        .await;
    api.post_refused(
        "/api/v1/workflows/nope/trigger",
        r#"{"input": 1}"#,
        404,
        "unknown_workflow",
    )
    .await;
    let valid = r#"{"input": {"order_id": "o-1", "amount": 5}}"#;
    if postgres {
        let answer = api.post(path, serde_json::from_str(valid).unwrap()).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let id = answer.body["run"]["id"].as_str().unwrap();
        // The worker beside the console runs it.
        let detail = wait_for(&api, id, "completed").await;
        assert_eq!(detail["run"]["output"]["value"], "receipt-o-1");
    } else {
        let reason = api.post_refused(path, valid, 403, "read_only").await;
        assert!(reason.contains("another durable engine holds"), "{reason}");
        let health = api.get("/healthz").await;
        assert_eq!(health.body["read_only"], true, "{}", health.body);
    }
    drop(worker);
}

#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct Basket {
    customer: String,
}

#[durable::workflow(
    name = "console.limited",
    concurrency(limit = 1, key = "customer"),
    cancel_on(event = "console.basket.dropped", match = "customer")
)]
async fn console_limited(ctx: durable::Ctx, basket: Basket) -> Result<(), durable::Error> {
    let _ = basket;
    ctx.sleep("nap", "1ms").await
}

#[durable::workflow(
    name = "console.debounced",
    debounce(period = "5s", key = "customer", max_wait = "1m")
)]
async fn console_debounced(ctx: durable::Ctx, basket: Basket) -> Result<(), durable::Error> {
    let _ = basket;
    ctx.sleep("nap", "1ms").await
}

#[durable::workflow(name = "console.throttled", throttle(limit = 10, period = "1m"))]
async fn console_throttled(ctx: durable::Ctx) -> Result<(), durable::Error> {
    ctx.sleep("nap", "1ms").await
}

#[tokio::test]
async fn a_workflow_shows_its_flow_control_and_the_document_describes_it() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(ConsoleLimited)
        .register(ConsoleDebounced)
        .register(ConsoleThrottled)
        .start()
        .await
        .unwrap();
    let api = Api::new(&engine);
    let limited = api.get("/api/v1/workflows/console.limited").await;
    assert_eq!(limited.status, 200, "{}", limited.body);
    let body = &limited.body;
    assert_eq!(
        body["concurrency"],
        serde_json::json!({ "limit": 1, "key": "customer" })
    );
    assert_eq!(body["debounce"], serde_json::Value::Null);
    assert_eq!(body["throttle"], serde_json::Value::Null);
    let debounced = api.get("/api/v1/workflows/console.debounced").await.body;
    assert_eq!(
        debounced["debounce"],
        serde_json::json!({ "period_ms": 5_000, "max_wait_ms": 60_000, "key": "customer" })
    );
    assert_eq!(
        body["cancel_on"],
        serde_json::json!([{ "event": "console.basket.dropped", "matching": "customer" }])
    );
    let throttled = api.get("/api/v1/workflows/console.throttled").await.body;
    assert_eq!(
        throttled["throttle"],
        serde_json::json!({ "limit": 10, "period_ms": 60_000, "key": null })
    );
    assert_eq!(throttled["concurrency"], serde_json::Value::Null);
    assert_eq!(throttled["cancel_on"], serde_json::json!([]));
    // The document describes every field of a version.
    let document = api.get("/openapi.json").await.body;
    let schema = &document["components"]["schemas"]["WorkflowVersion"];
    for key in body["versions"][0].as_object().unwrap().keys() {
        let described = schema["properties"][key].is_object() || key == "workers";
        assert!(described, "{key} is not documented");
    }
}

#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema, durable::Event)]
#[event(name = "console.parcel.scanned")]
struct ParcelScanned {
    order: String,
    grams: u32,
}

#[durable::workflow(name = "console.typed")]
async fn console_typed(ctx: durable::Ctx) -> Result<Option<ParcelScanned>, durable::Error> {
    ctx.wait_for::<ParcelScanned>("scan").await
}

#[tokio::test]
async fn typed_events_show_their_schemas_and_data_that_does_not_fit_is_refused() {
    let db = test_db!();
    let engine = db.builder().register(ConsoleTyped).start().await.unwrap();
    let api = Api::new(&engine);
    let listed = api.get("/api/v1/event-types").await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let types = listed.body["event_types"].as_array().unwrap();
    assert_eq!(types.len(), 1, "{}", listed.body);
    assert_eq!(types[0]["name"], "console.parcel.scanned");
    assert_eq!(types[0]["schema"]["properties"]["grams"]["type"], "integer");
    assert_eq!(types[0]["fingerprint"].as_str().unwrap().len(), 16);
    let one = api.get("/api/v1/workflows/console.typed").await;
    assert_eq!(one.body["steps"][0]["kind"], "wait_for_event");
    assert_eq!(
        one.body["steps"][0]["options"],
        serde_json::json!([["event", "console.parcel.scanned"]])
    );
    let message = api
        .post_refused(
            "/api/v1/events",
            r#"{"name": "console.parcel.scanned", "data": {"order": "o-1", "grams": "heavy"}}"#,
            400,
            "invalid_event",
        )
        .await;
    assert!(message.contains("grams:"), "{message}");
    let events = api.get("/api/v1/events?name=console.parcel.scanned").await;
    assert_eq!(
        events.body["events"],
        serde_json::json!([]),
        "{}",
        events.body
    );
    let sent = api
        .post(
            "/api/v1/events",
            serde_json::json!({"name": "console.parcel.scanned", "data": {"order": "o-1", "grams": 3}}),
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
}
