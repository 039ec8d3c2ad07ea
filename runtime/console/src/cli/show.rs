//! How the API's runs, steps and results read in a terminal, and the one
//! way `--json` prints the API's JSON.

use serde_json::Value;

use super::table::{elapsed, preview, render, text, time};

/// How wide a value's preview is in a table.
const VALUE_WIDTH: usize = 60;

/// Prints `value` as pretty JSON on stdout.
pub(crate) fn json(value: &Value) {
    // Serializing a `Value` cannot fail.
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// Runs as a table: id, workflow, status, created, how long it took.
pub(crate) fn runs_table(runs: &[Value]) -> String {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|run| {
            vec![
                text(&run["id"]),
                text(&run["workflow"]),
                text(&run["queue"]),
                text(&run["status"]),
                time(&run["created_at"]),
                elapsed(&run["started_at"], &run["finished_at"]),
            ]
        })
        .collect();
    render(
        &["ID", "WORKFLOW", "QUEUE", "STATUS", "CREATED", "TOOK"],
        &rows,
    )
}

/// A run's detail (`GET /runs/{id}`): its fields, then its steps and its
/// children as tables.
pub(crate) fn run_detail(detail: &Value) -> String {
    let run = &detail["run"];
    let mut out = run_fields(run);
    if let Some(steps) = detail["steps"].as_array().filter(|steps| !steps.is_empty()) {
        out.push_str("\nsteps:\n");
        out.push_str(&steps_table(steps));
    }
    if let Some(children) = detail["children"]
        .as_array()
        .filter(|children| !children.is_empty())
    {
        out.push_str("\nchildren:\n");
        out.push_str(&runs_table(children));
    }
    out
}

/// Where a run was forked from: `RUN at step STEP`, or `-`.
fn forked_from(origin: &Value) -> String {
    match (origin["run"].as_str(), origin["step"].as_str()) {
        (Some(run), Some(step)) => format!("{run} at step {step}"),
        _ => "-".into(),
    }
}

/// A run's fields, one per line.
pub(crate) fn run_fields(run: &Value) -> String {
    let took = elapsed(&run["started_at"], &run["finished_at"]);
    let finished = if took == "-" {
        time(&run["finished_at"])
    } else {
        format!("{} (took {took})", time(&run["finished_at"]))
    };
    let fields = [
        ("run", text(&run["id"])),
        ("workflow", text(&run["workflow"])),
        ("queue", text(&run["queue"])),
        ("status", text(&run["status"])),
        ("paused", time(&run["paused_at"])),
        ("created", time(&run["created_at"])),
        ("started", time(&run["started_at"])),
        ("finished", finished),
        ("deadline", time(&run["deadline_at"])),
        ("executions", text(&run["executions"])),
        ("parent", text(&run["parent"])),
        ("forked from", forked_from(&run["forked_from"])),
        ("idempotency", text(&run["idempotency_key"])),
        ("input", preview(&run["input"], VALUE_WIDTH)),
        ("output", preview(&run["output"], VALUE_WIDTH)),
        ("error", preview(&run["error"], VALUE_WIDTH)),
    ];
    fields
        .iter()
        .filter(|(name, value)| value != "-" || matches!(*name, "status" | "finished"))
        .map(|(name, value)| format!("{name:<12}{value}\n"))
        .collect()
}

/// Steps as a table, in the order the run reached them.
pub(crate) fn steps_table(steps: &[Value]) -> String {
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|step| {
            let result = if step["error"].is_null() {
                preview(&step["output"], VALUE_WIDTH)
            } else {
                preview(&step["error"], VALUE_WIDTH)
            };
            vec![
                text(&step["seq"]),
                text(&step["name"]),
                text(&step["kind"]),
                text(&step["status"]),
                text(&step["attempts"]),
                elapsed(&step["started_at"], &step["ended_at"]),
                result,
            ]
        })
        .collect();
    render(
        &[
            "SEQ", "NAME", "KIND", "STATUS", "ATTEMPTS", "TOOK", "RESULT",
        ],
        &rows,
    )
}

/// What a bulk action answered: `matched N, succeeded N, failed N`, then
/// each failure.
pub(crate) fn bulk(answer: &Value) -> String {
    let count = |field: &str| answer[field].as_u64().unwrap_or(0);
    let mut out = if answer["dry_run"] == true {
        format!("dry run: matched {}; nothing changed\n", count("matched"))
    } else {
        format!(
            "matched {}, succeeded {}, failed {}\n",
            count("matched"),
            count("succeeded"),
            count("failed")
        )
    };
    for error in answer["errors"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {}: {} [{}]\n",
            text(&error["id"]),
            text(&error["message"]),
            text(&error["code"])
        ));
    }
    if count("errors_omitted") > 0 {
        out.push_str(&format!(
            "  ... and {} more failures\n",
            count("errors_omitted")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_run_reads_as_fields_steps_and_children() {
        let detail = json!({
            "run": {
                "id": "r1", "workflow": "orders", "status": "completed",
                "created_at": 0, "started_at": 1_000, "finished_at": 3_000,
                "executions": 1, "parent": null, "idempotency_key": null,
                "input": {"truncated": false, "bytes": 2, "value": {}},
                "output": {"truncated": false, "bytes": 4, "value": "done"},
                "error": null, "deadline_at": null,
            },
            "steps": [{
                "seq": 0, "name": "charge", "kind": "run", "status": "completed",
                "attempts": 1, "started_at": 1_000, "ended_at": 1_200,
                "output": {"truncated": false, "bytes": 3, "value": "r-1"}, "error": null,
            }],
            "children": [],
        });
        let out = run_detail(&detail);
        assert!(out.contains("status      completed\n"), "{out}");
        assert!(
            out.contains("finished    1970-01-01 00:00:03 (took 2.0s)"),
            "{out}"
        );
        assert!(out.contains("output      done\n"), "{out}");
        assert!(!out.contains("error"), "{out}");
        assert!(!out.contains("children"), "{out}");
        let steps = out.split("steps:\n").nth(1).unwrap();
        assert!(steps.starts_with("SEQ  NAME    KIND  STATUS"), "{steps}");
        assert!(
            steps.contains("0    charge  run   completed  1         200ms  r-1"),
            "{steps}"
        );
    }

    #[test]
    fn a_bulk_answer_counts_and_lists_failures() {
        let dry = json!({"dry_run": true, "matched": 3, "succeeded": 0, "failed": 0, "errors": []});
        assert_eq!(bulk(&dry), "dry run: matched 3; nothing changed\n");
        let done = json!({
            "dry_run": false, "matched": 2, "succeeded": 1, "failed": 1, "errors_omitted": 0,
            "errors": [{"id": "r2", "code": "invalid_transition", "message": "r2 is completed"}],
        });
        assert_eq!(
            bulk(&done),
            "matched 2, succeeded 1, failed 1\n  r2: r2 is completed [invalid_transition]\n"
        );
    }
}
