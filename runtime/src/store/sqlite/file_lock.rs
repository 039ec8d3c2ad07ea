//! The engine's lock on its database file: the file, not the path it is
//! named by, so two engines never share a live database.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::model::error::Error;
use crate::model::sync::lock;

/// The engine's hold on its database file; dropping it lets the file go.
pub(super) struct FileLock {
    /// The database file's canonical path: connections open this.
    pub(super) canonical: PathBuf,
    /// The locked handle (on Unix, of the database file itself).
    file: Option<std::fs::File>,
    /// The file's device and inode, registered in [`HELD`].
    #[cfg(unix)]
    key: (u64, u64),
}

/// The database files (device, inode) an engine of this process holds.
///
/// Checked before this process opens a handle of its own on a database
/// file: closing any handle on a file drops every POSIX lock the process
/// holds on it, SQLite's own included, so a second engine of the process
/// must be refused before it opens the file, not after.
#[cfg(unix)]
static HELD: Mutex<Vec<(u64, u64)>> = Mutex::new(Vec::new());

impl Drop for FileLock {
    fn drop(&mut self) {
        // Both under the registry's lock: no one in this process may see the
        // key free while the file is still locked (a successor's lock would
        // be refused by ours), nor the key held once the file is closed (a
        // new database created on the freed inode would be refused).
        #[cfg(unix)]
        let mut held = lock(&HELD);
        drop(self.file.take());
        #[cfg(unix)]
        held.retain(|key| *key != self.key);
    }
}

/// Locks the database file at `path` (created if missing) for one engine.
///
/// The lock is keyed by the file, not by the path it is named by: a symlink,
/// a relative path, `dir/../db` or a hard link reach the same lock.
///
/// - On Unix the database file itself is locked with `flock` (what
///   `File::try_lock` uses), on a read-only handle kept for the engine's
///   life. SQLite locks byte ranges of the file with POSIX `fcntl` locks,
///   which are independent of `flock` locks on local file systems, so the
///   two never conflict. A hard link has another path but the same inode,
///   so it meets the same `flock`; a lock file named after the path would
///   miss it. Within the process, [`HELD`] refuses a second engine before
///   it opens a handle (see there why).
/// - Elsewhere (Windows locks are mandatory: locking the database file would
///   block SQLite's own reads), a `<file>.lock` side file beside the
///   file's canonical path is locked: symlinks and relative paths meet the
///   same lock, hard links do not.
pub(super) fn lock_database(path: &Path) -> Result<FileLock, Error> {
    let file_error = |action, error: std::io::Error| Error::DatabaseFile {
        path: path.display().to_string(),
        action,
        source: Box::new(error),
    };
    if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" {
        return Err(Error::Config(format!(
            "the SQLite database path {path:?} names no file: name a file, or use an in-memory database (sqlite_memory)"
        )));
    }
    // The file must exist to have an identity to lock. A new file is created
    // without touching an existing one (no handle is opened on it), and
    // SQLite takes an empty file as an empty database.
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(file_error("create", error)),
    }
    let canonical =
        std::fs::canonicalize(path).map_err(|error| file_error("find the file of", error))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::metadata(&canonical).map_err(|error| file_error("read", error))?;
        if !metadata.is_file() {
            return Err(file_error(
                "open",
                std::io::Error::other("it is not a regular file"),
            ));
        }
        let key = (metadata.dev(), metadata.ino());
        let in_use = || Error::DatabaseInUse {
            path: path.display().to_string(),
            lock_path: canonical.display().to_string(),
        };
        {
            let mut held = lock(&HELD);
            if held.contains(&key) {
                return Err(in_use());
            }
            held.push(key);
        }
        // From here the key is registered: dropping `hold` gives it back.
        let mut hold = FileLock {
            canonical: canonical.clone(),
            file: None,
            key,
        };
        let file = std::fs::File::open(&canonical).map_err(|error| file_error("open", error))?;
        match file.try_lock() {
            Ok(()) => {
                hold.file = Some(file);
                Ok(hold)
            }
            Err(std::fs::TryLockError::WouldBlock) => Err(in_use()),
            Err(std::fs::TryLockError::Error(error)) => Err(file_error("lock", error)),
        }
    }
    #[cfg(not(unix))]
    {
        let mut lock_path = canonical.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|error| file_error("create the lock file of", error))?;
        match file.try_lock() {
            Ok(()) => Ok(FileLock {
                canonical,
                file: Some(file),
            }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::DatabaseInUse {
                path: path.display().to_string(),
                lock_path: lock_path.display().to_string(),
            }),
            Err(std::fs::TryLockError::Error(error)) => {
                Err(file_error("lock the lock file of", error))
            }
        }
    }
}
