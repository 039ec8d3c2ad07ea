//! Helpers shared by the behaviour tests: scratch directories, direct reads
//! of the database, and waiting for a run to reach a status.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use durable::{Engine, EngineBuilder, ManualClock, RunHandle, RunStatus};

/// A directory removed when dropped.
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// A fresh, empty directory under the system's temp directory.
    pub fn new(label: &str) -> Self {
        let unique = format!(
            "durable-{label}-{}-{}",
            std::process::id(),
            durable::Uuid::new_v4()
        );
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path).expect("create scratch dir");
        Scratch { path }
    }

    /// A path inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Runs one query returning an integer against a database file, beside the
/// engine that owns it (WAL allows the extra reader).
pub fn count(db: &Path, sql: &str) -> i64 {
    let connection = rusqlite::Connection::open(db).expect("open database");
    connection
        .query_row(sql, [], |row| row.get(0))
        .expect("query")
}

/// Waits (in real time, up to 10 s) until the run has `status`.
pub async fn wait_for_status<O: serde::de::DeserializeOwned>(
    run: &RunHandle<O>,
    status: RunStatus,
) {
    let started = Instant::now();
    loop {
        let now = run.status().await.expect("status");
        if now == status {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "run {} stayed {now}, expected {status}",
            run.id()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
pub mod fixture_workflows;

/// The environment variable naming the PostgreSQL server for the tests.
pub const POSTGRES_URL_VAR: &str = "DURABLE_TEST_POSTGRES_URL";

/// The PostgreSQL URL for the tests, or `None` (with a printed notice) when
/// `DURABLE_TEST_POSTGRES_URL` is not set: the caller then skips.
pub fn postgres_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            println!("skipped: set {POSTGRES_URL_VAR} to run the PostgreSQL tests");
            None
        }
    }
}

/// A schema name unique to one test, so tests run in parallel on one server:
/// `t_<label>_<12 hex digits>`. The schema outlives its test (an engine may
/// still hold it as the test ends); `.ci/run` drops those of earlier runs by
/// this pattern.
pub fn unique_schema(label: &str) -> String {
    let suffix = durable::Uuid::new_v4().simple().to_string();
    format!(
        "t_{}_{}",
        label.chars().take(30).collect::<String>(),
        &suffix[..12]
    )
    .to_lowercase()
}

/// A fresh database for one behaviour test, on the backend its suite runs on.
pub enum TestDb {
    /// A SQLite file in a scratch directory.
    Sqlite {
        /// Removed with the test.
        scratch: Scratch,
        /// The database file.
        path: PathBuf,
    },
    /// A fresh schema on the PostgreSQL server.
    Postgres {
        /// The server.
        url: String,
        /// The test's schema.
        schema: String,
    },
}

impl TestDb {
    /// A fresh SQLite file.
    pub fn sqlite(label: &str) -> Self {
        let scratch = Scratch::new(label);
        let path = scratch.join("runs.db");
        TestDb::Sqlite { scratch, path }
    }

    /// A fresh schema on the test server, or `None` (with a notice) when no
    /// server is configured.
    pub fn postgres(label: &str) -> Option<Self> {
        Some(TestDb::Postgres {
            url: postgres_url()?,
            schema: unique_schema(label),
        })
    }

    /// An engine builder on this database; call it again for a "restarted"
    /// engine on the same data.
    pub fn builder(&self) -> durable::EngineBuilder {
        match self {
            TestDb::Sqlite { path, .. } => durable::Engine::builder().sqlite_file(path),
            TestDb::Postgres { url, schema } => durable::Engine::builder()
                .postgres(url)
                .postgres_schema(schema),
        }
    }

    /// Starts an engine on this database whose time is a [`ManualClock`]
    /// set to `start_ms`, with what `configure` adds (workflows, options).
    pub async fn start_on_manual_clock(
        &self,
        start_ms: i64,
        configure: impl FnOnce(EngineBuilder) -> EngineBuilder,
    ) -> (Engine, ManualClock) {
        let clock = ManualClock::new(start_ms);
        let engine = configure(self.builder().clock(clock.clone()))
            .start()
            .await
            .expect("the test engine starts");
        (engine, clock)
    }

    /// Runs one query returning an integer (portable SQL) directly on the
    /// database, beside the engine.
    pub async fn count(&self, sql: &str) -> i64 {
        match self {
            TestDb::Sqlite { path, .. } => count(path, sql),
            TestDb::Postgres { url, schema } => {
                use sqlx::Connection;
                let mut connection = sqlx::PgConnection::connect(url).await.expect("connect");
                sqlx::query(&format!("SET search_path TO {schema}"))
                    .execute(&mut connection)
                    .await
                    .expect("search_path");
                let value: Option<i64> = sqlx::query_scalar(sql)
                    .fetch_one(&mut connection)
                    .await
                    .expect("query");
                value.unwrap_or(0)
            }
        }
    }
}

/// Waits (in real time, up to 10 s) until the engine executes no run: every
/// run it had is suspended or finished and its task is gone.
pub async fn wait_for_idle(engine: &durable::Engine) {
    let started = Instant::now();
    while engine.active_run_count() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} runs still hold a task",
            engine.active_run_count()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Waits (at most 10 s) until a new receiver of a PostgreSQL engine's
/// changes hears that the other processes now relay theirs to it: the
/// `Interrupted` its engine tells once they had time to begin. Changes
/// before it are skipped.
pub async fn until_relayed(changes: &mut durable::RunChanges) {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), changes.recv())
            .await
            .expect("the other processes relay within 10 s")
        {
            Err(durable::ChangesError::Interrupted) => return,
            Ok(_) => {}
            Err(other) => panic!("the feed failed: {other:?}"),
        }
    }
}

/// The changes of `run` until its status is terminal (at most 10 s); a
/// note that other processes' changes may be missing is skipped.
pub async fn until_ended(
    changes: &mut durable::RunChanges,
    run: durable::RunId,
) -> Vec<durable::RunChange> {
    let mut seen = Vec::new();
    loop {
        let change = match tokio::time::timeout(Duration::from_secs(10), changes.recv())
            .await
            .expect("a change within 10 s")
        {
            Ok(change) => change,
            Err(durable::ChangesError::Interrupted) => continue,
            Err(other) => panic!("the feed failed: {other:?}"),
        };
        if change.run_id != run {
            continue;
        }
        let ended = matches!(change.kind, durable::ChangeKind::Status { status, .. } if status.is_terminal());
        seen.push(change);
        if ended {
            return seen;
        }
    }
}

/// The statuses among `changes`, in order.
pub fn statuses(changes: &[durable::RunChange]) -> Vec<durable::RunStatus> {
    changes
        .iter()
        .filter_map(|change| match change.kind {
            durable::ChangeKind::Status { status, .. } => Some(status),
            _ => None,
        })
        .collect()
}

/// Runs the step `name`, whose output is its name: a step whose result a
/// test can recognise in a run's output (the upgrade tests).
pub async fn named_step(ctx: &durable::Ctx, name: &'static str) -> Result<String, durable::Error> {
    ctx.run(name, async || Ok::<_, durable::StepError>(name.to_owned()))
        .await
}

/// `names` as owned strings, for comparing with a run's output.
pub fn outputs(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

/// Each step of a run as (name, kind), in journal order.
pub async fn steps_of<O: serde::de::DeserializeOwned>(
    run: &RunHandle<O>,
) -> Vec<(String, durable::StepKind)> {
    let mut steps = run.steps().await.unwrap();
    steps.sort_by_key(|step| step.seq);
    steps
        .into_iter()
        .map(|step| (step.name, step.kind))
        .collect()
}
