//! Actions on one run and events: cancel, retry, pause, resume, signal,
//! send an event (and the runs it starts and cancels), the list of events
//! (with the runs each started and cancelled); and the actions refused: an
//! unknown run, a run in the wrong status, a body that is not JSON or is
//! too large.

use durable::prelude::*;
use serde_json::json;

use super::workflows::trigger;
use super::{Api, UNKNOWN_RUN, wait_for};

#[tokio::test]
async fn cancel_ends_a_suspended_run_and_refuses_a_finished_one() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    let id = trigger(&api, "console.wait", json!("a")).await;
    wait_for(&api, &id, "suspended").await;
    let cancelled = api
        .post(&format!("/api/v1/runs/{id}/cancel"), json!({}))
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(cancelled.body["run"]["status"], "cancelled");
    let again = api
        .post_refused(
            &format!("/api/v1/runs/{id}/cancel"),
            "",
            409,
            "invalid_transition",
        )
        .await;
    assert!(again.contains("it is cancelled"), "{again}");
    let retry = api
        .post_refused(
            &format!("/api/v1/runs/{id}/retry"),
            "",
            409,
            "invalid_transition",
        )
        .await;
    assert!(
        retry.contains("failed or timed out") || retry.contains("failed"),
        "{retry}"
    );
    api.post_refused(
        &format!("/api/v1/runs/{UNKNOWN_RUN}/cancel"),
        "",
        404,
        "run_not_found",
    )
    .await;
    api.post_refused(
        &format!("/api/v1/runs/{UNKNOWN_RUN}/retry"),
        "",
        404,
        "run_not_found",
    )
    .await;
    api.post_refused("/api/v1/runs/x/cancel", "", 400, "invalid_path")
        .await;
}

#[tokio::test]
async fn pause_holds_a_run_until_resume_and_refuses_a_finished_one() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    let id = trigger(&api, "console.wait", json!("p")).await;
    wait_for(&api, &id, "suspended").await;
    let paused = api
        .post(&format!("/api/v1/runs/{id}/pause"), json!({}))
        .await;
    assert_eq!(paused.status, 200, "{}", paused.body);
    assert_eq!(paused.body["run"]["status"], "suspended");
    assert!(paused.body["run"]["paused_at"].is_i64(), "{}", paused.body);
    // The signal it waits for is kept, but does not wake a paused run.
    let signal = api
        .post(
            &format!("/api/v1/runs/{id}/signal"),
            json!({"name": "approve", "data": true}),
        )
        .await;
    assert_eq!(signal.status, 200, "{}", signal.body);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let detail = api.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(detail.body["run"]["status"], "suspended", "{}", detail.body);

    let resumed = api
        .post(&format!("/api/v1/runs/{id}/resume"), json!({}))
        .await;
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    assert!(
        resumed.body["run"]["paused_at"].is_null(),
        "{}",
        resumed.body
    );
    let done = wait_for(&api, &id, "completed").await;
    assert_eq!(done["run"]["output"]["value"], json!("p: Some(true)"));

    for action in ["pause", "resume"] {
        let refused = api
            .post_refused(
                &format!("/api/v1/runs/{id}/{action}"),
                "",
                409,
                "invalid_transition",
            )
            .await;
        assert!(refused.contains("it is completed"), "{refused}");
        api.post_refused(
            &format!("/api/v1/runs/{UNKNOWN_RUN}/{action}"),
            "",
            404,
            "run_not_found",
        )
        .await;
    }
}

#[tokio::test]
async fn fork_starts_a_new_run_from_a_step_and_refuses_what_it_cannot() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    let id = trigger(&api, "console.fail", json!("declined")).await;
    wait_for(&api, &id, "failed").await;
    let forked = api
        .post(
            &format!("/api/v1/runs/{id}/fork"),
            json!({"from_step": "boom", "input": "expired"}),
        )
        .await;
    assert_eq!(forked.status, 200, "{}", forked.body);
    let new = forked.body["run"]["id"].as_str().unwrap().to_owned();
    assert_ne!(new, id);
    assert_eq!(
        forked.body["run"]["forked_from"],
        json!({"run": id, "step": "boom"})
    );
    let ended = wait_for(&api, &new, "failed").await;
    assert!(
        ended["run"]["error"].to_string().contains("expired"),
        "the fork ran with its new input: {ended}"
    );
    // The source is as it was, and names no origin.
    let source = api.get(&format!("/api/v1/runs/{id}")).await;
    assert!(source.body["run"]["forked_from"].is_null());

    let missing = api
        .post_refused(
            &format!("/api/v1/runs/{id}/fork"),
            r#"{"from_step": "nope"}"#,
            404,
            "step_not_found",
        )
        .await;
    assert!(missing.contains("nope"), "{missing}");
    api.post_refused(
        &format!("/api/v1/runs/{id}/fork"),
        r#"{"input": 1}"#,
        422,
        "invalid_request",
    )
    .await;
    let waiting = trigger(&api, "console.wait", json!("w")).await;
    wait_for(&api, &waiting, "suspended").await;
    api.post_refused(
        &format!("/api/v1/runs/{waiting}/fork"),
        r#"{"from_step": "approval"}"#,
        409,
        "invalid_transition",
    )
    .await;
    api.post_refused(
        &format!("/api/v1/runs/{UNKNOWN_RUN}/fork"),
        r#"{"from_step": "boom"}"#,
        404,
        "run_not_found",
    )
    .await;
}

#[tokio::test]
async fn retry_runs_a_failed_run_again() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    let id = trigger(&api, "console.fail", json!("declined")).await;
    let failed = wait_for(&api, &id, "failed").await;
    assert_eq!(failed["run"]["executions"], 1);
    let retried = api
        .post(&format!("/api/v1/runs/{id}/retry"), json!({}))
        .await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_ne!(retried.body["run"]["status"], "failed", "{}", retried.body);
    // It fails again, after a second execution.
    let started = std::time::Instant::now();
    loop {
        let detail = wait_for(&api, &id, "failed").await;
        if detail["run"]["executions"] == 2 {
            break;
        }
        assert!(started.elapsed().as_secs() < 10, "{detail}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_signal_resumes_its_run_and_a_finished_run_refuses_one() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    let id = trigger(&api, "console.wait", json!("b")).await;
    wait_for(&api, &id, "suspended").await;
    let path = format!("/api/v1/runs/{id}/signal");
    let sent = api
        .post(&path, json!({"name": "approve", "data": true}))
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert!(sent.body["id"].is_i64());
    let done = wait_for(&api, &id, "completed").await;
    assert_eq!(done["run"]["output"]["value"], "b: Some(true)");
    api.post_refused(
        &path,
        r#"{"name": "approve", "data": true}"#,
        409,
        "invalid_transition",
    )
    .await;
    api.post_refused(
        &format!("/api/v1/runs/{UNKNOWN_RUN}/signal"),
        r#"{"name": "approve"}"#,
        404,
        "run_not_found",
    )
    .await;
}

#[tokio::test]
async fn an_event_wakes_its_waiter_and_is_listed_with_it() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    let id = trigger(&api, "console.event", json!(42)).await;
    wait_for(&api, &id, "suspended").await;
    let sent = api
        .post(
            "/api/v1/events",
            json!({"name": "console.paid", "data": {"order": 42, "cents": 900}}),
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert_eq!(sent.body["woken"], json!([id]));
    let done = wait_for(&api, &id, "completed").await;
    assert_eq!(done["run"]["output"]["value"], 900);
    let events = api.get("/api/v1/events?name=console.paid").await;
    assert_eq!(events.status, 200, "{}", events.body);
    let listed = &events.body["events"][0];
    assert_eq!(listed["data"]["value"]["cents"], 900);
    assert_eq!(listed["woke"], json!([id]));
}

#[tokio::test]
async fn events_are_paged_newest_first_by_their_cursor() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    for n in 0..3 {
        let sent = api
            .post("/api/v1/events", json!({"name": "console.page", "data": n}))
            .await;
        assert_eq!(sent.status, 200, "{}", sent.body);
    }
    let data = |page: &serde_json::Value| -> Vec<serde_json::Value> {
        page["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|event| event["data"]["value"].clone())
            .collect()
    };
    let first = api.get("/api/v1/events?name=console.page&limit=2").await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(data(&first.body), [json!(2), json!(1)], "{}", first.body);
    let next = first.body["next"].as_i64().expect("a next page");
    let second = api
        .get(&format!(
            "/api/v1/events?name=console.page&limit=2&before={next}"
        ))
        .await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(data(&second.body), [json!(0)], "{}", second.body);
    assert_eq!(second.body["next"], json!(null), "{}", second.body);
    api.get_refused("/api/v1/events?before=soon", 400, "invalid_query")
        .await;
}

#[tokio::test]
async fn bad_events_and_signals_are_refused() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    let id = trigger(&api, "console.wait", json!("c")).await;
    let signal = format!("/api/v1/runs/{id}/signal");
    for path in ["/api/v1/events", signal.as_str()] {
        api.post_refused(path, r#"{"name": "x", "data": "#, 400, "invalid_json")
            .await;
        api.post_refused(path, r#"{"name": "", "data": 1}"#, 400, "invalid_event")
            .await;
        let missing = api
            .post_refused(path, r#"{"data": 1}"#, 422, "invalid_request")
            .await;
        assert!(missing.contains("name"), "{missing}");
        let big = json!({"name": "x", "data": "y".repeat(1_100_000)}).to_string();
        let limit = api.post_refused(path, &big, 413, "payload_too_large").await;
        assert!(limit.contains("bytes"), "{limit}");
    }
    let events = api.get("/api/v1/events").await;
    assert_eq!(events.body["events"], json!([]), "nothing was stored");
}

#[workflow(name = "console.on-order", on_event = "console.order.*")]
async fn on_order(ctx: Ctx, order: u32) -> Result<u32, Error> {
    ctx.run("double", async || Ok::<_, StepError>(order * 2))
        .await
}

#[tokio::test]
async fn an_event_sent_through_the_api_starts_its_workflows_and_names_them() {
    let db = test_db!();
    let engine = db.builder().register(OnOrder).start().await.unwrap();
    let api = Api::new(&engine);
    let sent = api
        .post(
            "/api/v1/events",
            json!({"name": "console.order.created", "data": 21}),
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert_eq!(sent.body["trigger_errors"], json!([]));
    let id = sent.body["started"][0]
        .as_str()
        .expect("a started run")
        .to_owned();
    let done = wait_for(&api, &id, "completed").await;
    assert_eq!(done["run"]["output"]["value"], 42);
    assert_eq!(done["run"]["event_id"], sent.body["id"]);
    let refused = api
        .post(
            "/api/v1/events",
            json!({"name": "console.order.created", "data": "x"}),
        )
        .await;
    assert_eq!(refused.body["started"], json!([]));
    assert_eq!(
        refused.body["trigger_errors"][0]["workflow"],
        "console.on-order"
    );
    let events = api.get("/api/v1/events?name=console.order.created").await;
    let listed = &events.body["events"];
    assert_eq!(listed[1]["started"], json!([id]));
    assert_eq!(listed[0]["trigger_errors"], refused.body["trigger_errors"]);
}

#[workflow(
    name = "console.cancellable",
    cancel_on(event = "console.order.voided", match = "order")
)]
async fn cancellable(ctx: Ctx, order: u32, shop: String) -> Result<(), Error> {
    let _ = (order, shop);
    ctx.sleep("nap", "1h").await
}

#[tokio::test]
async fn the_events_route_lists_the_runs_an_event_cancelled() {
    let db = test_db!();
    let engine = db.builder().register(Cancellable).start().await.unwrap();
    let api = Api::new(&engine);
    let run = Cancellable::trigger(&engine, 5, "s".into()).await.unwrap();
    let other = Cancellable::trigger(&engine, 6, "s".into()).await.unwrap();
    for handle in [&run, &other] {
        wait_for(&api, &handle.id().to_string(), "suspended").await;
    }
    let sent = api
        .post(
            "/api/v1/events",
            json!({"name": "console.order.voided", "data": {"order": 5}}),
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert_eq!(sent.body["cancelled"], json!([run.id().to_string()]));
    let events = api.get("/api/v1/events?name=console.order.voided").await;
    let listed = &events.body["events"][0];
    assert_eq!(listed["id"], sent.body["id"]);
    assert_eq!(listed["cancelled"], sent.body["cancelled"], "{listed}");
    // The document describes every field of the listed event.
    let document = api.get("/openapi.json").await.body;
    let schema = &document["components"]["schemas"]["Event"];
    for key in listed.as_object().unwrap().keys() {
        assert!(
            schema["properties"][key].is_object(),
            "{key} is not documented"
        );
    }
    for key in schema["required"].as_array().unwrap() {
        assert!(
            listed.get(key.as_str().unwrap()).is_some(),
            "{key} is missing"
        );
    }
}
