//! The web console in a real browser: Debian's headless Chromium, driven
//! through chromedriver, on a console served by a real engine, on SQLite and (with
//! `DURABLE_TEST_POSTGRES_URL`) PostgreSQL.
//! Without chromium the test prints a notice and passes, except in CI
//! (`CI=true`). Screenshots of every page go to
//! `target/console-screenshots/`.

#[path = "browser/harness.rs"]
mod harness;

use std::time::Duration;

use durable::prelude::*;
use durable::{Engine, EngineBuilder, FanOut, RunStatus};
use fantoccini::Client;
use harness::{
    Browser, ONE_BROWSER, TOKEN, appears, attribute, click, js, screenshot, serve, set_value,
    status_of, stop, text, until, visit, wait_status,
};

/// The input of `ui.order`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct OrderInput {
    order_id: String,
}

/// One step with a recorded input.
#[workflow(name = "ui.order")]
async fn order(ctx: Ctx, input: OrderInput) -> Result<String, Error> {
    ctx.log(
        durable::LogLevel::Info,
        "charging the card",
        json!({ "order": input.order_id }),
    );
    let id = input.order_id.clone();
    ctx.step("charge")
        .input(&input.order_id)
        .run(async || Ok::<_, StepError>(format!("receipt-{id}")))
        .await
}

/// Fails for good.
#[workflow(name = "ui.fail")]
async fn fail(ctx: Ctx, reason: String) -> Result<(), Error> {
    ctx.run("boom", async || Err::<(), _>(StepError::permanent(&reason)))
        .await
}

/// Works briefly, sleeps a second, works briefly.
#[workflow(name = "ui.sleepy")]
async fn sleepy(ctx: Ctx, _input: ()) -> Result<(), Error> {
    ctx.run("prepare", async || Ok::<_, StepError>(1)).await?;
    ctx.sleep("cool-off", "1s").await?;
    ctx.run("finish", async || Ok::<_, StepError>(2)).await?;
    Ok(())
}

/// A step whose first attempt fails and whose second succeeds, each
/// working 40 ms, 200 ms apart.
#[workflow(name = "ui.retry")]
async fn retried(ctx: Ctx, _input: ()) -> Result<u32, Error> {
    ctx.step("charge")
        .retry(Retry::exponential(3, "200ms"))
        .run_with_attempt(async |attempt| {
            tokio::time::sleep(Duration::from_millis(40)).await;
            match attempt {
                1 => Err(StepError::retryable("the provider timed out")),
                n => Ok(n),
            }
        })
        .await
}

/// Six branches, three at a time, each working 300 ms.
#[workflow(name = "ui.fan")]
async fn fan(ctx: Ctx, _input: ()) -> Result<u32, Error> {
    let out: Vec<u32> = ctx
        .map(
            "fan",
            0..6u32,
            FanOut::new().concurrency(3),
            async |ctx, n| {
                ctx.run("work", async || {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Ok::<_, StepError>(n)
                })
                .await
            },
        )
        .await?;
    Ok(out.iter().sum())
}

/// Waits for the event `ui.paid` of its order.
#[workflow(name = "ui.wait")]
async fn wait(ctx: Ctx, order: u32) -> Result<u64, Error> {
    let reserved: u32 = ctx
        .run("reserve", async || Ok::<_, StepError>(order))
        .await?;
    let paid: Option<serde_json::Value> = ctx
        .wait_for_event("paid", "ui.paid")
        .matching(json!({ "order": reserved }))
        .timeout("1h")
        .await?;
    let cents = paid.and_then(|paid| paid["cents"].as_u64()).unwrap_or(0);
    ctx.run("ship", async || Ok::<_, StepError>(cents)).await
}

/// Triggers `ui.order` for `order_id`.
async fn order_run(engine: &Engine, order_id: &str) -> durable::RunHandle<String> {
    let input = OrderInput {
        order_id: order_id.into(),
    };
    Order::trigger(engine, input).await.expect("trigger")
}

/// The `[start, end]` (ms) of the timeline's bars of `selector`.
async fn bars(client: &Client, selector: &str) -> Vec<(f64, f64, f64, f64)> {
    let script = format!(
        "return [...document.querySelectorAll('{selector}')].map(r => [+r.dataset.start, +r.dataset.end, +r.getAttribute('x'), +r.getAttribute('width')])"
    );
    let value = js(client, &script).await;
    value
        .as_array()
        .expect("bars")
        .iter()
        .map(|bar| {
            let n = |i: usize| bar[i].as_f64().expect("a number");
            (n(0), n(1), n(2), n(3))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser_on_sqlite() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let _alone = ONE_BROWSER.lock().await;
    scenario(&browser, Engine::builder().sqlite_memory(), "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser_on_postgres() {
    // Needs `DURABLE_TEST_POSTGRES_URL` (a notice and a pass without it).
    let Some(db) = durable_tests::TestDb::postgres("console_browser") else {
        return;
    };
    let Some(browser) = Browser::find() else {
        return;
    };
    let _alone = ONE_BROWSER.lock().await;
    scenario(&browser, db.builder(), "postgres-").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_shows_how_long_the_oldest_pending_run_has_waited() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let _alone = ONE_BROWSER.lock().await;
    // No worker may claim the run: a worker records `ui.order` in the
    // catalog and stops; then a client, which claims nothing, on a clock the
    // test moves, triggers it and waits two and a half minutes.
    let db = durable_tests::TestDb::sqlite("console_browser_pending");
    let worker = db
        .builder()
        .register(Order)
        .start()
        .await
        .expect("the worker starts");
    worker.shutdown().await;
    let clock = clock_at_now();
    let engine = db
        .builder()
        .clock(clock.clone())
        .client()
        .await
        .expect("the client opens");
    let (console, base) = serve(&engine).await;
    let driver = browser.driver().await;
    let client = browser.session(&driver).await;
    visit(&client, &format!("{base}/?token={TOKEN}")).await;
    let idle = attribute(&client, "[data-oldest-pending]", "data-oldest-pending").await;
    assert_eq!(idle, "none");
    engine
        .trigger_json("ui.order", json!({ "order_id": "o-1" }))
        .await
        .expect("the client triggers");
    clock.advance(Duration::from_secs(150));
    let said = overview_again(
        (&client, &base),
        "the oldest pending run's wait",
        "[data-oldest-pending=\"150000\"]",
    )
    .await;
    assert!(said.contains("2m 30s"), "{said}");
    screenshot(&client, "", "overview-oldest-pending").await;
    client.close().await.expect("close");
    drop(driver);
    stop(console, engine).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_says_a_silent_worker_is_stale() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let _alone = ONE_BROWSER.lock().await;
    // A worker whose heartbeat comes in an hour of real time, on a clock
    // the test moves past three of them.
    let clock = clock_at_now();
    let engine = Engine::builder()
        .sqlite_memory()
        .register(Order)
        .clock(clock.clone())
        .heartbeat("1h")
        .start()
        .await
        .expect("the worker starts");
    let (console, base) = serve(&engine).await;
    let driver = browser.driver().await;
    let client = browser.session(&driver).await;
    visit(&client, &format!("{base}/?token={TOKEN}")).await;
    until(
        &client,
        "the workers' table",
        "return document.querySelector('#workers + div table')",
    )
    .await;
    let none = client
        .execute(
            "return document.querySelectorAll('[data-stale]').length",
            vec![],
        )
        .await
        .expect("a count");
    assert_eq!(none, json!(0));
    clock.advance(Duration::from_secs(3 * 3600 + 1));
    let said = overview_again((&client, &base), "the stale worker", "[data-stale]").await;
    assert!(said.contains("stale: no heartbeat"), "{said}");
    client.close().await.expect("close");
    drop(driver);
    stop(console, engine).await;
}

/// A manual clock standing at the wall clock's time.
fn clock_at_now() -> durable::ManualClock {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    durable::ManualClock::new(i64::try_from(now).expect("ms fit"))
}

/// The overview loaded anew (through another page, so it reads the API
/// again) until `selector` matches (`what` names it): the text there.
async fn overview_again((client, base): (&Client, &str), what: &str, selector: &str) -> String {
    visit(client, &format!("{base}/#/workflows")).await;
    visit(client, &format!("{base}/#/overview")).await;
    let find = format!("return document.querySelector({selector:?})");
    until(client, what, &find).await;
    text(client, selector).await
}

/// Every check, on an engine from `builder`; screenshots are named
/// `<prefix><page>.png`.
async fn scenario(browser: &Browser, builder: EngineBuilder, prefix: &str) {
    let engine = builder
        .register(Order)
        .register(Fail)
        .register(Sleepy)
        .register(Fan)
        .register(Wait)
        .register(Retried)
        .start()
        .await
        .expect("the engine starts");
    let (console, base) = serve(&engine).await;
    let driver = browser.driver().await;

    // Without the token the page and its files are refused.
    // (Every control the pages draw is a link, a button or a field, so the
    // keyboard reaches it; the step tabs are checked with the arrow keys.)
    let stranger = browser.session(&driver).await;
    visit(&stranger, &format!("{base}/")).await;
    let refused = js(&stranger, "return document.body.innerText").await;
    let refused = refused.as_str().unwrap_or_default();
    assert!(refused.contains("unauthorized"), "{refused}");
    assert!(!refused.contains("Overview"), "{refused}");
    visit(&stranger, &format!("{base}/ui/app.js")).await;
    let file = js(&stranger, "return document.body.innerText").await;
    assert!(
        file.as_str().unwrap_or_default().contains("unauthorized"),
        "{file}"
    );
    screenshot(&stranger, prefix, "refused-without-token").await;
    stranger.close().await.expect("close");

    let client = browser.session(&driver).await;
    visit(&client, &format!("{base}/?token={TOKEN}")).await;
    appears(&client, "[data-count=\"completed\"]").await;
    let address = js(&client, "return location.href").await;
    assert!(
        !address.as_str().unwrap_or_default().contains("token"),
        "the token left the address bar: {address}"
    );

    // The graph of a workflow that never ran shows every step of its
    // manifest, none reached; a map's steps as the template of its lanes.
    for (workflow, steps) in [
        ("ui.sleepy", json!(["prepare", "cool-off", "finish"])),
        ("ui.fan", json!(["fan", "[each] work"])),
        ("ui.wait", json!(["reserve", "paid", "ship"])),
    ] {
        visit(&client, &format!("{base}/#/workflows/{workflow}")).await;
        // Only a hash changed: the graph read is this workflow's once its
        // page's heading names it.
        let nodes = until(
            &client,
            &format!("the graph of {workflow}"),
            &format!(
                "const h1 = document.querySelector('main h1'); \
                 if (!h1 || !h1.textContent.includes({})) return null; \
                 return [...document.querySelectorAll('svg.graph g.node')].map(g => [g.dataset.node, g.dataset.state])",
                json!(workflow)
            ),
        )
        .await;
        let names: Vec<_> = nodes
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| n[0].clone())
            .collect();
        assert_eq!(json!(names), steps, "{workflow}: {nodes}");
        assert!(
            nodes
                .as_array()
                .expect("nodes")
                .iter()
                .all(|n| n[1] == "not_reached"),
            "{workflow}: {nodes}"
        );
        screenshot(
            &client,
            prefix,
            &format!("workflow-graph-never-ran-{workflow}"),
        )
        .await;
    }

    // The runs list shows a triggered run; a status filter narrows it.
    let ordered = order_run(&engine, "o-17").await;
    ordered.result().await.expect("ui.order completes");
    let failed = Fail::trigger(&engine, "card declined".into())
        .await
        .expect("trigger");
    wait_status(&engine, failed.id(), RunStatus::Failed).await;
    visit(&client, &format!("{base}/#/runs")).await;
    let row =
        |id: durable::RunId| format!("return document.querySelector('tr[data-run=\"{id}\"]')");
    until(&client, "the triggered run in the list", &row(ordered.id())).await;
    until(&client, "the failed run in the list", &row(failed.id())).await;
    screenshot(&client, prefix, "runs").await;
    click(&client, "input[name=status][value=failed]").await;
    click(&client, ".filters button[type=submit]").await;
    until(
        &client,
        "the filter in the URL",
        "return location.hash.includes('status=failed')",
    )
    .await;
    until(&client, "the list without the completed run", &format!(
        "return document.querySelector('tr[data-run=\"{}\"]') && !document.querySelector('tr[data-run=\"{}\"]')",
        failed.id(), ordered.id()
    )).await;
    let statuses = js(
        &client,
        "return [...document.querySelectorAll('tr[data-run]')].map(r => r.dataset.status)",
    )
    .await;
    assert_eq!(statuses, json!(["failed"]));
    screenshot(&client, prefix, "runs-filtered-failed").await;

    // Bulk retry shows how many it would retry, and retries nothing yet.
    click(&client, ".bulk button:nth-of-type(4)").await;
    let dry = attribute(&client, "[data-dry-run]", "data-dry-run").await;
    assert_eq!(dry, "1");
    assert_eq!(
        status_of(&engine, failed.id()).await,
        RunStatus::Failed,
        "a dry run changed the run"
    );
    screenshot(&client, prefix, "runs-bulk-retry-count").await;

    // A run triggered while the list is open is announced, not inserted,
    // until the reader asks for it.
    visit(&client, &format!("{base}/#/runs")).await;
    until(&client, "the list", &row(ordered.id())).await;
    let later = order_run(&engine, "o-18").await;
    let new = attribute(&client, "[data-new]", "data-new").await;
    assert_eq!(new, "1");
    assert_eq!(
        js(&client, &row(later.id())).await,
        json!(null),
        "the new run jumped into the rows"
    );
    screenshot(&client, prefix, "runs-new-announced").await;
    click(&client, "[data-new]").await;
    until(&client, "the new run's row", &row(later.id())).await;
    later.result().await.expect("ui.order completes");

    // A step's Input tab shows its recorded input.
    visit(&client, &format!("{base}/#/run/{}", ordered.id())).await;
    appears(&client, "button[data-step=\"charge\"]").await;
    click(&client, "button[data-step=\"charge\"]").await;
    let input = text(&client, "tr.step-detail:not([hidden]) [role=tabpanel]").await;
    assert!(input.contains("o-17"), "{input}");
    // The tabs take the keyboard: the right arrow moves to Output.
    client
        .find(fantoccini::Locator::Css(
            "tr.step-detail:not([hidden]) [data-tab=Input]",
        ))
        .await
        .expect("the Input tab")
        .send_keys("\u{E014}")
        .await
        .expect("the arrow key");
    let focused = js(&client, "return document.activeElement.dataset.tab").await;
    assert_eq!(focused, json!("Output"), "the arrow key moved the focus");
    // Whatever takes a click also takes the focus (tabs by the arrows).
    let unreachable = js(
        &client,
        "return [...document.querySelectorAll('main *')].filter(el => getComputedStyle(el).cursor === 'pointer' \
         && el.tabIndex < 0 && el.getAttribute('role') !== 'tab').map(el => el.outerHTML.slice(0, 80))",
    )
    .await;
    assert_eq!(unreachable, json!([]), "controls the keyboard cannot reach");
    let output = text(&client, "tr.step-detail:not([hidden]) [role=tabpanel]").await;
    assert!(output.contains("receipt-o-17"), "{output}");
    click(&client, "tr.step-detail:not([hidden]) [data-tab=Input]").await;
    screenshot(&client, prefix, "inspector-steps-input").await;

    // The Logs view shows the run's line with its level and fields.
    click(&client, "a[data-view=logs]").await;
    let logs = text(&client, "table.logs tbody").await;
    assert!(
        logs.contains("INFO") && logs.contains("charging the card") && logs.contains("o-17"),
        "{logs}"
    );

    // A sleep is a hatched bar on the timeline, much longer than the work.
    let sleepy = Sleepy::trigger(&engine, ()).await.expect("trigger");
    sleepy.result().await.expect("ui.sleepy completes");
    visit(
        &client,
        &format!("{base}/#/run/{}?view=timeline", sleepy.id()),
    )
    .await;
    appears(&client, "rect[data-step=\"cool-off\"]").await;
    let sleep = bars(&client, "rect[data-step=\"cool-off\"]").await;
    let prepare = bars(&client, "rect[data-step=\"prepare\"]").await;
    let finish = bars(&client, "rect[data-step=\"finish\"]").await;
    assert_eq!(
        js(
            &client,
            "return document.querySelector('rect[data-step=\"cool-off\"]').dataset.type"
        )
        .await,
        json!("wait")
    );
    assert_eq!(
        js(
            &client,
            "return document.querySelector('rect[data-step=\"cool-off\"]').getAttribute('fill')"
        )
        .await,
        json!("url(#hatch)")
    );
    assert!(
        sleep[0].1 - sleep[0].0 >= 1000.0,
        "the sleep lasts its second: {sleep:?}"
    );
    assert!(
        sleep[0].3 > 10.0 * prepare[0].3.max(finish[0].3),
        "sleep {sleep:?}, work {prepare:?} {finish:?}"
    );
    assert!(
        finish[0].0 >= sleep[0].1 && finish[0].2 >= sleep[0].2 + sleep[0].3 - 4.0,
        "the work after the sleep starts after the gap: {sleep:?} {finish:?}"
    );
    screenshot(&client, prefix, "inspector-timeline-sleep").await;

    // A retried step is one row: each attempt its own segment, the failed
    // one cross-hatched and labelled, the back-off between them a gap.
    let retried = Retried::trigger(&engine, ()).await.expect("trigger");
    assert_eq!(retried.result().await.expect("ui.retry completes"), 2);
    visit(
        &client,
        &format!("{base}/#/run/{}?view=timeline", retried.id()),
    )
    .await;
    appears(&client, "rect[data-step=\"charge\"]").await;
    let charge = js(
        &client,
        "return [...document.querySelectorAll('rect[data-step=\"charge\"]')].map(r => [r.dataset.type, r.dataset.attempt ?? null, r.dataset.failed ?? null, r.dataset.retry ?? null])",
    )
    .await;
    assert_eq!(
        charge,
        json!([
            ["work", "1", "true", null],
            ["wait", null, null, "true"],
            ["work", "2", "false", null]
        ])
    );
    let segments = bars(&client, "rect[data-step=\"charge\"]").await;
    let (first, backoff, second) = (segments[0], segments[1], segments[2]);
    assert!(
        first.1 == backoff.0 && backoff.1 == second.0 && backoff.1 - backoff.0 >= 150.0,
        "the back-off lies between the attempts: {segments:?}"
    );
    assert!(
        second.2 >= backoff.2 + backoff.3 - 4.0 && backoff.3 > 2.0 * first.3,
        "and is drawn as a gap wider than an attempt: {segments:?}"
    );
    // Failed is said by pattern and text, not by colour alone.
    let fill = js(
        &client,
        "return getComputedStyle(document.querySelector('rect[data-step=\"charge\"][data-failed=\"true\"]')).fill",
    )
    .await;
    assert!(
        fill.as_str().unwrap_or_default().contains("failed-hatch"),
        "{fill}"
    );
    let labels = js(
        &client,
        "return document.querySelector('svg.timeline').textContent",
    )
    .await;
    let labels = labels.as_str().unwrap_or_default();
    assert!(labels.contains("✕1") && labels.contains("✓2"), "{labels}");
    assert!(!labels.contains("in one bar"), "{labels}");
    let tooltip = js(
        &client,
        "return document.querySelector('rect[data-step=\"charge\"][data-failed=\"true\"] title').textContent",
    )
    .await;
    let tooltip = tooltip.as_str().unwrap_or_default();
    assert!(
        tooltip.contains("attempt 1 (failed: the provider timed out)"),
        "{tooltip}"
    );
    screenshot(&client, prefix, "inspector-timeline-retried").await;

    // Its Attempts tab lists both attempts with their times and the error.
    click(&client, "a[data-view=steps]").await;
    appears(&client, "button[data-step=\"charge\"]").await;
    click(&client, "button[data-step=\"charge\"]").await;
    click(&client, "tr.step-detail:not([hidden]) [data-tab=Attempts]").await;
    appears(&client, "tr.step-detail:not([hidden]) table.attempts").await;
    let attempts = js(
        &client,
        "return [...document.querySelectorAll('tr.step-detail:not([hidden]) table.attempts tbody tr')].map(r => [r.dataset.attempt, r.dataset.outcome, r.cells[5].textContent])",
    )
    .await;
    assert_eq!(
        attempts,
        json!([
            ["1", "failed", "the provider timed out"],
            ["2", "completed", ""]
        ])
    );
    let panel = text(&client, "tr.step-detail:not([hidden]) [role=tabpanel]").await;
    assert!(!panel.contains("not recorded"), "{panel}");
    screenshot(&client, prefix, "inspector-steps-attempts").await;

    // A map with concurrency 3 shows overlapping bars, three at most at once.
    let fanned = Fan::trigger(&engine, ()).await.expect("trigger");
    assert_eq!(fanned.result().await.expect("ui.fan completes"), 15);
    visit(
        &client,
        &format!("{base}/#/run/{}?view=timeline", fanned.id()),
    )
    .await;
    until(
        &client,
        "the branches",
        "return document.querySelectorAll('rect[data-step$=\"/work\"]').length === 6",
    )
    .await;
    let branches = bars(&client, "rect[data-step$=\"/work\"]").await;
    let most = branches
        .iter()
        .map(|a| branches.iter().filter(|b| b.0 <= a.0 && a.0 < b.1).count())
        .max();
    assert_eq!(most, Some(3), "three branches at once: {branches:?}");
    let pixel_overlaps = branches.iter().enumerate().any(|(i, a)| {
        branches
            .iter()
            .skip(i + 1)
            .any(|b| a.2 < b.2 + b.3 && b.2 < a.2 + a.3)
    });
    assert!(pixel_overlaps, "the bars overlap on screen: {branches:?}");
    screenshot(&client, prefix, "inspector-timeline-map").await;
    visit(&client, &format!("{base}/#/run/{}?view=graph", fanned.id())).await;
    until(
        &client,
        "the graph",
        "return document.querySelectorAll('g.node[data-state=done]').length >= 7",
    )
    .await;
    screenshot(&client, prefix, "inspector-graph-map").await;

    // A waiting run: the graph marks the waiting step; an event sent from
    // outside changes the page's status without a reload.
    let waiting = Wait::trigger(&engine, 7).await.expect("trigger");
    wait_status(&engine, waiting.id(), RunStatus::Suspended).await;
    visit(
        &client,
        &format!("{base}/#/run/{}?view=graph", waiting.id()),
    )
    .await;
    appears(&client, "g.node[data-node=\"paid\"][data-state=waiting]").await;
    appears(&client, "#run-status [data-status=suspended]").await;
    // The run's graph marks what is done, what waits and what is ahead.
    let states = js(
        &client,
        "return [...document.querySelectorAll('svg.graph g.node')].map(g => [g.dataset.node, g.dataset.state])",
    )
    .await;
    assert_eq!(
        states,
        json!([
            ["reserve", "done"],
            ["paid", "waiting"],
            ["ship", "not_reached"]
        ]),
        "the waiting run's graph"
    );
    screenshot(&client, prefix, "inspector-graph-waiting").await;
    js(&client, "window.__sameDocument = true; return true").await;
    engine
        .send_event("ui.paid", &json!({ "order": 7, "cents": 250 }))
        .await
        .expect("send");
    appears(&client, "#run-status [data-status=completed]").await;
    assert_eq!(
        js(&client, "return window.__sameDocument === true").await,
        json!(true),
        "the page reloaded"
    );

    // The events page shows that event, newest first, with its data and
    // the run it woke as a link to that run (and one that woke none).
    engine
        .send_event("ui.unheard", &json!({ "n": 1 }))
        .await
        .expect("send");
    visit(&client, &format!("{base}/#/events")).await;
    let woke = format!(
        "tr[data-name=\"ui.paid\"] a[data-woke=\"{}\"]",
        waiting.id()
    );
    appears(&client, &woke).await;
    let data = text(&client, "tr[data-name=\"ui.paid\"] .event-data").await;
    assert!(data.contains("250"), "{data}");
    let names = js(
        &client,
        "return [...document.querySelectorAll('tr[data-event]')].map(r => r.dataset.name)",
    )
    .await;
    assert_eq!(names, json!(["ui.unheard", "ui.paid"]), "newest first");
    let unheard = text(&client, "tr[data-name=\"ui.unheard\"] .woke").await;
    assert_eq!(unheard, "no run");
    screenshot(&client, prefix, "events").await;
    // A page of one: the older events are one link away, then the newest.
    visit(&client, &format!("{base}/#/events?limit=1")).await;
    appears(&client, "a[data-next]").await;
    let newest = attribute(&client, "tr[data-event]", "data-event").await;
    click(&client, "a[data-next]").await;
    until(&client, "the older page", &format!(
        "const rows = [...document.querySelectorAll('tr[data-event]')]; \
         return rows.length === 1 && rows[0].dataset.name === 'ui.paid' && +rows[0].dataset.event < {newest} \
         && location.hash.includes('before=')"
    ))
    .await;
    visit(&client, &format!("{base}/#/events")).await;
    appears(&client, &woke).await;
    click(&client, &woke).await;
    appears(&client, "#run-status [data-status=completed]").await;
    let address = js(&client, "return location.hash").await;
    assert_eq!(address, json!(format!("#/run/{}", waiting.id())));

    // The inspector's event form sends the event the run waits for.
    let paid = Wait::trigger(&engine, 9).await.expect("trigger");
    wait_status(&engine, paid.id(), RunStatus::Suspended).await;
    visit(&client, &format!("{base}/#/run/{}", paid.id())).await;
    appears(&client, "details.send summary").await;
    click(&client, "details.send summary").await;
    set_value(&client, "form[data-form=Event] input[name=name]", "ui.paid").await;
    set_value(
        &client,
        "form[data-form=Event] textarea",
        r#"{"order": 9, "cents": 5}"#,
    )
    .await;
    click(&client, "form[data-form=Event] button[type=submit]").await;
    wait_status(&engine, paid.id(), RunStatus::Completed).await;
    // The run ended, so its forms went; what the event did stays said.
    appears(&client, "#run-status [data-status=completed]").await;
    let said = text(&client, ".actions .action-result").await;
    assert!(said.contains("woke 1 run"), "{said}");
    assert_eq!(paid.result().await.expect("the output"), 5);

    // Cancel from the inspector cancels the run.
    let doomed = Wait::trigger(&engine, 8).await.expect("trigger");
    wait_status(&engine, doomed.id(), RunStatus::Suspended).await;
    visit(&client, &format!("{base}/#/run/{}", doomed.id())).await;
    appears(&client, "button[data-action=cancel]").await;
    click(&client, "button[data-action=cancel]").await;
    wait_status(&engine, doomed.id(), RunStatus::Cancelled).await;
    appears(&client, "#run-status [data-status=cancelled]").await;
    screenshot(&client, prefix, "inspector-cancelled").await;

    // Pause and resume from the inspector: the run is marked paused, the
    // button turns into Resume, and back.
    let held = Wait::trigger(&engine, 9).await.expect("trigger");
    wait_status(&engine, held.id(), RunStatus::Suspended).await;
    visit(&client, &format!("{base}/#/run/{}", held.id())).await;
    appears(&client, "button[data-action=pause]").await;
    click(&client, "button[data-action=pause]").await;
    appears(&client, "button[data-action=resume]").await;
    appears(&client, "#run-status [data-paused]").await;
    assert!(held.info().await.expect("info").paused_at.is_some());
    let said = text(&client, ".actions .action-result").await;
    assert!(said.contains("Paused"), "{said}");
    screenshot(&client, prefix, "inspector-paused").await;
    click(&client, "button[data-action=resume]").await;
    appears(&client, "button[data-action=pause]").await;
    assert_eq!(held.info().await.expect("info").paused_at, None);
    held.cancel().await.expect("cancel");

    // A workflow's trigger form starts from its schema, shows the field
    // error the API returns, and starts a run with a good input.
    visit(&client, &format!("{base}/#/workflows")).await;
    click(&client, "a[data-workflow=\"ui.order\"]").await;
    let start = until(
        &client,
        "the trigger form",
        "return document.querySelector('form[data-form=trigger] textarea')?.value",
    )
    .await;
    let start: serde_json::Value =
        serde_json::from_str(start.as_str().unwrap_or_default()).expect("JSON");
    assert_eq!(start, json!({ "order_id": "" }));
    let runs_before = engine
        .count_runs()
        .await
        .expect("counts")
        .iter()
        .map(|c| c.count)
        .sum::<u64>();
    set_value(
        &client,
        "form[data-form=trigger] textarea",
        r#"{"order_id": 5}"#,
    )
    .await;
    click(&client, "form[data-form=trigger] button[type=submit]").await;
    let refused = text(&client, "form[data-form=trigger] .error-box").await;
    assert!(
        refused.contains("invalid_input") && refused.contains("order_id"),
        "{refused}"
    );
    let runs_after = engine
        .count_runs()
        .await
        .expect("counts")
        .iter()
        .map(|c| c.count)
        .sum::<u64>();
    assert_eq!(runs_before, runs_after, "a refused trigger wrote a run");
    screenshot(&client, prefix, "workflow-trigger-error").await;
    set_value(
        &client,
        "form[data-form=trigger] textarea",
        r#"{"order_id": "o-99"}"#,
    )
    .await;
    click(&client, "form[data-form=trigger] button[type=submit]").await;
    let triggered = attribute(&client, "[data-triggered]", "data-triggered").await;
    let triggered: durable::RunId = triggered.parse().expect("a run id");
    wait_status(&engine, triggered, RunStatus::Completed).await;

    // The overview counts them; the pages read on a phone too.
    visit(&client, &format!("{base}/#/overview")).await;
    until(
        &client,
        "the counts",
        "return document.querySelector('[data-count=completed]')?.textContent === '8'",
    )
    .await;
    screenshot(&client, prefix, "overview").await;
    client
        .set_window_size(390, 844)
        .await
        .expect("a phone's size");
    visit(&client, &format!("{base}/#/run/{}", sleepy.id())).await;
    appears(&client, "#run-status").await;
    let wide = js(
        &client,
        "return document.documentElement.scrollWidth <= window.innerWidth + 1",
    )
    .await;
    assert_eq!(
        wide,
        json!(true),
        "the inspector scrolls sideways on a phone"
    );
    screenshot(&client, prefix, "phone-inspector").await;

    client.close().await.expect("close");
    drop(driver);
    stop(console, engine).await;
}
