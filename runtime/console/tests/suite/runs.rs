//! Reading runs: the list with its filters and cursors, one run with its
//! steps, previews and whole values, logs and children, and the bad reads:
//! unknown runs and steps, ids that are not ids, filters that are not
//! filters.

use serde_json::{Value, json};

use super::workflows::trigger;
use super::{Api, UNKNOWN_RUN, wait_for};

#[tokio::test]
async fn the_list_filters_by_workflow_and_status_and_pages_with_cursors() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    let mut orders = Vec::new();
    for n in 0..5 {
        let id = trigger(
            &api,
            "console.order",
            json!({"order_id": format!("o-{n}"), "amount": n}),
        )
        .await;
        orders.push(id);
    }
    let failed = trigger(&api, "console.fail", json!("declined")).await;
    for id in &orders {
        wait_for(&api, id, "completed").await;
    }
    wait_for(&api, &failed, "failed").await;

    let only_failed = api.get("/api/v1/runs?status=failed,timed_out").await;
    assert_eq!(only_failed.status, 200, "{}", only_failed.body);
    let runs = only_failed.body["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["id"], failed.as_str());
    assert_eq!(runs[0]["error"]["truncated"], false);
    assert!(
        runs[0]["error"]["value"]
            .as_str()
            .unwrap()
            .contains("declined")
    );

    // Two at a time, newest first, following `next` to the end.
    let mut seen = Vec::new();
    let mut path = "/api/v1/runs?workflow=console.order&limit=2".to_owned();
    loop {
        let page = api.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        for run in page.body["runs"].as_array().unwrap() {
            seen.push(run["id"].as_str().unwrap().to_owned());
        }
        match page.body["next"].as_str() {
            Some(next) => {
                path = format!("/api/v1/runs?workflow=console.order&limit=2&after={next}")
            }
            None => break,
        }
    }
    orders.reverse();
    assert_eq!(seen, orders);
    let text = api.get("/api/v1/runs?text=o-3").await;
    assert_eq!(text.body["runs"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_filters_are_refused_naming_the_parameter() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    let status = api
        .get_refused("/api/v1/runs?status=done", 400, "invalid_query")
        .await;
    assert!(status.contains("`done` is not a run status"), "{status}");
    let limit = api
        .get_refused("/api/v1/runs?limit=0", 400, "invalid_filter")
        .await;
    assert!(limit.contains("1 to 200"), "{limit}");
    api.get_refused("/api/v1/runs?limit=lots", 400, "invalid_query")
        .await;
    api.get_refused("/api/v1/runs?after=yesterday", 400, "invalid_filter")
        .await;
    let unknown = api
        .get_refused("/api/v1/runs?stauts=failed", 400, "invalid_query")
        .await;
    assert!(unknown.contains("`stauts`"), "{unknown}");
    let twice = api
        .get_refused("/api/v1/runs?workflow=a&workflow=b", 400, "invalid_query")
        .await;
    assert!(twice.contains("more than once"), "{twice}");
    api.get_refused("/api/v1/runs?parent=nope", 400, "invalid_query")
        .await;
    api.get_refused("/api/v1/runs?created_from=today", 400, "invalid_query")
        .await;
    api.get_refused("/api/v1/events?limit=500", 400, "invalid_filter")
        .await;
    api.get_refused("/api/v1/nope", 404, "not_found").await;
    api.post_refused("/api/v1/runs", "{}", 405, "method_not_allowed")
        .await;
}

#[tokio::test]
async fn a_run_shows_its_steps_and_logs_and_its_whole_values() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    let id = trigger(
        &api,
        "console.order",
        json!({"order_id": "o-7", "amount": 7}),
    )
    .await;
    let detail = wait_for(&api, &id, "completed").await;
    let steps = detail["steps"].as_array().unwrap();
    let charge = steps
        .iter()
        .find(|step| step["name"] == "charge")
        .expect("the charge step");
    assert_eq!(charge["status"], "completed");
    assert_eq!(charge["attempts"], 1);
    assert_eq!(charge["input"]["value"], "o-7");
    assert_eq!(charge["output"]["value"], "receipt-o-7");
    assert!(charge["started_at"].as_i64().unwrap() <= charge["ended_at"].as_i64().unwrap());
    let seq = charge["seq"].as_i64().unwrap();

    let base = format!("/api/v1/runs/{id}");
    assert_eq!(
        api.get(&format!("{base}/input")).await.body,
        json!({"order_id": "o-7", "amount": 7})
    );
    assert_eq!(
        api.get(&format!("{base}/output")).await.body,
        json!("receipt-o-7")
    );
    assert_eq!(
        api.get(&format!("{base}/steps/{seq}/input")).await.body,
        json!("o-7")
    );
    assert_eq!(
        api.get(&format!("{base}/steps/{seq}/output")).await.body,
        json!("receipt-o-7")
    );
    let listed = api.get(&format!("{base}/steps")).await;
    assert_eq!(listed.body.as_array().unwrap().len(), steps.len());
    let no_error = api
        .get_refused(&format!("{base}/error"), 404, "value_not_found")
        .await;
    assert!(no_error.contains("no error"), "{no_error}");
    api.get_refused(&format!("{base}/steps/{seq}/error"), 404, "value_not_found")
        .await;
    api.get_refused(&format!("{base}/steps/999/output"), 404, "step_not_found")
        .await;
    api.get_refused(&format!("{base}/steps/first/output"), 400, "invalid_path")
        .await;

    let logs = api.get(&format!("{base}/logs")).await;
    assert_eq!(logs.status, 200);
    let lines = logs.body.as_array().unwrap();
    assert!(
        lines.iter().any(|line| line["message"] == "charging"),
        "{}",
        logs.body
    );
    assert_eq!(api.get(&format!("{base}/children")).await.body, json!([]));
}

#[tokio::test]
async fn large_values_are_cut_to_a_preview_and_served_whole_apart() {
    let db = test_db!();
    let api = Api::with(&db.engine().await, |console| console.preview_bytes(100));
    let id = trigger(&api, "console.big", json!(5_000)).await;
    let detail = wait_for(&api, &id, "completed").await;
    let step = &detail["steps"][0];
    assert_eq!(step["output"]["truncated"], true);
    assert_eq!(step["output"]["bytes"], 5_000);
    assert_eq!(step["output"]["preview"].as_str().unwrap().len(), 100);
    assert_eq!(detail["run"]["output"]["truncated"], false);
    let seq = step["seq"].as_i64().unwrap();
    let whole = api
        .get(&format!("/api/v1/runs/{id}/steps/{seq}/output"))
        .await;
    assert_eq!(whole.body, Value::String("x".repeat(5_000)));
}

#[tokio::test]
async fn a_failed_step_lists_its_attempts_with_their_times_and_previewed_errors() {
    let db = test_db!();
    let api = Api::with(&db.engine().await, |console| console.preview_bytes(100));
    let reason = "declined ".repeat(50);
    let id = trigger(&api, "console.fail", json!(reason)).await;
    let detail = wait_for(&api, &id, "failed").await;
    let step = &detail["steps"][0];
    let log = step["attempt_log"].as_array().expect("an attempt log");
    assert_eq!(log.len(), 1, "{step}");
    let attempt = &log[0];
    assert_eq!(attempt["attempt"], 1);
    let (started, ended) = (
        attempt["started_at"].as_i64().unwrap(),
        attempt["ended_at"].as_i64().unwrap(),
    );
    assert!(step["started_at"].as_i64().unwrap() <= started && started <= ended);
    assert!(ended <= step["ended_at"].as_i64().unwrap());
    assert_eq!(attempt["error"]["truncated"], true, "{attempt}");
    assert_eq!(attempt["error"]["preview"].as_str().unwrap().len(), 100);

    // The document describes every field the step and its attempts carry.
    let document = api.get("/openapi.json").await.body;
    let schemas = &document["components"]["schemas"];
    for (value, schema) in [(step, &schemas["Step"]), (attempt, &schemas["Attempt"])] {
        for key in value.as_object().unwrap().keys() {
            assert!(
                schema["properties"][key].is_object(),
                "{key} is not documented"
            );
        }
        for key in schema["required"].as_array().unwrap() {
            assert!(
                value.get(key.as_str().unwrap()).is_some(),
                "{key} is missing"
            );
        }
    }
}

#[tokio::test]
async fn a_parent_lists_its_children() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    let id = trigger(&api, "console.parent", json!("o-9")).await;
    let detail = wait_for(&api, &id, "completed").await;
    let children = api.get(&format!("/api/v1/runs/{id}/children")).await;
    let children = children.body.as_array().unwrap().clone();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0]["workflow"], "console.order");
    assert_eq!(children[0]["parent"], id.as_str());
    assert_eq!(detail["children"][0]["id"], children[0]["id"]);
    let by_parent = api.get(&format!("/api/v1/runs?parent={id}")).await;
    assert_eq!(by_parent.body["runs"][0]["id"], children[0]["id"]);
}

#[tokio::test]
async fn unknown_runs_and_ids_that_are_not_ids_are_refused() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    for route in [
        "",
        "/input",
        "/output",
        "/error",
        "/steps",
        "/steps/0/input",
        "/logs",
        "/children",
    ] {
        let message = api
            .get_refused(
                &format!("/api/v1/runs/{UNKNOWN_RUN}{route}"),
                404,
                "run_not_found",
            )
            .await;
        assert!(message.contains(UNKNOWN_RUN), "{route}: {message}");
        api.get_refused(
            &format!("/api/v1/runs/not-a-uuid{route}"),
            400,
            "invalid_path",
        )
        .await;
        // Not UTF-8 once decoded: the router's own refusal, as JSON.
        api.get_refused(&format!("/api/v1/runs/%FF{route}"), 400, "invalid_path")
            .await;
    }
}

/// A group of two steps, then one more: the group's steps count their
/// positions from 0 within it, so two steps of the run share each one.
#[durable::workflow(name = "console.grouped")]
async fn grouped(ctx: durable::Ctx, _input: ()) -> Result<String, durable::Error> {
    use durable::StepError;
    let tracking: String = ctx
        .group("ship", async |ctx: durable::Ctx| {
            ctx.run("pack", async || Ok::<_, StepError>("packed".to_string()))
                .await?;
            ctx.run("label", async || Ok::<_, StepError>("TRK-1".to_string()))
                .await
        })
        .await?;
    ctx.run("notify", async || {
        Ok::<_, StepError>(format!("told {tracking}"))
    })
    .await
}

#[tokio::test]
async fn a_steps_whole_value_is_found_by_its_name_where_positions_repeat() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(Grouped)
        .start()
        .await
        .expect("the engine starts");
    let api = Api::new(&engine);
    let id = trigger(&api, "console.grouped", json!(null)).await;
    let detail = wait_for(&api, &id, "completed").await;
    let seq_of = |name: &str| {
        detail["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|step| step["name"] == name)
            .unwrap_or_else(|| panic!("no step {name}: {detail}"))["seq"]
            .as_i64()
            .unwrap()
    };
    // Each inner step shares its position with a step outside the group.
    assert_eq!(seq_of("ship/label"), seq_of("notify"), "{detail}");
    let base = format!("/api/v1/runs/{id}/steps");
    for (name, output) in [
        ("ship/pack", json!("packed")),
        ("ship/label", json!("TRK-1")),
        ("notify", json!("told TRK-1")),
    ] {
        let seq = seq_of(name);
        let query = serde_urlencoded::to_string([("name", name)]).unwrap();
        assert_eq!(
            api.get(&format!("{base}/{seq}/output?{query}")).await.body,
            output,
            "{name}"
        );
    }
    let seq = seq_of("notify");
    let missing = api
        .get_refused(
            &format!("{base}/{seq}/output?name=ship%2Fbox"),
            404,
            "step_not_found",
        )
        .await;
    assert!(missing.contains("named `ship/box`"), "{missing}");
}
