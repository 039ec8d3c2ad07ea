//! Following a run until it ends (`runs watch`, `trigger --wait`): the CLI
//! reads the run (`GET /api/v1/runs/{id}`) every interval (200 ms by
//! default) and prints what changed: its status, and each step that was
//! reached, retried or settled. Polling keeps this one request any console
//! answers; a change shows up at most one interval late.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::Exit;
use super::client::{Api, CliError};
use super::runs::run_path;
use super::show;
use super::table::{preview, text};

/// The statuses a run ends in.
const ENDED: &[&str] = &["completed", "failed", "cancelled", "timed_out"];

/// What a step looked like at the last read: its status and attempts.
type StepState = (String, u64);

/// Follows run `id` until it ends; the exit code says how it ended.
///
/// `changes` (`runs watch`) prints each change as it is seen: a line of
/// text, or with `json` the run's detail as one line of JSON. Without it
/// (`trigger --wait`) only the end is printed: the run's whole output as
/// JSON, or with `json` `{"run", "output", "error"}`; a run that did not
/// complete is reported on stderr.
pub(crate) async fn watch(
    api: &Api,
    id: &str,
    every: Duration,
    json: bool,
    changes: bool,
) -> Result<Exit, CliError> {
    let mut status = String::new();
    let mut steps: BTreeMap<i64, StepState> = BTreeMap::new();
    loop {
        let detail = api.get(&run_path(id, "")).await?;
        let run = &detail["run"];
        let now = text(&run["status"]);
        let mut lines = Vec::new();
        if now != status {
            lines.push(format!("run {id} {now}"));
        }
        for step in detail["steps"].as_array().into_iter().flatten() {
            let seq = step["seq"].as_i64().unwrap_or(-1);
            let state = (
                text(&step["status"]),
                step["attempts"].as_u64().unwrap_or(0),
            );
            if steps.get(&seq) != Some(&state) {
                lines.push(format!(
                    "step {seq} {} ({}) {}, attempt {}",
                    text(&step["name"]),
                    text(&step["kind"]),
                    state.0,
                    state.1
                ));
                steps.insert(seq, state);
            }
        }
        if changes && !lines.is_empty() {
            if json {
                println!("{detail}");
            } else {
                let at = chrono::Utc::now().format("%H:%M:%S%.3f");
                for line in &lines {
                    println!("{at}  {line}");
                }
            }
        }
        status = now;
        if ENDED.contains(&status.as_str()) {
            return ended(api, id, run, json, changes).await;
        }
        tokio::time::sleep(every).await;
    }
}

/// Prints how run `id` ended and answers with the exit code.
async fn ended(
    api: &Api,
    id: &str,
    run: &Value,
    json: bool,
    changes: bool,
) -> Result<Exit, CliError> {
    let completed = run["status"] == "completed";
    let exit = if completed { Exit::Ok } else { Exit::RunFailed };
    if changes {
        if !json {
            let value = if completed { "output" } else { "error" };
            println!("{value}: {}", preview(&run[value], 200));
        }
        return Ok(exit);
    }
    // The whole values: the run's answer holds only previews of large ones.
    let output = whole(api, id, "/output").await?;
    let error = whole(api, id, "/error").await?;
    if json {
        show::json(&json!({ "run": run, "output": output, "error": error }));
    } else if completed {
        show::json(&output);
    } else {
        eprintln!("run {id} ended {}: {}", text(&run["status"]), text(&error));
    }
    Ok(exit)
}

/// The whole value at `rest` of the run, or `Null` when it has none.
async fn whole(api: &Api, id: &str, rest: &str) -> Result<Value, CliError> {
    match api.get(&run_path(id, rest)).await {
        Ok(value) => Ok(value),
        Err(CliError::Api { code, .. }) if code == "value_not_found" => Ok(Value::Null),
        Err(error) => Err(error),
    }
}
