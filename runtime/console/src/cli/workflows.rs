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

/// Workflows as a table: the name, and whether its input schema is known.
fn workflows_table(workflows: &[Value]) -> String {
    let rows: Vec<Vec<String>> = workflows
        .iter()
        .map(|workflow| {
            let schema = if workflow["input_schema"].is_null() {
                "-"
            } else {
                "yes"
            };
            vec![text(&workflow["name"]), schema.to_owned()]
        })
        .collect();
    render(&["NAME", "INPUT SCHEMA"], &rows)
}

/// One workflow: its name, then every other field the API answers with
/// (the input schema as pretty JSON).
fn workflow_detail(workflow: &Value) -> String {
    let mut out = format!("workflow  {}\n", text(&workflow["name"]));
    if let Value::Object(fields) = workflow {
        for (key, value) in fields.iter().filter(|(key, _)| *key != "name") {
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
            "NAME     INPUT SCHEMA\norders   yes\nrefunds  -\n"
        );
        let detail = workflow_detail(&json!({
            "name": "orders", "registered_here": true, "input_schema": {"type": "object"},
        }));
        assert!(detail.starts_with("workflow  orders\n"), "{detail}");
        assert!(detail.contains("registered_here  true\n"), "{detail}");
        assert!(
            detail.contains("input_schema:\n  {\n    \"type\": \"object\"\n  }\n"),
            "{detail}"
        );
    }
}
