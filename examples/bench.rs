//! Fixed workloads that print one result line each, for comparing durable
//! over time and against other engines on the same machine.
//!
//! ```text
//! cargo run --release --features postgres --example bench [-- --synchronous normal|full] [--url postgres://...] [--only storage,w1,k1,w2,c1,w3,w4,w5,w6,w7,w8,e1,l1]
//! ```
//!
//! - storage: the database's own limit today, for reading the others as
//!   ratios to it: one-row insert commits through the drivers durable uses,
//!   with one connection (ms per commit) and with 32 at once (commits per
//!   second); SQLite in WAL mode with durable's `synchronous`.
//! - W1: 2,000 runs of a 3-step no-op workflow, at most 64 in flight, after a
//!   warm-up of 200: runs per second, and p50/p99 trigger-to-result latency.
//! - K1: W1 with `concurrency(limit = 1, key = "key")` over 64 keys (run i
//!   has key i mod 64) and a priority mix (i mod 3 - 1: -1, 0, 1), 64 in
//!   flight after a warm-up of 200: runs per second, and p50/p99 latency.
//!   What the limit costs against W1: each trigger's write counts its
//!   group's running runs (in a transaction holding the workflow's
//!   advisory lock on PostgreSQL), and a run whose key is busy waits for a
//!   claim, which counts again.
//! - W2: one run of 1,000 sequential no-op steps: mean latency per step.
//! - C1: W1 with one run in flight: p50/p99 latency.
//! - W3: 10,000 runs that each sleep until 1 s after they start (suspended,
//!   not in memory): the p99 lateness of their wake-ups (when the step after
//!   the sleep ran, minus when the sleep was due), and the process's
//!   resident memory while they sleep. The results are read after the
//!   wake-ups, so that reading them does not load the machine meanwhile.
//! - W4: 10,000 runs each waiting for `payment.received` with its own filter
//!   `{"order": i}` (suspended), then 10,000 events `{"order": i, "amount":
//!   ..}` sent from outside, 64 at a time, each waking exactly its run:
//!   events per second (sends answered), and the p50/p99 time from starting
//!   a send to the woken run's next step. Then the p99 of 100 events among
//!   10,000 waiters and among 100 waiters, and their ratio: one send's cost
//!   must not grow with the waiters whose filters it does not match.
//! - W5: one run mapping over 10,000 items, 100 at once, each branch one
//!   no-op step, after a warm-up run of 100: items per second, trigger to
//!   result, and the process's peak resident memory while it ran (`VmHWM`,
//!   reset to the resident memory just before the run by writing 5 to
//!   `/proc/self/clear_refs`, or 0 where it cannot be). Not sampled: the
//!   kernel's own high-water mark catches a peak between any two samples,
//!   and the reset keeps W3's sleepers out of it.
//! - W6: one run of 10,000 sequential no-op steps (after a run of 1,000 on
//!   the same database, which brings its tables out of their empty state),
//!   stopped while its last step runs (the engine shuts down, handing the
//!   run back as a crashed worker's lease would), then resumed by a new
//!   engine on the same database: the median cost of one of the first and of the last 1,000
//!   steps (from a body's start to the next one's; means in brackets), which
//!   must not differ by more than 20%, and the time from starting the new
//!   engine to the run's result (it replays the 10,000 recorded steps and
//!   runs the last one; no body runs again).
//! - E1: W1 started by events: 2,000 events, 64 in flight after a warm-up
//!   of 200, each starting a run of a 3-step workflow through
//!   `#[workflow(on_event = ..)]` and waited for until that run finished:
//!   events per second, and the p50/p99 time from starting a send to the
//!   run's result.
//! - W7 (only when named in `--only`: loading its database takes a while):
//!   W1 and C1 on tables that already hold 1,000,000 finished runs (88%
//!   completed, 7% failed, 1% timed out, 4% cancelled, of W1's workflow and
//!   three others, created over 30 days) and 100,000 suspended runs of
//!   W1's workflow due in a day or two (half with a deadline), written
//!   straight into the runs table; beside them W1 and C1 on empty tables in
//!   the same invocation, and the ratios of W7's runs per second and C1 p50
//!   to those (the goal: within 20%).
//! - W8 (PostgreSQL only, when named in `--only`): W1 with 1, 2 and 4
//!   worker processes (copies of this bench, started with `--w8-worker`)
//!   on one fresh schema, the runs triggered by name and waited for by a
//!   client engine in this process: runs per second for each, and the
//!   ratio of 4 workers to 1 (the goal: not below 0.85 on this 2-core
//!   machine, where it cannot rise much).
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

#[path = "support/args.rs"]
mod args;
#[path = "support/e1.rs"]
mod e1;
#[path = "support/l1.rs"]
mod l1;
#[path = "support/scale.rs"]
mod scale;
#[path = "support/storage.rs"]
mod storage;
#[path = "support/w1.rs"]
mod w1;
#[path = "support/w4.rs"]
mod w4;
#[path = "support/w7.rs"]
mod w7;
#[path = "support/w8.rs"]
mod w8;
use l1::{Database, L1_ROUNDS, L1_RUNS, L1_WARM_UP, p50_p99, percentile_ms};
use scale::{W5_ITEMS, W6_STEPS, resident_mib, workload_w5, workload_w6};
use storage::storage_limit;
use w1::{ThreeSteps, closed_loop};
use w4::workload_w4;
use w7::{W7_FINISHED, W7_SUSPENDED, workload_w7};
use w8::{W8_WORKERS, WORKER_FLAG, worker_main, workload_w8};

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

/// W1's three steps, at most one run per key at once.
#[workflow(name = "bench-keyed-three-steps", concurrency(limit = 1, key = "key"))]
async fn keyed_three_steps(ctx: Ctx, key: u32, priority: i32) -> Result<u32, Error> {
    let _ = (key, priority);
    let a: u32 = ctx.run("a", async || Ok::<_, StepError>(1)).await?;
    let b: u32 = ctx.run("b", async || Ok::<_, StepError>(2)).await?;
    let c: u32 = ctx.run("c", async || Ok::<_, StepError>(3)).await?;
    Ok(a + b + c)
}

/// K1's keys.
const K1_KEYS: u32 = 64;

/// Runs `count` keyed three-step runs, run `i` of key `i mod 64` and
/// priority `i mod 3 - 1`, with at most `in_flight` at once; returns the
/// elapsed time and every run's trigger-to-result latency.
async fn keyed_closed_loop(
    engine: &Engine,
    count: u32,
    in_flight: usize,
) -> anyhow::Result<(Duration, Vec<Duration>)> {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(in_flight));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..count {
        let permit = slots.clone().acquire_owned().await?;
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let begun = Instant::now();
            let priority = i32::try_from(i % 3)? - 1;
            let run = KeyedThreeSteps::trigger_with(
                &engine,
                i % K1_KEYS,
                priority,
                durable::TriggerOptions::new().priority(priority),
            )
            .await?;
            anyhow::ensure!(run.result().await? == 6, "wrong result");
            Ok::<_, anyhow::Error>(begun.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    for task in tasks {
        latencies.push(task.await??);
    }
    Ok((started.elapsed(), latencies))
}

/// K1: runs per second, and p50/p99 latency in ms, of W1 with a
/// concurrency key and priorities.
async fn workload_k1(url: Option<&str>, durability: Durability) -> anyhow::Result<(f64, f64, f64)> {
    let database = Database::new("k1", url)?;
    // The keyed workflow only here: the other workloads' engines serve no
    // workflow with a limit, as most users' engines.
    let engine = database
        .builder(durability)
        .register(KeyedThreeSteps)
        .start()
        .await?;
    keyed_closed_loop(&engine, 200, 64)
        .await
        .context("K1 warm-up")?;
    let (elapsed, mut latencies) = keyed_closed_loop(&engine, 2_000, 64).await.context("K1")?;
    let rate = 2_000.0 / elapsed.as_secs_f64();
    let (p50, p99) = p50_p99(&mut latencies);
    engine.shutdown().await;
    database.drop_data().await?;
    Ok((rate, p50, p99))
}

/// The engines the workloads run on, and their workflows.
impl Database {
    async fn engine(&self, durability: Durability) -> anyhow::Result<Engine> {
        Ok(self.builder(durability).start().await?)
    }

    fn builder(&self, durability: Durability) -> EngineBuilder {
        w4::register(self.backend(durability))
            .concurrency(256)
            .keep_in_memory_below("100ms")
            .register(ThreeSteps)
            .register(ManySteps)
            .register(Sleeper)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if let [_, flag, url, schema] = &std::env::args().collect::<Vec<_>>()[..]
        && flag == WORKER_FLAG
    {
        return worker_main(url, schema).await;
    }
    let value = args::flag;
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
    if let Some(unknown) = only.iter().find(|name| {
        ![
            "storage", "w1", "k1", "w2", "c1", "w3", "w4", "w5", "w6", "w7", "w8", "e1", "l1",
        ]
        .contains(&name.as_str())
    }) {
        anyhow::bail!(
            "--only knows storage, w1, k1, w2, c1, w3, w4, w5, w6, w7, w8, e1 and l1, \
             not {unknown:?}"
        );
    }
    let named = |name: &str| only.iter().any(|chosen| chosen == name);
    let selected = |name: &str| only.is_empty() || named(name);
    let name = if url.is_some() {
        "durable-postgres"
    } else {
        "durable-sqlite"
    };

    if selected("storage") {
        let database = Database::new("storage", url)?;
        let (commit_ms, commits_per_s) = storage_limit(&database, durability).await?;
        database.drop_data().await?;
        println!(
            "{name} storage commit_ms={commit_ms:.3} commits/s(32 connections)={commits_per_s:.0}"
        );
    }
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
    if selected("k1") {
        let (rate, p50, p99) = workload_k1(url, durability).await?;
        println!("{name} K1 wf/s={rate:.0} p50_ms={p50:.2} p99_ms={p99:.2}");
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
    if selected("w4") {
        let mut rounds = Vec::new();
        for (label, waiters, events) in [
            ("w4", 10_000, 10_000),
            ("w4b", 10_000, 100),
            ("w4c", 100, 100),
        ] {
            let database = Database::new(label, url)?;
            let engine = database.engine(durability).await?;
            rounds.push(workload_w4(&engine, waiters, events).await.context("W4")?);
            engine.shutdown().await;
            database.drop_data().await?;
        }
        let [all, few, small] = &rounds[..] else {
            unreachable!("three rounds")
        };
        println!(
            "{name} W4 events/s={:.0} p50_ms={:.2} p99_ms={:.2} | 100 events p99_ms={:.2} \
             (waiters=10000) {:.2} (waiters=100) ratio={:.2}",
            all.events_per_s,
            all.p50_ms,
            all.p99_ms,
            few.p99_ms,
            small.p99_ms,
            few.p99_ms / small.p99_ms
        );
    }
    if selected("w5") {
        let database = Database::new("w5", url)?;
        let w5 = workload_w5(database.builder(durability)).await?;
        database.drop_data().await?;
        println!(
            "{name} W5 items/s={:.0} peak_rss_mb={:.1} (before={:.1} items={W5_ITEMS})",
            w5.items_per_s, w5.peak_mib, w5.before_mib
        );
    }
    if selected("w6") {
        let database = Database::new("w6", url)?;
        let w6 = workload_w6(|| database.builder(durability)).await?;
        database.drop_data().await?;
        println!(
            "{name} W6 first_step_ms={:.3} last_step_ms={:.3} resume_ms={:.0} \
             (means {:.3} {:.3}, steps={W6_STEPS})",
            w6.first_ms.1,
            w6.last_ms.1,
            w6.resume.as_secs_f64() * 1000.0,
            w6.first_ms.0,
            w6.last_ms.0
        );
    }
    if selected("e1") {
        let (rate, p50, p99) = workload_e1(url, durability).await?;
        println!("{name} E1 events/s={rate:.0} p50_ms={p50:.2} p99_ms={p99:.2}");
    }
    if named("w7") {
        // The empty-table figures W7 is held to, measured here beside it.
        let (empty_rate, _, _) = workload_w1(url, durability).await?;
        let (empty_p50, _) = workload_c1(url, durability).await?;
        let database = Database::new("w7", url)?;
        let w7 = workload_w7(&database, || database.builder(durability)).await?;
        database.drop_data().await?;
        let (rate, p50, p99) = w7.w1;
        let (c1_p50, c1_p99) = w7.c1;
        println!(
            "{name} W7 wf/s={rate:.0} p50_ms={p50:.2} p99_ms={p99:.2} C1 p50_ms={c1_p50:.2} \
             p99_ms={c1_p99:.2} | empty: wf/s={empty_rate:.0} C1 p50_ms={empty_p50:.2} \
             ratios={:.2} {:.2} (finished={W7_FINISHED} suspended={W7_SUSPENDED} load_s={:.0})",
            rate / empty_rate,
            c1_p50 / empty_p50,
            w7.load.as_secs_f64()
        );
    }
    if named("w8") {
        let url = url.context("W8 runs on PostgreSQL: give --url")?;
        let mut rates = Vec::with_capacity(W8_WORKERS.len());
        for workers in W8_WORKERS {
            rates.push((workers, workload_w8(url, workers).await?));
        }
        let figures: Vec<String> = rates
            .iter()
            .map(|(workers, rate)| format!("workers={workers}: {rate:.0}"))
            .collect();
        println!(
            "{name} W8 wf/s {} ratio={:.2} (4 workers against 1)",
            figures.join(" "),
            rates[2].1 / rates[0].1
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

/// E1: events per second, and p50/p99 send-to-result latency in ms, with
/// 64 events in flight, on an engine that registers E1's workflow alone
/// (every event it sends reads the catalog's triggers).
async fn workload_e1(url: Option<&str>, durability: Durability) -> anyhow::Result<(f64, f64, f64)> {
    let database = Database::new("e1", url)?;
    let engine = e1::register(database.backend(durability))
        .concurrency(256)
        .keep_in_memory_below("100ms")
        .start()
        .await?;
    e1::event_loop(&engine, 200, 64)
        .await
        .context("E1 warm-up")?;
    let (elapsed, mut latencies) = e1::event_loop(&engine, 2_000, 64).await.context("E1")?;
    engine.shutdown().await;
    database.drop_data().await?;
    let (p50, p99) = p50_p99(&mut latencies);
    Ok((2_000.0 / elapsed.as_secs_f64(), p50, p99))
}

/// W1: runs per second, and p50/p99 latency in ms, with 64 runs in flight.
async fn workload_w1(url: Option<&str>, durability: Durability) -> anyhow::Result<(f64, f64, f64)> {
    let database = Database::new("w1", url)?;
    let engine = database.engine(durability).await?;
    closed_loop(&engine, 200, 64).await.context("W1 warm-up")?;
    let (elapsed, mut latencies) = closed_loop(&engine, 2_000, 64).await.context("W1")?;
    let rate = 2_000.0 / elapsed.as_secs_f64();
    let (p50, p99) = p50_p99(&mut latencies);
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
    let result = p50_p99(&mut latencies);
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

/// L1: the p50/p99 latency in ms of a page of the newest 50 failed or
/// timed-out runs, or of the page after it, among [`L1_RUNS`] runs; and how
/// long loading them took.
async fn workload_l1(
    url: Option<&str>,
    durability: Durability,
) -> anyhow::Result<(f64, f64, Duration)> {
    let database = Database::new("l1", url)?;
    let (engine, load) = database.load_l1(|| database.builder(durability)).await?;

    let filter = RunFilter::new()
        .statuses([RunStatus::Failed, RunStatus::TimedOut])
        .limit(50)?;
    let mut latencies = Vec::with_capacity(2 * L1_ROUNDS);
    for round in 0..L1_WARM_UP + L1_ROUNDS {
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
        if round >= L1_WARM_UP {
            latencies.extend([first_took, second_took]);
        }
    }
    let (p50, p99) = p50_p99(&mut latencies);
    let result = (p50, p99, load);
    engine.shutdown().await;
    database.drop_data().await?;
    Ok(result)
}
