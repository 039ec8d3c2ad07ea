//! The Workflows page in a real browser (Debian's headless Chromium through
//! chromedriver, as `browser.rs`): a typed event's JSON Schema in its
//! section, and the runs waiting for a version no worker serves, said in
//! words per version with a link to them, counted on the Overview and kept
//! in the Runs page's URL. Without chromium the tests print a notice and
//! pass, except in CI (`CI=true`). Screenshots go to
//! `target/console-screenshots/`.

// Each browser test binary uses a part of the harness.
#[allow(dead_code)]
#[path = "browser/harness.rs"]
mod harness;

use durable::prelude::*;
use durable::{Engine, RunStatus};
use harness::{
    Browser, ONE_BROWSER, TOKEN, appears, click, js, screenshot, serve, stop, text, until, visit,
    wait_status,
};

/// The typed event `ui.parcel.scanned`: its schema is in the catalog.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "ui.parcel.scanned")]
struct ParcelScanned {
    order: String,
    grams: u32,
}

/// Waits for a parcel's scan.
#[workflow(name = "ui.typed")]
async fn typed(ctx: Ctx) -> Result<Option<u32>, Error> {
    let scan = ctx.wait_for::<ParcelScanned>("scan").timeout("1h").await?;
    Ok(scan.map(|scan| scan.grams))
}

/// Version 1 of a shipment: a long nap, so its runs stay in flight.
#[workflow(name = "ui.ship", version = 1)]
async fn ship_v1(ctx: Ctx) -> Result<(), Error> {
    ctx.sleep("nap", "1h").await
}

/// Version 2: a step before the nap.
#[workflow(name = "ui.ship", version = 2)]
async fn ship_v2(ctx: Ctx) -> Result<(), Error> {
    ctx.run("label", async || Ok::<_, StepError>(1)).await?;
    ctx.sleep("nap", "1h").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workflows_page_shows_a_typed_events_schema() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let _alone = ONE_BROWSER.lock().await;
    let engine = Engine::builder()
        .sqlite_memory()
        .register(Typed)
        .start()
        .await
        .expect("the engine starts");
    let (console, base) = serve(&engine).await;
    let driver = browser.driver().await;
    let client = browser.session(&driver).await;
    visit(
        &client,
        &format!("{base}/?token={TOKEN}#/workflows/ui.typed"),
    )
    .await;
    let section = "[data-section=typed-events] [data-event-type=\"ui.parcel.scanned\"]";
    appears(&client, section).await;
    let heading = text(&client, &format!("{section} h3")).await;
    assert!(
        heading.contains("ui.parcel.scanned") && heading.contains("steps scan"),
        "{heading}"
    );
    // The schema as JSON, parsed back: the event's fields and their types.
    let shown = text(&client, &format!("{section} pre.json")).await;
    let schema: serde_json::Value = serde_json::from_str(&shown).expect("the schema is JSON");
    assert_eq!(schema["properties"]["grams"]["type"], "integer", "{schema}");
    assert_eq!(schema["properties"]["order"]["type"], "string", "{schema}");
    let required = schema["required"].as_array().expect("required fields");
    assert!(
        required.contains(&json!("order")) && required.contains(&json!("grams")),
        "{schema}"
    );
    js(
        &client,
        &format!(
            "document.querySelector({}).scrollIntoView(); return true",
            json!(section)
        ),
    )
    .await;
    screenshot(&client, "", "workflow-typed-event-schema").await;
    client.close().await.expect("close");
    drop(driver);
    stop(console, engine).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workflows_page_says_which_runs_no_worker_serves() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let _alone = ONE_BROWSER.lock().await;
    // Two runs start on version 1; then only version 2 is deployed.
    let db = durable_tests::TestDb::sqlite("console_browser_unserved");
    let old = db
        .builder()
        .register(ShipV1)
        .start()
        .await
        .expect("the old worker starts");
    let mut left = Vec::new();
    for _ in 0..2 {
        let run = ShipV1::trigger(&old).await.expect("trigger");
        wait_status(&old, run.id(), RunStatus::Suspended).await;
        left.push(run.id());
    }
    old.shutdown().await;
    let engine = db
        .builder()
        .register(ShipV2)
        .start()
        .await
        .expect("the new worker starts");
    let served = ShipV2::trigger(&engine).await.expect("trigger");
    wait_status(&engine, served.id(), RunStatus::Suspended).await;
    let (console, base) = serve(&engine).await;
    let driver = browser.driver().await;
    let client = browser.session(&driver).await;

    // The Overview says how many wait, in words.
    visit(&client, &format!("{base}/?token={TOKEN}")).await;
    let total = text(&client, "[data-unserved-total=\"2\"]").await;
    assert!(
        total.contains("2 runs waiting: no worker serves their versions"),
        "{total}"
    );

    // The Workflows list and the workflow's page say it per version.
    visit(&client, &format!("{base}/#/workflows")).await;
    let listed = text(&client, "li [data-unserved=\"v1\"]").await;
    assert!(
        listed.contains("v1: 2 runs waiting: no worker serves this version"),
        "{listed}"
    );
    visit(&client, &format!("{base}/#/workflows/ui.ship")).await;
    let note = "[data-section=unserved] [data-unserved=\"v1\"]";
    let said = text(&client, note).await;
    assert!(
        said.contains("v1: 2 runs waiting: no worker serves this version"),
        "{said}"
    );
    assert_eq!(
        js(
            &client,
            "return document.querySelectorAll('[data-section=unserved] [data-unserved]').length"
        )
        .await,
        json!(1),
        "version 2 is served: only version 1 is said"
    );
    screenshot(&client, "", "workflow-unserved-runs").await;

    // Its link opens the runs list filtered that way, the filter in the URL.
    click(&client, &format!("{note} a")).await;
    until(
        &client,
        "the unserved filter in the URL",
        "return location.hash.startsWith('#/runs') && location.hash.includes('unserved=true')",
    )
    .await;
    let rows = until(
        &client,
        "the two unserved runs",
        "const rows = [...document.querySelectorAll('tr[data-run]')].map(r => r.dataset.run); \
         return rows.length === 2 ? rows : null",
    )
    .await;
    let mut expected: Vec<String> = left.iter().rev().map(|id| id.to_string()).collect();
    assert_eq!(rows, json!(expected), "the version 1 runs, newest first");
    assert_eq!(
        js(
            &client,
            "return document.querySelector('input[name=unserved]').checked"
        )
        .await,
        json!(true)
    );
    screenshot(&client, "", "runs-unserved").await;

    // Applying the form again keeps the filter in the URL.
    click(&client, "input[name=status][value=suspended]").await;
    click(&client, ".filters button[type=submit]").await;
    until(
        &client,
        "both filters in the URL",
        "return location.hash.includes('unserved=true') && location.hash.includes('status=suspended')",
    )
    .await;
    expected.sort();
    let again = until(
        &client,
        "the same runs",
        "const rows = [...document.querySelectorAll('tr[data-run]')].map(r => r.dataset.run).sort(); \
         return rows.length === 2 ? rows : null",
    )
    .await;
    assert_eq!(again, json!(expected));

    client.close().await.expect("close");
    drop(driver);
    stop(console, engine).await;
}
