//! The runs waiting for a version no live worker serves, as the API shows
//! them: the runs list's `unserved` filter, the count per pinned version on
//! the workflows list and one workflow, the total in the stats, and the
//! `durable_runs_unserved` gauge of `/metrics`; gone once a worker of the
//! version starts again.

use axum::body::Body;
use axum::http::Method;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::workflows::trigger;
use super::{Api, Db, wait_for};

/// The text of `GET /metrics`.
async fn metrics(api: &Api) -> String {
    let request = Api::request(Method::GET, "/metrics")
        .body(Body::empty())
        .unwrap();
    let response = api.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The ids of the runs `GET /api/v1/runs?{query}` lists.
async fn listed(api: &Api, query: &str) -> Vec<Value> {
    let answer = api.get(&format!("/api/v1/runs?{query}")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["id"].clone())
        .collect()
}

#[tokio::test]
async fn runs_no_live_worker_serves_are_listed_and_counted_per_version() {
    let db = test_db!();
    let Db::Test(test) = &db else {
        // An in-memory database dies with its engine: no run outlives it.
        return;
    };
    // A worker starts a run that waits, and stops.
    let worker = db.engine().await;
    let served = Api::new(&worker);
    let id = trigger(&served, "console.wait", json!("left")).await;
    wait_for(&served, &id, "suspended").await;
    assert_eq!(listed(&served, "unserved=true").await, [] as [Value; 0]);
    let counts = served.get("/api/v1/stats/counts").await;
    assert_eq!(counts.body["unserved"], 0, "{}", counts.body);
    worker.shutdown().await;
    drop((served, worker));

    // A standalone console: no live worker serves the run's version.
    let client = test.builder().client().await.unwrap();
    let api = Api::new(&client);
    assert_eq!(listed(&api, "unserved=true").await, [json!(id)]);
    assert_eq!(
        listed(&api, "unserved=true&workflow=console.order").await,
        [] as [Value; 0]
    );
    assert_eq!(
        listed(&api, "unserved=true&status=completed").await,
        [] as [Value; 0]
    );
    let one = api.get("/api/v1/workflows/console.wait").await;
    assert_eq!(one.status, 200, "{}", one.body);
    // An undeclared version: runs are pinned to its fingerprint.
    let version = one.body["fingerprint"].clone();
    assert_eq!(
        one.body["unserved"],
        json!([{ "version": version, "runs": 1 }])
    );
    let list = api.get("/api/v1/workflows").await;
    let workflows = list.body["workflows"].as_array().unwrap();
    let wait = workflows
        .iter()
        .find(|w| w["name"] == "console.wait")
        .unwrap();
    assert_eq!(wait["unserved"], one.body["unserved"]);
    let order = workflows
        .iter()
        .find(|w| w["name"] == "console.order")
        .unwrap();
    assert_eq!(order["unserved"], json!([]));
    let counts = api.get("/api/v1/stats/counts").await;
    assert_eq!(counts.body["unserved"], 1, "{}", counts.body);
    let gauge = format!(
        "durable_runs_unserved{{workflow=\"console.wait\",version=\"{}\"}} 1\n",
        version.as_str().unwrap()
    );
    let text = metrics(&api).await;
    assert!(text.contains(&gauge), "{text}");
    let typo = api
        .get_refused("/api/v1/runs?unserved=yes", 400, "invalid_query")
        .await;
    assert!(typo.contains("`unserved`"), "{typo}");
    let dry = api
        .post(
            "/api/v1/runs/cancel",
            json!({ "filter": { "unserved": true }, "dry_run": true }),
        )
        .await;
    assert_eq!(dry.status, 200, "{}", dry.body);
    assert_eq!(dry.body["matched"], 1, "{}", dry.body);
    client.shutdown().await;
    drop((api, client));

    // A worker of that version starts again: nothing waits.
    let again = db.engine().await;
    let api = Api::new(&again);
    assert_eq!(listed(&api, "unserved=true").await, [] as [Value; 0]);
    let one = api.get("/api/v1/workflows/console.wait").await;
    assert_eq!(one.body["unserved"], json!([]));
    assert!(!metrics(&api).await.contains("durable_runs_unserved{"));
    wait_for(&api, &id, "suspended").await;
}
