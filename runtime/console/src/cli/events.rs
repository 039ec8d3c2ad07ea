//! `durable events send|list` and `durable signal`: messages to runs
//! waiting for them.

use serde_json::{Value, json};

use super::Exit;
use super::args::{EventsCommand, SignalArgs};
use super::client::{Api, CliError, with_query};
use super::input::json_arg;
use super::runs::run_path;
use super::show;
use super::table::{preview, render, text, time};

/// Runs `durable events COMMAND`.
pub(crate) async fn run(api: &Api, command: &EventsCommand, json: bool) -> Result<Exit, CliError> {
    match command {
        EventsCommand::Send { name, data } => {
            let data = json_arg("--data", data.as_deref())?;
            let sent = api
                .post("/api/v1/events", &json!({ "name": name, "data": data }))
                .await?;
            report(&sent, &format!("event {name}"), json);
        }
        EventsCommand::List { name, limit } => {
            let mut pairs = Vec::new();
            if let Some(name) = name {
                pairs.push(("name", name.clone()));
            }
            if let Some(limit) = limit {
                pairs.push(("limit", limit.to_string()));
            }
            let page = api.get(&with_query("/api/v1/events", &pairs)).await?;
            let events = page["events"].as_array().cloned().unwrap_or_default();
            if json {
                show::json(&Value::Array(events));
            } else {
                print!("{}", events_table(&events));
            }
        }
    }
    Ok(Exit::Ok)
}

/// `durable signal RUN NAME --data JSON`.
pub(crate) async fn signal(api: &Api, args: &SignalArgs, json: bool) -> Result<Exit, CliError> {
    let data = json_arg("--data", args.data.as_deref())?;
    let sent = api
        .post(
            &run_path(&args.run, "/signal"),
            &json!({ "name": args.name, "data": data }),
        )
        .await?;
    report(
        &sent,
        &format!("signal {} to run {}", args.name, args.run),
        json,
    );
    Ok(Exit::Ok)
}

/// Prints what sending did: the id and the runs it woke.
fn report(sent: &Value, what: &str, json: bool) {
    if json {
        show::json(sent);
        return;
    }
    let woken: Vec<String> = sent["woken"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    println!(
        "sent {what} (id {}); woke {} run(s){}{}",
        text(&sent["id"]),
        woken.len(),
        if woken.is_empty() { "" } else { ": " },
        woken.join(", ")
    );
}

/// Events as a table.
fn events_table(events: &[Value]) -> String {
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|event| {
            let woke = event["woke"].as_array().map_or(0, Vec::len);
            vec![
                text(&event["id"]),
                text(&event["name"]),
                time(&event["created_at"]),
                woke.to_string(),
                preview(&event["data"], 60),
            ]
        })
        .collect();
    render(&["ID", "NAME", "SENT", "WOKE", "DATA"], &rows)
}
