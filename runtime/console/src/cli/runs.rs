//! `durable runs ...` and `durable trigger`: the run list with its
//! filters, one run, cancel, retry, pause and resume of one run or in bulk
//! by filter, fork, and
//! starting a run (and following it with `--wait`).

use durable::IntoDuration;
use serde_json::{Map, Value, json};

use super::Exit;
use super::args::{ActionArgs, FilterArgs, ForkArgs, ListArgs, RunsCommand, TriggerArgs};
use super::client::{Api, CliError, segment, with_query};
use super::input::{interval, json_arg};
use super::show;
use super::watch;

/// Runs `durable runs COMMAND`.
pub(crate) async fn run(api: &Api, command: &RunsCommand, json: bool) -> Result<Exit, CliError> {
    match command {
        RunsCommand::List(list) => runs_list(api, list, json).await,
        RunsCommand::Show { id } => {
            let detail = api.get(&run_path(id, "")).await?;
            if json {
                show::json(&detail);
            } else {
                print!("{}", show::run_detail(&detail));
            }
            Ok(Exit::Ok)
        }
        RunsCommand::Watch(args) => {
            // No longer used, but still checked: a typo stays an error.
            interval(&args.interval)?;
            watch::watch(api, &args.id, json, true).await
        }
        RunsCommand::Cancel(args) => action(api, "cancel", args, json).await,
        RunsCommand::Retry(args) => action(api, "retry", args, json).await,
        RunsCommand::Pause(args) => action(api, "pause", args, json).await,
        RunsCommand::Resume(args) => action(api, "resume", args, json).await,
        RunsCommand::Fork(args) => fork(api, args, json).await,
    }
}

/// `/api/v1/runs/{id}{rest}`.
pub(crate) fn run_path(id: &str, rest: &str) -> String {
    format!("/api/v1/runs/{}{rest}", segment(id))
}

/// The filter's options as `(key, value)` pairs, as the run list's query
/// takes them.
fn filter_pairs(filter: &FilterArgs) -> Vec<(&'static str, String)> {
    let mut pairs = Vec::new();
    let mut add = |key: &'static str, value: Option<String>| {
        if let Some(value) = value {
            pairs.push((key, value));
        }
    };
    add("workflow", filter.workflow.clone());
    add("queue", filter.queue.clone());
    add("text", filter.text.clone());
    add("parent", filter.parent.clone());
    add("created_from", filter.created_from.map(|ms| ms.to_string()));
    add(
        "created_until",
        filter.created_until.map(|ms| ms.to_string()),
    );
    for status in &filter.status {
        pairs.push(("status", status.clone()));
    }
    if filter.unserved {
        pairs.push(("unserved", "true".to_owned()));
    }
    if filter.paused {
        pairs.push(("paused", "true".to_owned()));
    }
    pairs
}

async fn runs_list(api: &Api, list: &ListArgs, json: bool) -> Result<Exit, CliError> {
    let mut pairs = filter_pairs(&list.filter);
    if let Some(limit) = list.limit {
        pairs.push(("limit", limit.to_string()));
    }
    if let Some(after) = &list.after {
        pairs.push(("after", after.clone()));
    }
    let page = api.get(&with_query("/api/v1/runs", &pairs)).await?;
    let runs = page["runs"].as_array().cloned().unwrap_or_default();
    if json {
        // A script reads the array; the cursor goes where it is not in the way.
        show::json(&Value::Array(runs));
        if let Some(next) = page["next"].as_str() {
            eprintln!("next page: --after {next}");
        }
    } else {
        if runs.is_empty() {
            println!("(no runs)");
        } else {
            print!("{}", show::runs_table(&runs));
        }
        if let Some(next) = page["next"].as_str() {
            println!("more runs: add --after {next}");
        }
    }
    Ok(Exit::Ok)
}

/// `runs fork`: a new run from an ended one, from a step, with the
/// source's input or another.
async fn fork(api: &Api, args: &ForkArgs, json: bool) -> Result<Exit, CliError> {
    let mut body = json!({ "from_step": args.from_step });
    if args.input.is_some() {
        body["input"] = json_arg("--input", args.input.as_deref())?;
    }
    let answer = api.post(&run_path(&args.id, "/fork"), &body).await?;
    if json {
        show::json(&answer);
    } else {
        let new = answer["run"]["id"].as_str().unwrap_or("?");
        println!(
            "forked run {} from step {}: new run {new}",
            args.id, args.from_step
        );
    }
    Ok(Exit::Ok)
}

/// `runs cancel|retry|pause|resume`: one run by id, or every run of the
/// filter.
async fn action(api: &Api, verb: &str, args: &ActionArgs, json: bool) -> Result<Exit, CliError> {
    let filter = filter_pairs(&args.filter);
    let Some(id) = &args.id else {
        return bulk(api, verb, filter, args.dry_run, json).await;
    };
    if !filter.is_empty() || args.dry_run {
        return Err(CliError::Usage(format!(
            "runs {verb} takes a run id or filter options (--workflow, --status, ...), not both"
        )));
    }
    let answer = api
        .post(&run_path(id, &format!("/{verb}")), &json!({}))
        .await?;
    if json {
        show::json(&answer);
    } else {
        let status = answer["run"]["status"].as_str().unwrap_or("?");
        let done = match verb {
            "cancel" => "cancelled",
            "retry" => "retried",
            "pause" => "paused",
            _ => "resumed",
        };
        let paused = if answer["run"]["paused_at"].is_i64() {
            ", paused"
        } else {
            ""
        };
        println!("{done} run {id}: now {status}{paused}");
    }
    Ok(Exit::Ok)
}

async fn bulk(
    api: &Api,
    verb: &str,
    filter: Vec<(&'static str, String)>,
    dry_run: bool,
    json: bool,
) -> Result<Exit, CliError> {
    if filter.is_empty() {
        return Err(CliError::Usage(format!(
            "runs {verb} needs a run id, or filter options (--workflow, --status, --text, --parent, --created-from, --created-until, --unserved, --paused, --queue) for a bulk {verb}"
        )));
    }
    let mut object = Map::new();
    for (key, value) in filter {
        if key == "status" {
            let statuses = object.entry(key).or_insert_with(|| json!([]));
            if let Value::Array(items) = statuses {
                items.push(Value::String(value));
            }
        } else {
            object.insert(key.to_owned(), Value::String(value));
        }
    }
    let body = json!({ "filter": object, "dry_run": dry_run });
    let answer = api.post(&format!("/api/v1/runs/{verb}"), &body).await?;
    if json {
        show::json(&answer);
    } else {
        print!("{}", show::bulk(&answer));
    }
    Ok(if answer["failed"].as_u64().unwrap_or(0) > 0 {
        Exit::Refused
    } else {
        Exit::Ok
    })
}

/// `durable trigger NAME`: starts a run; with `--wait`, follows it and
/// prints its output.
pub(crate) async fn trigger(api: &Api, args: &TriggerArgs, json: bool) -> Result<Exit, CliError> {
    // Read everything first: a mistake sends nothing.
    let input = json_arg("--input", args.input.as_deref())?;
    // No longer used, but still checked: a typo stays an error.
    interval(&args.interval)?;
    let mut body = json!({ "input": input });
    if let Some(key) = &args.idempotency_key {
        body["idempotency_key"] = json!(key);
    }
    if let Some(delay) = &args.delay {
        delay
            .as_str()
            .into_duration()
            .map_err(|error| CliError::Usage(format!("--delay {delay:?}: {error}")))?;
        body["delay"] = json!(delay);
    }
    if let Some(at) = args.start_at {
        body["start_at"] = json!(at);
    }
    let path = format!("/api/v1/workflows/{}/trigger", segment(&args.workflow));
    let answer = api.post(&path, &body).await?;
    let id = answer["run"]["id"]
        .as_str()
        .ok_or_else(|| CliError::Server(format!("a trigger answered without a run id: {answer}")))?
        .to_owned();
    if !args.wait {
        if json {
            show::json(&answer);
        } else {
            println!(
                "triggered run {id} ({}, {})",
                args.workflow,
                answer["run"]["status"].as_str().unwrap_or("?")
            );
        }
        return Ok(Exit::Ok);
    }
    if !json {
        eprintln!("triggered run {id}; waiting for it to end");
    }
    watch::watch(api, &id, json, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_query_pairs() {
        let filter = FilterArgs {
            workflow: Some("orders".into()),
            status: vec!["failed".into(), "timed_out".into()],
            created_from: Some(5),
            ..FilterArgs::default()
        };
        assert_eq!(
            with_query("/api/v1/runs", &filter_pairs(&filter)),
            "/api/v1/runs?workflow=orders&created_from=5&status=failed&status=timed_out"
        );
        assert!(filter_pairs(&FilterArgs::default()).is_empty());
        let unserved = FilterArgs {
            unserved: true,
            ..FilterArgs::default()
        };
        assert_eq!(
            with_query("/api/v1/runs", &filter_pairs(&unserved)),
            "/api/v1/runs?unserved=true"
        );
        let billing = FilterArgs {
            queue: Some("billing".into()),
            ..FilterArgs::default()
        };
        assert_eq!(
            with_query("/api/v1/runs", &filter_pairs(&billing)),
            "/api/v1/runs?queue=billing"
        );
        assert_eq!(run_path("a b", "/cancel"), "/api/v1/runs/a%20b/cancel");
    }
}
