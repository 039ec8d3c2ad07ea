//! Stats: counts by workflow and status with totals, the per-minute series,
//! and the service routes (`/healthz`, `/openapi.json`).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::workflows::{trigger, trigger_with};
use super::{Api, Db, wait_for};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn counts_and_the_series_show_what_ran() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    let from = now_ms() - 60_000;
    let ok = trigger(&api, "console.order", json!({"order_id": "o", "amount": 1})).await;
    let bad = trigger(&api, "console.fail", json!("no")).await;
    wait_for(&api, &ok, "completed").await;
    wait_for(&api, &bad, "failed").await;

    let counts = api.get("/api/v1/stats/counts").await;
    assert_eq!(counts.status, 200, "{}", counts.body);
    assert_eq!(counts.body["total"], 2);
    assert_eq!(counts.body["by_status"]["completed"], 1);
    assert_eq!(counts.body["by_status"]["failed"], 1);
    assert_eq!(counts.body["by_status"]["pending"], 0);
    let listed = counts.body["counts"].as_array().unwrap();
    assert!(listed.contains(&json!({"workflow": "console.fail", "status": "failed", "count": 1})));

    let until = now_ms() + 60_000;
    let series = api
        .get(&format!("/api/v1/stats/series?from={from}&until={until}"))
        .await;
    assert_eq!(series.status, 200, "{}", series.body);
    let minutes = series.body["minutes"].as_array().unwrap();
    let sum = |field: &str| {
        minutes
            .iter()
            .map(|m| m[field].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(sum("completed"), 1);
    assert_eq!(sum("failed"), 1);
    assert_eq!(sum("started"), 2);
    let default = api.get("/api/v1/stats/series").await;
    assert_eq!(default.status, 200, "{}", default.body);
    assert_eq!(default.body["minutes"].as_array().unwrap().len(), 60);
}

#[tokio::test]
async fn counts_say_how_long_the_oldest_due_pending_run_has_waited() {
    let db = test_db!();
    // No worker may claim the run: a worker records the suite's workflows
    // in the catalog and stops, then a client (which claims nothing) on a
    // clock the test moves triggers them. An in-memory database ends with
    // its engine, so only the file and PostgreSQL variants can do this.
    let Db::Test(test) = &db else {
        return;
    };
    db.engine().await.shutdown().await;
    let clock = durable::ManualClock::new(now_ms());
    let client = test
        .builder()
        .clock(clock.clone())
        .client()
        .await
        .expect("the client opens");
    let api = Api::new(&client);
    let idle = api.get("/api/v1/stats/counts").await;
    assert_eq!(idle.status, 200, "{}", idle.body);
    assert_eq!(idle.body["oldest_pending_ms"], json!(null), "{}", idle.body);

    let first = trigger(&api, "console.order", json!({"order_id": "a", "amount": 1})).await;
    clock.advance(std::time::Duration::from_secs(90));
    trigger(&api, "console.order", json!({"order_id": "b", "amount": 1})).await;
    // A delayed run is pending, but not due: it does not count.
    trigger_with(
        &api,
        "console.order",
        json!({"input": {"order_id": "c", "amount": 1}, "delay": "1h"}),
    )
    .await;
    let counts = api.get("/api/v1/stats/counts").await;
    assert_eq!(counts.status, 200, "{}", counts.body);
    assert_eq!(counts.body["by_status"]["pending"], 3, "{}", counts.body);
    assert_eq!(counts.body["oldest_pending_ms"], 90_000, "{}", counts.body);

    // Once the oldest is cancelled, the next one's wait is the oldest.
    let answer = api
        .post(&format!("/api/v1/runs/{first}/cancel"), json!({}))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let counts = api.get("/api/v1/stats/counts").await;
    assert_eq!(counts.body["oldest_pending_ms"], 0, "{}", counts.body);
    client.shutdown().await;
}

#[tokio::test]
async fn a_bad_series_range_is_refused() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    api.get_refused(
        "/api/v1/stats/series?from=10&until=5",
        400,
        "invalid_filter",
    )
    .await;
    let day = api
        .get_refused(
            "/api/v1/stats/series?from=0&until=864000000",
            400,
            "invalid_filter",
        )
        .await;
    assert!(
        day.contains("1440 minutes") || day.contains("1,440") || day.contains("1440"),
        "{day}"
    );
    api.get_refused("/api/v1/stats/series?from=yesterday", 400, "invalid_query")
        .await;
    api.get_refused("/api/v1/stats/series?step=1m", 400, "invalid_query")
        .await;
}

#[tokio::test]
async fn health_and_the_document_answer() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    let health = api.get("/healthz").await;
    assert_eq!(health.body, json!({"status": "ok", "read_only": false}));
    let document = api.get("/openapi.json").await;
    assert_eq!(document.status, 200);
    assert_eq!(document.headers["content-type"], "application/json");
    assert_eq!(document.body["openapi"], "3.1.0");
    assert!(document.body["paths"]["/api/v1/runs"]["get"].is_object());
}
