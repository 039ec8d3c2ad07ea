//! The bench's W8: W1 on PostgreSQL with 1, 2 and 4 worker processes on one
//! database. The bench starts copies of itself as the workers
//! (`--w8-worker URL SCHEMA`), each an engine serving W1's workflow; the
//! bench itself is a client that triggers the runs by name and waits for
//! their results, as an application beside a pool of workers would.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use durable::prelude::*;

use crate::l1::Database;
use crate::w1::ThreeSteps;

/// The flag that makes the bench a W8 worker.
pub(crate) const WORKER_FLAG: &str = "--w8-worker";

/// The worker counts W8 measures.
pub(crate) const W8_WORKERS: [usize; 3] = [1, 2, 4];

/// A W8 worker: an engine on `schema` of `url` serving W1's workflow, which
/// says `ready` on its standard output once it serves and stops when its
/// standard input closes (the bench is done with it).
pub(crate) async fn worker_main(url: &str, schema: &str) -> anyhow::Result<()> {
    let engine = Engine::builder()
        .postgres(url)
        .postgres_schema(schema)
        .register(ThreeSteps)
        .start()
        .await?;
    let mut out = std::io::stdout();
    writeln!(out, "ready")?;
    out.flush()?;
    tokio::task::spawn_blocking(|| {
        let mut rest = String::new();
        let _ = std::io::stdin().read_line(&mut rest);
    })
    .await?;
    engine.shutdown().await;
    Ok(())
}

/// Starts a worker process on `schema` and waits until it serves.
fn start_worker(url: &str, schema: &str) -> anyhow::Result<Child> {
    let mut child = Command::new(std::env::current_exe()?)
        .args([WORKER_FLAG, url, schema])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("start a W8 worker")?;
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().context("worker stdout")?).read_line(&mut line)?;
    anyhow::ensure!(line.trim() == "ready", "a W8 worker said {line:?}");
    Ok(child)
}

/// Runs `count` runs of W1's workflow through `client`, at most
/// `in_flight` at once; returns the elapsed time.
async fn client_loop(client: &Engine, count: usize, in_flight: usize) -> anyhow::Result<Duration> {
    let slots = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for _ in 0..count {
        let permit = slots.clone().acquire_owned().await?;
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let run = client
                .trigger_json("bench-three-steps", serde_json::Value::Null)
                .await?;
            anyhow::ensure!(run.result().await? == serde_json::json!(6), "wrong result");
            Ok::<_, anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(started.elapsed())
}

/// W8 with `workers` worker processes on a fresh schema of `url`: the runs
/// per second of 2,000 runs, 64 in flight, after a warm-up of 200.
pub(crate) async fn workload_w8(url: &str, workers: usize) -> anyhow::Result<f64> {
    let database = Database::new(&format!("w8_{workers}"), Some(url))?;
    let Database::Postgres { schema, .. } = &database else {
        anyhow::bail!("W8 runs on PostgreSQL only");
    };
    let mut children = Vec::with_capacity(workers);
    for _ in 0..workers {
        children.push(start_worker(url, schema)?);
    }
    let client = database
        .backend(durable::Durability::Normal)
        .client()
        .await?;
    client_loop(&client, 200, 64).await.context("W8 warm-up")?;
    let elapsed = client_loop(&client, 2_000, 64).await.context("W8")?;
    client.shutdown().await;
    for mut child in children {
        drop(child.stdin.take());
        let status = child.wait()?;
        anyhow::ensure!(status.success(), "a W8 worker ended with {status}");
    }
    database.drop_data().await?;
    Ok(2_000.0 / elapsed.as_secs_f64())
}
