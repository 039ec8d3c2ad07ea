//! Writes the upgrade fixtures, `tests/fixtures/landed-release.sqlite` (or,
//! with `--postgres`, `landed-release-postgres.sql`) and its manifest, with
//! the durable of this checkout: run it on the commit of a release so that
//! `tests/upgrade.rs` checks a later schema opens that release's databases.
//!
//! ```text
//! cargo run -p durable-tests --bin write_fixture [-- [--postgres <url>] [<directory>]]
//! ```
//!
//! Writes into `tests/fixtures` unless given another directory, replacing
//! the files there. The runs are those of `durable_tests::fixture_workflows`:
//! one completed, one failed, one suspended in a durable sleep and one
//! waiting for the event `fixture.go`, all on a `ManualClock` that stands
//! still at `WRITTEN_AT_MS`. The engine is shut down; on SQLite the WAL is
//! checkpointed into the database, so the file stands alone; on PostgreSQL
//! the runs are written in a schema of their own, which `pg_dump` (on the
//! `PATH`, of the server's version) dumps as SQL with the schema's name
//! replaced by [`SCHEMA_PLACEHOLDER`], and which is dropped after.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use durable::RunStatus;
use durable_tests::fixture_workflows::{
    FixtureCompleted, FixtureFailed, FixtureSleeping, FixtureWaiting, Manifest, POSTGRES_FIXTURE,
    POSTGRES_MANIFEST, SCHEMA_PLACEHOLDER, SQLITE_FIXTURE, SQLITE_MANIFEST, WRITTEN_AT_MS,
    fixtures_dir, process_token, register_all,
};
use durable_tests::{unique_schema, wait_for_idle, wait_for_status};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1).peekable();
    let postgres = if args.peek().is_some_and(|arg| arg == "--postgres") {
        args.next();
        let url = args.next().context("--postgres takes a postgres:// URL")?;
        Some(url.into_string().ok().context("the URL is not UTF-8")?)
    } else {
        None
    };
    let directory = args.next().map_or_else(fixtures_dir, PathBuf::from);
    ensure!(args.next().is_none(), "write_fixture takes one directory");
    match postgres {
        Some(url) => write_postgres(&url, &directory).await,
        None => write_sqlite(&directory).await,
    }
}

/// The runs of the fixture, written through `builder`: returns the manifest
/// naming them once the engine stood still and shut down.
async fn write_runs(builder: durable::EngineBuilder) -> anyhow::Result<String> {
    let clock = durable::ManualClock::new(WRITTEN_AT_MS);
    let engine = register_all(builder.clock(clock))
        .start()
        .await
        .context("start the engine")?;

    let completed = FixtureCompleted::trigger(&engine, "order-7".into()).await?;
    completed.result().await.context("the completed run")?;

    let failed = FixtureFailed::trigger(&engine).await?;
    if failed.result().await.is_ok() {
        bail!("the failed run completed");
    }

    let sleeping = FixtureSleeping::trigger(&engine).await?;
    let waiting = FixtureWaiting::trigger(&engine).await?;
    wait_for_status(&sleeping, RunStatus::Suspended).await;
    wait_for_status(&waiting, RunStatus::Suspended).await;
    wait_for_idle(&engine).await;
    // With the clock standing still the sleep never ends here, and it is
    // longer than the engine keeps a run in memory before its wake time.
    ensure!(
        sleeping.status().await? == RunStatus::Suspended,
        "the sleeping run woke before the engine stopped"
    );
    let manifest_text = serde_json::to_string_pretty(&Manifest {
        written_by: process_token(),
        completed: completed.id(),
        failed: failed.id(),
        sleeping: sleeping.id(),
        waiting: waiting.id(),
    })?;
    engine.shutdown().await;
    drop(engine);
    Ok(manifest_text + "\n")
}

async fn write_sqlite(directory: &Path) -> anyhow::Result<()> {
    let database = directory.join(SQLITE_FIXTURE);
    let manifest = directory.join(SQLITE_MANIFEST);
    for stale in [
        &database,
        &side_file(&database, "-wal"),
        &side_file(&database, "-shm"),
    ] {
        match std::fs::remove_file(stale) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(error).with_context(|| format!("remove {}", stale.display())),
        }
    }

    let manifest_text = write_runs(durable::Engine::builder().sqlite_file(&database)).await?;
    checkpoint(&database)?;
    std::fs::write(&manifest, manifest_text)
        .with_context(|| format!("write {}", manifest.display()))?;
    println!("wrote {} and {}", database.display(), manifest.display());
    Ok(())
}

/// Writes the runs in a fresh schema of the server at `url`, dumps the
/// schema (tables, indexes, rows) as SQL statements that `sqlx::raw_sql` can
/// run, and drops it.
async fn write_postgres(url: &str, directory: &Path) -> anyhow::Result<()> {
    use sqlx::Connection;
    let schema = unique_schema("fixture");
    let manifest_text = write_runs(
        durable::Engine::builder()
            .postgres(url)
            .postgres_schema(&schema),
    )
    .await?;
    let dumped = std::process::Command::new("pg_dump")
        .arg(format!("--dbname={url}"))
        .arg(format!("--schema={schema}"))
        .args([
            "--inserts",
            "--no-owner",
            "--no-privileges",
            "--no-comments",
        ])
        .output()
        .context("run pg_dump")?;
    ensure!(
        dumped.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&dumped.stderr)
    );
    let mut connection = sqlx::PgConnection::connect(url).await?;
    sqlx::raw_sql(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut connection)
        .await?;
    let dump = String::from_utf8(dumped.stdout).context("pg_dump wrote UTF-8")?;
    // psql's meta-commands (`\restrict`) are not SQL; the comments and blank
    // lines only make the file longer.
    let statements: String = dump
        .lines()
        .filter(|line| !line.starts_with('\\') && !line.starts_with("--") && !line.is_empty())
        .map(|line| line.replace(&schema, SCHEMA_PLACEHOLDER) + "\n")
        .collect();
    ensure!(
        statements.contains(&format!("CREATE SCHEMA {SCHEMA_PLACEHOLDER};")),
        "the dump does not create the schema"
    );
    let header = format!(
        "-- The upgrade fixture on PostgreSQL (see tests/fixtures/README.md): the schema\n\
         -- and rows written by the landed release, dumped by pg_dump; {SCHEMA_PLACEHOLDER}\n\
         -- stands for the schema's name.\n"
    );
    let fixture = directory.join(POSTGRES_FIXTURE);
    let manifest = directory.join(POSTGRES_MANIFEST);
    std::fs::write(&fixture, header + &statements)
        .with_context(|| format!("write {}", fixture.display()))?;
    std::fs::write(&manifest, manifest_text)
        .with_context(|| format!("write {}", manifest.display()))?;
    println!("wrote {} and {}", fixture.display(), manifest.display());
    Ok(())
}

/// Moves everything in the WAL into the database file and checks that no
/// side file is left: the fixture is committed as one file.
fn checkpoint(database: &Path) -> anyhow::Result<()> {
    let connection = rusqlite::Connection::open(database)?;
    let (busy, _, _): (i64, i64, i64) =
        connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?;
    ensure!(busy == 0, "the checkpoint was blocked");
    connection
        .close()
        .map_err(|(_, error)| error)
        .context("close the database")?;
    for suffix in ["-wal", "-shm"] {
        let side = side_file(database, suffix);
        ensure!(
            !side.exists(),
            "{} was left beside the database",
            side.display()
        );
    }
    Ok(())
}

/// `<database><suffix>`, where SQLite keeps its WAL and shared memory.
fn side_file(database: &Path, suffix: &str) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
