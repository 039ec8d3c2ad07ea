//! The CLI's commands against a worker engine's runs, whichever way the
//! CLI reaches the API: `operate` (list, show, cancel, retry, bulk, events,
//! signal, watch, pause, resume, fork, `--queue`, and their refusals) and `trigger_and_wait` (trigger, with
//! `--wait`, and its refusals), which needs an API that can trigger the
//! fixture workflows.

use std::time::Duration;

use durable::{Engine, RunId, RunStatus};
use serde_json::{Value, json};

use super::{Billing, Cli, OrderInput, Wait, finish, rows, wait_for};

/// A run id no run has.
const UNKNOWN_RUN: &str = "0190e0a4-4c6e-7a3e-9d0b-5b1f3c2a1d00";

/// Every command but `trigger`, on runs that `engine` (a worker) runs.
pub(crate) async fn operate(engine: &Engine, cli: &Cli) {
    list_and_show(engine, cli).await;
    cancel_and_retry(engine, cli).await;
    bulk(engine, cli).await;
    events_and_signals(engine, cli).await;
    watch(engine, cli).await;
    pause_resume_and_fork(engine, cli).await;
    queues(engine, cli).await;
}

async fn list_and_show(engine: &Engine, cli: &Cli) {
    let run = engine
        .trigger::<super::Order>(OrderInput {
            order_id: "o-1".into(),
        })
        .await
        .unwrap();
    wait_for(engine, run.id(), RunStatus::Completed).await;
    let id = run.id().to_string();

    let table = cli.run(&["runs", "list"]).await;
    table.code(0);
    let line = table
        .stdout
        .lines()
        .find(|line| line.starts_with(&id))
        .unwrap_or_else(|| panic!("no line for {id}: {table:?}"));
    assert!(
        line.contains("cli.order") && line.contains("completed"),
        "{line}"
    );
    assert!(table.stdout.starts_with("ID "), "{table:?}");

    let listed = cli.run(&["runs", "list", "--json"]).await;
    let runs = listed.code(0).json();
    let runs = runs.as_array().expect("--json prints an array of runs");
    let mine = runs
        .iter()
        .find(|run| run["id"] == id.as_str())
        .expect("the run");
    assert_eq!(mine["status"], "completed");

    let filtered = cli
        .run(&[
            "runs",
            "list",
            "--workflow",
            "cli.order",
            "--status",
            "failed,cancelled",
            "--json",
        ])
        .await;
    assert_eq!(filtered.code(0).json(), json!([]), "{filtered:?}");
    let limited = cli.run(&["runs", "list", "--limit", "1", "--json"]).await;
    assert_eq!(limited.code(0).json().as_array().unwrap().len(), 1);

    let shown = cli.run(&["runs", "show", &id]).await;
    shown.code(0);
    assert!(shown.stdout.contains("status      completed"), "{shown:?}");
    assert!(shown.stdout.contains("receipt-o-1"), "{shown:?}");
    assert!(shown.stdout.contains("charge"), "{shown:?}");
    let detail = cli
        .run(&["runs", "show", &id, "--json"])
        .await
        .code(0)
        .json();
    assert_eq!(detail["run"]["id"], id.as_str());
    assert_eq!(detail["steps"][0]["name"], "charge");

    let workflows = cli.run(&["workflows", "list"]).await;
    assert!(
        workflows.code(0).stdout.contains("cli.order"),
        "{workflows:?}"
    );
    let workflow = cli.run(&["workflows", "show", "cli.order", "--json"]).await;
    assert_eq!(workflow.code(0).json()["name"], "cli.order");
    let workflow = cli.run(&["workflows", "show", "cli.order"]).await;
    assert!(
        workflow.code(0).stdout.starts_with("workflow  cli.order\n"),
        "{workflow:?}"
    );
    cli.run(&["workflows", "show", "cli.nope"]).await.code(3);

    let unknown = cli.run(&["runs", "show", UNKNOWN_RUN]).await;
    unknown.code(3);
    assert!(unknown.stderr.contains("not found"), "{unknown:?}");
    assert!(unknown.stdout.is_empty(), "{unknown:?}");
    cli.run(&["runs", "show", "not-a-run-id"]).await.code(2);
    let bad_status = cli.run(&["runs", "list", "--status", "bogus"]).await;
    bad_status.code(2);
    assert!(
        bad_status.stderr.contains("not a run status"),
        "{bad_status:?}"
    );
    cli.run(&["runs", "frobnicate"]).await.code(2);
}

async fn cancel_and_retry(engine: &Engine, cli: &Cli) {
    let waiting = engine.trigger::<Wait>("c".into()).await.unwrap().id();
    wait_for(engine, waiting, RunStatus::Suspended).await;
    let id = waiting.to_string();
    let cancelled = cli.run(&["runs", "cancel", &id]).await;
    cancelled.code(0);
    assert!(cancelled.stdout.contains("now cancelled"), "{cancelled:?}");
    assert_eq!(
        engine.run(waiting).status().await.unwrap(),
        RunStatus::Cancelled
    );
    let again = cli.run(&["runs", "cancel", &id]).await;
    again.code(4);
    assert!(again.stderr.contains("invalid_transition"), "{again:?}");
    cli.run(&["runs", "cancel", UNKNOWN_RUN]).await.code(3);
    cli.run(&["runs", "cancel", &id, "--workflow", "cli.wait"])
        .await
        .code(2);

    let failing = engine
        .trigger::<super::Fail>("declined".into())
        .await
        .unwrap()
        .id();
    wait_for(engine, failing, RunStatus::Failed).await;
    let retried = cli
        .run(&["runs", "retry", &failing.to_string(), "--json"])
        .await;
    let answer = retried.code(0).json();
    assert_ne!(answer["run"]["status"], "failed", "{answer}");
    // The worker runs it again, and it fails again.
    let started = std::time::Instant::now();
    loop {
        let info = engine.run(failing).info().await.unwrap();
        if info.executions == 2 && info.status == RunStatus::Failed {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{info:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cli.run(&["runs", "retry", &id]).await.code(4);
}

async fn bulk(engine: &Engine, cli: &Cli) {
    let mut ids = Vec::new();
    for label in ["b1", "b2"] {
        ids.push(engine.trigger::<Wait>(label.into()).await.unwrap().id());
    }
    for id in &ids {
        wait_for(engine, *id, RunStatus::Suspended).await;
    }
    let filter = ["--workflow", "cli.wait", "--status", "suspended"];
    let dry = cli
        .run(&[&["runs", "cancel"][..], &filter, &["--dry-run"]].concat())
        .await;
    dry.code(0);
    assert_eq!(
        dry.stdout, "dry run: matched 2; nothing changed\n",
        "{dry:?}"
    );
    for id in &ids {
        assert_eq!(
            engine.run(*id).status().await.unwrap(),
            RunStatus::Suspended
        );
    }
    let done = cli
        .run(&[&["runs", "cancel"][..], &filter, &["--json"]].concat())
        .await
        .code(0)
        .json();
    assert_eq!(
        (done["matched"].clone(), done["succeeded"].clone()),
        (json!(2), json!(2))
    );
    assert_eq!(done["failed"], 0);
    for id in &ids {
        assert_eq!(
            engine.run(*id).status().await.unwrap(),
            RunStatus::Cancelled
        );
    }
    let none = cli.run(&[&["runs", "cancel"][..], &filter].concat()).await;
    assert_eq!(none.code(0).stdout, "matched 0, succeeded 0, failed 0\n");
    // Pages: the table says how to get the next one; the cursor gives it.
    let first = cli.run(&["runs", "list", "--limit", "1"]).await;
    let cursor = first
        .code(0)
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("more runs: add --after "))
        .unwrap_or_else(|| panic!("no cursor: {first:?}"))
        .to_owned();
    let newest = cli
        .run(&["runs", "list", "--limit", "1", "--json"])
        .await
        .code(0)
        .json();
    let next = cli
        .run(&["runs", "list", "--limit", "1", "--after", &cursor, "--json"])
        .await
        .code(0)
        .json();
    assert_ne!(newest[0]["id"], next[0]["id"], "{newest} {next}");
    assert!(next[0]["created_at"].as_i64() <= newest[0]["created_at"].as_i64());
    let empty = cli.run(&["runs", "retry"]).await;
    empty.code(2);
    assert!(
        empty.stderr.contains("needs a run id, or filter options"),
        "{empty:?}"
    );
    let retry_dry = cli
        .run(&[
            "runs",
            "retry",
            "--workflow",
            "cli.fail",
            "--status",
            "failed",
            "--dry-run",
        ])
        .await;
    assert!(
        retry_dry.code(0).stdout.contains("matched 1"),
        "{retry_dry:?}"
    );
}

async fn pause_resume_and_fork(engine: &Engine, cli: &Cli) {
    let waiting = engine.trigger::<Wait>("p".into()).await.unwrap().id();
    wait_for(engine, waiting, RunStatus::Suspended).await;
    let id = waiting.to_string();
    let paused = cli.run(&["runs", "pause", &id]).await;
    paused.code(0);
    assert!(
        paused.stdout.contains("paused run") && paused.stdout.contains("now suspended, paused"),
        "{paused:?}"
    );
    assert!(
        engine
            .run(waiting)
            .info()
            .await
            .unwrap()
            .paused_at
            .is_some()
    );
    let shown = cli.run(&["runs", "show", &id]).await;
    assert!(
        shown
            .code(0)
            .stdout
            .lines()
            .any(|line| line.starts_with("paused ")),
        "{shown:?}"
    );
    let listed = cli.run(&["runs", "list", "--paused", "--json"]).await;
    let listed = listed.code(0).json();
    let listed: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|run| run["id"].as_str())
        .collect();
    assert_eq!(listed, [id.as_str()], "only the paused run");
    let dry = cli.run(&["runs", "resume", "--paused", "--dry-run"]).await;
    assert_eq!(
        dry.code(0).stdout,
        "dry run: matched 1; nothing changed\n",
        "{dry:?}"
    );
    assert!(
        engine
            .run(waiting)
            .info()
            .await
            .unwrap()
            .paused_at
            .is_some()
    );
    let resumed = cli.run(&["runs", "resume", &id, "--json"]).await;
    assert!(resumed.code(0).json()["run"]["paused_at"].is_null());
    assert_eq!(engine.run(waiting).info().await.unwrap().paused_at, None);
    engine.run(waiting).cancel().await.unwrap();
    let refused = cli.run(&["runs", "pause", &id]).await;
    refused.code(4);
    assert!(refused.stderr.contains("invalid_transition"), "{refused:?}");
    cli.run(&["runs", "resume", UNKNOWN_RUN]).await.code(3);

    let failing = engine
        .trigger::<super::Fail>("declined".into())
        .await
        .unwrap()
        .id();
    wait_for(engine, failing, RunStatus::Failed).await;
    let source = failing.to_string();
    let forked = cli
        .run(&[
            "runs",
            "fork",
            &source,
            "--from-step",
            "boom",
            "--input",
            r#""expired""#,
        ])
        .await;
    let line = forked.code(0).stdout.clone();
    let new: RunId = line
        .trim()
        .rsplit(' ')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no new run in {line:?}"));
    assert!(
        line.starts_with(&format!("forked run {source} from step boom")),
        "{line}"
    );
    wait_for(engine, new, RunStatus::Failed).await;
    let info = engine.run(new).info().await.unwrap();
    let origin = info.forked_from.expect("the fork names its source");
    assert_eq!((origin.run, origin.step.as_str()), (failing, "boom"));
    assert!(info.error.unwrap_or_default().contains("expired"));
    let missing = cli
        .run(&["runs", "fork", &source, "--from-step", "nope"])
        .await;
    missing.code(3);
    assert!(missing.stderr.contains("step_not_found"), "{missing:?}");
    cli.run(&["runs", "fork", &source]).await.code(2);
}

async fn events_and_signals(engine: &Engine, cli: &Cli) {
    let paying = engine.trigger::<super::Event>(7).await.unwrap();
    wait_for(engine, paying.id(), RunStatus::Suspended).await;
    let before = rows(engine).await;
    let bad = cli
        .run(&["events", "send", "cli.paid", "--data", "{order: 7}"])
        .await;
    bad.code(2);
    assert!(bad.stderr.contains("--data: not JSON"), "{bad:?}");
    assert_eq!(rows(engine).await, before, "a refused event was written");
    // `cli.paid` is typed: the catalog shows its schema, and data that does
    // not fit it is refused by the API, naming the field.
    let types = cli.run(&["events", "types"]).await;
    assert!(
        types.code(0).stdout.contains("cli.paid") && types.stdout.contains("cents*"),
        "{types:?}"
    );
    let types = cli.run(&["events", "types", "--json"]).await;
    assert_eq!(
        types.code(0).json()[0]["schema"]["properties"]["order"]["type"],
        "integer"
    );
    let unfit = cli
        .run(&[
            "events",
            "send",
            "cli.paid",
            "--data",
            r#"{"order": 7, "cents": "many"}"#,
        ])
        .await;
    // A 400 `invalid_event`, as for any malformed event.
    assert!(unfit.code(2).stderr.contains("cents:"), "{unfit:?}");
    assert_eq!(
        rows(engine).await,
        before,
        "an event that does not fit was written"
    );
    let sent = cli
        .run(&[
            "events",
            "send",
            "cli.paid",
            "--data",
            r#"{"order": 7, "cents": 250}"#,
        ])
        .await;
    sent.code(0);
    assert!(sent.stdout.contains("woke 1 run(s)"), "{sent:?}");
    assert!(sent.stdout.contains(&paying.id().to_string()), "{sent:?}");
    wait_for(engine, paying.id(), RunStatus::Completed).await;
    assert_eq!(paying.result().await.unwrap(), 250);
    let listed = cli
        .run(&["events", "list", "--name", "cli.paid", "--json"])
        .await;
    assert_eq!(listed.code(0).json()[0]["data"]["value"]["cents"], 250);

    let approving = engine.trigger::<Wait>("s".into()).await.unwrap();
    wait_for(engine, approving.id(), RunStatus::Suspended).await;
    let id = approving.id().to_string();
    let signalled = cli
        .run(&["signal", &id, "approve", "--data", "true", "--json"])
        .await;
    assert_eq!(signalled.code(0).json()["woken"], json!([id]));
    assert_eq!(approving.result().await.unwrap(), "s: Some(true)");
    cli.run(&["signal", UNKNOWN_RUN, "approve"]).await.code(3);
    cli.run(&["signal", &id, "approve"]).await.code(4);
}

async fn watch(engine: &Engine, cli: &Cli) {
    let waiting = engine.trigger::<Wait>("w".into()).await.unwrap();
    wait_for(engine, waiting.id(), RunStatus::Suspended).await;
    let id = waiting.id().to_string();
    let args = ["runs", "watch", &id, "--interval", "20ms"];
    let child = cli.command(&args).spawn().unwrap();
    // The watcher sees the run suspended first, then the signal's effect.
    tokio::time::sleep(Duration::from_millis(500)).await;
    engine
        .run(waiting.id())
        .signal("approve", true)
        .await
        .unwrap();
    let out = finish(child, &args).await;
    out.code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    let suspended = lines
        .iter()
        .position(|line| line.ends_with(&format!("run {id} suspended")));
    let completed = lines
        .iter()
        .position(|line| line.ends_with(&format!("run {id} completed")));
    assert!(suspended.is_some() && completed > suspended, "{out:?}");
    assert!(
        out.stdout.contains("approval (listen) completed"),
        "{out:?}"
    );
    assert!(out.stdout.ends_with("output: w: Some(true)\n"), "{out:?}");

    // A run that ended otherwise: exit 1, at once.
    let cancelled = engine.trigger::<Wait>("x".into()).await.unwrap().id();
    engine.run(cancelled).cancel().await.unwrap();
    let out = cli.run(&["runs", "watch", &cancelled.to_string()]).await;
    out.code(1);
    // A line of JSON per change: the run and its steps; the last one ended.
    let json = cli.run(&["runs", "watch", &id, "--json"]).await;
    let last = json.code(0).stdout.lines().last().unwrap_or_default();
    let line: Value = serde_json::from_str(last).expect("JSON lines");
    assert_eq!(line["run"]["status"], "completed");
    assert_eq!(line["steps"][0]["name"], "approval", "{line}");
    cli.run(&["runs", "watch", UNKNOWN_RUN]).await.code(3);
}

/// `trigger`, with and without `--wait`, on an API whose engine registers
/// the fixture workflows; `engine` reads the same database.
pub(crate) async fn trigger_and_wait(engine: &Engine, cli: &Cli) {
    let waited = cli
        .run(&[
            "trigger",
            "cli.order",
            "--input",
            r#"{"order_id": "o-9"}"#,
            "--wait",
        ])
        .await;
    waited.code(0);
    assert_eq!(waited.json(), json!("receipt-o-9"), "{waited:?}");
    assert!(
        waited.stderr.contains("waiting for it to end"),
        "{waited:?}"
    );

    let failed = cli
        .run(&[
            "trigger",
            "cli.fail",
            "--input",
            r#""out of stock""#,
            "--wait",
        ])
        .await;
    failed.code(1);
    assert!(
        failed.stderr.contains("ended failed") && failed.stderr.contains("out of stock"),
        "{failed:?}"
    );

    let scratch = durable_tests::Scratch::new("cli-input");
    let file = scratch.join("order.json");
    std::fs::write(&file, r#"{"order_id": "o-10"}"#).unwrap();
    let input = format!("@{}", file.display());
    let keyed = [
        "trigger",
        "cli.order",
        "--input",
        &input,
        "--idempotency-key",
        "k-10",
        "--json",
    ];
    let first = cli.run(&keyed).await.code(0).json();
    let again = cli.run(&keyed).await.code(0).json();
    assert_eq!(
        first["run"]["id"], again["run"]["id"],
        "the key gives the first run"
    );
    let id: RunId = first["run"]["id"].as_str().unwrap().parse().unwrap();
    wait_for(engine, id, RunStatus::Completed).await;
    let result = cli
        .run(&[
            "trigger",
            "cli.order",
            "--input",
            r#"{"order_id": "o-11"}"#,
            "--wait",
            "--json",
        ])
        .await
        .code(0)
        .json();
    assert_eq!(result["output"], "receipt-o-11");
    assert_eq!(result["run"]["status"], "completed");
    let delayed = cli
        .run(&[
            "trigger",
            "cli.order",
            "--input",
            r#"{"order_id": "o-12"}"#,
            "--delay",
            "1h",
            "--json",
        ])
        .await
        .code(0)
        .json();
    assert_eq!(delayed["run"]["status"], "pending");

    // Refusals write nothing.
    let before = rows(engine).await;
    let invalid = cli
        .run(&["trigger", "cli.order", "--input", r#"{"order_id": 5}"#])
        .await;
    invalid.code(4);
    assert!(
        invalid.stderr.contains("order_id") && invalid.stderr.contains("invalid_input"),
        "{invalid:?}"
    );
    cli.run(&["trigger", "cli.order", "--input", "{"])
        .await
        .code(2);
    cli.run(&["trigger", "cli.order", "--input", "@/no/such/file.json"])
        .await
        .code(2);
    let unknown = cli.run(&["trigger", "cli.nope", "--wait"]).await;
    unknown.code(3);
    assert!(unknown.stderr.contains("unknown_workflow"), "{unknown:?}");
    let reused = cli
        .run(&[
            "trigger",
            "cli.order",
            "--input",
            r#"{"order_id": "other"}"#,
            "--idempotency-key",
            "k-10",
        ])
        .await;
    reused.code(4);
    cli.run(&["trigger", "cli.order", "--input", "{}", "--delay", "soon"])
        .await
        .code(2);
    assert_eq!(rows(engine).await, before, "a refused trigger wrote a run");
}

/// The ids of the runs a `--json` list printed.
fn ids_of(listed: &Value) -> Vec<String> {
    let mut ids: Vec<String> = listed
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {listed}"))
        .iter()
        .filter_map(|run| run["id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

/// `--queue` narrows `runs list` and the bulk actions to one queue's runs.
async fn queues(engine: &Engine, cli: &Cli) {
    let mut billed = Vec::new();
    for label in ["q1", "q2"] {
        billed.push(engine.trigger::<Billing>(label.into()).await.unwrap().id());
    }
    let mut billed: Vec<String> = billed.iter().map(RunId::to_string).collect();
    billed.sort();
    let elsewhere = engine.trigger::<Wait>("q".into()).await.unwrap().id();
    wait_for(engine, elsewhere, RunStatus::Suspended).await;
    let listed = cli
        .run(&["runs", "list", "--queue", "billing", "--json"])
        .await
        .code(0)
        .json();
    assert_eq!(ids_of(&listed), billed, "only the billing runs: {listed}");
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|run| run["queue"] == "billing")
    );
    let default = cli
        .run(&["runs", "list", "--queue", "default", "--json"])
        .await
        .code(0)
        .json();
    let default = ids_of(&default);
    assert!(default.contains(&elsewhere.to_string()), "{default:?}");
    assert!(billed.iter().all(|id| !default.contains(id)), "{default:?}");
    // The table has a queue column.
    let table = cli.run(&["runs", "list", "--queue", "billing"]).await;
    assert!(table.code(0).stdout.starts_with("ID "), "{table:?}");
    for id in &billed {
        let line = table
            .stdout
            .lines()
            .find(|line| line.starts_with(id.as_str()));
        assert!(
            line.is_some_and(|line| line.contains("cli.billing  billing")),
            "{table:?}"
        );
    }
    let bad = cli.run(&["runs", "list", "--queue", "no spaces"]).await;
    assert!(bad.code(2).stderr.contains("queue"), "{bad:?}");

    // Bulk actions by queue: pause, resume, then cancel the two runs, and
    // leave the run of the default queue as it was.
    let dry = cli
        .run(&["runs", "cancel", "--queue", "billing", "--dry-run"])
        .await;
    assert_eq!(
        dry.code(0).stdout,
        "dry run: matched 2; nothing changed\n",
        "{dry:?}"
    );
    let paused = cli
        .run(&["runs", "pause", "--queue", "billing", "--json"])
        .await
        .code(0)
        .json();
    assert_eq!(
        (paused["matched"].clone(), paused["succeeded"].clone()),
        (json!(2), json!(2)),
        "{paused}"
    );
    let paused_now = cli
        .run(&["runs", "list", "--paused", "--json"])
        .await
        .code(0)
        .json();
    assert_eq!(ids_of(&paused_now), billed, "{paused_now}");
    let resumed = cli
        .run(&["runs", "resume", "--queue", "billing", "--paused", "--json"])
        .await
        .code(0)
        .json();
    assert_eq!(resumed["succeeded"], 2, "{resumed}");
    let cancelled = cli
        .run(&["runs", "cancel", "--queue", "billing", "--json"])
        .await
        .code(0)
        .json();
    assert_eq!(cancelled["succeeded"], 2, "{cancelled}");
    for id in &billed {
        let id: RunId = id.parse().unwrap();
        let info = engine.run(id).info().await.unwrap();
        assert_eq!((info.status, info.paused_at), (RunStatus::Cancelled, None));
    }
    let info = engine.run(elsewhere).info().await.unwrap();
    assert_eq!((info.status, info.paused_at), (RunStatus::Suspended, None));
    engine.run(elsewhere).cancel().await.unwrap();
}
