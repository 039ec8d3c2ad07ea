//! The Runs page and the run inspector in a real browser (Debian's headless
//! Chromium through chromedriver, as `browser.rs`): each run's queue as a
//! column and a filter, a run in a queue no worker serves marked in its
//! inspector, the paused filter, bulk pause and resume by filter, and a
//! `ctx.group` shown with its inner steps in the step list and as a lane
//! in the graph. Without chromium the tests print a notice and pass,
//! except in CI (`CI=true`). Screenshots go to
//! `target/console-screenshots/`.

// Each browser test binary uses a part of the harness.
#[allow(dead_code)]
#[path = "browser/harness.rs"]
mod harness;

use durable::prelude::*;
use durable::{Engine, RunId, RunStatus};
use fantoccini::Client;
use harness::{
    Browser, ONE_BROWSER, TOKEN, appears, attribute, click, js, screenshot, serve, set_value, stop,
    text, until, visit, wait_status,
};

/// Holds until the signal `go` (an hour at most): a run that stays
/// suspended in the default queue.
#[workflow(name = "ui.hold")]
async fn hold(ctx: Ctx, label: String) -> Result<String, Error> {
    let go: Option<bool> = ctx.listen("go", "go").timeout("1h").await?;
    Ok(format!("{label}: {go:?}"))
}

/// In the queue `billing`, which the tests' engine does not serve: its
/// runs stay pending.
#[workflow(name = "ui.bill", queue = "billing")]
async fn bill(ctx: Ctx, label: String) -> Result<String, Error> {
    ctx.run("charge", async || Ok::<_, StepError>(label.clone()))
        .await
}

/// A group of two steps, then one more step.
#[workflow(name = "ui.grouped")]
async fn grouped(ctx: Ctx, _input: ()) -> Result<String, Error> {
    let tracking: String = ctx
        .group("ship", async |ctx: Ctx| {
            ctx.run("pack", async || Ok::<_, StepError>(3)).await?;
            ctx.run("label", async || Ok::<_, StepError>("TRK-1".to_string()))
                .await
        })
        .await?;
    ctx.run("notify", async || Ok::<_, StepError>(tracking.clone()))
        .await
}

/// `return` the rows of the runs table as `[id, queue cell, paused]`.
const ROWS: &str = "return [...document.querySelectorAll('tr[data-run]')].map(r => [r.dataset.run, r.cells[3].textContent, r.dataset.paused === 'true'])";

/// Waits until the runs table shows exactly the runs `ids` (any order).
async fn rows_are(client: &Client, what: &str, ids: &[RunId]) -> serde_json::Value {
    let mut ids: Vec<String> = ids.iter().map(RunId::to_string).collect();
    ids.sort();
    let script = format!(
        "const ids = [...document.querySelectorAll('tr[data-run]')].map(r => r.dataset.run).sort(); \
         return JSON.stringify(ids) === {} && ids.length > 0",
        json!(serde_json::to_string(&ids).unwrap())
    );
    until(client, what, &script).await;
    js(client, ROWS).await
}

/// Whether run `id` is paused now.
async fn paused(engine: &Engine, id: RunId) -> bool {
    engine
        .run(id)
        .info()
        .await
        .expect("info")
        .paused_at
        .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runs_page_shows_queues_and_pauses_and_resumes_in_bulk() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let _alone = ONE_BROWSER.lock().await;
    let engine = Engine::builder()
        .sqlite_memory()
        .register(Hold)
        .register(Bill)
        .start()
        .await
        .expect("the engine starts");
    let mut held = Vec::new();
    for label in ["h1", "h2"] {
        held.push(Hold::trigger(&engine, label.into()).await.unwrap().id());
    }
    for id in &held {
        wait_status(&engine, *id, RunStatus::Suspended).await;
    }
    let billed = Bill::trigger(&engine, "b1".into()).await.unwrap().id();
    let (console, base) = serve(&engine).await;
    let driver = browser.driver().await;
    let client = browser.session(&driver).await;

    // Each run's queue is a column.
    visit(&client, &format!("{base}/?token={TOKEN}#/runs")).await;
    let rows = rows_are(&client, "every run", &[held[0], held[1], billed]).await;
    for row in rows.as_array().unwrap() {
        let queue = if row[0] == billed.to_string().as_str() {
            "billing"
        } else {
            "default"
        };
        assert_eq!(row[1], queue, "{rows}");
    }
    let header = js(
        &client,
        "return document.querySelectorAll('table.runs th')[3].textContent",
    )
    .await;
    assert_eq!(header, "queue");
    screenshot(&client, "", "runs-queue-column").await;

    // The queue filter keeps the billing run only, in the URL.
    set_value(&client, ".filters input[name=queue]", "billing").await;
    click(&client, ".filters button[type=submit]").await;
    until(
        &client,
        "the queue in the URL",
        "return location.hash.includes('queue=billing')",
    )
    .await;
    rows_are(&client, "the billing run only", &[billed]).await;
    screenshot(&client, "", "runs-filtered-queue").await;

    // The billing run's inspector says no worker serves its queue; a run
    // of the default queue, which the engine serves, says nothing of it.
    visit(&client, &format!("{base}/#/run/{billed}")).await;
    let marker = text(&client, "[data-unserved-queue=billing]").await;
    assert!(
        marker.contains("queue billing: no worker serves it"),
        "{marker}"
    );
    screenshot(&client, "", "inspector-unserved-queue").await;
    visit(&client, &format!("{base}/#/run/{}", held[0])).await;
    until(
        &client,
        "the held run's queue",
        &format!(
            "return document.querySelector('h1')?.textContent.includes('{}') && document.querySelector('#run-queue')?.textContent",
            held[0]
        ),
    )
    .await;
    let queue = text(&client, "#run-queue").await;
    assert_eq!(queue, "default", "a served queue is not marked");

    // The paused filter keeps the paused run only.
    engine.run(held[0]).pause().await.expect("pause");
    visit(&client, &format!("{base}/#/runs")).await;
    rows_are(&client, "every run", &[held[0], held[1], billed]).await;
    click(&client, ".filters input[name=paused]").await;
    click(&client, ".filters button[type=submit]").await;
    until(
        &client,
        "paused in the URL",
        "return location.hash.includes('paused=true')",
    )
    .await;
    let rows = rows_are(&client, "the paused run only", &[held[0]]).await;
    assert_eq!(rows[0][2], true, "the row says it is paused: {rows}");
    assert!(
        text(&client, "tr[data-run] .paused-mark")
            .await
            .contains("paused")
    );
    screenshot(&client, "", "runs-filtered-paused").await;
    engine.run(held[0]).resume().await.expect("resume");

    // Bulk pause of every run of a filter: the dry run's count first, then
    // both runs paused; then bulk resume of them.
    visit(&client, &format!("{base}/#/runs?workflow=ui.hold")).await;
    rows_are(&client, "the held runs", &held).await;
    for (action, done) in [("pause", true), ("resume", false)] {
        click(&client, &format!("[data-bulk={action}-filter]")).await;
        let dry = attribute(&client, "[data-dry-run]", "data-dry-run").await;
        assert_eq!(dry, "2", "{action}");
        for id in &held {
            assert_eq!(paused(&engine, *id).await, !done, "a dry run changed {id}");
        }
        screenshot(&client, "", &format!("runs-bulk-{action}-count")).await;
        click(&client, &format!("[data-confirm={action}]")).await;
        let said = text(&client, &format!("[data-done={action}]")).await;
        assert!(
            said.contains("2 matched, 2 succeeded, 0 failed"),
            "{action}: {said}"
        );
        for id in &held {
            assert_eq!(paused(&engine, *id).await, done, "{action} {id}");
        }
        // The list drawn again shows what the action did.
        let rows = until(
            &client,
            &format!("the rows after {action}"),
            &format!(
                "const rows = [...document.querySelectorAll('tr[data-run]')]; \
                 return rows.length === 2 && rows.every(r => (r.dataset.paused === 'true') === {done})"
            ),
        )
        .await;
        assert_eq!(rows, true);
        screenshot(&client, "", &format!("runs-bulk-{action}-done")).await;
    }

    client.close().await.expect("close");
    drop(driver);
    stop(console, engine).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inspector_shows_a_group_with_its_inner_steps() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let _alone = ONE_BROWSER.lock().await;
    let engine = Engine::builder()
        .sqlite_memory()
        .register(Grouped)
        .start()
        .await
        .expect("the engine starts");
    let run = Grouped::trigger(&engine, ()).await.expect("trigger");
    assert_eq!(run.result().await.expect("ui.grouped completes"), "TRK-1");
    let (console, base) = serve(&engine).await;
    let driver = browser.driver().await;
    let client = browser.session(&driver).await;

    // The step list: the group, then its two steps under it, named within
    // it, then the step after it.
    visit(&client, &format!("{base}/?token={TOKEN}#/run/{}", run.id())).await;
    appears(&client, "button[data-step=\"notify\"]").await;
    let steps = js(
        &client,
        "return [...document.querySelectorAll('table.steps tbody tr[data-seq]')].map(r => \
         [r.querySelector('[data-step]').dataset.step, r.cells[2].textContent, r.dataset.group ?? null, \
          r.querySelector('[data-step]').childNodes[r.querySelector('[data-step]').childNodes.length - 1].textContent, \
          parseFloat(getComputedStyle(r.cells[1]).paddingLeft)])",
    )
    .await;
    let steps = steps.as_array().expect("rows");
    let names: Vec<_> = steps.iter().map(|row| row[0].clone()).collect();
    assert_eq!(
        json!(names),
        json!(["ship", "ship/pack", "ship/label", "notify"]),
        "{steps:?}"
    );
    assert_eq!(steps[0][1], "group");
    for inner in &steps[1..3] {
        assert_eq!(inner[2], "ship", "{inner}");
        assert!(
            inner[4].as_f64() > steps[0][4].as_f64(),
            "indented under the group: {steps:?}"
        );
    }
    assert_eq!(
        (steps[1][3].clone(), steps[2][3].clone()),
        (json!("pack"), json!("label"))
    );
    assert_eq!(steps[3][2], serde_json::Value::Null);
    screenshot(&client, "", "inspector-steps-group").await;

    // The graph: the group's node with its lane of two steps under it, all
    // done, then the step after it.
    click(&client, "a[data-view=graph]").await;
    let nodes = until(
        &client,
        "the graph's nodes",
        "const nodes = [...document.querySelectorAll('svg.graph g.node')]; \
         return nodes.length === 4 && nodes.map(g => { const m = /translate\\(([-\\d.]+),([-\\d.]+)\\)/.exec(g.getAttribute('transform')); \
         return [g.dataset.node, g.dataset.state, +m[1], +m[2]]; })",
    )
    .await;
    let nodes = nodes.as_array().expect("nodes");
    let by = |label: &str| {
        nodes
            .iter()
            .find(|node| node[0] == label)
            .unwrap_or_else(|| panic!("no node {label}: {nodes:?}"))
    };
    for label in ["ship", "pack", "label", "notify"] {
        assert_eq!(by(label)[1], "done", "{nodes:?}");
    }
    let y = |label: &str| by(label)[3].as_f64().unwrap();
    assert!(
        y("pack") > y("ship") && y("label") > y("pack") && y("notify") > y("label"),
        "the lane hangs under the group, the next step after it: {nodes:?}"
    );
    let x = |label: &str| by(label)[2].as_f64().unwrap();
    assert!(
        (x("pack") - x("label")).abs() < 0.5,
        "the group's steps are one lane: {nodes:?}"
    );
    // The lane is framed: the frame holds the group's two steps only.
    let frame = js(
        &client,
        "const r = document.querySelector('svg.graph rect.lane-frame[data-group=ship]'); \
         return r && ['x', 'y', 'width', 'height'].map(a => +r.getAttribute(a))",
    )
    .await;
    let frame: Vec<f64> = frame
        .as_array()
        .unwrap_or_else(|| panic!("no frame around the group's lane"))
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .collect();
    let inside = |label: &str| {
        let (x, y) = (x(label), y(label));
        x >= frame[0] && x < frame[0] + frame[2] && y >= frame[1] && y < frame[1] + frame[3]
    };
    assert!(
        inside("pack") && inside("label") && !inside("ship") && !inside("notify"),
        "{frame:?} {nodes:?}"
    );
    screenshot(&client, "", "inspector-graph-group").await;

    client.close().await.expect("close");
    drop(driver);
    stop(console, engine).await;
}
