//! The SQLite backend: the embedded default, a file or an in-memory database
//! owned by one engine.
//!
//! Every write goes through one writer connection that commits the queued
//! writes of all runs together (group commit, see `store/writer.rs`), merging
//! writes of one kind into multi-row statements. Reads use a few connections
//! of their own (WAL lets them run beside the writer). Statements run inline
//! on the calling task: a WAL write or an indexed read takes microseconds,
//! far less than handing it to another thread (with
//! [`Durability::Full`], where each commit waits for an fsync, the writer
//! tells tokio it blocks).
//!
//! The database file is locked for the engine's life, so two engines never
//! share it; runs left `running` by a previous process are therefore known to
//! be orphaned and are handed back at start ([`Store::recover`]). The lock
//! belongs to the file, not to the path it was named by (see
//! `lock_database`), so a symlink, a relative path or a hard link cannot
//! open a second engine on a live database. A client
//! (`EngineBuilder::client`) that finds the file held opens it read-only
//! instead: it reads beside the engine that holds it, and its writer
//! refuses every write with [`Error::ReadOnly`].
//!
//! The code is split by concern, as the PostgreSQL backend's is:
//! [`options`] (connection settings), [`file_lock`], [`migrate`] (the
//! schema), [`writer`] (the group-commit writer and the dispatch of each
//! write), [`claims`], [`runs`], [`steps`], [`waits`], [`finish`],
//! [`maintenance`], [`reads`] and [`catalog`]; [`values`] builds the multi-row statements'
//! parameters.

mod cancel_on;
mod catalog;
mod checkpoint;
mod claims;
mod file_lock;
mod finish;
mod flow;
mod limits;
mod maintenance;
#[cfg(test)]
mod maintenance_tests;
mod migrate;
mod options;
mod reads;
mod runs;
mod steps;
#[cfg(test)]
mod tests;
mod values;
mod waits;
mod writer;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

use self::checkpoint::{Checkpointer, WRITER_BACKSTOP_PAGES};
use self::file_lock::{FileLock, lock_database};
use self::migrate::{check_read_only_schema, migrate};
use self::options::{READERS, configure, open_connection, open_read_only};
use self::steps::journal_rows;
use self::writer::{MAX_BATCH, ReadOnlyWriter, SqliteWriter};
use super::changes::ChangeFeed;
use super::ops::{WriteOp, WriteOut};
use super::rows::{step_record, unexpected};
use super::writer::GroupCommit;
use super::{
    ClaimRequest, ClaimedRun, CreateOutcome, FinishEffects, ForkOutcome, Lease, LogLine, NewFork,
    NewRun, Renewal, RunOutcome, RunStore, Served, StepRecord, TransitionOutcome,
};
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::sync::BoxFuture;
use crate::model::sync::lock;
pub use options::Durability;
pub(crate) use options::SqliteLocation;

/// The SQLite store.
pub(crate) struct SqliteStore {
    readers: Readers,
    writer: GroupCommit<WriteOp, WriteOut>,
    /// The WAL checkpointer of a database file, stopped at `close`.
    checkpointer: Mutex<Option<Checkpointer>>,
    /// The lock on the database file, held until `close` (the OS releases
    /// it when the process ends, however it ends).
    file_lock: Mutex<Option<FileLock>>,
    /// What each committed batch changed, for the engine's change feed.
    changes: Arc<ChangeFeed>,
    /// Why every write is refused, for a client that opened a file another
    /// engine holds.
    read_only: Option<String>,
}

/// Connections for reads.
enum Readers {
    /// Opened on demand, kept for reuse.
    File {
        path: PathBuf,
        idle: Mutex<Vec<Connection>>,
        /// Opened read-only: the file belongs to another engine.
        read_only: bool,
    },
    /// The in-memory database's one connection, shared with the writer.
    Shared(Arc<Mutex<Connection>>),
}

impl Readers {
    fn read<T>(&self, query: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, Error> {
        match self {
            Readers::Shared(connection) => Ok(query(&lock(connection))?),
            Readers::File {
                path,
                idle,
                read_only,
            } => {
                let connection = lock(idle).pop();
                let connection = match connection {
                    Some(connection) => connection,
                    None if *read_only => open_read_only(path)?,
                    None => open_connection(path, Durability::Normal)?,
                };
                let result = query(&connection);
                let mut idle = lock(idle);
                if idle.len() < READERS {
                    idle.push(connection);
                }
                Ok(result?)
            }
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database.
    ///
    /// # Errors
    ///
    /// [`Error::DatabaseInUse`] when another engine holds the file (by any
    /// path); [`Error::Config`] for an empty path; [`Error::DatabaseFile`]
    /// when it cannot be created, opened or migrated (naming the path);
    /// [`Error::SchemaTooNew`] or [`Error::ForeignTable`] when its schema is
    /// not one this durable can use.
    pub(crate) async fn open(
        location: &SqliteLocation,
        durability: Durability,
    ) -> Result<Self, Error> {
        Self::open_as(location, durability, false).await
    }

    /// [`open`](Self::open) for a client: a file another engine holds is
    /// opened read-only instead of refused with [`Error::DatabaseInUse`],
    /// and every write then fails with [`Error::ReadOnly`].
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), and [`Error::Config`] when the engine that
    /// holds the file is of an older durable whose schema lacks tables this
    /// one reads.
    pub(crate) async fn open_client(
        location: &SqliteLocation,
        durability: Durability,
    ) -> Result<Self, Error> {
        Self::open_as(location, durability, true).await
    }

    async fn open_as(
        location: &SqliteLocation,
        durability: Durability,
        client: bool,
    ) -> Result<Self, Error> {
        let (readers, connection, lock_file, checkpointer) = match location {
            SqliteLocation::File(path) => {
                let lock_file = match lock_database(path) {
                    Ok(lock_file) => lock_file,
                    Err(Error::DatabaseInUse { .. }) if client => {
                        return Self::open_read_only(path);
                    }
                    Err(error) => return Err(error),
                };
                // Connections open the file the lock is on, whatever the
                // working directory becomes later.
                let canonical = lock_file.canonical.clone();
                let mut writer =
                    open_connection(&canonical, durability).map_err(in_file(path, "open"))?;
                writer
                    .pragma_update(None, "journal_mode", "WAL")
                    .map_err(|error| in_file(path, "open")(error.into()))?;
                migrate(&mut writer).map_err(in_file(path, "migrate"))?;
                writer
                    .pragma_update(None, "wal_autocheckpoint", WRITER_BACKSTOP_PAGES)
                    .map_err(|error| in_file(path, "open")(error.into()))?;
                let writer = Arc::new(Mutex::new(writer));
                let checkpointer = Checkpointer::start(&canonical, writer.clone())
                    .map_err(in_file(path, "open"))?;
                let readers = Readers::File {
                    path: canonical,
                    idle: Mutex::new(Vec::new()),
                    read_only: false,
                };
                (readers, writer, Some(lock_file), Some(checkpointer))
            }
            SqliteLocation::Memory => {
                let mut connection = Connection::open_in_memory()?;
                configure(&connection, durability)?;
                migrate(&mut connection)?;
                let shared = Arc::new(Mutex::new(connection));
                (Readers::Shared(shared.clone()), shared, None, None)
            }
        };
        let writer = SqliteWriter {
            connection,
            blocking: durability == Durability::Full,
        };
        let changes = Arc::new(ChangeFeed::default());
        let feed = changes.clone();
        Ok(SqliteStore {
            readers,
            writer: GroupCommit::spawn(writer, MAX_BATCH, move |ops, results| {
                feed.observe(ops, results)
            }),
            changes,
            checkpointer: Mutex::new(checkpointer),
            file_lock: Mutex::new(lock_file),
            read_only: None,
        })
    }

    /// Opens a file another engine holds for reading only: no lock, no
    /// migration, no checkpointer, and a writer that refuses every write
    /// with [`Error::ReadOnly`].
    fn open_read_only(path: &std::path::Path) -> Result<Self, Error> {
        let canonical = std::fs::canonicalize(path).map_err(|error| Error::DatabaseFile {
            path: path.display().to_string(),
            action: "find the file of",
            source: Box::new(error),
        })?;
        let connection = open_read_only(&canonical).map_err(in_file(path, "open"))?;
        check_read_only_schema(&connection, &path.display().to_string())?;
        let reason = format!(
            "another durable engine holds the SQLite file {}, so this client only reads it; \
             send writes through that engine (or its console), or use PostgreSQL, which \
             many engines share",
            path.display()
        );
        Ok(SqliteStore {
            readers: Readers::File {
                path: canonical,
                idle: Mutex::new(vec![connection]),
                read_only: true,
            },
            // Nothing commits here, so the feed tells nothing: the
            // console of such a client reads runs again to follow them.
            writer: GroupCommit::spawn(ReadOnlyWriter(reason.clone()), MAX_BATCH, |_, _| {}),
            changes: Arc::new(ChangeFeed::default()),
            checkpointer: Mutex::new(None),
            file_lock: Mutex::new(None),
            read_only: Some(reason),
        })
    }

    async fn write(&self, op: WriteOp) -> Result<WriteOut, Error> {
        self.writer.submit(op).await
    }
}

impl RunStore for SqliteStore {
    super::ops::queued_run_writes!();

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn read_only(&self) -> Option<&str> {
        self.read_only.as_deref()
    }

    fn next_ready_at(&self, workflows: Served) -> BoxFuture<'_, Result<Option<i64>, Error>> {
        let result = self.readers.read(|connection| {
            connection
                .prepare_cached(claims::NEXT_READY_SQL)?
                .query_row(
                    params![
                        &*workflows.names,
                        &*workflows.versions,
                        &*workflows.limits,
                        &*workflows.queues
                    ],
                    |row| row.get(0),
                )
                .optional()
        });
        Box::pin(std::future::ready(result))
    }

    fn load_journal(&self, run_id: RunId) -> BoxFuture<'_, Result<Vec<StepRecord>, Error>> {
        let rows = self
            .readers
            .read(|connection| journal_rows(connection, run_id));
        let result = rows.and_then(|rows| rows.into_iter().map(step_record).collect());
        Box::pin(std::future::ready(result))
    }

    fn changes(&self) -> &ChangeFeed {
        &self.changes
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.writer.close().await;
            self.changes.close();
            drop(lock(&self.checkpointer).take());
            if let Readers::File { idle, .. } = &self.readers {
                lock(idle).clear();
            }
            drop(lock(&self.file_lock).take());
        })
    }
}

/// What an error of `action` on the database file at `path` reports: a
/// database error names the file and the action, any other stays as it is.
fn in_file<'a>(path: &'a std::path::Path, action: &'static str) -> impl Fn(Error) -> Error + 'a {
    move |error: Error| match error {
        Error::Database(source) => Error::DatabaseFile {
            path: path.display().to_string(),
            action,
            source,
        },
        other => other,
    }
}
