//! The HTTP line of the bench's L1: the same 1,000,000 runs as `bench
//! --only l1` (8 workflows in a realistic mix of statuses, created over 30
//! days, written straight into the runs table and analysed), listed through
//! the console's API instead of `Engine::list_runs`: 200 times, after 10
//! warm-up rounds, `GET /api/v1/runs?status=failed,timed_out&limit=50` and
//! the page after it (its `next` cursor as `after`), each page checked to
//! hold 50 runs of those statuses, the second older than the cursor. Prints
//! one line: the p50/p99 latency of one page, from the request to the last
//! byte of its JSON body, as the console's router answers it in process
//! (routing, the token check, reading the filter, the query and the JSON;
//! no socket).
//!
//! ```text
//! cargo run --release -p durable-console --example bench_api [-- --url postgres://...]
//! ```
//!
//! On a fresh SQLite file (WAL) in the temp directory, or with `--url` in a
//! fresh schema of that PostgreSQL server; either is dropped after.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::body::Body;
use durable::{Durability, RunCursor, RunId, RunStatus};
use http_body_util::BodyExt;
use tower::ServiceExt;

#[path = "support/args.rs"]
mod args;
#[path = "support/l1.rs"]
mod l1;
use l1::{Database, L1_ROUNDS, L1_RUNS, L1_WARM_UP, p50_p99};

/// What the bench reads of a page of `GET /api/v1/runs`.
#[derive(serde::Deserialize)]
struct Page {
    runs: Vec<Listed>,
    next: Option<String>,
}

/// What the bench reads of one listed run.
#[derive(serde::Deserialize)]
struct Listed {
    id: RunId,
    status: RunStatus,
    created_at: i64,
}

/// Sends `GET uri` to the console with the bench's token: the page, and how
/// long the whole answer took.
async fn get(router: &axum::Router, uri: &str) -> anyhow::Result<(Page, Duration)> {
    let request = axum::http::Request::builder()
        .uri(uri)
        .header("host", "localhost")
        .header("authorization", "Bearer bench")
        .body(Body::empty())?;
    let begun = Instant::now();
    let response = router.clone().oneshot(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    let took = begun.elapsed();
    anyhow::ensure!(
        status == 200,
        "{uri} answered {status}: {}",
        String::from_utf8_lossy(&body)
    );
    let page = serde_json::from_slice(&body).with_context(|| format!("the page of {uri}"))?;
    Ok((page, took))
}

/// Whether every run of `page` is failed or timed out, and there are 50.
fn full_of_failures(page: &Page) -> bool {
    page.runs.len() == 50
        && page
            .runs
            .iter()
            .all(|run| matches!(run.status, RunStatus::Failed | RunStatus::TimedOut))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = match args::flag("--url") {
        None => None,
        Some(Some(url)) if url.starts_with("postgres") => Some(url),
        Some(other) => anyhow::bail!("--url takes a postgres:// URL, got {other:?}"),
    };
    let url = url.as_deref();
    let database = Database::new("l1_http", url)?;
    let (engine, load) = database
        .load_l1(|| database.backend(Durability::Normal))
        .await?;
    let router = durable_console::Console::new(&engine)
        .token("bench")
        .router();

    let first_uri = "/api/v1/runs?status=failed,timed_out&limit=50";
    let mut latencies = Vec::with_capacity(2 * L1_ROUNDS);
    for round in 0..L1_WARM_UP + L1_ROUNDS {
        let (first, first_took) = get(&router, first_uri).await?;
        anyhow::ensure!(
            full_of_failures(&first),
            "the first page is not 50 failed or timed-out runs"
        );
        let next = first.next.context("no page after the first")?;
        let cursor: RunCursor = next.parse()?;
        let (second, second_took) = get(&router, &format!("{first_uri}&after={next}")).await?;
        anyhow::ensure!(
            full_of_failures(&second)
                && second
                    .runs
                    .iter()
                    .all(|run| (run.created_at, run.id) < (cursor.created_at, cursor.id)),
            "the second page does not follow the first"
        );
        if round >= L1_WARM_UP {
            latencies.extend([first_took, second_took]);
        }
    }
    let (p50, p99) = p50_p99(&mut latencies);
    let name = if url.is_some() {
        "durable-postgres"
    } else {
        "durable-sqlite"
    };
    println!(
        "{name} L1-HTTP list p50_ms={:.2} p99_ms={:.2} (runs={L1_RUNS} load_s={:.0})",
        p50,
        p99,
        load.as_secs_f64()
    );
    engine.shutdown().await;
    database.drop_data().await?;
    Ok(())
}
