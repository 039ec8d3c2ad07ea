//! The `durable` binary driven as a process against real databases: a
//! worker engine in the test process runs the fixture workflows, and the
//! CLI lists, shows, cancels, retries, acts in bulk, triggers (with
//! `--wait`), follows runs, sends events and signals, and serves the API
//! standalone (`durable console`).
//!
//! On SQLite the worker holds the file, so the CLI acts through the
//! worker's embedded console (`--api`); with `--database-url` it reads the
//! file beside the worker (read-only) and refuses actions, or uses it
//! fully once the worker stopped. On PostgreSQL the CLI opens
//! the database itself for everything (it needs `DURABLE_TEST_POSTGRES_URL`;
//! without it those tests print a notice and pass).

use std::time::Duration;

use durable::{Engine, RunStatus};
use durable_console::{Console, ServingConsole};
use durable_tests::TestDb;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

#[path = "cli/mod.rs"]
mod cli;

use cli::{Cli, Wait, operate, register, trigger_and_wait, wait_for, watch_follows_the_stream};

/// The token of the tests' consoles.
const TOKEN: &str = "cli-test-token";

/// A worker engine on `db` with the fixture workflows, its console on a
/// loopback port, and the CLI on that console.
async fn worker_with_console(db: &TestDb) -> (Engine, ServingConsole, Cli) {
    let engine = register(db.builder())
        .start()
        .await
        .expect("the worker starts");
    let console = Console::new(&engine)
        .token(TOKEN)
        .bind("127.0.0.1:0")
        .await
        .expect("the console binds");
    let cli = Cli::api(&format!("http://{}", console.local_addr()), TOKEN);
    (engine, console, cli)
}

#[tokio::test]
async fn sqlite_every_command_over_the_api() {
    let db = TestDb::sqlite("cli-sqlite-operate");
    let (engine, console, cli) = worker_with_console(&db).await;
    operate(&engine, &cli).await;
    console.shutdown().await.unwrap();
}

#[tokio::test]
async fn sqlite_trigger_and_wait_over_the_api() {
    let db = TestDb::sqlite("cli-sqlite-trigger");
    let (engine, console, cli) = worker_with_console(&db).await;
    trigger_and_wait(&engine, &cli).await;
    console.shutdown().await.unwrap();
}

#[tokio::test]
async fn sqlite_watch_over_the_api_follows_the_stream() {
    let db = TestDb::sqlite("cli-sqlite-follow");
    let engine = register(db.builder()).start().await.unwrap();
    watch_follows_the_stream(&engine, TOKEN).await;
}

#[tokio::test]
async fn sqlite_database_url_reads_what_a_worker_left() {
    let db = TestDb::sqlite("cli-sqlite-read");
    let engine = register(db.builder()).start().await.unwrap();
    let run = engine
        .trigger::<cli::Order>(cli::OrderInput {
            order_id: "o-1".into(),
        })
        .await
        .unwrap();
    wait_for(&engine, run.id(), RunStatus::Completed).await;
    let id = run.id().to_string();
    let cli = Cli::database(&db);
    engine.shutdown().await;
    drop(engine);
    let listed = cli.run(&["runs", "list", "--json"]).await.code(0).json();
    assert_eq!(listed[0]["id"], id.as_str(), "{listed}");
    assert_eq!(listed[0]["status"], "completed");
    let shown = cli.run(&["runs", "show", &id]).await;
    assert!(shown.code(0).stdout.contains("receipt-o-1"), "{shown:?}");
    let workflows = cli
        .run(&["workflows", "list", "--json"])
        .await
        .code(0)
        .json();
    assert!(
        workflows
            .as_array()
            .unwrap()
            .iter()
            .any(|workflow| workflow["name"] == "cli.order"),
        "{workflows}"
    );
    // The CLI let go of the file: a worker starts on it again.
    let again = register(db.builder())
        .start()
        .await
        .expect("the file is free");
    again.shutdown().await;
}

#[tokio::test]
async fn sqlite_runs_no_worker_serves_are_listed_and_counted() {
    let db = TestDb::sqlite("cli-sqlite-unserved");
    let worker = register(db.builder()).start().await.unwrap();
    let waiting = worker.trigger::<Wait>("left".into()).await.unwrap().id();
    wait_for(&worker, waiting, RunStatus::Suspended).await;
    let cli = Cli::database(&db);
    // While the worker serves its version, nothing waits for one.
    let served = cli.run(&["runs", "list", "--unserved", "--json"]).await;
    assert_eq!(served.code(0).json(), serde_json::json!([]), "{served:?}");
    worker.shutdown().await;
    drop(worker);
    // The worker stopped: its run waits for a version nobody serves.
    let listed = cli
        .run(&["runs", "list", "--unserved", "--json"])
        .await
        .code(0)
        .json();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|run| run["id"].as_str())
        .collect();
    assert_eq!(ids, [waiting.to_string()], "{listed}");
    let table = cli.run(&["workflows", "list"]).await;
    let row = table
        .code(0)
        .stdout
        .lines()
        .find(|line| line.starts_with("cli.wait "))
        .unwrap_or_default()
        .to_owned();
    assert!(row.ends_with(" 1"), "{table:?}");
    let shown = cli.run(&["workflows", "show", "cli.wait"]).await;
    assert!(
        shown
            .code(0)
            .stdout
            .contains(": 1 run waiting: no worker serves this version"),
        "{shown:?}"
    );
    // A worker of that version starts again: the run is served.
    let again = register(db.builder()).start().await.unwrap();
    let served = cli.run(&["runs", "list", "--unserved", "--json"]).await;
    assert_eq!(served.code(0).json(), serde_json::json!([]), "{served:?}");
    again.shutdown().await;
}

#[tokio::test]
async fn sqlite_database_url_reads_beside_a_worker_and_refuses_actions() {
    let db = TestDb::sqlite("cli-sqlite-held");
    let worker = register(db.builder()).start().await.unwrap();
    let waiting = worker.trigger::<Wait>("held".into()).await.unwrap().id();
    wait_for(&worker, waiting, RunStatus::Suspended).await;
    let cli = Cli::database(&db);
    let listed = cli.run(&["runs", "list", "--json"]).await.code(0).json();
    assert_eq!(listed[0]["id"], waiting.to_string(), "{listed}");
    let refused = cli.run(&["runs", "cancel", &waiting.to_string()]).await;
    refused.code(4);
    assert!(refused.stderr.contains("read_only"), "{refused:?}");
    assert_eq!(
        worker.run(waiting).status().await.unwrap(),
        RunStatus::Suspended
    );
}

#[tokio::test]
async fn refusals_have_their_exit_codes() {
    let db = TestDb::sqlite("cli-refusals");
    let (engine, console, _) = worker_with_console(&db).await;
    let url = format!("http://{}", console.local_addr());
    let wrong = Cli::api(&url, "wrong-token").run(&["runs", "list"]).await;
    wrong.code(4);
    assert!(wrong.stderr.contains("unauthorized"), "{wrong:?}");
    let from_url = Cli::api(&format!("{url}/?token={TOKEN}"), TOKEN);
    from_url.run(&["runs", "list"]).await.code(0);
    let read_only = Console::new(&engine)
        .token(TOKEN)
        .read_only(true)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let waiting = engine.trigger::<Wait>("r".into()).await.unwrap().id();
    wait_for(&engine, waiting, RunStatus::Suspended).await;
    let refused = Cli::api(&format!("http://{}", read_only.local_addr()), TOKEN)
        .run(&["runs", "cancel", &waiting.to_string()])
        .await;
    refused.code(4);
    assert!(refused.stderr.contains("read_only"), "{refused:?}");
    assert_eq!(
        engine.run(waiting).status().await.unwrap(),
        RunStatus::Suspended
    );
    read_only.shutdown().await.unwrap();
    console.shutdown().await.unwrap();
    // Nothing listens there any more.
    let gone = Cli::api(&url, TOKEN).run(&["runs", "list"]).await;
    gone.code(5);
    assert!(gone.stderr.contains("cannot reach the console"), "{gone:?}");
    Cli::api("https://127.0.0.1:1", TOKEN)
        .run(&["runs", "list"])
        .await
        .code(2);
    let nowhere = Cli::with_args(&[]).run(&["runs", "list"]).await;
    nowhere.code(2);
    assert!(nowhere.stderr.contains("--database-url"), "{nowhere:?}");
    let scratch = durable_tests::Scratch::new("cli-missing");
    let typo = format!("sqlite://{}", scratch.join("typo.db").display());
    let missing = Cli::with_args(&["--database-url", &typo])
        .run(&["runs", "list"])
        .await;
    missing.code(2);
    assert!(missing.stderr.contains("no database at"), "{missing:?}");
    assert!(
        !scratch.join("typo.db").exists(),
        "the CLI created the file"
    );
    let help = Cli::with_args(&[]).run(&["--help"]).await;
    assert!(help.code(0).stdout.contains("Exit codes:"), "{help:?}");
}

#[tokio::test]
async fn postgres_every_command_by_database_url() {
    let Some(db) = TestDb::postgres("cli_pg_operate") else {
        return;
    };
    let engine = register(db.builder()).start().await.unwrap();
    operate(&engine, &Cli::database(&db)).await;
}

#[tokio::test]
async fn postgres_trigger_and_wait_over_the_api() {
    let Some(db) = TestDb::postgres("cli_pg_trigger") else {
        return;
    };
    let (engine, console, cli) = worker_with_console(&db).await;
    trigger_and_wait(&engine, &cli).await;
    console.shutdown().await.unwrap();
}

#[tokio::test]
async fn postgres_watch_over_the_api_follows_the_stream() {
    let Some(db) = TestDb::postgres("cli_pg_follow") else {
        return;
    };
    let engine = register(db.builder()).start().await.unwrap();
    watch_follows_the_stream(&engine, TOKEN).await;
}

#[tokio::test]
async fn postgres_trigger_and_wait_by_database_url() {
    let Some(db) = TestDb::postgres("cli_pg_trigger_url") else {
        return;
    };
    let engine = register(db.builder()).start().await.unwrap();
    trigger_and_wait(&engine, &Cli::database(&db)).await;
}

#[tokio::test]
async fn postgres_standalone_console_serves_and_reaches_the_worker() {
    let Some(db) = TestDb::postgres("cli_pg_console") else {
        return;
    };
    let worker = register(db.builder()).start().await.unwrap();
    let waiting = worker.trigger::<Wait>("standalone".into()).await.unwrap();
    wait_for(&worker, waiting.id(), RunStatus::Suspended).await;
    let cli = Cli::database(&db);

    let open = cli.run(&["console", "--bind", "0.0.0.0:0"]).await;
    open.code(2);
    assert!(open.stderr.contains("without a token"), "{open:?}");

    let args = ["console", "--bind", "127.0.0.1:0", "--token", TOKEN];
    let mut console = cli.command(&args).spawn().unwrap();
    let mut stdout = BufReader::new(console.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(30), stdout.read_line(&mut line))
        .await
        .expect("the console says where it serves")
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("durable console serving at ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .trim_end_matches('/')
        .to_owned();
    let addr = url.strip_prefix("http://").unwrap().to_owned();

    let (status, runs) = get(&addr, "/api/v1/runs", Some(TOKEN)).await;
    assert_eq!(status, 200, "{runs}");
    assert_eq!(runs["runs"][0]["id"], waiting.id().to_string());
    let (status, document) = get(&addr, "/openapi.json", Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert!(document["openapi"].is_string(), "{document}");
    let (status, refused) = get(&addr, "/api/v1/runs", None).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (401, Some("unauthorized"))
    );

    // An action from the console reaches the worker's run.
    let cancelled = Cli::api(&url, TOKEN)
        .run(&["runs", "cancel", &waiting.id().to_string()])
        .await;
    cancelled.code(0);
    assert_eq!(
        worker.run(waiting.id()).status().await.unwrap(),
        RunStatus::Cancelled
    );
    assert!(
        waiting.result().await.is_err(),
        "the worker's handle sees the cancel"
    );

    // SIGTERM stops it cleanly.
    let pid = console.id().unwrap().to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), console.wait())
        .await
        .expect("the console stops on SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

/// `GET path` on `addr` over a plain TCP connection, as any HTTP client
/// sends it: the status and the body as JSON.
async fn get(addr: &str, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    let json = serde_json::from_str(&body).unwrap_or_else(|error| panic!("{error}: {body}"));
    (status, json)
}

/// The body of a chunked answer.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}
