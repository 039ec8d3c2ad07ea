//! What the browser tests stand on: Debian's Chromium driven through
//! chromedriver (WebDriver, by fantoccini), a console on a real engine, and
//! helpers that wait for the page (or a run) and take screenshots.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

/// Where the browser and its driver are, as Debian installs them.
pub(crate) struct Browser {
    chromium: PathBuf,
    driver: PathBuf,
}

fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

impl Browser {
    /// Debian's `chromium` and `chromedriver`; `None` (with a notice)
    /// where they are not installed, and a failure in CI (`CI=true`).
    pub(crate) fn find() -> Option<Browser> {
        let found = which(&["chromium", "chromium-browser"]).zip(which(&["chromedriver"]));
        match found {
            Some((chromium, driver)) => Some(Browser { chromium, driver }),
            None => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "CI needs chromium and chromedriver for the browser tests (.ci/run installs them with apt-get)"
                );
                eprintln!(
                    "notice: chromium or chromedriver is missing (apt-get install chromium chromium-driver); the browser tests did not run"
                );
                None
            }
        }
    }
}

/// A chromedriver process on a loopback port, stopped when dropped.
pub(crate) struct Driver {
    child: Child,
    /// Its WebDriver URL.
    pub(crate) url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

impl Browser {
    /// Starts chromedriver and waits until it answers.
    pub(crate) async fn driver(&self) -> Driver {
        let port = free_port();
        let child = Command::new(&self.driver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not listen"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        driver
    }

    /// A fresh headless Chromium session (no cookies) at 1280×1000.
    pub(crate) async fn session(&self, driver: &Driver) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": self.chromium.to_string_lossy(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,1000", "--no-first-run", "--disable-extensions",
                         "--disable-background-networking", "--disable-component-update"],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .expect("a chromium session")
    }
}

/// Runs `script` (a function body, `return ...`) in the page.
pub(crate) async fn js(client: &Client, script: &str) -> Value {
    client
        .execute(script, vec![])
        .await
        .unwrap_or_else(|error| panic!("script failed ({error}): {script}"))
}

/// Waits (up to 15 s) until `script` returns something truthy, and
/// returns it; on time out, fails with `what` and the page's text.
pub(crate) async fn until(client: &Client, what: &str, script: &str) -> Value {
    let started = Instant::now();
    loop {
        let value = client.execute(script, vec![]).await.unwrap_or(Value::Null);
        let truthy = match &value {
            Value::Null => false,
            Value::Bool(yes) => *yes,
            Value::Number(n) => n.as_f64() != Some(0.0),
            Value::String(text) => !text.is_empty(),
            Value::Array(items) => !items.is_empty(),
            Value::Object(_) => true,
        };
        if truthy {
            return value;
        }
        if started.elapsed() > Duration::from_secs(15) {
            let text = js(
                client,
                "return document.body ? document.body.innerText : ''",
            )
            .await;
            panic!(
                "timed out waiting for {what}; the page shows:\n{}",
                text.as_str().unwrap_or("")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Clicks the element `selector` finds, once the page has drawn it
/// (failing when it never does).
pub(crate) async fn click(client: &Client, selector: &str) {
    appears(client, selector).await;
    client
        .find(fantoccini::Locator::Css(selector))
        .await
        .unwrap_or_else(|error| panic!("no element {selector}: {error}"))
        .click()
        .await
        .unwrap_or_else(|error| panic!("cannot click {selector}: {error}"));
}

/// Where screenshots go: `target/console-screenshots/`, which CI keeps.
pub(crate) fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshot folder");
    dir
}

/// Saves a PNG of the page as `<prefix><name>.png`.
pub(crate) async fn screenshot(client: &Client, prefix: &str, name: &str) {
    // Fonts and layout settle after the last change.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let png = client.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
    std::fs::write(screenshot_dir().join(format!("{prefix}{name}.png")), png)
        .expect("the screenshot is written");
}

/// Waits until `selector` finds an element.
pub(crate) async fn appears(client: &Client, selector: &str) {
    let script = format!("return document.querySelector({})", json!(selector));
    until(client, selector, &script).await;
}

/// Waits until the element `selector` finds has some text, and returns it.
pub(crate) async fn text(client: &Client, selector: &str) -> String {
    let script = format!(
        "return document.querySelector({})?.innerText",
        json!(selector)
    );
    let value = until(client, &format!("text in {selector}"), &script).await;
    value.as_str().unwrap_or_default().to_owned()
}

/// Sets the value of the field `selector` finds.
pub(crate) async fn set_value(client: &Client, selector: &str, value: &str) {
    let script = format!(
        "const el = document.querySelector({}); if (!el) return false; el.value = {}; return true",
        json!(selector),
        json!(value)
    );
    assert_eq!(
        js(client, &script).await,
        json!(true),
        "no field {selector}"
    );
}

/// Waits until the element `selector` finds has the attribute `name`, and
/// returns its value.
pub(crate) async fn attribute(client: &Client, selector: &str, name: &str) -> String {
    let script = format!(
        "return document.querySelector({})?.getAttribute({})",
        json!(selector),
        json!(name)
    );
    let value = until(client, &format!("{name} of {selector}"), &script).await;
    value.as_str().unwrap_or_default().to_owned()
}

/// Opens `url` in the page.
pub(crate) async fn visit(client: &Client, url: &str) {
    client
        .goto(url)
        .await
        .unwrap_or_else(|error| panic!("cannot open {url}: {error}"));
}

/// The token of the browser tests' consoles.
pub(crate) const TOKEN: &str = "browser-token";

/// One browser at a time: two Chromiums on a small machine make each
/// page slower than the checks' patience.
pub(crate) static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A console with [`TOKEN`] on `engine`, on a loopback port, and its URL.
pub(crate) async fn serve(engine: &durable::Engine) -> (durable_console::ServingConsole, String) {
    let console = durable_console::Console::new(engine)
        .token(TOKEN)
        .bind("127.0.0.1:0")
        .await
        .expect("the console binds");
    let base = format!("http://{}", console.local_addr());
    (console, base)
}

/// Stops the console, then its engine.
pub(crate) async fn stop(console: durable_console::ServingConsole, engine: durable::Engine) {
    console.shutdown().await.expect("shutdown");
    engine.shutdown().await;
}

/// The status of run `id`.
pub(crate) async fn status_of(engine: &durable::Engine, id: durable::RunId) -> durable::RunStatus {
    engine.run(id).info().await.expect("the run").status
}

/// Waits (up to 15 s) until run `id` has `status`.
pub(crate) async fn wait_status(
    engine: &durable::Engine,
    id: durable::RunId,
    status: durable::RunStatus,
) {
    let started = Instant::now();
    while status_of(engine, id).await != status {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "run {id} never became {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
