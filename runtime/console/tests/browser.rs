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
use harness::{Browser, appears, attribute, click, js, screenshot, set_value, text, until, visit};

const TOKEN: &str = "browser-token";

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
    let paid: Option<serde_json::Value> = ctx
        .wait_for_event("paid", "ui.paid")
        .matching(json!({ "order": order }))
        .timeout("1h")
        .await?;
    Ok(paid.and_then(|paid| paid["cents"].as_u64()).unwrap_or(0))
}

/// Triggers `ui.order` for `order_id`.
async fn order_run(engine: &Engine, order_id: &str) -> durable::RunHandle<String> {
    let input = OrderInput {
        order_id: order_id.into(),
    };
    Order::trigger(engine, input).await.expect("trigger")
}

async fn status_of(engine: &Engine, id: durable::RunId) -> RunStatus {
    engine.run(id).info().await.expect("the run").status
}

async fn wait_status(engine: &Engine, id: durable::RunId, status: RunStatus) {
    let started = std::time::Instant::now();
    while status_of(engine, id).await != status {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "run {id} never became {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
    scenario(&browser, db.builder(), "postgres-").await;
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
        .start()
        .await
        .expect("the engine starts");
    let console = durable_console::Console::new(&engine)
        .token(TOKEN)
        .bind("127.0.0.1:0")
        .await
        .expect("the console binds");
    let base = format!("http://{}", console.local_addr());
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
    let said = text(&client, "form[data-form=Event] .form-result").await;
    assert!(said.contains("woke 1 run"), "{said}");
    wait_status(&engine, paid.id(), RunStatus::Completed).await;
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
        "return document.querySelector('[data-count=completed]')?.textContent === '7'",
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
    console.shutdown().await.expect("shutdown");
    engine.shutdown().await;
}
