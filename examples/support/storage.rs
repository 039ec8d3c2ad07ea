//! The bench's storage line: what the database itself does on this machine
//! today, measured in the same run as the workloads so that their figures
//! can be read as ratios to it (the disk differs from day to day). One-row
//! insert commits through the drivers durable uses: with one connection
//! (ms per commit) and with 32 connections at once (commits per second).

use std::time::{Duration, Instant};

use durable::Durability;

use crate::l1::Database;

/// Commits the one-connection figure makes.
const SERIAL_COMMITS: usize = 1_000;

/// How long the 32 connections commit.
const PARALLEL_FOR: Duration = Duration::from_secs(2);

/// The connections of the parallel figure.
const CONNECTIONS: usize = 32;

/// One-row commits on `database` (fresh): ms per commit with one
/// connection, and commits per second with 32.
pub(crate) async fn storage_limit(
    database: &Database,
    durability: Durability,
) -> anyhow::Result<(f64, f64)> {
    match database {
        Database::Sqlite { dir } => {
            let path = dir.join("storage.db");
            tokio::task::spawn_blocking(move || sqlite_limit(&path, durability)).await?
        }
        Database::Postgres { url, schema } => postgres_limit(url, schema).await,
    }
}

/// A connection to the SQLite file as durable's writer opens it: WAL, and
/// `synchronous` as `durability` says.
fn sqlite_connection(
    path: &std::path::Path,
    durability: Durability,
) -> anyhow::Result<rusqlite::Connection> {
    let connection = rusqlite::Connection::open(path)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    let synchronous = match durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    connection.pragma_update(None, "synchronous", synchronous)?;
    connection.busy_timeout(Duration::from_secs(10))?;
    Ok(connection)
}

fn sqlite_limit(path: &std::path::Path, durability: Durability) -> anyhow::Result<(f64, f64)> {
    let connection = sqlite_connection(path, durability)?;
    connection.execute_batch("CREATE TABLE commits (id INTEGER PRIMARY KEY, at INTEGER)")?;
    let insert = "INSERT INTO commits (at) VALUES (?1)";
    let started = Instant::now();
    for at in 0..SERIAL_COMMITS {
        connection.prepare_cached(insert)?.execute([at as i64])?;
    }
    let serial_ms = started.elapsed().as_secs_f64() * 1000.0 / SERIAL_COMMITS as f64;
    let deadline = Instant::now() + PARALLEL_FOR;
    let threads: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let path = path.to_owned();
            std::thread::spawn(move || -> anyhow::Result<u64> {
                let connection = sqlite_connection(&path, durability)?;
                let mut commits = 0;
                while Instant::now() < deadline {
                    connection
                        .prepare_cached(insert)?
                        .execute([commits as i64])?;
                    commits += 1;
                }
                Ok(commits)
            })
        })
        .collect();
    let mut commits = 0;
    for thread in threads {
        commits += thread
            .join()
            .map_err(|_| anyhow::anyhow!("a committer panicked"))??;
    }
    Ok((serial_ms, commits as f64 / PARALLEL_FOR.as_secs_f64()))
}

async fn postgres_limit(url: &str, schema: &str) -> anyhow::Result<(f64, f64)> {
    use sqlx::Connection;
    let connect = || async {
        let mut connection = sqlx::PgConnection::connect(url).await?;
        sqlx::raw_sql(&format!("SET search_path TO {schema}"))
            .execute(&mut connection)
            .await?;
        anyhow::Ok(connection)
    };
    let mut connection = sqlx::PgConnection::connect(url).await?;
    sqlx::raw_sql(&format!(
        "CREATE SCHEMA {schema}; CREATE TABLE {schema}.commits (id BIGSERIAL PRIMARY KEY, at BIGINT)"
    ))
    .execute(&mut connection)
    .await?;
    let mut connection = connect().await?;
    let insert = "INSERT INTO commits (at) VALUES ($1)";
    let started = Instant::now();
    for at in 0..SERIAL_COMMITS {
        sqlx::query(insert)
            .bind(at as i64)
            .execute(&mut connection)
            .await?;
    }
    let serial_ms = started.elapsed().as_secs_f64() * 1000.0 / SERIAL_COMMITS as f64;
    let mut connections = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        connections.push(connect().await?);
    }
    let deadline = Instant::now() + PARALLEL_FOR;
    let mut tasks = Vec::with_capacity(CONNECTIONS);
    for mut connection in connections {
        tasks.push(tokio::spawn(async move {
            let mut commits = 0u64;
            while Instant::now() < deadline {
                sqlx::query(insert)
                    .bind(commits as i64)
                    .execute(&mut connection)
                    .await?;
                commits += 1;
            }
            anyhow::Ok(commits)
        }));
    }
    let mut commits = 0;
    for task in tasks {
        commits += task.await??;
    }
    Ok((serial_ms, commits as f64 / PARALLEL_FOR.as_secs_f64()))
}
