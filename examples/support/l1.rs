//! What the bench's L1 shares between `bench.rs` (through the engine) and
//! `bench_api.rs` (through the HTTP API): a fresh database, its 1,000,000
//! runs written straight into the runs table, and the percentile the lines
//! report.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use durable::prelude::*;
use durable::{Durability, EngineBuilder};

/// The runs L1 lists from.
pub(crate) const L1_RUNS: usize = 1_000_000;

/// The pairs of pages L1 reads (a first page and the one after it), after
/// [`L1_WARM_UP`] more that are not counted.
pub(crate) const L1_ROUNDS: usize = 200;

/// The first rounds, which warm the caches up and are not counted.
pub(crate) const L1_WARM_UP: usize = 10;

/// The rows L1 writes per statement (SQLite) or per array (PostgreSQL).
const L1_CHUNK: usize = 500;

/// A fresh database for one workload.
pub(crate) enum Database {
    /// `bench.db` in `dir`, a directory of its own.
    Sqlite { dir: std::path::PathBuf },
    /// `schema` on the server at `url`.
    Postgres { url: String, schema: String },
}

impl Database {
    /// A SQLite file in a fresh directory of the temp directory, or with
    /// `url` a fresh schema of that PostgreSQL server; `label` tells the
    /// workloads apart.
    pub(crate) fn new(label: &str, url: Option<&str>) -> anyhow::Result<Self> {
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

    /// An engine builder on this database, with nothing else configured.
    pub(crate) fn backend(&self, durability: Durability) -> EngineBuilder {
        match self {
            Database::Sqlite { dir } => Engine::builder()
                .sqlite_file(dir.join("bench.db"))
                .durability(durability),
            Database::Postgres { url, schema } => {
                Engine::builder().postgres(url).postgres_schema(schema)
            }
        }
    }

    /// Removes the SQLite directory, or drops the schema.
    pub(crate) async fn drop_data(self) -> anyhow::Result<()> {
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

    /// Creates the tables with an engine from `builder`, writes [`L1_RUNS`]
    /// runs in L1's mix (see [`Database::load_then_start`]), and starts it
    /// again: the engine, and how long the loading took.
    pub(crate) async fn load_l1(
        &self,
        builder: impl Fn() -> EngineBuilder,
    ) -> anyhow::Result<(Engine, Duration)> {
        self.load_then_start(builder, loaded_runs(L1_RUNS, L1_STATUSES, &L1_WORKFLOWS, 1))
            .await
            .context("L1 load")
    }

    /// Creates the tables with an engine from `builder`, writes `runs` while
    /// it is stopped (so that the SQLite engine's lock on its file is not in
    /// the way), and starts it again: the engine, and how long the loading
    /// took. Retention keeps the year of finished runs, which it would
    /// otherwise start deleting at once.
    pub(crate) async fn load_then_start(
        &self,
        builder: impl Fn() -> EngineBuilder,
        runs: impl Iterator<Item = LoadedRun> + Send + 'static,
    ) -> anyhow::Result<(Engine, Duration)> {
        let keep = Retention::default()
            .completed("365d")
            .failed("365d")
            .cancelled("365d");
        let engine = builder().retention(keep.clone()).start().await?;
        engine.shutdown().await;
        let loading = Instant::now();
        self.load_runs(runs).await?;
        let load = loading.elapsed();
        let engine = builder().retention(keep).start().await?;
        Ok((engine, load))
    }
}

/// The value at `fraction` (0.5 for the median) of latencies sorted
/// ascending, in ms.
pub(crate) fn percentile_ms(sorted: &[Duration], fraction: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

/// The p50 and p99 of `latencies` in ms, the lines' two percentiles
/// (sorting them first).
pub(crate) fn p50_p99(latencies: &mut [Duration]) -> (f64, f64) {
    latencies.sort();
    (
        percentile_ms(latencies, 0.50),
        percentile_ms(latencies, 0.99),
    )
}

/// A run as the loaders write it to `wf_instance`.
pub(crate) struct LoadedRun {
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
    deadline_at: Option<i64>,
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

/// L1's mix of statuses, in percent: 80% completed, 7% failed, 1% timed
/// out, 3% cancelled, 5% suspended and 4% pending.
const L1_STATUSES: &[(&str, u32)] = &[
    ("completed", 80),
    ("failed", 7),
    ("timed_out", 1),
    ("cancelled", 3),
    ("suspended", 5),
    ("pending", 4),
];

/// `count` runs of `workflows` (the first ones most often) created over the
/// 30 days before now, oldest first (as they would have been written), with
/// ids made of their creation times, in the mix of `statuses` (percentages
/// adding up to 100). The unfinished ones are due in a day, so that no
/// claim looks at them meanwhile; half of them have a deadline a day after
/// that.
pub(crate) fn loaded_runs(
    count: usize,
    statuses: &'static [(&'static str, u32)],
    workflows: &'static [&'static str],
    seed: u64,
) -> impl Iterator<Item = LoadedRun> + Send + 'static {
    const MONTH_MS: i64 = 30 * 86_400_000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64);
    let start = now - MONTH_MS;
    let spacing = MONTH_MS / count.max(1) as i64;
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..count).map(move |index| {
        let created_at = start + index as i64 * spacing + rng.i64(0..spacing.max(1));
        let timestamp = uuid::Timestamp::from_unix(
            uuid::NoContext,
            (created_at / 1000) as u64,
            (created_at % 1000) as u32 * 1_000_000,
        );
        let workflow = workflows[(rng.f64().powi(2) * workflows.len() as f64) as usize];
        let mut dice = rng.u32(0..100);
        let status = statuses
            .iter()
            .find(|(_, share)| {
                let this = dice < *share;
                dice = dice.saturating_sub(*share);
                this
            })
            .map_or("completed", |(status, _)| *status);
        let started_at = (status != "pending").then(|| created_at + rng.i64(2..500));
        let finished_at = match status {
            "pending" | "suspended" => None,
            _ => started_at.map(|at| at + rng.i64(10..60_000)),
        };
        let customer = rng.u32(0..50_000);
        let ready_at = matches!(status, "pending" | "suspended")
            .then(|| now + 86_400_000 + rng.i64(0..86_400_000));
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
            ready_at,
            deadline_at: ready_at.filter(|_| rng.bool()).map(|at| at + 86_400_000),
            executions: if status == "pending" {
                0
            } else {
                rng.i32(1..3)
            },
        }
    })
}

impl Database {
    /// Writes `runs` straight into `wf_instance` with multi-row inserts,
    /// then has the database analyse the table (and SQLite checkpoint its
    /// log), as it would have after writing them one by one.
    pub(crate) async fn load_runs(
        &self,
        runs: impl Iterator<Item = LoadedRun> + Send + 'static,
    ) -> anyhow::Result<()> {
        match self {
            Database::Sqlite { dir } => {
                let path = dir.join("bench.db");
                tokio::task::spawn_blocking(move || load_sqlite(&path, runs)).await?
            }
            Database::Postgres { url, schema } => load_postgres(url, schema, runs).await,
        }
    }
}

fn load_sqlite(
    path: &std::path::Path,
    runs: impl Iterator<Item = LoadedRun>,
) -> anyhow::Result<()> {
    use rusqlite::types::Value;
    let mut connection = rusqlite::Connection::open(path)?;
    connection.execute_batch("PRAGMA synchronous = OFF")?;
    let transaction = connection.transaction()?;
    let statement = |rows: usize| {
        let row = format!("({})", ["?"; 13].join(", "));
        format!(
            "INSERT INTO wf_instance (id, workflow, status, input, output, error, created_at, \
             updated_at, started_at, finished_at, ready_at, deadline_at, executions) VALUES {}",
            vec![row; rows].join(", ")
        )
    };
    let full = statement(L1_CHUNK);
    let mut values = Vec::with_capacity(13 * L1_CHUNK);
    let mut runs = runs.peekable();
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
                integer(run.deadline_at),
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
    // The log the load wrote goes into the database file now, and the file
    // to the disk: written one by one, the runs would have been
    // checkpointed and synced as they came, and the engine's first
    // checkpoint would otherwise wait for the kernel to write back hundreds
    // of megabytes (W7 measured a stall of about 200 ms in its first runs).
    connection.execute_batch("ANALYZE; PRAGMA wal_checkpoint(TRUNCATE)")?;
    drop(connection);
    std::fs::File::open(path)?.sync_all()?;
    Ok(())
}

async fn load_postgres(
    url: &str,
    schema: &str,
    runs: impl Iterator<Item = LoadedRun>,
) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(url).await?;
    let sql = format!(
        "INSERT INTO {schema}.wf_instance (id, workflow, status, input, output, error, \
           created_at, updated_at, started_at, finished_at, ready_at, deadline_at, executions) \
         SELECT id::uuid, workflow, status, input::jsonb, output::jsonb, error, created_at, \
           updated_at, started_at, finished_at, ready_at, deadline_at, executions \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
           $7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::int8[], \
           $13::int4[]) \
           AS rows (id, workflow, status, input, output, error, created_at, updated_at, \
           started_at, finished_at, ready_at, deadline_at, executions)"
    );
    let mut runs = runs.peekable();
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
            .bind(times(|run| run.deadline_at))
            .bind(chunk.iter().map(|run| run.executions).collect::<Vec<_>>())
            .execute(&mut connection)
            .await?;
    }
    sqlx::raw_sql(&format!("VACUUM ANALYZE {schema}.wf_instance"))
        .execute(&mut connection)
        .await?;
    // And to the disk, as a server that had received them one by one would
    // have by now (a superuser's command: the bench's server is local).
    sqlx::raw_sql("CHECKPOINT").execute(&mut connection).await?;
    Ok(())
}
