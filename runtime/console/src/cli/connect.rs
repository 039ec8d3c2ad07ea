//! Opening the engine that `--database-url` names, for the CLI and the
//! standalone console: an engine of no workflow, so it claims and executes
//! no run; the workers keep doing that.
//!
//! This is the one place that opens it, so that it can become a client
//! engine (one that runs no loop and opens a SQLite file another engine
//! holds read-only) in one change.

use std::path::Path;

use std::time::Duration;

use durable::{Engine, Retention};

use super::args::Target;
use super::client::CliError;

/// A retention period that never passes: a hundred years.
const KEEP: Duration = Duration::from_secs(100 * 365 * 86_400);

/// The engine on `--database-url` (and `--schema`): a client
/// ([`durable::EngineBuilder::client`]), which claims no run and runs no
/// loop. On a SQLite file a worker holds, it reads beside the worker and
/// refuses every action with `read_only` (exit 4); use `--api` with the
/// worker's console to act. (Its retention of a hundred years is moot for
/// a client, which runs no maintenance; it stays in case that changes.)
pub(crate) async fn open_engine(target: &Target) -> Result<Engine, CliError> {
    let Some(url) = &target.database_url else {
        return Err(CliError::Usage(
            "say where the runs are: --database-url URL (or DURABLE_DATABASE_URL), or --api URL of a serving console (or DURABLE_API)"
                .into(),
        ));
    };
    if let Some(path) = sqlite_file(url)
        && !path.exists()
    {
        // An engine would create it: a mistyped path would show "no runs".
        return Err(CliError::Usage(format!(
            "no database at {}: the SQLite file does not exist (the URL is sqlite://FILE, relative to the working directory)",
            path.display()
        )));
    }
    // The workers' retention decides what is deleted: this engine, whose
    // maintenance would apply the default retention to every workflow,
    // keeps everything.
    let keep = Retention::default()
        .completed(KEEP)
        .failed(KEEP)
        .cancelled(KEEP)
        .events(KEEP);
    let mut builder = Engine::builder().database_url(url).retention(keep);
    if let Some(schema) = &target.schema {
        builder = builder.postgres_schema(schema);
    }
    builder.client().await.map_err(CliError::Open)
}

/// The file a `sqlite://FILE` or `sqlite:FILE` URL names (not the
/// in-memory database).
fn sqlite_file(url: &str) -> Option<&Path> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    (!path.is_empty() && path != ":memory:" && !path.contains('?')).then(|| Path::new(path))
}

/// What to do about an error opening the database, when there is a way
/// around it.
pub(crate) fn hint(error: &durable::Error) -> &'static str {
    match error {
        durable::Error::DatabaseInUse { .. } => {
            "; a running worker holds the file: use --api with the console it serves (Console::new(&engine).bind(...)), or stop it"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use durable::Clock;

    #[tokio::test]
    async fn the_cli_engine_deletes_nothing_the_workers_keep() {
        let db = durable_tests::TestDb::sqlite("cli-retention");
        let month_ago = durable::SystemClock.now_ms() - 30 * 86_400_000;
        let (old, _clock) = db.start_on_manual_clock(month_ago, |builder| builder).await;
        old.send_event("old", serde_json::json!(1)).await.unwrap();
        old.shutdown().await;
        drop(old);
        let durable_tests::TestDb::Sqlite { path, .. } = &db else {
            panic!("a SQLite test database");
        };
        let target = Target {
            database_url: Some(format!("sqlite://{}", path.display())),
            schema: None,
            api: None,
            token: None,
        };
        let cli = open_engine(&target).await.unwrap();
        assert_eq!(cli.run_maintenance().await.unwrap().events_deleted, 0);
        cli.shutdown().await;
        drop(cli);
        // An engine with the default retention deletes the month-old event.
        let worker = db.builder().start().await.unwrap();
        assert_eq!(worker.run_maintenance().await.unwrap().events_deleted, 1);
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite://durable.db"),
            Some(Path::new("durable.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:///tmp/x.db"),
            Some(Path::new("/tmp/x.db"))
        );
        assert_eq!(sqlite_file("sqlite:x.db"), Some(Path::new("x.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("sqlite://:memory:"), None);
        assert_eq!(sqlite_file("postgres://h/db"), None);
    }
}
