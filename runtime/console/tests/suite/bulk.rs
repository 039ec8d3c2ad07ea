//! Bulk cancel, retry, pause and resume: by filter across more than one
//! page, by ids, a
//! dry run that only counts, failures reported one by one, and the bulk
//! requests refused: an empty filter, empty ids, both, neither.

use serde_json::json;

use super::workflows::{trigger, trigger_with};
use super::{Api, UNKNOWN_RUN, wait_for};

/// Triggers `n` runs of `console.wait` that start in an hour: they stay
/// pending, and a cancel can end them.
async fn pending_runs(api: &Api, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let body = json!({"input": format!("r-{i}"), "delay": "1h"});
        ids.push(trigger_with(api, "console.wait", body).await);
    }
    ids
}

#[tokio::test]
async fn a_bulk_cancel_by_filter_walks_every_page() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    // More than one page of the largest size (200).
    pending_runs(&api, 205).await;
    let done = trigger(&api, "console.order", json!({"order_id": "o", "amount": 1})).await;
    wait_for(&api, &done, "completed").await;
    let filter = json!({"workflow": "console.wait", "status": ["pending"]});

    let dry = api
        .post(
            "/api/v1/runs/cancel",
            json!({"filter": filter, "dry_run": true}),
        )
        .await;
    assert_eq!(dry.status, 200, "{}", dry.body);
    assert_eq!(dry.body["matched"], 205);
    assert_eq!(dry.body["succeeded"], 0);
    let still = api.get("/api/v1/runs?status=pending&limit=200").await;
    assert_eq!(
        still.body["runs"].as_array().unwrap().len(),
        200,
        "a dry run changes nothing"
    );

    let cancelled = api
        .post("/api/v1/runs/cancel", json!({"filter": filter}))
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(cancelled.body["matched"], 205);
    assert_eq!(cancelled.body["succeeded"], 205);
    assert_eq!(cancelled.body["failed"], 0);
    let counts = api.get("/api/v1/stats/counts").await;
    assert_eq!(counts.body["by_status"]["cancelled"], 205);
    assert_eq!(counts.body["by_status"]["completed"], 1);

    let nothing = api
        .post("/api/v1/runs/cancel", json!({"filter": filter}))
        .await;
    assert_eq!(nothing.status, 200);
    assert_eq!(nothing.body["matched"], 0);
}

#[tokio::test]
async fn a_bulk_action_by_ids_reports_each_failure() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    let failed = trigger(&api, "console.fail", json!("x")).await;
    wait_for(&api, &failed, "failed").await;
    let pending = pending_runs(&api, 1).await.remove(0);
    let ids = json!([failed, pending, UNKNOWN_RUN, failed]);
    let retried = api.post("/api/v1/runs/retry", json!({"ids": ids})).await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(retried.body["matched"], 3, "each id once");
    assert_eq!(retried.body["succeeded"], 1);
    assert_eq!(retried.body["failed"], 2);
    let errors = retried.body["errors"].as_array().unwrap();
    let code_of = |id: &str| {
        errors
            .iter()
            .find(|error| error["id"] == id)
            .map(|error| error["code"].clone())
    };
    assert_eq!(code_of(&pending), Some(json!("invalid_transition")));
    assert_eq!(code_of(UNKNOWN_RUN), Some(json!("run_not_found")));
    assert_eq!(retried.body["errors_omitted"], 0);
}

#[tokio::test]
async fn bulk_requests_without_a_narrowing_filter_are_refused() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    pending_runs(&api, 2).await;
    for path in [
        "/api/v1/runs/cancel",
        "/api/v1/runs/retry",
        "/api/v1/runs/pause",
        "/api/v1/runs/resume",
    ] {
        let empty = api
            .post_refused(path, r#"{"filter": {}}"#, 400, "empty_filter")
            .await;
        assert!(empty.contains("narrows nothing"), "{empty}");
        api.post_refused(
            path,
            r#"{"filter": {"workflow": null}}"#,
            400,
            "empty_filter",
        )
        .await;
        api.post_refused(path, r#"{"ids": []}"#, 400, "empty_filter")
            .await;
        api.post_refused(path, "{}", 400, "empty_filter").await;
        api.post_refused(
            path,
            r#"{"filter": {"workflow": "w"}, "ids": []}"#,
            422,
            "invalid_request",
        )
        .await;
        api.post_refused(path, r#"{"ids": ["nope"]}"#, 422, "invalid_request")
            .await;
        let typo = api
            .post_refused(
                path,
                r#"{"filter": {"workflow": "w"}, "dryrun": true}"#,
                422,
                "invalid_request",
            )
            .await;
        assert!(typo.contains("dryrun"), "a typo never acts: {typo}");
        api.post_refused(
            path,
            r#"{"filter": {"status": "done"}}"#,
            422,
            "invalid_request",
        )
        .await;
        api.post_refused(path, r#"{"filter": {"limit": 5}}"#, 422, "invalid_request")
            .await;
    }
    let pending = api.get("/api/v1/runs?status=pending").await;
    assert_eq!(
        pending.body["runs"].as_array().unwrap().len(),
        2,
        "nothing was cancelled"
    );
}

/// Whether each run named is paused now.
async fn paused(api: &Api, ids: &[String]) -> Vec<bool> {
    let mut paused = Vec::new();
    for id in ids {
        let detail = api.get(&format!("/api/v1/runs/{id}")).await;
        assert_eq!(detail.status, 200, "{}", detail.body);
        paused.push(detail.body["run"]["paused_at"].is_i64());
    }
    paused
}

#[tokio::test]
async fn a_bulk_pause_counts_first_and_a_bulk_resume_undoes_it() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    let ids = pending_runs(&api, 3).await;
    let done = trigger(&api, "console.order", json!({"order_id": "o", "amount": 1})).await;
    wait_for(&api, &done, "completed").await;
    let filter = json!({"workflow": "console.wait"});

    let dry = api
        .post(
            "/api/v1/runs/pause",
            json!({"filter": filter, "dry_run": true}),
        )
        .await;
    assert_eq!(dry.status, 200, "{}", dry.body);
    assert_eq!(
        (&dry.body["matched"], &dry.body["succeeded"]),
        (&json!(3), &json!(0))
    );
    assert_eq!(
        paused(&api, &ids).await,
        [false; 3],
        "a dry run writes nothing"
    );

    let paused_now = api
        .post("/api/v1/runs/pause", json!({"filter": filter}))
        .await;
    assert_eq!(paused_now.status, 200, "{}", paused_now.body);
    assert_eq!(paused_now.body["matched"], 3);
    assert_eq!(paused_now.body["succeeded"], 3);
    assert_eq!(paused_now.body["failed"], 0);
    assert_eq!(paused(&api, &ids).await, [true; 3]);
    let listed = api.get("/api/v1/runs?paused=true").await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["runs"].as_array().unwrap().len(), 3);

    // By ids: the finished run is refused, the others are done.
    let by_ids = json!([ids[0], done, UNKNOWN_RUN]);
    let resumed = api
        .post("/api/v1/runs/resume", json!({"ids": by_ids}))
        .await;
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    assert_eq!(resumed.body["matched"], 3);
    assert_eq!(resumed.body["succeeded"], 1);
    assert_eq!(resumed.body["failed"], 2);
    let errors = resumed.body["errors"].as_array().unwrap();
    let code_of = |id: &str| {
        errors
            .iter()
            .find(|error| error["id"] == id)
            .map(|error| error["code"].clone())
    };
    assert_eq!(code_of(&done), Some(json!("invalid_transition")));
    assert_eq!(code_of(UNKNOWN_RUN), Some(json!("run_not_found")));
    assert_eq!(paused(&api, &ids).await, [false, true, true]);

    // The runs still paused, by the `paused` filter.
    let resumed = api
        .post("/api/v1/runs/resume", json!({"filter": {"paused": true}}))
        .await;
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    assert_eq!(resumed.body["matched"], 2);
    assert_eq!(resumed.body["succeeded"], 2);
    assert_eq!(paused(&api, &ids).await, [false; 3]);
    let listed = api.get("/api/v1/runs?paused=true").await;
    assert!(listed.body["runs"].as_array().unwrap().is_empty());
}
