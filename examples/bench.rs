//! Fixed workloads that print one result line each, for comparing durable
//! over time and against other engines on the same machine.
//!
//! ```text
//! cargo run --release --features postgres --example bench [-- --synchronous normal|full] [--url postgres://...] [--only w1,w2,c1,w3]
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
//!
//! Each workload runs on a fresh SQLite file (WAL) in the temp directory, or
//! with `--url postgres://...` in a fresh schema of that server (dropped
//! after).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use durable::Durability;
use durable::prelude::*;

#[workflow(name = "bench-three-steps")]
async fn three_steps(ctx: Ctx) -> Result<u32, Error> {
    let a: u32 = ctx.run("a", async || Ok::<_, StepError>(1)).await?;
    let b: u32 = ctx.run("b", async || Ok::<_, StepError>(2)).await?;
    let c: u32 = ctx.run("c", async || Ok::<_, StepError>(3)).await?;
    Ok(a + b + c)
}

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
        let builder = match self {
            Database::Sqlite { dir } => Engine::builder()
                .sqlite_file(dir.join("bench.db"))
                .durability(durability),
            Database::Postgres { url, schema } => {
                Engine::builder().postgres(url).postgres_schema(schema)
            }
        };
        Ok(builder
            .concurrency(256)
            .keep_in_memory_below("100ms")
            .register(ThreeSteps)
            .register(ManySteps)
            .register(Sleeper)
            .start()
            .await?)
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

/// Runs `count` three-step runs with at most `in_flight` at once; returns
/// the elapsed time and every run's trigger-to-result latency.
async fn closed_loop(
    engine: &Engine,
    count: usize,
    in_flight: usize,
) -> anyhow::Result<(Duration, Vec<Duration>)> {
    let slots = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for _ in 0..count {
        let permit = slots.clone().acquire_owned().await?;
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let begun = Instant::now();
            let run = ThreeSteps::trigger(&engine).await?;
            anyhow::ensure!(run.result().await? == 6, "wrong result");
            Ok::<_, anyhow::Error>(begun.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(count);
    for task in tasks {
        latencies.push(task.await??);
    }
    Ok((started.elapsed(), latencies))
}

fn percentile_ms(sorted: &[Duration], fraction: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .map(|i| args.get(i + 1).cloned())
    };
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
        .find(|name| !["w1", "w2", "c1", "w3"].contains(&name.as_str()))
    {
        anyhow::bail!("--only knows w1, w2, c1 and w3, not {unknown:?}");
    }
    let selected = |name: &str| only.is_empty() || only.iter().any(|chosen| chosen == name);
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
