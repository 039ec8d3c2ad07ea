//! The connection settings of the SQLite backend: its durability, where the
//! database lives, and the pragmas every connection gets.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

use crate::model::error::Error;

/// What SQLite's commit guarantees (`PRAGMA synchronous`).
///
/// Under both settings a crash of the process loses nothing that was
/// committed. They differ on a power loss or an OS crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=NORMAL` in WAL mode (the default): commits are not synced
    /// to disk one by one. A power loss or OS crash can lose the last
    /// commits before a checkpoint; those steps run again on restart (their
    /// bodies are at-least-once), and the database stays consistent.
    #[default]
    Normal,
    /// `synchronous=FULL`: every commit is synced to disk before it returns;
    /// a power loss loses nothing committed. Each group commit costs an fsync.
    Full,
}

/// Read connections kept open for a database file.
pub(super) const READERS: usize = 4;

/// Where the SQLite database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SqliteLocation {
    /// A database file, created if missing.
    File(PathBuf),
    /// An in-memory database, gone when the engine stops.
    Memory,
}

pub(super) fn open_connection(path: &Path, durability: Durability) -> Result<Connection, Error> {
    let connection = Connection::open(path)?;
    configure(&connection, durability)?;
    Ok(connection)
}

/// A connection that only reads a file another engine writes: SQLite
/// refuses any write on it, whatever the caller tries.
pub(super) fn open_read_only(path: &Path) -> Result<Connection, Error> {
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(Duration::from_secs(10))?;
    connection.set_prepared_statement_cache_capacity(64);
    Ok(connection)
}

pub(super) fn configure(connection: &Connection, durability: Durability) -> Result<(), Error> {
    let synchronous = match durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    connection.pragma_update(None, "synchronous", synchronous)?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    connection.busy_timeout(Duration::from_secs(10))?;
    // Room for every statement the writer runs: its fixed ones and each
    // shape of its multi-row statements (see `writer::statement_chunks`).
    connection.set_prepared_statement_cache_capacity(128);
    Ok(())
}
