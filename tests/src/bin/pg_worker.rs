//! One worker process of the multi-worker test: executes runs of a 3-step
//! workflow on a shared PostgreSQL schema until every run of the test has
//! finished, then exits 0. SIGTERM stops it gracefully (its runs go back to
//! the others).
//!
//! ```text
//! pg_worker <url> <schema> <runs-to-trigger> <lease>
//! ```
//!
//! Each step inserts `(run, step, execution, worker pid)` into the `ledger`
//! table with its own connection, then returns the execution id.

use std::time::Duration;

use durable::prelude::*;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::signal::unix::{SignalKind, signal};

static LEDGER: std::sync::OnceLock<PgPool> = std::sync::OnceLock::new();

async fn effect(run: u32, step: &str) -> Result<String, StepError> {
    let execution = durable::Uuid::new_v4().to_string();
    let pool = LEDGER
        .get()
        .ok_or_else(|| StepError::permanent("no ledger"))?;
    sqlx::query("INSERT INTO ledger (run, step, execution, worker) VALUES ($1, $2, $3, $4)")
        .bind(i64::from(run))
        .bind(step)
        .bind(&execution)
        .bind(i64::from(std::process::id()))
        .execute(pool)
        .await?;
    Ok(execution)
}

#[workflow(name = "ledger-three")]
async fn ledger_three(ctx: Ctx, run: u32) -> Result<Vec<String>, Error> {
    let a: String = ctx.run("a", async || effect(run, "a").await).await?;
    let b: String = ctx.run("b", async || effect(run, "b").await).await?;
    let c: String = ctx.run("c", async || effect(run, "c").await).await?;
    Ok(vec![a, b, c])
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, schema, runs, lease] = args.as_slice() else {
        anyhow::bail!("usage: pg_worker <url> <schema> <runs-to-trigger> <lease>");
    };
    let runs: u32 = runs.parse()?;
    if runs > 0 {
        // The first worker prepares the schema and the ledger for all.
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(url).await?;
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .execute(&mut admin)
            .await?;
        sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS {schema}.ledger (run BIGINT, step TEXT, execution TEXT, \
             worker BIGINT, at TIMESTAMPTZ DEFAULT clock_timestamp())"
        ))
        .execute(&mut admin)
        .await?;
    }
    let ledger = PgPoolOptions::new()
        .max_connections(4)
        .after_connect({
            let schema = schema.clone();
            move |connection, _| {
                let schema = schema.clone();
                Box::pin(async move {
                    sqlx::query(&format!("SET search_path TO {schema}"))
                        .execute(connection)
                        .await?;
                    Ok(())
                })
            }
        })
        .connect(url)
        .await?;
    LEDGER.set(ledger.clone()).ok();
    let engine = Engine::builder()
        .postgres(url)
        .postgres_schema(schema)
        .lease(lease.as_str())
        .concurrency(32)
        .register(LedgerThree)
        .start()
        .await?;
    // Trigger concurrently, so the triggers share group commits.
    let triggers: Vec<_> = (0..runs)
        .map(|run| {
            let engine = engine.clone();
            tokio::spawn(async move {
                let options = TriggerOptions::new().idempotency_key(format!("run-{run}"));
                LedgerThree::trigger_with(&engine, run, options)
                    .await
                    .map(|_| ())
            })
        })
        .collect();
    for trigger in triggers {
        trigger.await??;
    }
    let mut terminate = signal(SignalKind::terminate())?;
    loop {
        let unfinished: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM wf_instance WHERE status NOT IN ('completed', 'failed', 'cancelled', 'timed_out')",
        )
        .fetch_one(&ledger)
        .await?;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM wf_instance")
            .fetch_one(&ledger)
            .await?;
        if unfinished == 0 && total > 0 {
            break;
        }
        tokio::select! {
            _ = terminate.recv() => break,
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    engine.shutdown().await;
    Ok(())
}
