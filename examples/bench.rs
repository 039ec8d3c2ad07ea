//! Fixed workloads that print one result line each, for comparing durable
//! over time and against other engines on the same machine.
//!
//! ```text
//! cargo run --release --features postgres --example bench [-- --synchronous normal|full] [--url postgres://...] [--only w1,w2,c1,w3,l1]
//! ```
//!
//! - W1: 2,000 runs of a 3-step no-op workflow, at most 64 in flight, after a
//!   warm-up of 200: runs per second, and p50/p99 trigger-to-result latency.
//! - W2: one run of 1,000 sequential no-op steps: mean latency per step.
//! - C1: W1 with one run in flight: p50/p99 latency.
//! - W3: 10,000 runs that each sleep until 1 s after they start (suspended,
//!   not in memory): the p99 lateness of their wake-ups (when the step after
//!   the sleep ran, minus when the sleep was due), and the process's
//!   resident memory while they sleep. The results are read after the
//!   wake-ups, so that reading them does not load the machine meanwhile.
//! - L1 (only when named in `--only`: loading its database takes a while):
//!   1,000,000 runs of 8 workflows in a realistic mix of statuses, created
//!   over 30 days and written straight into the runs table; then 200 times
//!   the newest 50 failed or timed-out runs and the page after them (through
//!   its cursor): the p50/p99 latency of one page.
//!
//! Each workload runs on a fresh SQLite file (WAL) in the temp directory, or
//! with `--url postgres://...` in a fresh schema of that server (dropped
//! after).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use durable::prelude::*;
use durable::{Durability, EngineBuilder, RunFilter};

#[path = "support/w1.rs"]
mod w1;
use w1::{ThreeSteps, closed_loop};

#[workflow(name = "bench-many-steps")]
async fn many_steps(ctx: Ctx, steps: u32) -> Result<u32, Error> {
    let mut total = 0;
    for i in 0..steps {
        total += ctx
            .run(("noop", i), async || Ok::<_, StepError>(1u32))
            .await?;
    }
    Ok(total)
}

/// Sleeps until 1 s after its start and returns how late it woke (ms): the
/// time its next step ran minus the time it was due.
#[workflow(name = "bench-sleeper")]
async fn sleeper(ctx: Ctx) -> Result<i64, Error> {
    let due = ctx.now("before").await? + Duration::from_secs(1);
    ctx.sleep_until("nap", due).await?;
    let after = ctx.now("after").await?;
    let late = match after.duration_since(due) {
        Ok(late) => late.as_millis() as i64,
        Err(early) => -(early.duration().as_millis() as i64),
    };
    Ok(late)
}

/// A fresh database for one workload.
enum Database {
    Sqlite { dir: std::path::PathBuf },
    Postgres { url: String, schema: String },
}

impl Database {
    fn new(label: &str, url: Option<&str>) -> anyhow::Result<Self> {
        let unique = format!("durable_bench_{label}_{}", std::process::id());
        Ok(match url {
            Some(url) => Database::Postgres {
                url: url.to_owned(),
                schema: unique,
            },
            None => {
                let dir = std::env::temp_dir().join(unique);
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir)?;
                Database::Sqlite { dir }
            }
        })
    }

    async fn engine(&self, durability: Durability) -> anyhow::Result<Engine> {
        Ok(self.builder(durability).start().await?)
    }

    fn builder(&self, durability: Durability) -> EngineBuilder {
        let builder = match self {
            Database::Sqlite { dir } => Engine::builder()
                .sqlite_file(dir.join("bench.db"))
                .durability(durability),
            Database::Postgres { url, schema } => {
                Engine::builder().postgres(url).postgres_schema(schema)
            }
        };
        builder
            .concurrency(256)
            .keep_in_memory_below("100ms")
            .register(ThreeSteps)
            .register(ManySteps)
            .register(Sleeper)
    }

    async fn drop_data(self) -> anyhow::Result<()> {
        match self {
            Database::Sqlite { dir } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Database::Postgres { url, schema } => {
                use sqlx::Connection;
                let mut connection = sqlx::PgConnection::connect(&url).await?;
                sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&mut connection)
                    .await?;
            }
        }
        Ok(())
    }
}

/// The process's resident memory in MiB (Linux), or 0 where unknown.
fn resident_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile_ms(sorted: &[Duration], fraction: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let value = w1::flag;
    let durability = match value("--synchronous") {
        None => Durability::Normal,
        Some(Some(value)) if value == "normal" => Durability::Normal,
        Some(Some(value)) if value == "full" => Durability::Full,
        Some(other) => anyhow::bail!("--synchronous takes normal or full, got {other:?}"),
    };
    let url = match value("--url") {
        None => None,
        Some(Some(url)) if url.starts_with("postgres") => Some(url),
        Some(other) => anyhow::bail!("--url takes a postgres:// URL, got {other:?}"),
    };
    let url = url.as_deref();
    let only: Vec<String> = match value("--only") {
        None => Vec::new(),
        Some(Some(list)) => list.split(',').map(str::to_ascii_lowercase).collect(),
        Some(None) => anyhow::bail!("--only takes a list such as w1,w2"),
    };
    if let Some(unknown) = only
        .iter()
        .find(|name| !["w1", "w2", "c1", "w3", "l1"].contains(&name.as_str()))
    {
        anyhow::bail!("--only knows w1, w2, c1, w3 and l1, not {unknown:?}");
    }
    let named = |name: &str| only.iter().any(|chosen| chosen == name);
    let selected = |name: &str| only.is_empty() || named(name);
    let name = if url.is_some() {
        "durable-postgres"
    } else {
        "durable-sqlite"
    };

    if selected("w1") || selected("w2") {
        let mut line = name.to_string();
        if selected("w1") {
            let (rate, p50, p99) = workload_w1(url, durability).await?;
            line += &format!(" W1 wf/s={rate:.0} p50_ms={p50:.2} p99_ms={p99:.2}");
        }
        if selected("w2") {
            let separator = if selected("w1") { " |" } else { "" };
            let step_ms = workload_w2(url, durability).await?;
            line += &format!("{separator} W2 step_ms={step_ms:.3}");
        }
        println!("{line}");
    }
    if selected("c1") {
        let (p50, p99) = workload_c1(url, durability).await?;
        println!("{name} C1 p50_ms={p50:.2} p99_ms={p99:.2}");
    }
    if selected("w3") {
        let (p99, sleeping_mib, baseline_mib) = workload_w3(url, durability).await?;
        println!(
            "{name} W3 p99_late_ms={p99:.1} rss_mb={sleeping_mib:.1} (before={baseline_mib:.1})"
        );
    }
    if named("l1") {
        let (p50, p99, load) = workload_l1(url, durability).await?;
        println!(
            "{name} L1 list p50_ms={p50:.2} p99_ms={p99:.2} (runs={L1_RUNS} load_s={:.0})",
            load.as_secs_f64()
        );
    }
    Ok(())
}

/// W1: runs per second, and p50/p99 latency in ms, with 64 runs in flight.
async fn workload_w1(url: Option<&str>, durability: Durability) -> anyhow::Result<(f64, f64, f64)> {
    let database = Database::new("w1", url)?;
    let engine = database.engine(durability).await?;
    closed_loop(&engine, 200, 64).await.context("W1 warm-up")?;
    let (elapsed, mut latencies) = closed_loop(&engine, 2_000, 64).await.context("W1")?;
    latencies.sort();
    let rate = 2_000.0 / elapsed.as_secs_f64();
    let (p50, p99) = (
        percentile_ms(&latencies, 0.50),
        percentile_ms(&latencies, 0.99),
    );
    engine.shutdown().await;
    database.drop_data().await?;
    Ok((rate, p50, p99))
}

/// W2: the mean latency in ms of one of 1,000 sequential steps.
async fn workload_w2(url: Option<&str>, durability: Durability) -> anyhow::Result<f64> {
    let database = Database::new("w2", url)?;
    let engine = database.engine(durability).await?;
    ManySteps::trigger(&engine, 10).await?.result().await?;
    let started = Instant::now();
    let total = ManySteps::trigger(&engine, 1_000).await?.result().await?;
    anyhow::ensure!(total == 1_000, "W2 ran {total} steps");
    let step_ms = started.elapsed().as_secs_f64() * 1000.0 / 1_000.0;
    engine.shutdown().await;
    database.drop_data().await?;
    Ok(step_ms)
}

/// C1: p50/p99 latency in ms with one run in flight.
async fn workload_c1(url: Option<&str>, durability: Durability) -> anyhow::Result<(f64, f64)> {
    let database = Database::new("c1", url)?;
    let engine = database.engine(durability).await?;
    closed_loop(&engine, 50, 1).await.context("C1 warm-up")?;
    let (_, mut latencies) = closed_loop(&engine, 500, 1).await.context("C1")?;
    latencies.sort();
    let result = (
        percentile_ms(&latencies, 0.50),
        percentile_ms(&latencies, 0.99),
    );
    engine.shutdown().await;
    database.drop_data().await?;
    Ok(result)
}

/// W3: the p99 lateness in ms of 10,000 suspended sleepers' wake-ups, and
/// the resident memory in MiB while they sleep and before.
async fn workload_w3(url: Option<&str>, durability: Durability) -> anyhow::Result<(f64, f64, f64)> {
    let database = Database::new("w3", url)?;
    let engine = database.engine(durability).await?;
    let baseline_mib = resident_mib();
    let triggers: Vec<_> = (0..10_000)
        .map(|_| {
            let engine = engine.clone();
            tokio::spawn(async move { Sleeper::trigger(&engine).await })
        })
        .collect();
    let mut runs = Vec::with_capacity(10_000);
    for trigger in triggers {
        runs.push(trigger.await??);
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let sleeping_mib = resident_mib();
    // The harness stays idle while the runs wake (within about 0.5 s of the
    // first being due), so reading the results adds no load to what is
    // measured; a run not finished by then is waited for.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let mut lateness = Vec::with_capacity(runs.len());
    for run in runs {
        lateness.push(Duration::from_millis(run.result().await?.max(0) as u64));
    }
    lateness.sort();
    let p99 = percentile_ms(&lateness, 0.99);
    engine.shutdown().await;
    database.drop_data().await?;
    Ok((p99, sleeping_mib, baseline_mib))
}

/// The runs L1 lists from.
const L1_RUNS: usize = 1_000_000;

/// The pairs of pages L1 reads (a first page and the one after it).
const L1_ROUNDS: usize = 200;

/// The rows L1 writes per statement (SQLite) or per array (PostgreSQL).
const L1_CHUNK: usize = 500;

/// L1: the p50/p99 latency in ms of a page of the newest 50 failed or
/// timed-out runs, or of the page after it, among [`L1_RUNS`] runs; and how
/// long loading them took.
async fn workload_l1(
    url: Option<&str>,
    durability: Durability,
) -> anyhow::Result<(f64, f64, Duration)> {
    let database = Database::new("l1", url)?;
    // Retention would start deleting the month of finished runs at once.
    let keep = Retention::default()
        .completed("365d")
        .failed("365d")
        .cancelled("365d");
    // The engine creates the tables; the runs go in while it is stopped, so
    // that the SQLite engine's lock on its file is not in the way.
    let engine = database
        .builder(durability)
        .retention(keep.clone())
        .start()
        .await?;
    engine.shutdown().await;
    let loading = Instant::now();
    database.load_runs(L1_RUNS).await.context("L1 load")?;
    let load = loading.elapsed();
    let engine = database.builder(durability).retention(keep).start().await?;

    let filter = RunFilter::new()
        .statuses([RunStatus::Failed, RunStatus::TimedOut])
        .limit(50)?;
    let mut latencies = Vec::with_capacity(2 * L1_ROUNDS);
    for round in 0..L1_ROUNDS + 10 {
        let begun = Instant::now();
        let first = engine.list_runs(&filter).await?;
        let first_took = begun.elapsed();
        anyhow::ensure!(
            first.runs.len() == 50,
            "L1 listed {} runs",
            first.runs.len()
        );
        let next = first.next.context("L1: no page after the first")?;
        let begun = Instant::now();
        let second = engine.list_runs(&filter.clone().after(next)).await?;
        let second_took = begun.elapsed();
        anyhow::ensure!(
            second.runs.len() == 50
                && second.runs.iter().all(|run| {
                    (run.created_at, run.id) < (next.created_at, next.id)
                        && matches!(run.status, RunStatus::Failed | RunStatus::TimedOut)
                }),
            "L1's second page does not follow the first"
        );
        // The first rounds warm the caches up.
        if round >= 10 {
            latencies.extend([first_took, second_took]);
        }
    }
    latencies.sort();
    let result = (
        percentile_ms(&latencies, 0.50),
        percentile_ms(&latencies, 0.99),
        load,
    );
    engine.shutdown().await;
    database.drop_data().await?;
    Ok(result)
}

/// A run of L1 as written to `wf_instance`.
struct LoadedRun {
    id: String,
    workflow: &'static str,
    status: &'static str,
    input: String,
    output: Option<String>,
    error: Option<String>,
    created_at: i64,
    updated_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    ready_at: Option<i64>,
    executions: i32,
}

/// L1's workflows, the first ones run most often.
const L1_WORKFLOWS: [&str; 8] = [
    "checkout",
    "send-email",
    "charge-card",
    "sync-inventory",
    "deliver-webhook",
    "generate-invoice",
    "onboard-user",
    "nightly-report",
];

/// `count` runs created over the 30 days before now, oldest first (as they
/// would have been written), with ids made of their creation times: 80%
/// completed, 7% failed, 1% timed out, 3% cancelled, 5% suspended and 4%
/// pending. The unfinished ones are due in a day, so that no claim of the
/// engine looks at them (their workflows are not registered anyway).
fn l1_runs(count: usize) -> impl Iterator<Item = LoadedRun> {
    const MONTH_MS: i64 = 30 * 86_400_000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64);
    let start = now - MONTH_MS;
    let spacing = MONTH_MS / count.max(1) as i64;
    let mut rng = fastrand::Rng::with_seed(1);
    (0..count).map(move |index| {
        let created_at = start + index as i64 * spacing + rng.i64(0..spacing.max(1));
        let timestamp = uuid::Timestamp::from_unix(
            uuid::NoContext,
            (created_at / 1000) as u64,
            (created_at % 1000) as u32 * 1_000_000,
        );
        let workflow = L1_WORKFLOWS[(rng.f64().powi(2) * L1_WORKFLOWS.len() as f64) as usize];
        let status = match rng.u32(0..100) {
            0..80 => "completed",
            80..87 => "failed",
            87..88 => "timed_out",
            88..91 => "cancelled",
            91..96 => "suspended",
            _ => "pending",
        };
        let started_at = (status != "pending").then(|| created_at + rng.i64(2..500));
        let finished_at = match status {
            "pending" | "suspended" => None,
            _ => started_at.map(|at| at + rng.i64(10..60_000)),
        };
        let customer = rng.u32(0..50_000);
        LoadedRun {
            id: uuid::Uuid::new_v7(timestamp).to_string(),
            workflow,
            status,
            input: format!(
                r#"{{"customer":"c-{customer}","items":{},"note":"order of c-{customer}"}}"#,
                rng.u32(1..20)
            ),
            output: (status == "completed")
                .then(|| format!(r#"{{"ok":true,"total":{}}}"#, rng.u32(100..100_000))),
            error: (status == "failed")
                .then(|| format!("card of c-{customer} declined (code {})", rng.u32(1..60))),
            created_at,
            updated_at: finished_at.or(started_at).unwrap_or(created_at),
            started_at,
            finished_at,
            ready_at: matches!(status, "pending" | "suspended")
                .then(|| now + 86_400_000 + rng.i64(0..86_400_000)),
            executions: if status == "pending" {
                0
            } else {
                rng.i32(1..3)
            },
        }
    })
}

impl Database {
    /// Writes [`l1_runs`] straight into `wf_instance` with multi-row inserts,
    /// then has the database analyse the table, as it would have after
    /// writing them one by one.
    async fn load_runs(&self, count: usize) -> anyhow::Result<()> {
        match self {
            Database::Sqlite { dir } => {
                let path = dir.join("bench.db");
                tokio::task::spawn_blocking(move || load_sqlite(&path, count)).await?
            }
            Database::Postgres { url, schema } => load_postgres(url, schema, count).await,
        }
    }
}

fn load_sqlite(path: &std::path::Path, count: usize) -> anyhow::Result<()> {
    use rusqlite::types::Value;
    let mut connection = rusqlite::Connection::open(path)?;
    connection.execute_batch("PRAGMA synchronous = OFF")?;
    let transaction = connection.transaction()?;
    let statement = |rows: usize| {
        let row = format!("({})", ["?"; 12].join(", "));
        format!(
            "INSERT INTO wf_instance (id, workflow, status, input, output, error, created_at, \
             updated_at, started_at, finished_at, ready_at, executions) VALUES {}",
            vec![row; rows].join(", ")
        )
    };
    let full = statement(L1_CHUNK);
    let mut values = Vec::with_capacity(12 * L1_CHUNK);
    let mut runs = l1_runs(count).peekable();
    while runs.peek().is_some() {
        values.clear();
        let mut rows = 0;
        for run in runs.by_ref().take(L1_CHUNK) {
            let text = |text: Option<String>| text.map_or(Value::Null, Value::Text);
            let integer = |at: Option<i64>| at.map_or(Value::Null, Value::Integer);
            values.extend([
                Value::Text(run.id),
                Value::Text(run.workflow.into()),
                Value::Text(run.status.into()),
                Value::Text(run.input),
                text(run.output),
                text(run.error),
                Value::Integer(run.created_at),
                Value::Integer(run.updated_at),
                integer(run.started_at),
                integer(run.finished_at),
                integer(run.ready_at),
                Value::Integer(run.executions.into()),
            ]);
            rows += 1;
        }
        let sql = if rows == L1_CHUNK {
            full.clone()
        } else {
            statement(rows)
        };
        transaction
            .prepare_cached(&sql)?
            .execute(rusqlite::params_from_iter(values.drain(..)))?;
    }
    transaction.commit()?;
    connection.execute_batch("ANALYZE")?;
    Ok(())
}

async fn load_postgres(url: &str, schema: &str, count: usize) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(url).await?;
    let sql = format!(
        "INSERT INTO {schema}.wf_instance (id, workflow, status, input, output, error, \
           created_at, updated_at, started_at, finished_at, ready_at, executions) \
         SELECT id::uuid, workflow, status, input::jsonb, output::jsonb, error, created_at, \
           updated_at, started_at, finished_at, ready_at, executions \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
           $7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::int4[]) \
           AS rows (id, workflow, status, input, output, error, created_at, updated_at, \
           started_at, finished_at, ready_at, executions)"
    );
    let mut runs = l1_runs(count).peekable();
    // Arrays of many rows: one statement writes 20 chunks' worth.
    while runs.peek().is_some() {
        let chunk: Vec<LoadedRun> = runs.by_ref().take(20 * L1_CHUNK).collect();
        let column = |f: fn(&LoadedRun) -> Option<String>| chunk.iter().map(f).collect::<Vec<_>>();
        let times = |f: fn(&LoadedRun) -> Option<i64>| chunk.iter().map(f).collect::<Vec<_>>();
        sqlx::query(&sql)
            .bind(column(|run| Some(run.id.clone())))
            .bind(column(|run| Some(run.workflow.to_owned())))
            .bind(column(|run| Some(run.status.to_owned())))
            .bind(column(|run| Some(run.input.clone())))
            .bind(column(|run| run.output.clone()))
            .bind(column(|run| run.error.clone()))
            .bind(times(|run| Some(run.created_at)))
            .bind(times(|run| Some(run.updated_at)))
            .bind(times(|run| run.started_at))
            .bind(times(|run| run.finished_at))
            .bind(times(|run| run.ready_at))
            .bind(chunk.iter().map(|run| run.executions).collect::<Vec<_>>())
            .execute(&mut connection)
            .await?;
    }
    sqlx::raw_sql(&format!("VACUUM ANALYZE {schema}.wf_instance"))
        .execute(&mut connection)
        .await?;
    Ok(())
}
