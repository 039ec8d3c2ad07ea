//! Writes the upgrade fixture, `tests/fixtures/landed-release.sqlite`, and its
//! manifest `landed-release.json`, with the durable of this checkout: run it
//! on the commit of a release so that `tests/upgrade.rs` checks a later
//! schema opens that release's databases.
//!
//! ```text
//! cargo run -p durable-tests --bin write_fixture [-- <directory>]
//! ```
//!
//! Writes into `tests/fixtures` unless given another directory, replacing
//! the files there. The runs are those of `durable_tests::fixture_workflows`:
//! one completed, one failed, one suspended in a durable sleep and one
//! waiting for the event `fixture.go`, all on a `ManualClock` that stands
//! still at `WRITTEN_AT_MS`. The engine is shut down and the WAL
//! checkpointed into the database, so the file stands alone.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use durable::RunStatus;
use durable_tests::fixture_workflows::{
    FixtureCompleted, FixtureFailed, FixtureSleeping, FixtureWaiting, Manifest, WRITTEN_AT_MS,
    fixture_path, manifest_path, process_token, register_all,
};
use durable_tests::{wait_for_idle, wait_for_status};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (database, manifest) = match std::env::args_os().nth(1) {
        Some(directory) => {
            let directory = PathBuf::from(directory);
            (
                directory.join("landed-release.sqlite"),
                directory.join("landed-release.json"),
            )
        }
        None => (fixture_path(), manifest_path()),
    };
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

    let clock = durable::ManualClock::new(WRITTEN_AT_MS);
    let engine = register_all(
        durable::Engine::builder()
            .sqlite_file(&database)
            .clock(clock),
    )
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

    checkpoint(&database)?;
    std::fs::write(&manifest, manifest_text + "\n")
        .with_context(|| format!("write {}", manifest.display()))?;
    println!("wrote {} and {}", database.display(), manifest.display());
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
