//! Many workers on PostgreSQL: four worker processes share 2,000 runs of a
//! 3-step workflow whose steps append to a ledger table. One worker is
//! SIGKILLed mid-run, one is stopped gracefully, and one is paused past its
//! lease (so others take its runs and its late writes are fenced out). Every
//! run completes, and every step's committed result is the last execution of
//! its body: nothing committed twice, nothing committed by a stale worker.
//!
//! And a take-over under load: a worker is SIGKILLed while it holds leases
//! and hundreds of runs are pending; another worker takes its runs over
//! within about a lease and a claim, not behind the backlog.
//!
//! Needs `DURABLE_TEST_POSTGRES_URL`; skips with a notice without it.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use durable_tests::{postgres_url, unique_schema};
use sqlx::Connection;

const RUNS: u32 = 2_000;

fn worker(url: &str, schema: &str, runs: u32) -> Child {
    Command::new(env!("CARGO_BIN_EXE_pg_worker"))
        .args([url, schema, &runs.to_string(), "1s"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start a worker")
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name}");
}

fn wait(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            started.elapsed() < limit,
            "a worker did not finish in {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn connect(url: &str, schema: &str) -> sqlx::PgConnection {
    let mut db = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query(&format!("SET search_path TO {schema}"))
        .execute(&mut db)
        .await
        .unwrap();
    db
}

#[tokio::test(flavor = "multi_thread")]
async fn four_workers_survive_a_kill_a_stop_and_a_stall() {
    let Some(url) = postgres_url() else { return };
    let schema = unique_schema("workers");
    // The first worker creates the schema and triggers every run.
    let mut workers = vec![worker(&url, &schema, RUNS)];
    let mut db = connect(&url, &schema).await;
    let started = Instant::now();
    loop {
        let created: Option<i64> = sqlx::query_scalar("SELECT COUNT(*) FROM wf_instance")
            .fetch_one(&mut db)
            .await
            .ok();
        if created == Some(i64::from(RUNS)) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the runs were not triggered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..3 {
        workers.push(worker(&url, &schema, 0));
    }
    std::thread::sleep(Duration::from_millis(300));
    signal(&workers[0], "KILL");
    workers[0].wait().unwrap();
    signal(&workers[1], "TERM");
    assert!(
        wait(&mut workers[1], Duration::from_secs(30)).success(),
        "graceful stop"
    );
    // Pause a worker for three leases: its runs move to the last worker.
    let paused_pid = workers[2].id();
    signal(&workers[2], "STOP");
    std::thread::sleep(Duration::from_secs(3));
    signal(&workers[2], "CONT");
    for worker in &mut workers[2..] {
        assert!(wait(worker, Duration::from_secs(120)).success());
    }

    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(&format!("SET search_path TO {schema}"))
        .execute(&mut db)
        .await
        .unwrap();
    let statuses: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, COUNT(*) FROM wf_instance GROUP BY status")
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert_eq!(statuses, [("completed".to_string(), i64::from(RUNS))]);
    let committed: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT (i.input #>> '{}')::bigint, s.name, s.output #>> '{}' \
         FROM wf_step s JOIN wf_instance i ON i.id = s.instance_id WHERE s.status = 'completed'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(committed.len(), RUNS as usize * 3);
    let ledger: Vec<(i64, String, String, i64)> =
        sqlx::query_as("SELECT run, step, execution, worker FROM ledger ORDER BY at")
            .fetch_all(&mut db)
            .await
            .unwrap();
    let mut executions: HashMap<(i64, String), Vec<(String, i64)>> = HashMap::new();
    for (run, step, execution, worker) in ledger {
        executions
            .entry((run, step))
            .or_default()
            .push((execution, worker));
    }
    let paused = i64::from(paused_pid);
    let mut zombie_bodies = 0;
    for (run, step, output) in &committed {
        let key = (*run, step.clone());
        let ran = &executions[&key];
        let position = ran
            .iter()
            .position(|(execution, _)| execution == output)
            .unwrap_or_else(|| panic!("{key:?}: the committed result is no execution's"));
        // After the commit only a stale worker may still run the body (it
        // was paused mid-run; its own commit was then refused).
        for (_, worker) in &ran[position + 1..] {
            assert_eq!(
                *worker, paused,
                "{key:?}: a body ran after its commit on a live worker"
            );
            zombie_bodies += 1;
        }
    }
    let repeated: usize = executions.values().map(|ran| ran.len() - 1).sum();
    println!(
        "{RUNS} runs on 4 workers (1 killed, 1 stopped, 1 paused past its lease): {repeated} bodies ran \
         more than once, {zombie_bodies} of them on the paused worker after another committed"
    );
}

/// A worker process that is killed (SIGKILL) when dropped, also when the
/// test fails.
struct Sleeper(Child);

impl Sleeper {
    fn start(url: &str, schema: &str, runs: u32, lease: &str, concurrency: usize) -> Self {
        Sleeper(
            Command::new(env!("CARGO_BIN_EXE_pg_sleeper"))
                .args([
                    url,
                    schema,
                    &runs.to_string(),
                    lease,
                    &concurrency.to_string(),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start a worker"),
        )
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `sql` (one count) until it gives `wanted`, for at most a minute.
async fn wait_for_count(db: &mut sqlx::PgConnection, sql: &str, wanted: impl Fn(i64) -> bool) {
    let started = Instant::now();
    loop {
        let count: Option<i64> = sqlx::query_scalar(sql).fetch_one(&mut *db).await.ok();
        if count.is_some_and(&wanted) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "waited a minute for {sql} (last: {count:?})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A worker dies (SIGKILL) holding leases while 750 runs are pending and a
/// second worker is busy with the backlog: the dead worker's runs are taken
/// over within the lease, a claim and a step's time (plus a generous
/// margin), not after the backlog (it had taken 15 to 18 s with a 1.5 s
/// lease). Each step takes a second, so the backlog lasts the whole test.
#[tokio::test(flavor = "multi_thread")]
async fn a_dead_workers_runs_are_taken_over_whatever_the_backlog() {
    let Some(url) = postgres_url() else { return };
    let schema = unique_schema("takeover");
    const BACKLOG: u32 = 750;
    const LEASE: Duration = Duration::from_millis(1_500);
    // How long a worker at work may take to claim again: its slots free as
    // its one-second steps end, and it polls every second.
    const CLAIM_INTERVAL: Duration = Duration::from_secs(1);
    const STEP: Duration = Duration::from_secs(1);
    const MARGIN: Duration = Duration::from_secs(6);
    let mut doomed = Sleeper::start(&url, &schema, BACKLOG, "1500ms", 4);
    let mut db = connect(&url, &schema).await;
    wait_for_count(&mut db, "SELECT COUNT(*) FROM wf_instance", |n| {
        n == i64::from(BACKLOG)
    })
    .await;
    wait_for_count(
        &mut db,
        "SELECT COUNT(*) FROM wf_instance WHERE status = 'running'",
        |n| n == 4,
    )
    .await;
    let doomed_owner: String =
        sqlx::query_scalar("SELECT lease_owner FROM wf_instance WHERE status = 'running' LIMIT 1")
            .fetch_one(&mut db)
            .await
            .unwrap();
    // The survivor fills its slots from the backlog before the other dies.
    let _survivor = Sleeper::start(&url, &schema, 0, "1500ms", 8);
    wait_for_count(
        &mut db,
        &format!(
            "SELECT COUNT(*) FROM wf_instance WHERE status = 'running' \
             AND lease_owner <> '{doomed_owner}'"
        ),
        |n| n == 8,
    )
    .await;
    doomed.0.kill().unwrap();
    doomed.0.wait().unwrap();
    let killed = Instant::now();
    let held: Vec<String> = sqlx::query_scalar(
        "SELECT id::text FROM wf_instance WHERE status = 'running' AND lease_owner = $1",
    )
    .bind(&doomed_owner)
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert!(!held.is_empty(), "the killed worker held no lease");
    let limit = LEASE + CLAIM_INTERVAL + STEP + MARGIN;
    let pending = loop {
        let (left, pending): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*) FILTER (WHERE id::text = ANY ($1) AND lease_owner = $2), \
               COUNT(*) FILTER (WHERE status = 'pending') FROM wf_instance",
        )
        .bind(&held)
        .bind(&doomed_owner)
        .fetch_one(&mut db)
        .await
        .unwrap();
        if left == 0 {
            break pending;
        }
        assert!(
            killed.elapsed() < limit,
            "{left} of the {} runs of the killed worker were not taken over within {limit:?} \
             ({pending} runs pending)",
            held.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = killed.elapsed();
    // The backlog was still there: the take-over did not wait for it.
    assert!(pending > 0, "the backlog drained before the take-over");
    println!(
        "{} runs of a killed worker taken over {took:?} after the kill (lease {LEASE:?}), \
         with {pending} runs pending",
        held.len()
    );
}
