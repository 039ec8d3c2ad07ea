//! `durable workflows list|show`: the workflows the API knows, as a table,
//! and one of them with its input schema.

use serde_json::Value;

use super::Exit;
use super::args::WorkflowsCommand;
use super::client::{Api, CliError, segment};
use super::show;
use super::table::{render, text};

/// Runs `durable workflows COMMAND`.
pub(crate) async fn run(
    api: &Api,
    command: &WorkflowsCommand,
    json: bool,
) -> Result<Exit, CliError> {
    match command {
        WorkflowsCommand::List => {
            let answer = api.get("/api/v1/workflows").await?;
            let workflows = answer["workflows"].as_array().cloned().unwrap_or_default();
            if json {
                show::json(&Value::Array(workflows));
            } else if workflows.is_empty() {
                println!("(no workflows)");
            } else {
                print!("{}", workflows_table(&workflows));
            }
        }
        WorkflowsCommand::Show { name } => {
            let workflow = api
                .get(&format!("/api/v1/workflows/{}", segment(name)))
                .await?;
            if json {
                show::json(&workflow);
            } else {
                print!("{}", workflow_detail(&workflow));
            }
        }
    }
    Ok(Exit::Ok)
}

/// Workflows as a table: the name, whether its input schema is known, and
/// how many of its runs wait for a version no live worker serves.
fn workflows_table(workflows: &[Value]) -> String {
    let rows: Vec<Vec<String>> = workflows
        .iter()
        .map(|workflow| {
            let schema = if workflow["input_schema"].is_null() {
                "-"
            } else {
                "yes"
            };
            let waiting = unserved_total(&workflow["unserved"]);
            vec![
                text(&workflow["name"]),
                schema.to_owned(),
                waiting.to_string(),
            ]
        })
        .collect();
    render(&["NAME", "INPUT SCHEMA", "UNSERVED RUNS"], &rows)
}

/// How many runs an `unserved` list of the API counts.
fn unserved_total(unserved: &Value) -> u64 {
    unserved
        .as_array()
        .map(|groups| groups.iter().filter_map(|g| g["runs"].as_u64()).sum())
        .unwrap_or(0)
}

/// The lines of an `unserved` list: one per pinned version, in words.
fn unserved_lines(unserved: &Value) -> String {
    let groups = unserved.as_array().map(Vec::as_slice).unwrap_or_default();
    if groups.is_empty() {
        return "unserved  none: a live worker serves every run in flight\n".to_owned();
    }
    let mut out = String::new();
    for group in groups {
        let runs = group["runs"].as_u64().unwrap_or(0);
        let plural = if runs == 1 { "run" } else { "runs" };
        let line = match group["version"].as_str() {
            Some(version) => format!(
                "unserved  {version}: {runs} {plural} waiting: no worker serves this version\n"
            ),
            None => format!(
                "unserved  not pinned: {runs} {plural} waiting: no worker serves this workflow\n"
            ),
        };
        out.push_str(&line);
    }
    out
}

/// One workflow: its name, then every other field the API answers with
/// (the input schema as pretty JSON, the unserved runs in words).
fn workflow_detail(workflow: &Value) -> String {
    let mut out = format!("workflow  {}\n", text(&workflow["name"]));
    if let Value::Object(fields) = workflow {
        for (key, value) in fields.iter().filter(|(key, _)| *key != "name") {
            if key == "unserved" {
                out.push_str(&unserved_lines(value));
                continue;
            }
            match value {
                Value::Object(_) | Value::Array(_) => {
                    let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
                    out.push_str(&format!("{key}:\n"));
                    for line in pretty.lines() {
                        out.push_str(&format!("  {line}\n"));
                    }
                }
                other => out.push_str(&format!("{key}  {}\n", text(other))),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn workflows_read_as_a_table_and_a_detail() {
        let list = [
            json!({"name": "orders", "input_schema": {"type": "object"}}),
            json!({"name": "refunds", "input_schema": null}),
        ];
        assert_eq!(
            workflows_table(&list),
            "NAME     INPUT SCHEMA  UNSERVED RUNS\norders   yes           0\nrefunds  -             0\n"
        );
        let detail = workflow_detail(&json!({
            "name": "orders", "registered_here": true, "input_schema": {"type": "object"},
            "unserved": [{"version": "v1", "runs": 3}, {"version": null, "runs": 1}],
        }));
        assert!(
            detail.contains("unserved  v1: 3 runs waiting: no worker serves this version\n"),
            "{detail}"
        );
        assert!(
            detail
                .contains("unserved  not pinned: 1 run waiting: no worker serves this workflow\n"),
            "{detail}"
        );
        assert!(detail.starts_with("workflow  orders\n"), "{detail}");
        assert!(detail.contains("registered_here  true\n"), "{detail}");
        assert!(
            detail.contains("input_schema:\n  {\n    \"type\": \"object\"\n  }\n"),
            "{detail}"
        );
    }
}
