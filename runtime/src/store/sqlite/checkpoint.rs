//! The WAL checkpointer: a thread of its own that copies committed pages
//! from the write-ahead log into the database file, so that no commit
//! waits for a checkpoint's fsync.
//!
//! Left to SQLite, the commit that crosses `wal_autocheckpoint` pages runs
//! the checkpoint itself, on the writer's connection: with the default of
//! 1,000 pages that was one commit in about a hundred waiting some 15 ms
//! for the disk, which is what a run in flight then waited too. Passive
//! checkpoints here never block the writer (nor readers); the writer keeps
//! a much larger `wal_autocheckpoint` as a backstop, should this thread
//! fall behind.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::options::{Durability, open_connection};
use crate::model::error::Error;

/// How often the checkpointer looks for committed pages to copy.
const INTERVAL: Duration = Duration::from_millis(50);

/// The WAL size (in pages) at which the writer checkpoints by itself: only
/// when the checkpointer fell this far behind (about 40 MB of 4 KiB pages).
pub(super) const WRITER_BACKSTOP_PAGES: u32 = 10_000;

/// The checkpointer thread; stopped (and joined) when dropped.
pub(super) struct Checkpointer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path` (in WAL mode).
    pub(super) fn start(path: &Path) -> Result<Self, Error> {
        let connection = open_connection(path, Durability::Normal)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("durable-sqlite-checkpoint".into())
            .spawn(move || {
                while !stopped.load(Ordering::Acquire) {
                    // PASSIVE copies what no reader still needs, never waits
                    // for one, and syncs the file here, off the writer.
                    if let Err(error) =
                        connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
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

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}
