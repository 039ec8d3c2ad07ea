//! The WAL checkpointer: a thread of its own that copies committed pages
//! from the write-ahead log into the database file, so that no commit
//! waits for a checkpoint's fsync, and that starts the log over once it
//! has grown, so that commits keep writing into the same few megabytes.
//!
//! Left to SQLite, the commit that crosses `wal_autocheckpoint` pages runs
//! the checkpoint itself, on the writer's connection: with the default of
//! 1,000 pages that was one commit in about a hundred waiting some 15 ms
//! for the disk, which is what a run in flight then waited too. Passive
//! checkpoints here never block the writer (nor readers); the writer keeps
//! a much larger `wal_autocheckpoint` as a backstop, should this thread
//! fall behind.
//!
//! Passive checkpoints alone never let the log start over while commits
//! keep coming: SQLite rewinds the log only after a checkpoint that copied
//! every frame, and new frames arrive during each one. The log then grows
//! until the backstop, every commit appending to a longer file, which made
//! commits measurably slower. So once a passive checkpoint reports a long
//! log, a `RESTART` checkpoint follows while the writer is kept out (its
//! connection's lock is held): the writer waits only while the few frames
//! committed since the passive checkpoint are copied, and readers are
//! waited for at most [`RESTART_WAIT`], after which the restart gives up
//! until the next round rather than hold the writer back for a long read.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use super::options::{Durability, open_connection};
use crate::model::error::Error;
use crate::model::sync::lock;

/// How often the checkpointer looks for committed pages to copy.
const INTERVAL: Duration = Duration::from_millis(50);

/// The log length (in frames: about 4 MB of 4 KiB pages) from which the
/// checkpointer starts the log over.
const RESTART_FRAMES: i64 = 1_000;

/// How long a restart waits for readers to leave the log before it gives
/// up until the next round.
const RESTART_WAIT: Duration = Duration::from_millis(5);

/// The WAL size (in pages) at which the writer checkpoints by itself: only
/// when the checkpointer fell this far behind (about 40 MB of 4 KiB pages).
pub(super) const WRITER_BACKSTOP_PAGES: u32 = 10_000;

/// The checkpointer thread; stopped (and joined) when dropped.
pub(super) struct Checkpointer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path` (in WAL mode), whose
    /// writer uses `writer`.
    pub(super) fn start(path: &Path, writer: Arc<Mutex<Connection>>) -> Result<Self, Error> {
        let connection = open_connection(path, Durability::Normal)?;
        connection.busy_timeout(RESTART_WAIT)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("durable-sqlite-checkpoint".into())
            .spawn(move || {
                while !stopped.load(Ordering::Acquire) {
                    if let Err(error) = checkpoint(&connection, &writer) {
                        tracing::warn!(%error, "the WAL checkpoint failed; the writer's backstop remains");
                    }
                    std::thread::park_timeout(INTERVAL);
                }
            })
            .map_err(|error| Error::Database(Box::new(error)))?;
        Ok(Checkpointer {
            stop,
            thread: Some(thread),
        })
    }
}

/// One round: a passive checkpoint, then a restart of the log when it is
/// long.
fn checkpoint(connection: &Connection, writer: &Mutex<Connection>) -> rusqlite::Result<()> {
    if passive(connection)? >= RESTART_FRAMES {
        restart(connection, writer)?;
    }
    Ok(())
}

/// A passive checkpoint: copies what no reader still needs, never waits for
/// one, and syncs the file here, off the writer. Returns the log's length
/// in frames.
fn passive(connection: &Connection) -> rusqlite::Result<i64> {
    connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
}

/// Copies what the log still holds and lets the writer's next commit start
/// the log over, keeping the writer out meanwhile: between two of its
/// transactions it holds no snapshot of the log, which the restart would
/// otherwise wait for. A restart that readers kept busy is not an error:
/// the next round tries again.
fn restart(connection: &Connection, writer: &Mutex<Connection>) -> rusqlite::Result<()> {
    let _writer_kept_out = lock(writer);
    connection.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// While commits keep coming, a passive checkpoint never copies the
    /// whole log, so the log only grows; a restart rewinds it, and the
    /// writer goes on at its start.
    #[test]
    fn a_restart_rewinds_the_log_while_commits_keep_coming() {
        let dir = std::env::temp_dir().join(format!(
            "durable-wal-restart-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.db");
        let writer = open_connection(&path, Durability::Normal).unwrap();
        writer.pragma_update(None, "journal_mode", "WAL").unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer
            .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, pad TEXT)")
            .unwrap();
        let writer = Arc::new(Mutex::new(writer));
        let stop = Arc::new(AtomicBool::new(false));
        let committing = {
            let (writer, stop) = (writer.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    lock(&writer)
                        .execute("INSERT INTO t (pad) VALUES (?1)", ["x".repeat(100)])
                        .unwrap();
                }
            })
        };
        // Nothing checkpoints until the log is three restart lengths long.
        let log_file = dir.join("log.db-wal");
        let long = u64::try_from(3 * RESTART_FRAMES * 4096).unwrap();
        while std::fs::metadata(&log_file).map_or(0, |meta| meta.len()) < long {
            std::thread::sleep(Duration::from_millis(5));
        }
        let checkpointer = open_connection(&path, Durability::Normal).unwrap();
        let grown = passive(&checkpointer).unwrap();
        restart(&checkpointer, &writer).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let rewound = passive(&checkpointer).unwrap();
        stop.store(true, Ordering::Release);
        committing.join().unwrap();
        drop((writer, checkpointer));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            rewound < grown,
            "the log held {grown} frames before the restart and {rewound} after"
        );
    }
}
