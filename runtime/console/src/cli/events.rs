//! `durable events send|list|types` and `durable signal`: messages to runs
//! waiting for them, and the typed events whose schemas they must fit.

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
        EventsCommand::Types => {
            let body = api.get("/api/v1/event-types").await?;
            let types = body["event_types"].as_array().cloned().unwrap_or_default();
            if json {
                show::json(&Value::Array(types));
            } else {
                print!("{}", types_table(&types));
            }
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

/// Prints what sending did: the id, the runs it woke, started and
/// cancelled, and the workflows it matched but could not start.
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
    // The runs it started (`on_event`), and the workflows it could not.
    for run in sent["started"].as_array().into_iter().flatten() {
        println!("started run {}", text(run));
    }
    // The runs it cancelled (`cancel_on`).
    for run in sent["cancelled"].as_array().into_iter().flatten() {
        println!("cancelled run {}", text(run));
    }
    for error in sent["trigger_errors"].as_array().into_iter().flatten() {
        println!(
            "did not start {}: {}",
            text(&error["workflow"]),
            text(&error["error"])
        );
    }
}

/// Typed events as a table: each schema's top-level fields, the required
/// ones marked `*`.
fn types_table(types: &[Value]) -> String {
    let rows: Vec<Vec<String>> = types
        .iter()
        .map(|event| {
            let schema = &event["schema"];
            let required: Vec<&str> = schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let fields: Vec<String> = schema["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(field, _)| {
                    let mark = if required.contains(&field.as_str()) {
                        "*"
                    } else {
                        ""
                    };
                    format!("{field}{mark}")
                })
                .collect();
            vec![
                text(&event["name"]),
                text(&event["fingerprint"]),
                time(&event["last_seen"]),
                fields.join(", "),
            ]
        })
        .collect();
    render(&["NAME", "FINGERPRINT", "LAST SEEN", "FIELDS"], &rows)
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
