//! The suite's small workflows, and the workflow routes: list, one,
//! trigger (with a key, a delay, a start time), and the trigger's bad
//! inputs: unknown workflow, invalid JSON, schema violation, oversized
//! input, a reused key with another input.

use durable::prelude::*;
use durable::{EngineBuilder, LogLevel};
use serde_json::Value;

use super::{Api, Db, wait_for};

/// The input of `console.order`; unknown fields are refused.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrderInput {
    pub(crate) order_id: String,
    pub(crate) amount: u32,
}

/// Logs a line, records a step with an input, completes.
#[workflow(name = "console.order")]
async fn order(ctx: Ctx, input: OrderInput) -> Result<String, Error> {
    ctx.log(
        LogLevel::Info,
        "charging",
        json!({ "amount": input.amount }),
    );
    let order_id = input.order_id.clone();
    ctx.step("charge")
        .input(&input.order_id)
        .run(async || Ok::<_, StepError>(format!("receipt-{order_id}")))
        .await
}

/// Fails for good in its one step, with `reason`.
#[workflow(name = "console.fail")]
async fn fail(ctx: Ctx, reason: String) -> Result<(), Error> {
    ctx.run("boom", async || Err::<(), _>(StepError::permanent(&reason)))
        .await
}

/// Suspends until the signal `approve`, for an hour at most.
#[workflow(name = "console.wait")]
async fn wait(ctx: Ctx, label: String) -> Result<String, Error> {
    let approved: Option<bool> = ctx.listen("approval", "approve").timeout("1h").await?;
    Ok(format!("{label}: {approved:?}"))
}

/// Suspends until the event `console.paid` for `order`.
#[workflow(name = "console.event")]
async fn event(ctx: Ctx, order: u32) -> Result<u64, Error> {
    let paid: Option<Value> = ctx
        .wait_for_event("paid", "console.paid")
        .matching(json!({ "order": order }))
        .timeout("1h")
        .await?;
    Ok(paid.and_then(|paid| paid["cents"].as_u64()).unwrap_or(0))
}

/// A step whose output is `bytes` long.
#[workflow(name = "console.big")]
async fn big(ctx: Ctx, bytes: u32) -> Result<usize, Error> {
    let text: String = ctx
        .run("big", async || {
            Ok::<_, StepError>("x".repeat(bytes as usize))
        })
        .await?;
    Ok(text.len())
}

/// Starts `console.order` as a child and waits for it.
#[workflow(name = "console.parent")]
async fn parent(ctx: Ctx, order_id: String) -> Result<String, Error> {
    let input = OrderInput {
        order_id,
        amount: 1,
    };
    ctx.invoke("child", Order, input).await
}

/// `builder` with every workflow of the suite.
pub(crate) fn register(builder: EngineBuilder) -> EngineBuilder {
    builder
        .register(Order)
        .register(Fail)
        .register(Wait)
        .register(Event)
        .register(Big)
        .register(Parent)
}

/// Triggers `workflow` with `input` through the API; the run's id.
pub(crate) async fn trigger(api: &Api, workflow: &str, input: Value) -> String {
    trigger_with(api, workflow, json!({ "input": input })).await
}

/// Triggers `workflow` with a whole trigger body; the run's id.
pub(crate) async fn trigger_with(api: &Api, workflow: &str, body: Value) -> String {
    let answer = api
        .post(&format!("/api/v1/workflows/{workflow}/trigger"), body)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["run"]["id"]
        .as_str()
        .expect("the run's id")
        .to_owned()
}

#[tokio::test]
async fn a_trigger_starts_a_run_that_the_engine_executes() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    let id = trigger(
        &api,
        "console.order",
        json!({"order_id": "o-1", "amount": 5}),
    )
    .await;
    let detail = wait_for(&api, &id, "completed").await;
    assert_eq!(detail["run"]["workflow"], "console.order");
    assert_eq!(detail["run"]["output"]["value"], "receipt-o-1");
    assert_eq!(detail["run"]["input"]["value"]["amount"], 5);
}

#[tokio::test]
async fn workflows_are_listed_and_shown_with_their_input_schema() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    trigger(
        &api,
        "console.order",
        json!({"order_id": "o-1", "amount": 5}),
    )
    .await;
    let list = api.get("/api/v1/workflows").await;
    assert_eq!(list.status, 200);
    let names: Vec<&str> = list.body["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|workflow| workflow["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"console.order"), "{names:?}");
    let one = api.get("/api/v1/workflows/console.wait").await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body["registered_here"], true);
    assert_eq!(one.body["input_schema"]["type"], "string");
    let order = api.get("/api/v1/workflows/console.order").await;
    let required = &order.body["input_schema"]["required"];
    assert_eq!(*required, json!(["order_id", "amount"]));
    let unknown = api
        .get_refused("/api/v1/workflows/nope", 404, "unknown_workflow")
        .await;
    assert!(unknown.contains("`nope`"), "{unknown}");
}

#[tokio::test]
async fn trigger_options_set_the_key_and_the_start() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    let path = "/api/v1/workflows/console.wait/trigger";
    let first = api
        .post(
            path,
            json!({"input": "a", "idempotency_key": "k-1", "delay": "1h"}),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["run"]["status"], "pending");
    assert_eq!(first.body["run"]["idempotency_key"], "k-1");
    let again = api
        .post(
            path,
            json!({"input": "a", "idempotency_key": "k-1", "delay": "1h"}),
        )
        .await;
    assert_eq!(again.body["run"]["id"], first.body["run"]["id"]);
    let conflict = api
        .post_refused(
            path,
            r#"{"input": "b", "idempotency_key": "k-1"}"#,
            409,
            "idempotency_conflict",
        )
        .await;
    assert!(conflict.contains("k-1"), "{conflict}");
    let later = api
        .post(
            path,
            json!({"input": "c", "start_at": 4_102_444_800_000u64}),
        )
        .await;
    assert_eq!(later.status, 200, "{}", later.body);
    assert_eq!(later.body["run"]["status"], "pending");
    let in_ms = api
        .post(path, json!({"input": "d", "delay": 3_600_000}))
        .await;
    assert_eq!(in_ms.status, 200, "{}", in_ms.body);
    assert_eq!(api.total_runs().await, 3);
}

#[tokio::test]
async fn a_trigger_sets_the_runs_priority() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    let path = "/api/v1/workflows/console.wait/trigger";
    let urgent = api
        .post(path, json!({"input": "a", "delay": "1h", "priority": 7}))
        .await;
    assert_eq!(urgent.status, 200, "{}", urgent.body);
    let plain = api.post(path, json!({"input": "b", "delay": "1h"})).await;
    assert_eq!(plain.status, 200, "{}", plain.body);
    if let Db::Test(stored) = &db {
        let priority = |answer: &Value| {
            format!(
                "SELECT CAST(priority AS BIGINT) FROM wf_instance WHERE CAST(id AS TEXT) = '{}'",
                answer["run"]["id"].as_str().unwrap()
            )
        };
        assert_eq!(stored.count(&priority(&urgent.body)).await, 7);
        assert_eq!(stored.count(&priority(&plain.body)).await, 0);
    }
    for bad in [
        r#"{"input": "c", "priority": "high"}"#,
        r#"{"input": "c", "priority": 1.5}"#,
        r#"{"input": "c", "priority": 3000000000}"#,
    ] {
        api.post_refused(path, bad, 422, "invalid_request").await;
    }
}

#[tokio::test]
async fn bad_triggers_are_refused_and_write_nothing() {
    let db = test_db!();
    let api = Api::with(&db.engine().await, |console| {
        console.max_body_bytes(3 << 20)
    });
    let order = "/api/v1/workflows/console.order/trigger";
    let unknown = api
        .post_refused(
            "/api/v1/workflows/nope/trigger",
            r#"{"input": 1}"#,
            404,
            "unknown_workflow",
        )
        .await;
    assert!(
        unknown.contains("console.order"),
        "lists the registered: {unknown}"
    );
    api.post_refused(order, r#"{"input": {"order_id": "#, 400, "invalid_json")
        .await;
    api.post_refused(order, "", 400, "invalid_json").await;
    let violation = api
        .post_refused(
            order,
            r#"{"input": {"order_id": "o-1", "amount": "five"}}"#,
            422,
            "invalid_input",
        )
        .await;
    assert!(violation.contains("amount"), "names the field: {violation}");
    let missing = api
        .post_refused(order, r#"{"input": {"amount": 5}}"#, 422, "invalid_input")
        .await;
    assert!(missing.contains("order_id"), "{missing}");
    let typo = api
        .post_refused(order, r#"{"inptu": {}}"#, 422, "invalid_request")
        .await;
    assert!(typo.contains("inptu"), "{typo}");
    api.post_refused(
        order,
        r#"{"input": {"order_id": "o", "amount": 1}, "delay": "5 minutes"}"#,
        422,
        "invalid_request",
    )
    .await;
    api.post_refused(
        order,
        r#"{"input": {"order_id": "o", "amount": 1}, "delay": "1m", "start_at": 1}"#,
        422,
        "invalid_request",
    )
    .await;
    // Over the engine's 1 MiB input limit, under the console's body limit:
    // the engine's refusal, naming its limit.
    let big = json!({"input": {"order_id": "x".repeat(1_100_000), "amount": 1}}).to_string();
    let limit = api
        .post_refused(order, &big, 413, "payload_too_large")
        .await;
    assert!(limit.contains("max_input_bytes"), "{limit}");
    // Over the console's body limit: refused before the engine sees it.
    let huge = json!({"input": {"order_id": "x".repeat(4 << 20), "amount": 1}}).to_string();
    api.post_refused(order, &huge, 413, "payload_too_large")
        .await;
    let plain = Api::request(axum::http::Method::POST, order)
        .header("content-type", "text/plain")
        .body(axum::body::Body::from(r#"{"input": 1}"#))
        .unwrap();
    api.refused(plain, 415, "unsupported_media_type").await;
}
