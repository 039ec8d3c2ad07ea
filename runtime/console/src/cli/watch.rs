//! Following a run until it ends (`runs watch`, `trigger --wait`): the CLI
//! follows the run's event stream (`GET /api/v1/runs/{id}/events`, see the
//! console's `live/run.rs`) and prints what changed: its status, each step
//! that was reached, retried or settled, and each log line. The stream
//! tells of a change as the console's engine sees it (its change feed, on
//! PostgreSQL every process's commits), so the CLI reads nothing itself:
//! with `--api` over HTTP, with `--database-url` from the router in this
//! process on the engine it opened.
//!
//! A stream that breaks (the console restarted, a proxy cut it) is opened
//! again with `Last-Event-ID`, so the console sends only what the CLI has
//! not seen; for [`RECONNECT_FOR`] at most. A `resync` event (the console
//! may have missed changes) makes the CLI read the run once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Exit;
use super::client::{Api, CliError, EventStream};
use super::runs::run_path;
use super::show;
use super::sse::SseEvent;
use super::table::{preview, text};

/// How long a watch whose stream broke tries to open it again.
const RECONNECT_FOR: Duration = Duration::from_secs(30);

/// The first wait before opening a broken stream again; each failed try
/// doubles it, up to [`RECONNECT_MAX_DELAY`].
const RECONNECT_DELAY: Duration = Duration::from_millis(100);

/// The longest wait between two tries.
const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(2);

/// What the watcher has shown of the run: the run as last told, and each
/// step by position.
#[derive(Debug, Default)]
struct View {
    run: Value,
    steps: BTreeMap<i64, Value>,
}

/// A step's state as the watch tells its changes: status and attempts.
fn step_state(step: &Value) -> (String, u64) {
    (
        text(&step["status"]),
        step["attempts"].as_u64().unwrap_or(0),
    )
}

impl View {
    /// Takes the run as told; answers the line for a change of status.
    fn run(&mut self, id: &str, run: Value) -> Option<String> {
        let status = text(&run["status"]);
        let line = (status != text(&self.run["status"])).then(|| format!("run {id} {status}"));
        self.run = run;
        line
    }

    /// Takes a step as told; answers the line for a change of its state.
    fn step(&mut self, step: Value) -> Option<String> {
        let seq = step["seq"].as_i64().unwrap_or(-1);
        let state = step_state(&step);
        let line = (self.steps.get(&seq).map(step_state) != Some(state.clone())).then(|| {
            format!(
                "step {seq} {} ({}) {}, attempt {}",
                text(&step["name"]),
                text(&step["kind"]),
                state.0,
                state.1
            )
        });
        self.steps.insert(seq, step);
        line
    }

    /// Takes the run's detail as read (`GET /api/v1/runs/{id}`); answers
    /// the lines of what changed.
    fn detail(&mut self, id: &str, detail: &Value) -> Vec<String> {
        let steps = detail["steps"].as_array().cloned().unwrap_or_default();
        // Records a retry deleted are gone from the run, and from the view.
        self.steps
            .retain(|seq, _| steps.iter().any(|step| step["seq"].as_i64() == Some(*seq)));
        let mut lines: Vec<String> = self.run(id, detail["run"].clone()).into_iter().collect();
        lines.extend(steps.into_iter().filter_map(|step| self.step(step)));
        lines
    }

    /// The view as one line of JSON: the run and its steps.
    fn json(&self) -> Value {
        json!({ "run": self.run, "steps": self.steps.values().collect::<Vec<_>>() })
    }
}

/// Follows run `id` until it ends; the exit code says how it ended.
///
/// `changes` (`runs watch`) prints each change as it is seen: a line of
/// text, or with `json` the run and its steps as one line of JSON. Without
/// it (`trigger --wait`) only the end is printed: the run's whole output
/// as JSON, or with `json` `{"run", "output", "error"}`; a run that did not
/// complete is reported on stderr.
pub(crate) async fn watch(
    api: &Api,
    id: &str,
    json: bool,
    changes: bool,
) -> Result<Exit, CliError> {
    let path = run_path(id, "/events");
    let mut view = View::default();
    let mut last_id: Option<String> = None;
    let mut stream = api.events(&path, None).await?;
    loop {
        let event = match stream.next().await {
            Ok(Some(event)) => event,
            // Closed before `end`, or broken: the run has not ended.
            Ok(None) | Err(_) => {
                stream = reopen(api, &path, last_id.as_deref()).await?;
                continue;
            }
        };
        last_id.clone_from(&event.id);
        let lines = match told(api, id, &mut view, &event).await? {
            Told::Lines(lines) => lines,
            Told::Ended => return ended(api, id, &view.run, json, changes).await,
        };
        if changes && !lines.is_empty() {
            if json {
                println!("{}", view.json());
            } else {
                let at = chrono::Utc::now().format("%H:%M:%S%.3f");
                for line in &lines {
                    println!("{at}  {line}");
                }
            }
        }
    }
}

/// What an event told.
enum Told {
    /// These changes (maybe none).
    Lines(Vec<String>),
    /// The run ended.
    Ended,
}

/// Takes `event` of run `id`'s stream into `view`.
async fn told(api: &Api, id: &str, view: &mut View, event: &SseEvent) -> Result<Told, CliError> {
    let data = || {
        serde_json::from_str::<Value>(&event.data).map_err(|error| {
            CliError::Server(format!(
                "a `{}` event whose data is not JSON: {error}",
                event.name
            ))
        })
    };
    let lines = match event.name.as_str() {
        "run" => view.run(id, data()?).into_iter().collect(),
        "step" => view.step(data()?).into_iter().collect(),
        "log" => {
            let line = data()?;
            vec![format!(
                "log {} {}",
                text(&line["level"]),
                text(&line["message"])
            )]
        }
        "resync" => view.detail(id, &api.get(&run_path(id, "")).await?),
        "end" => return Ok(Told::Ended),
        // The run could no longer be read (deleted, or the database failed).
        "error" => {
            let error = data()?;
            let code = text(&error["code"]);
            return Err(CliError::Api {
                status: if code == "run_not_found" { 404 } else { 500 },
                message: text(&error["message"]),
                code,
            });
        }
        // Events a later console may add.
        _ => Vec::new(),
    };
    Ok(Told::Lines(lines))
}

/// Opens the broken stream at `path` again, resuming after `last_id`,
/// waiting longer after each failed try, for [`RECONNECT_FOR`] at most.
async fn reopen(api: &Api, path: &str, last_id: Option<&str>) -> Result<EventStream, CliError> {
    let started = Instant::now();
    let mut delay = RECONNECT_DELAY;
    loop {
        tokio::time::sleep(delay).await;
        match api.events(path, last_id).await {
            Ok(stream) => return Ok(stream),
            // Unreachable, or failing: maybe for a moment.
            Err(error)
                if error.exit() == Exit::Unavailable && started.elapsed() < RECONNECT_FOR =>
            {
                delay = (delay * 2).min(RECONNECT_MAX_DELAY);
            }
            Err(error) => return Err(error),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn step(seq: i64, status: &str, attempts: u64) -> Value {
        json!({ "seq": seq, "name": "charge", "kind": "run", "status": status, "attempts": attempts })
    }

    #[test]
    fn only_changes_make_lines() {
        let mut view = View::default();
        assert_eq!(
            view.run("r", json!({ "status": "running" })).as_deref(),
            Some("run r running")
        );
        assert_eq!(view.run("r", json!({ "status": "running" })), None);
        assert_eq!(
            view.step(step(0, "running", 1)).as_deref(),
            Some("step 0 charge (run) running, attempt 1")
        );
        assert_eq!(view.step(step(0, "running", 1)), None);
        assert!(view.step(step(0, "running", 2)).is_some(), "a retry");
        // A read of the whole run (after `resync`) tells only what differs,
        // and forgets the steps a retry deleted.
        view.step(step(1, "waiting", 0));
        let detail = json!({
            "run": { "status": "running" },
            "steps": [step(0, "completed", 2)],
        });
        assert_eq!(
            view.detail("r", &detail),
            ["step 0 charge (run) completed, attempt 2"]
        );
        assert_eq!(view.steps.keys().copied().collect::<Vec<_>>(), [0]);
        assert_eq!(view.json()["steps"][0]["status"], "completed");
    }
}
