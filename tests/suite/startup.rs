//! Starting and stopping an engine: one engine per SQLite file whatever path
//! names it, the engine stopping when its last handle goes, and start-up
//! errors that say what is wrong (bad settings, a newer schema, a foreign
//! table, a bad file).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use durable::prelude::*;
use durable_tests::TestDb;

use super::durable_sleep::Sleepy;

#[workflow(name = "startup-noop")]
async fn startup_noop(ctx: Ctx) -> Result<u32, Error> {
    ctx.run("one", async || Ok::<_, StepError>(1)).await
}

/// Whether the first execution of `startup-stuck` has begun.
static STUCK_STARTED: AtomicBool = AtomicBool::new(false);

/// Its first execution hangs in its step (until the engine stops it); any
/// later one completes.
#[workflow(name = "startup-stuck")]
async fn startup_stuck(ctx: Ctx) -> Result<u32, Error> {
    ctx.run("hang-once", async || {
        if !STUCK_STARTED.swap(true, Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        Ok::<_, StepError>(7)
    })
    .await
}

/// The database file of a SQLite test database; `None` on PostgreSQL.
fn sqlite_path(db: &TestDb) -> Option<&Path> {
    match db {
        TestDb::Sqlite { path, .. } => Some(path),
        TestDb::Postgres { .. } => None,
    }
}

/// Runs `sql` directly on the test database (its schema on PostgreSQL,
/// created if missing).
async fn execute(db: &TestDb, sql: &str) {
    match db {
        TestDb::Sqlite { path, .. } => {
            rusqlite::Connection::open(path)
                .unwrap()
                .execute_batch(sql)
                .unwrap();
        }
        TestDb::Postgres { url, schema } => {
            use sqlx::Connection;
            let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::raw_sql(&format!(
                "CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}; {sql}"
            ))
            .execute(&mut connection)
            .await
            .unwrap();
        }
    }
}

/// `path` relative to the working directory (through `..` up to `/`).
fn relative_to_cwd(path: &Path) -> PathBuf {
    let cwd = std::env::current_dir().unwrap();
    let mut relative = PathBuf::new();
    for _ in cwd.components().skip(1) {
        relative.push("..");
    }
    relative.join(path.strip_prefix("/").unwrap())
}

async fn start_on(path: &Path) -> Result<Engine, Error> {
    Engine::builder()
        .sqlite_file(path)
        .register(StartupNoop)
        .start()
        .await
}

#[tokio::test]
async fn a_second_engine_through_another_path_to_the_file_is_refused() {
    let db = test_db!();
    let Some(path) = sqlite_path(&db) else {
        return;
    };
    let dir = path.parent().unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    let engine = start_on(path).await.unwrap();
    std::os::unix::fs::symlink(path, dir.join("symlink.db")).unwrap();
    std::fs::hard_link(path, dir.join("hardlink.db")).unwrap();
    let others = [
        dir.join("symlink.db"),
        dir.join("hardlink.db"),
        dir.join("sub/../runs.db"),
        relative_to_cwd(path),
    ];
    for other in &others {
        let error = start_on(other).await.unwrap_err();
        assert!(
            matches!(error, Error::DatabaseInUse { .. }),
            "{}: {error}",
            other.display()
        );
    }
    // The engine that holds the file still works.
    let run = StartupNoop::trigger(&engine).await.unwrap();
    assert_eq!(run.result().await.unwrap(), 1);
    engine.shutdown().await;
    // Once it is gone, any of the paths opens the file.
    let engine = start_on(&others[0]).await.unwrap();
    assert_eq!(run.id(), engine.run_handle::<u32>(run.id()).id());
    assert_eq!(
        engine.run_handle::<u32>(run.id()).result().await.unwrap(),
        1
    );
    engine.shutdown().await;
}

/// A `hold_database` process holding `path`.
struct Holder {
    child: Child,
}

impl Holder {
    fn start(path: &Path) -> Holder {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hold_database"))
            .arg(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "started");
        Holder { child }
    }

    /// Closes its input: it shuts down and exits.
    fn stop(mut self) {
        drop(self.child.stdin.take());
        assert!(self.child.wait().unwrap().success());
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn another_process_cannot_take_the_file_through_a_link() {
    let db = test_db!();
    let Some(path) = sqlite_path(&db) else {
        return;
    };
    let dir = path.parent().unwrap();
    std::os::unix::fs::symlink(path, dir.join("symlink.db")).unwrap();
    // A hard link to a file that does not exist yet cannot be made: the
    // holder creates it.
    let holder = Holder::start(path);
    std::fs::hard_link(path, dir.join("hardlink.db")).unwrap();
    for other in [
        path.to_owned(),
        dir.join("symlink.db"),
        dir.join("hardlink.db"),
    ] {
        let error = start_on(&other).await.unwrap_err();
        assert!(
            matches!(error, Error::DatabaseInUse { .. }),
            "{}: {error}",
            other.display()
        );
    }
    // SQLite's own locks live beside ours: this process reads the file the
    // other one holds.
    let tables = durable_tests::count(path, "SELECT COUNT(*) FROM wf_migration");
    assert!(tables >= 1);
    holder.stop();
    // And the reverse: a process refused while this one holds the file.
    let engine = start_on(&dir.join("hardlink.db")).await.unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_hold_database"))
        .arg(dir.join("symlink.db"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let output = String::from_utf8_lossy(&output.stdout);
    assert!(output.starts_with("refused "), "{output}");
    assert!(
        output.contains("in use by another durable engine"),
        "{output}"
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_engine_and_frees_the_file() {
    let db = test_db!();
    let Some(path) = sqlite_path(&db) else {
        return;
    };
    let engine = db
        .builder()
        .register(StartupNoop)
        .register(StartupStuck)
        .start()
        .await
        .unwrap();
    // A dropped clone leaves the engine running.
    drop(engine.clone());
    let run = StartupNoop::trigger(&engine).await.unwrap();
    assert_eq!(run.result().await.unwrap(), 1);
    drop(run);
    let stuck = StartupStuck::trigger(&engine).await.unwrap().id();
    let started = Instant::now();
    while !STUCK_STARTED.load(Ordering::SeqCst) {
        assert!(started.elapsed() < Duration::from_secs(10), "never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(engine);
    // The file is free soon after, and the run that was in flight was
    // handed back: the next engine finishes it.
    let started = Instant::now();
    let engine = loop {
        match db
            .builder()
            .register(StartupNoop)
            .register(StartupStuck)
            .start()
            .await
        {
            Ok(engine) => break engine,
            Err(Error::DatabaseInUse { .. }) => {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "{} is still locked after its last engine handle was dropped",
                    path.display()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(error) => panic!("{error}"),
        }
    };
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        engine.run_handle::<u32>(stuck).result(),
    )
    .await
    .expect("the handed-back run finishes");
    assert_eq!(result.unwrap(), 7);
    engine.shutdown().await;
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_durable_is_refused() {
    let db = test_db!();
    let engine = db.builder().register(StartupNoop).start().await.unwrap();
    engine.shutdown().await;
    drop(engine);
    let supported = db.count("SELECT MAX(version) FROM wf_migration").await;
    execute(
        &db,
        "INSERT INTO wf_migration (version, applied_at) VALUES (999, 0)",
    )
    .await;
    let error = db
        .builder()
        .register(StartupNoop)
        .start()
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, Error::SchemaTooNew { found: 999, supported: s, .. } if s == supported),
        "{message}"
    );
    assert!(
        message.contains("999") && message.contains(&format!("up to {supported}")),
        "{message}"
    );
}

#[tokio::test]
async fn a_foreign_table_of_the_same_name_is_named_in_a_short_error() {
    let db = test_db!();
    execute(
        &db,
        "CREATE TABLE wf_instance (id TEXT PRIMARY KEY, customer TEXT, total INTEGER)",
    )
    .await;
    let error = db
        .builder()
        .register(StartupNoop)
        .start()
        .await
        .unwrap_err();
    let message = error.to_string();
    match &error {
        Error::ForeignTable { table, missing } => {
            assert_eq!(table, "wf_instance", "{message}");
            assert!(missing.contains("workflow, status"), "{message}");
            assert!(
                !missing.contains("id,") && !missing.starts_with("id"),
                "{message}"
            );
        }
        _ => panic!("not a ForeignTable error: {message}"),
    }
    assert!(message.len() < 600, "{} bytes: {message}", message.len());
    assert!(!message.contains("CREATE"), "{message}");
    // The table is left as it was.
    assert_eq!(db.count("SELECT COUNT(*) FROM wf_instance").await, 0);
}

#[tokio::test]
async fn a_bad_database_file_is_named_with_what_failed() {
    let db = test_db!();
    let Some(path) = sqlite_path(&db) else {
        return;
    };
    let dir = path.parent().unwrap();

    let missing_dir = dir.join("no-such-dir").join("runs.db");
    let error = start_on(&missing_dir).await.unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(
            error,
            Error::DatabaseFile {
                action: "create",
                ..
            }
        ),
        "{message}"
    );
    assert!(
        message.contains(&missing_dir.display().to_string()),
        "{message}"
    );

    let not_a_database = dir.join("notes.txt");
    let mut file = std::fs::File::create(&not_a_database).unwrap();
    file.write_all(&[b'x'; 4096]).unwrap();
    drop(file);
    let error = start_on(&not_a_database).await.unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, Error::DatabaseFile { action: "open", .. }),
        "{message}"
    );
    assert!(
        message.contains(&not_a_database.display().to_string())
            && message.contains("not a database"),
        "{message}"
    );

    for empty in ["", ":memory:"] {
        let error = start_on(Path::new(empty)).await.unwrap_err();
        assert!(matches!(error, Error::Config(_)), "{empty:?}: {error}");
    }
}

#[tokio::test]
async fn database_urls_that_name_no_database_are_refused() {
    let db = test_db!();
    let Some(path) = sqlite_path(&db) else {
        return;
    };
    for (url, expected) in [
        ("sqlite://", "names no file"),
        ("sqlite:", "names no file"),
        ("sqlite://runs.db?mode=rwc", "query parameters"),
        ("mysql://app:secret@db-host/app", "scheme `mysql`"),
        ("app:secret@db-host", "scheme `app`"),
        ("no scheme at all", "has no scheme"),
    ] {
        let error = Engine::builder()
            .database_url(url)
            .register(StartupNoop)
            .start()
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, Error::Config(_)), "{url}: {message}");
        assert!(message.contains(expected), "{url}: {message}");
        assert!(!message.contains("secret"), "{url}: {message}");
    }
    for url in ["sqlite::memory:", "sqlite://:memory:"] {
        let engine = Engine::builder()
            .database_url(url)
            .register(StartupNoop)
            .start()
            .await
            .unwrap();
        let run = StartupNoop::trigger(&engine).await.unwrap();
        assert_eq!(run.result().await.unwrap(), 1, "{url}");
        engine.shutdown().await;
    }
    let url = format!("sqlite://{}", path.display());
    let engine = Engine::builder()
        .database_url(&url)
        .register(StartupNoop)
        .start()
        .await
        .unwrap();
    engine.shutdown().await;
    assert!(path.exists());
}

#[tokio::test]
async fn a_second_engine_on_the_same_file_is_refused() {
    let db = test_db!();
    // One engine per embedded file; PostgreSQL is shared by design.
    if !matches!(db, durable_tests::TestDb::Sqlite { .. }) {
        return;
    }
    let _engine = db.builder().register(Sleepy).start().await.unwrap();
    let error = db.builder().register(Sleepy).start().await.unwrap_err();
    assert!(matches!(error, Error::DatabaseInUse { .. }), "{error}");
}

#[tokio::test]
async fn bad_engine_settings_are_refused() {
    let db = test_db!();
    let error = db.builder().concurrency(0).start().await.unwrap_err();
    assert!(error.to_string().contains("concurrency must be at least 1"));
    let error = db
        .builder()
        .keep_in_memory_below("soon")
        .start()
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("invalid duration \"soon\""),
        "{error}"
    );
    let error = db
        .builder()
        .register(Sleepy)
        .register(Sleepy)
        .start()
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("workflow `sleepy` is registered twice"),
        "{error}"
    );
}
