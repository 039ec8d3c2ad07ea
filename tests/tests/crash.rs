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
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the final worker did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // Every run completed, with the outputs of its steps.
    let connection = rusqlite::Connection::open(&database).unwrap();
    let runs: Vec<(String, String, Option<String>)> = connection
        .prepare("SELECT json_extract(input, '$.run'), status, output FROM wf_instance")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(runs.len(), batches * 10);
    let committed: HashMap<(String, String), String> = connection
        .prepare(
            "SELECT json_extract(i.input, '$.run'), s.name, json_extract(s.output, '$') \
             FROM wf_step s JOIN wf_instance i ON i.id = s.instance_id \
             WHERE s.kind = 'run' AND s.status = 'completed'",
        )
        .unwrap()
        .query_map([], |row| Ok(((row.get(0)?, row.get(1)?), row.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();

    // The ledger: every execution of every step body, in order. A kill can
    // land inside the `write` of a line and tear it; a torn execution never
    // returned, so it cannot be a committed one: count it and skip it.
    let text = std::fs::read_to_string(&ledger).unwrap();
    let mut executions: HashMap<(String, String), Vec<String>> = HashMap::new();
    let mut torn = 0;
    for record in text.split("effect ").skip(1) {
        let complete = record.split_once('\n').and_then(|(line, rest)| {
            let fields: Vec<&str> = line.split(' ').collect();
            match fields.as_slice() {
                [run, step, execution] if execution.len() == 36 => Some((
                    run.to_string(),
                    step.to_string(),
                    execution.to_string(),
                    rest,
                )),
                _ => None,
            }
        });
        match complete {
            Some((run, step, execution, rest)) => {
                executions.entry((run, step)).or_default().push(execution);
                // The start of a line torn before its first word was done.
                torn += usize::from(!rest.is_empty());
            }
            None => torn += 1,
        }
    }
    assert!(torn <= kills, "{torn} torn ledger lines for {kills} kills");

    let mut repeated_bodies = 0;
    for (run, status, output) in &runs {
        assert_eq!(status, "completed", "run {run}");
        let output: Vec<String> = serde_json::from_str(output.as_deref().unwrap()).unwrap();
        for (step, returned) in ["a", "b", "c", "d", "e"].iter().zip(&output) {
            let key = (run.clone(), step.to_string());
            let committed = &committed[&key];
            let ran = &executions[&key];
            // The run's output holds the committed result: replay fed it back.
            assert_eq!(returned, committed, "{key:?}");
            // The committed result is the last execution: no body ran after
            // its result was committed.
            assert_eq!(
                ran.last(),
                Some(committed),
                "{key:?} ran after its commit: {ran:?}"
            );
            repeated_bodies += ran.len() - 1;
        }
    }
    println!(
        "{kills} kills, {} runs, {} step bodies, {repeated_bodies} re-executed after a kill before their commit (at-least-once), {torn} killed while writing the ledger",
        runs.len(),
        executions.values().map(Vec::len).sum::<usize>()
    );
}
