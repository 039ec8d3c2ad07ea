//! The live-updates line of the bench: W1 (2,000 runs of a 3-step no-op
//! workflow, at most 64 in flight, after a warm-up of 200) without and with
//! an SSE client following every run's status through the console's
//! `GET /api/v1/runs/events`, in interleaved pairs on fresh databases.
//! Prints one line: the runs per second of each (the median of the pairs),
//! their ratio, and the `completed` events the client saw against the runs
//! that completed while it followed.
//!
//! ```text
//! cargo run --release -p durable-console --example bench_live [-- --pairs 3] [--url postgres://...]
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::body::Body;
use durable::prelude::*;
use http_body_util::BodyExt;
use tower::ServiceExt;

#[path = "support/args.rs"]
mod args;
#[path = "support/w1.rs"]
mod w1;
use w1::{ThreeSteps, closed_loop};

const RUNS: usize = 2_000;

/// A fresh engine: a SQLite file in the temp directory, or a fresh schema.
async fn engine(url: Option<&str>, label: &str) -> anyhow::Result<(Engine, Option<String>)> {
    let unique = format!("durable_bench_live_{label}_{}", std::process::id());
    let builder = match url {
        Some(url) => Engine::builder().postgres(url).postgres_schema(&unique),
        None => {
            let dir = std::env::temp_dir().join(&unique);
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir)?;
            Engine::builder().sqlite_file(dir.join("bench.db"))
        }
    };
    let engine = builder
        .concurrency(256)
        .keep_in_memory_below("100ms")
        .register(ThreeSteps)
        .start()
        .await?;
    Ok((engine, Some(unique)))
}

async fn cleanup(url: Option<&str>, unique: &str) -> anyhow::Result<()> {
    match url {
        Some(url) => {
            use sqlx::Connection;
            let mut connection = sqlx::PgConnection::connect(url).await?;
            sqlx::query(&format!("DROP SCHEMA IF EXISTS {unique} CASCADE"))
                .execute(&mut connection)
                .await?;
        }
        None => {
            let _ = std::fs::remove_dir_all(std::env::temp_dir().join(unique));
        }
    }
    Ok(())
}

/// What the SSE client counted.
#[derive(Default)]
struct Seen {
    status: AtomicU64,
    completed: AtomicU64,
}

/// One W1 measurement; with `follow`, an SSE client reads every status
/// change meanwhile. Runs per second, and the completed events seen.
async fn w1(url: Option<&str>, follow: bool, label: &str) -> anyhow::Result<(f64, u64)> {
    let (engine, unique) = engine(url, label).await?;
    closed_loop(&engine, 200, 64).await.context("warm-up")?;
    let seen = Arc::new(Seen::default());
    let client = if follow {
        let console = durable_console::Console::new(&engine).token("bench");
        let request = axum::http::Request::builder()
            .uri("/api/v1/runs/events")
            .header("host", "localhost")
            .header("authorization", "Bearer bench")
            .body(Body::empty())?;
        let response = console.router().oneshot(request).await?;
        anyhow::ensure!(
            response.status() == 200,
            "the stream answered {}",
            response.status()
        );
        let mut body = response.into_body();
        let seen = seen.clone();
        Some(tokio::spawn(async move {
            // The client reads bytes and counts, no more: it shares the
            // machine with the engine it measures (a browser would not).
            let mut pending: Vec<u8> = Vec::new();
            while let Some(Ok(frame)) = body.frame().await {
                if let Ok(bytes) = frame.into_data() {
                    pending.extend_from_slice(&bytes);
                    let mut start = 0;
                    while let Some(end) = find(&pending[start..], b"\n\n") {
                        let block = &pending[start..start + end];
                        if find(block, b"event: status").is_some() {
                            seen.status.fetch_add(1, Ordering::Relaxed);
                            if find(block, br#""status":"completed""#).is_some() {
                                seen.completed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        start += end + 2;
                    }
                    pending.drain(..start);
                }
            }
        }))
    } else {
        None
    };
    let (elapsed, _) = closed_loop(&engine, RUNS, 64).await.context("W1")?;
    let rate = RUNS as f64 / elapsed.as_secs_f64();
    if client.is_some() {
        // The last events are on their way: give the client a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        while seen.completed.load(Ordering::Relaxed) < RUNS as u64 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    engine.shutdown().await;
    if let Some(client) = client {
        // The stream ends with the engine.
        let _ = tokio::time::timeout(Duration::from_secs(5), client).await;
    }
    if let Some(unique) = unique {
        cleanup(url, &unique).await?;
    }
    Ok((rate, seen.completed.load(Ordering::Relaxed)))
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let value = |name: &str| args::flag(name).flatten();
    let pairs: usize = value("--pairs").map_or(Ok(3), |text| text.parse())?;
    let url = value("--url");
    let url = url.as_deref();
    let (mut without, mut with) = (Vec::new(), Vec::new());
    let (mut seen, mut expected) = (0, 0);
    for pair in 0..pairs {
        // Alternate which goes first, so a drift of the machine favours neither.
        let order = if pair % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for follow in order {
            let label = format!("{pair}_{follow}");
            let (rate, completed) = w1(url, follow, &label).await?;
            if follow {
                with.push(rate);
                seen += completed;
                expected += RUNS as u64;
            } else {
                without.push(rate);
            }
        }
    }
    let name = if url.is_some() {
        "durable-postgres"
    } else {
        "durable-sqlite"
    };
    let (without_median, with_median) = (median(&mut without), median(&mut with));
    println!(
        "{name} W1+SSE wf/s_without={without_median:.0} wf/s_with={with_median:.0} ratio={:.3} \
         completed_events={seen}/{expected} pairs={pairs} (without={without:.0?} with={with:.0?})",
        with_median / without_median
    );
    Ok(())
}
