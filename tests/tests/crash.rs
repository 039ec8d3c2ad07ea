//! Crash recovery with real process kills: a worker process executes runs
//! whose steps append to a ledger file; the test SIGKILLs it at many points,
//! restarts it, and checks that every run completes and that no step body ran
//! again after its result was committed.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use durable_tests::Scratch;

/// Kills that must land on a live worker before the test lets it finish.
const KILLS: usize = 50;

fn worker(
    database: &std::path::Path,
    ledger: &std::path::Path,
    batches: usize,
) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_crash_worker"))
        .arg(database)
        .arg(ledger)
        .arg(batches.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the worker")
}

#[test]
fn killed_workers_never_repeat_a_committed_step() {
    let scratch = Scratch::new("crash");
    let database = scratch.join("runs.db");
    let ledger = scratch.join("ledger.txt");
    let mut batches = 1;
    let mut kills = 0;
    let mut seed = 0x9e37_79b9_u64;
    while kills < KILLS {
        let mut child = worker(&database, &ledger, batches);
        // A pseudo-random delay from 5 to 84 ms, so kills land at start-up,
        // inside step bodies, between a body and its commit, inside sleeps.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(5 + seed % 80));
        if child.try_wait().expect("poll the worker").is_some() {
            // It finished every run before the kill: ask for more runs.
            batches += 1;
            continue;
        }
        child.kill().expect("SIGKILL the worker");
        child.wait().expect("reap the worker");
        kills += 1;
    }
    // Let the last worker finish everything.
    let started = Instant::now();
    let mut child = worker(&database, &ledger, batches);
    loop {
        if let Some(status) = child.try_wait().expect("poll the worker") {
            assert!(status.success(), "the final worker failed: {status}");
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            child.kill().expect("SIGKILL the stuck worker");
            child.wait().expect("reap the stuck worker");
            panic!(
                "the final worker did not finish; runs still open:\n{}",
                open_runs(&database)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    let connection = rusqlite::Connection::open(&database).unwrap();
    let query = |sql: &str| -> Vec<(String, String, Option<String>)> {
        connection
            .prepare(sql)
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    // Every run ended as it should: plain runs and children completed,
    // sagas failed after compensating.
    let runs = query("SELECT json_extract(input, '$.run'), workflow, status FROM wf_instance");
    let top_level = runs
        .iter()
        .filter(|(run, _, _)| !run.contains(".child"))
        .count();
    assert_eq!(top_level, batches * 10);
    for (run, workflow, status) in &runs {
        let expected = if workflow == "crash-saga" {
            "failed"
        } else {
            "completed"
        };
        assert_eq!(status.as_deref(), Some(expected), "{workflow} {run}");
    }
    let outputs = query(
        "SELECT json_extract(input, '$.run'), workflow, output FROM wf_instance WHERE workflow = 'crash-ledger'",
    );
    let committed: HashMap<(String, String), String> = query(
        "SELECT json_extract(i.input, '$.run'), s.name, json_extract(s.output, '$') \
         FROM wf_step s JOIN wf_instance i ON i.id = s.instance_id \
         WHERE s.kind = 'run' AND s.status = 'completed' \
         AND s.name NOT LIKE 'compensate/%' AND s.name NOT LIKE 'on-failure/%'",
    )
    .into_iter()
    .map(|(run, step, output)| ((run, step), output.unwrap_or_default()))
    .collect();

    // The ledger: every execution of every step body and compensation, in
    // order. A kill can land inside the `write` of a line and tear it; a torn
    // execution never returned, so it cannot be a committed one: count it and
    // skip it.
    let text = std::fs::read_to_string(&ledger).unwrap();
    let text = text
        .replace("effect ", "\neffect ")
        .replace("undo ", "\nundo ");
    let mut executions: HashMap<(String, String), Vec<String>> = HashMap::new();
    let mut undos: HashMap<String, Vec<String>> = HashMap::new();
    let mut torn = 0;
    for line in text.lines().filter(|line| !line.is_empty()) {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields.as_slice() {
            ["effect", run, step, execution] if execution.len() == 36 => {
                executions
                    .entry((run.to_string(), step.to_string()))
                    .or_default()
                    .push(execution.to_string());
            }
            ["undo", run, step, execution] if execution.len() == 36 => {
                undos
                    .entry(run.to_string())
                    .or_default()
                    .push(step.to_string());
            }
            _ => torn += 1,
        }
    }
    assert!(torn <= kills, "{torn} torn ledger lines for {kills} kills");

    // Each step's committed result is its last execution: no body ran after
    // its result was committed. Every executed step was committed.
    let mut repeated_bodies = 0;
    for (key, ran) in &executions {
        let committed = committed
            .get(key)
            .unwrap_or_else(|| panic!("{key:?} ran but was never committed"));
        assert_eq!(
            ran.last(),
            Some(committed),
            "{key:?} ran after its commit: {ran:?}"
        );
        repeated_bodies += ran.len() - 1;
    }
    assert_eq!(committed.len(), executions.len());
    // The output of each plain run holds its steps' committed results.
    for (run, _, output) in &outputs {
        let output: Vec<String> = serde_json::from_str(output.as_deref().unwrap()).unwrap();
        for (step, returned) in ["a", "b", "c", "d", "e"].iter().zip(&output) {
            assert_eq!(
                returned,
                &committed[&(run.clone(), step.to_string())],
                "{run} {step}"
            );
        }
    }
    // Sagas compensated in reverse order, and a finished compensation never
    // ran again: no undo of `y` after the first undo of `x`.
    let sagas: Vec<&String> = runs
        .iter()
        .filter(|(_, w, _)| w == "crash-saga")
        .map(|(run, _, _)| run)
        .collect();
    for run in &sagas {
        let order = &undos[*run];
        let first_x = order
            .iter()
            .position(|step| step == "saga[x]")
            .expect("x compensated");
        assert!(
            order[..first_x].iter().any(|step| step == "saga[y]"),
            "{run}: y not compensated first: {order:?}"
        );
        assert!(
            order[first_x..].iter().all(|step| step == "saga[x]"),
            "{run}: y compensated again: {order:?}"
        );
    }
    println!(
        "{kills} kills, {} runs ({} sagas), {} step bodies, {repeated_bodies} re-executed after a kill before their commit (at-least-once), {torn} killed while writing the ledger",
        runs.len(),
        sagas.len(),
        executions.values().map(Vec::len).sum::<usize>()
    );
}

/// The runs that have not ended, each with its status, `ready_at` and steps,
/// one per line: what a stuck final worker left behind.
fn open_runs(database: &std::path::Path) -> String {
    let connection = rusqlite::Connection::open(database).unwrap();
    let mut statement = connection
        .prepare(
            "SELECT i.id, i.workflow, i.status, i.ready_at, \
             (SELECT group_concat(s.name || ':' || s.status, ' ') FROM wf_step s \
              WHERE s.instance_id = i.id) \
             FROM wf_instance i \
             WHERE i.status NOT IN ('completed', 'failed', 'cancelled', 'timed_out')",
        )
        .unwrap();
    statement
        .query_map([], |row| {
            Ok(format!(
                "{} {} {} ready_at={:?} steps: {}",
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<i64>>(3)?,
                row.get::<_, Option<String>>(4)?.unwrap_or_default()
            ))
        })
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
        .join("\n")
}
