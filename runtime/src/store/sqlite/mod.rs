//! The SQLite backend: the embedded default, a file or an in-memory database
//! owned by one engine.
//!
//! Every write goes through one writer connection that commits the queued
//! writes of all runs together (group commit, see `store/batch.rs`), merging
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
//! open a second engine on a live database.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params, params_from_iter};

use super::ops::{WriteOp, WriteOut, finish_results};
use super::rows::{
    EndedRun, RunRow, StepRow, WaitColumns, cancelled_runs, decode_error, outcome_columns,
    parse_run_id, parse_run_status, run_info, step_record, unexpected,
};
use super::writer::{BatchApply, BatchResults, GroupCommit};
use super::{
    ClaimAtCreate, ClaimRequest, ClaimedRun, CreateOutcome, DeleteFinished, FinishEffects, Lease,
    LogLine, MaintenanceStore, NewEvent, NewRun, ReadStore, RunOutcome, RunStore, SentEvent,
    StepRecord, TransitionOutcome, Wait, WaitStore, event_output_json, run_outcome_json,
};
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::info::RunInfo;
use crate::model::status::{RunStatus, StepStatus};
use crate::model::sync::BoxFuture;
use crate::model::sync::lock;

/// The schema migrations, applied in order, each once (`wf_migration`).
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

const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("schema.sql"))];

/// The most writes one group commit applies in one transaction.
const MAX_BATCH: usize = 1024;

/// Rows per multi-row statement, well under SQLite's 32,766 parameters.
const ROWS_PER_STATEMENT: usize = 256;

/// Read connections kept open for a database file.
const READERS: usize = 4;

/// Where the SQLite database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SqliteLocation {
    /// A database file, created if missing.
    File(PathBuf),
    /// An in-memory database, gone when the engine stops.
    Memory,
}

/// The SQLite store.
pub(crate) struct SqliteStore {
    readers: Readers,
    writer: GroupCommit<WriteOp, WriteOut>,
    /// The lock on the database file, held until `close` (the OS releases
    /// it when the process ends, however it ends).
    file_lock: Mutex<Option<FileLock>>,
}

/// Connections for reads.
enum Readers {
    /// Opened on demand, kept for reuse.
    File {
        path: PathBuf,
        idle: Mutex<Vec<Connection>>,
    },
    /// The in-memory database's one connection, shared with the writer.
    Shared(Arc<Mutex<Connection>>),
}

impl Readers {
    fn read<T>(&self, query: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, Error> {
        match self {
            Readers::Shared(connection) => Ok(query(&lock(connection))?),
            Readers::File { path, idle } => {
                let connection = lock(idle).pop();
                let connection = match connection {
                    Some(connection) => connection,
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
        let (readers, connection, lock_file) = match location {
            SqliteLocation::File(path) => {
                let lock_file = lock_database(path)?;
                // Connections open the file the lock is on, whatever the
                // working directory becomes later.
                let canonical = lock_file.canonical.clone();
                let in_file = |action| {
                    move |error: Error| match error {
                        Error::Database(source) => Error::DatabaseFile {
                            path: path.display().to_string(),
                            action,
                            source,
                        },
                        other => other,
                    }
                };
                let mut writer =
                    open_connection(&canonical, durability).map_err(in_file("open"))?;
                writer
                    .pragma_update(None, "journal_mode", "WAL")
                    .map_err(|error| in_file("open")(error.into()))?;
                migrate(&mut writer).map_err(in_file("migrate"))?;
                let readers = Readers::File {
                    path: canonical,
                    idle: Mutex::new(Vec::new()),
                };
                (readers, WriterConnection::Owned(writer), Some(lock_file))
            }
            SqliteLocation::Memory => {
                let mut connection = Connection::open_in_memory()?;
                configure(&connection, durability)?;
                migrate(&mut connection)?;
                let shared = Arc::new(Mutex::new(connection));
                (
                    Readers::Shared(shared.clone()),
                    WriterConnection::Shared(shared),
                    None,
                )
            }
        };
        let writer = SqliteWriter {
            connection,
            blocking: durability == Durability::Full,
        };
        Ok(SqliteStore {
            readers,
            writer: GroupCommit::spawn(writer, MAX_BATCH),
            file_lock: Mutex::new(lock_file),
        })
    }

    async fn write(&self, op: WriteOp) -> Result<WriteOut, Error> {
        self.writer.submit(op).await
    }
}

fn open_connection(path: &Path, durability: Durability) -> Result<Connection, Error> {
    let connection = Connection::open(path)?;
    configure(&connection, durability)?;
    Ok(connection)
}

fn configure(connection: &Connection, durability: Durability) -> Result<(), Error> {
    let synchronous = match durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    connection.pragma_update(None, "synchronous", synchronous)?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    connection.busy_timeout(Duration::from_secs(10))?;
    connection.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// The engine's hold on its database file; dropping it lets the file go.
struct FileLock {
    /// The database file's canonical path: connections open this.
    canonical: PathBuf,
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
        // The handle closes before the file is given back, so a successor in
        // this process never sees its own lock refused by ours.
        drop(self.file.take());
        #[cfg(unix)]
        lock(&HELD).retain(|key| *key != self.key);
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
fn lock_database(path: &Path) -> Result<FileLock, Error> {
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

fn migrate(connection: &mut Connection) -> Result<(), Error> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "CREATE TABLE IF NOT EXISTS wf_migration (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
        [],
    )?;
    let current: i64 = match tx.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM wf_migration",
        [],
        |row| row.get(0),
    ) {
        Ok(current) => current,
        Err(error) => return Err(foreign_table(&tx)?.unwrap_or_else(|| error.into())),
    };
    super::refuse_newer_schema(current, MIGRATIONS)?;
    for (version, sql) in MIGRATIONS.iter().filter(|(version, _)| *version > current) {
        if let Err(error) = tx.execute_batch(sql) {
            // The script's error quotes the whole script; a table of the same
            // name made by someone else is the likely cause, so name it.
            return Err(foreign_table(&tx)?.unwrap_or_else(|| error.into()));
        }
        tx.execute(
            "INSERT INTO wf_migration (version, applied_at) VALUES (?1, ?2)",
            params![version, crate::model::sync::system_now_ms()],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// A durable table in `connection` that lacks columns durable's schema
/// gives it (one created by someone else), if there is one: the tables and
/// columns a fresh database gets from [`MIGRATIONS`] are the reference.
fn foreign_table(connection: &Connection) -> Result<Option<Error>, Error> {
    let mut reference = Connection::open_in_memory()?;
    migrate(&mut reference)?;
    let columns_of = |connection: &Connection, table: &str| -> rusqlite::Result<Vec<String>> {
        connection
            .prepare("SELECT name FROM pragma_table_info(?1)")?
            .query_map([table], |row| row.get(0))?
            .collect()
    };
    let tables: Vec<String> = reference
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for table in tables {
        let found = columns_of(connection, &table)?;
        if found.is_empty() {
            continue;
        }
        let expected = columns_of(&reference, &table)?;
        let missing: Vec<&str> = expected
            .iter()
            .filter(|column| !found.contains(column))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Ok(Some(Error::foreign_table(&table, &missing)));
        }
    }
    Ok(None)
}

enum WriterConnection {
    Owned(Connection),
    Shared(Arc<Mutex<Connection>>),
}

struct SqliteWriter {
    connection: WriterConnection,
    /// Commits wait for an fsync: tell tokio this task blocks.
    blocking: bool,
}

type Results = BatchResults<WriteOut>;

impl BatchApply for SqliteWriter {
    type Op = WriteOp;
    type Out = WriteOut;

    fn apply<'a>(&'a mut self, ops: &'a [WriteOp]) -> BoxFuture<'a, Result<Results, Error>> {
        let blocking = self.blocking
            && tokio::runtime::Handle::current().runtime_flavor()
                == tokio::runtime::RuntimeFlavor::MultiThread;
        let result = if blocking {
            tokio::task::block_in_place(|| self.apply_now(ops))
        } else {
            self.apply_now(ops)
        };
        Box::pin(std::future::ready(result))
    }
}

impl SqliteWriter {
    fn apply_now(&mut self, ops: &[WriteOp]) -> Result<Results, Error> {
        match &mut self.connection {
            WriterConnection::Owned(connection) => apply_in_transaction(connection, ops),
            WriterConnection::Shared(shared) => apply_in_transaction(&mut lock(shared), ops),
        }
    }
}

fn apply_in_transaction(connection: &mut Connection, ops: &[WriteOp]) -> Result<Results, Error> {
    if let [op] = ops
        && op.is_single_write()
    {
        // One write alone: SQLite's implicit transaction around the statement
        // is enough.
        return Ok(vec![apply_op(connection, op)?]);
    }
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let results = apply_batch(&tx, ops)?;
    tx.commit()?;
    Ok(results)
}

fn apply_batch(connection: &Connection, ops: &[WriteOp]) -> Result<Results, Error> {
    let mut results: Vec<Option<Result<WriteOut, Error>>> = ops.iter().map(|_| None).collect();
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&index| ops[index].phase());
    for group in order.chunk_by(|&a, &b| ops[a].phase() == ops[b].phase()) {
        for chunk in group.chunks(ROWS_PER_STATEMENT) {
            match &ops[chunk[0]] {
                WriteOp::Create(_) => create_runs(connection, ops, chunk, &mut results)?,
                WriteOp::SaveStep(..) if chunk.len() > 1 => {
                    save_steps(connection, ops, chunk, &mut results)?
                }
                WriteOp::Finish { .. } => {
                    finish_runs(connection, ops, chunk, &mut results)?;
                }
                _ => {
                    for &index in chunk {
                        results[index] = Some(apply_op(connection, &ops[index])?);
                    }
                }
            }
        }
    }
    Ok(results
        .into_iter()
        .map(|result| result.unwrap_or_else(|| Err(unexpected())))
        .collect())
}

/// Applies one write. The outer error fails the transaction; the inner one
/// refuses this write alone.
fn apply_op(connection: &Connection, op: &WriteOp) -> Result<Result<WriteOut, Error>, Error> {
    Ok(match op {
        WriteOp::Recover { now } => {
            // Runs the last engine left `running` are due since before any
            // other (`ready_at` 0): claims take the earliest first, so they
            // go ahead of the backlog instead of waiting behind every run
            // that fell due before the restart, as a dead worker's runs do
            // on PostgreSQL.
            let count = connection
                .prepare_cached(
                    "UPDATE wf_instance SET status = 'pending', ready_at = 0, updated_at = ?1, \
                     lease_token = lease_token + 1, lease_owner = NULL WHERE status = 'running'",
                )?
                .execute(params![now])?;
            Ok(WriteOut::Count(count as u64))
        }
        WriteOp::Create(_) => {
            // Creates go through the multi-row path, also one alone.
            let mut results = [None];
            create_runs(connection, std::slice::from_ref(op), &[0], &mut results)?;
            let [result] = results;
            result.unwrap_or_else(|| Err(unexpected()))
        }
        WriteOp::Claim(request) => Ok(WriteOut::Claimed(claim(connection, request)?)),
        WriteOp::SaveStep(lease, step) => {
            let written = connection
                .prepare_cached(
                    "INSERT INTO wf_step (instance_id, name, seq, kind, status, input, output, \
                       error, attempts, wake_at, created_at, updated_at) \
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11 \
                     WHERE EXISTS (SELECT 1 FROM wf_instance WHERE id = ?1 AND lease_token = ?12 \
                       AND status = 'running') \
                     ON CONFLICT (instance_id, name) DO UPDATE SET status = excluded.status, \
                       input = COALESCE(excluded.input, wf_step.input), output = excluded.output, \
                       error = excluded.error, attempts = excluded.attempts, \
                       wake_at = excluded.wake_at, updated_at = excluded.updated_at \
                     WHERE wf_step.status <> 'completed'",
                )?
                .execute(params![
                    lease.run_id.to_string(),
                    step.name,
                    step.seq,
                    step.kind.as_str(),
                    step.status.as_str(),
                    step.input,
                    step.output,
                    step.error,
                    step.attempts,
                    step.wake_at,
                    step.updated_at,
                    lease.token,
                ])?;
            step_saved(connection, written == 1, lease, step)?
        }
        WriteOp::Suspend {
            lease,
            ready_at,
            steps,
            now,
        } => {
            for step in steps {
                if let Err(error) = apply_op(connection, &WriteOp::SaveStep(*lease, step.clone()))?
                {
                    return Ok(Err(error));
                }
            }
            fenced(
                connection
                    .prepare_cached(
                        "UPDATE wf_instance SET status = 'suspended', \
                     ready_at = CASE WHEN ready_at IS NOT NULL AND (?1 IS NULL OR ready_at < ?1) \
                       THEN ready_at ELSE ?1 END, \
                     updated_at = ?2, lease_owner = NULL \
                     WHERE id = ?3 AND lease_token = ?4 AND status = 'running'",
                    )?
                    .execute(params![
                        ready_at,
                        now,
                        lease.run_id.to_string(),
                        lease.token
                    ])?,
                lease,
            )
        }
        WriteOp::Release { lease, now } => fenced(
            connection
                .prepare_cached(
                    "UPDATE wf_instance SET status = 'pending', ready_at = ?1, updated_at = ?1, \
                     lease_owner = NULL WHERE id = ?2 AND lease_token = ?3 AND status = 'running'",
                )?
                .execute(params![now, lease.run_id.to_string(), lease.token])?,
            lease,
        ),
        WriteOp::Finish { .. } => {
            // Finishes go through the multi-row path, also one alone.
            let mut results = [None];
            finish_runs(connection, std::slice::from_ref(op), &[0], &mut results)?;
            let [result] = results;
            result.unwrap_or_else(|| Err(unexpected()))
        }
        WriteOp::Cancel { run_id, now } => {
            let cancelled = cancel_tree(connection, *run_id, true, *now)?;
            let outcome = if cancelled.contains(run_id) {
                TransitionOutcome::Done
            } else {
                transition(connection, *run_id, 0)?
            };
            Ok(WriteOut::Transition(outcome, cancelled))
        }
        WriteOp::RegisterWait { lease, step, wait } => {
            if !holds_lease(connection, lease)? {
                return Ok(Err(Error::LeaseLost {
                    run_id: lease.run_id,
                }));
            }
            register_wait(connection, lease, step, wait)?.map(WriteOut::Waited)
        }
        WriteOp::ResolveWait { lease, step, now } => {
            if !holds_lease(connection, lease)? {
                return Ok(Err(Error::LeaseLost {
                    run_id: lease.run_id,
                }));
            }
            let run_id = lease.run_id.to_string();
            connection
                .prepare_cached(
                    "UPDATE wf_step SET status = 'completed', output = 'null', updated_at = ?1 \
                     WHERE instance_id = ?2 AND name = ?3 AND status = 'waiting'",
                )?
                .execute(params![now, run_id, step])?;
            let output: Option<String> = connection
                .prepare_cached("SELECT output FROM wf_step WHERE instance_id = ?1 AND name = ?2")?
                .query_row(params![run_id, step], |row| row.get(0))
                .optional()?
                .flatten();
            Ok(WriteOut::Resolved(output.unwrap_or_else(|| "null".into())))
        }
        WriteOp::SendEvent { event, origin } => {
            if let Some((lease, _)) = origin
                && !holds_lease(connection, lease)?
            {
                return Ok(Err(Error::LeaseLost {
                    run_id: lease.run_id,
                }));
            }
            let sent = send_event(connection, event)?;
            if let Some((lease, step)) = origin {
                let step = StepRecord {
                    output: Some(sent.id.to_string()),
                    ..step.clone()
                };
                upsert_step(connection, lease.run_id, &step, &WaitColumns::default())?;
            }
            Ok(WriteOut::Sent(sent))
        }
        WriteOp::DeleteFinished(request) => {
            let statuses = serde_json::to_string(request.statuses).unwrap_or_default();
            let deleted = connection
                .prepare_cached(
                    "DELETE FROM wf_instance WHERE id IN (SELECT id FROM wf_instance \
                       WHERE status IN (SELECT value FROM json_each(?1)) AND finished_at < ?2 \
                       AND (?3 IS NULL OR workflow = ?3) \
                       AND workflow NOT IN (SELECT value FROM json_each(?4)) LIMIT ?5)",
                )?
                .execute(params![
                    statuses,
                    request.finished_before,
                    request.workflow,
                    request.except,
                    i64::try_from(request.limit).unwrap_or(i64::MAX)
                ])?;
            Ok(WriteOut::Count(deleted as u64))
        }
        WriteOp::TimeOutOverdue { now, limit } => {
            let limit = i64::try_from(*limit).unwrap_or(i64::MAX);
            // An overdue child of an unfinished overdue parent is cancelled,
            // as its parent's timeout would cancel it (see
            // `FinishEffects::recorded`); the others time out.
            let children: Vec<String> = connection
                .prepare_cached(
                    "SELECT c.id FROM wf_instance AS c JOIN wf_instance AS p ON p.id = c.parent_id \
                     WHERE c.status IN ('pending', 'suspended') AND c.deadline_at <= ?1 \
                     AND p.status IN ('pending', 'running', 'suspended') AND p.deadline_at <= ?1 \
                     LIMIT ?2",
                )?
                .query_map(params![now, limit], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            let mut ended = Vec::new();
            for id in children {
                ended.extend(cancel_tree(connection, parse_run_id(&id)?, true, *now)?);
            }
            let ids: Vec<String> = connection
                .prepare_cached(
                    "UPDATE wf_instance SET status = 'timed_out', error = 'workflow timeout', \
                     finished_at = ?1, updated_at = ?1, ready_at = NULL, \
                     lease_token = lease_token + 1, lease_owner = NULL \
                     WHERE id IN (SELECT id FROM wf_instance WHERE status IN ('pending', 'suspended') \
                       AND deadline_at IS NOT NULL AND deadline_at <= ?1 LIMIT ?2) \
                     RETURNING id",
                )?
                .query_map(params![now, limit], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            for id in ids {
                let run_id = parse_run_id(&id)?;
                ended.push(run_id);
                let (cancelled, _) =
                    after_finish(connection, &[(run_id, &RunOutcome::TimedOut)], *now)?;
                ended.extend(cancelled);
            }
            Ok(WriteOut::Ended(ended))
        }
        WriteOp::DeleteEvents { before, limit } => {
            let deleted = connection
                .prepare_cached(
                    "DELETE FROM wf_event WHERE id IN (SELECT id FROM wf_event \
                       WHERE created_at < ?1 LIMIT ?2)",
                )?
                .execute(params![before, i64::try_from(*limit).unwrap_or(i64::MAX)])?;
            Ok(WriteOut::Count(deleted as u64))
        }
        // One engine owns the file: its leases never expire.
        WriteOp::RenewLeases { .. } => Ok(WriteOut::Lost(Vec::new())),
        WriteOp::AppendLog(lease, line) => {
            if !holds_lease(connection, lease)? {
                return Ok(Err(Error::LeaseLost {
                    run_id: lease.run_id,
                }));
            }
            connection
                .prepare_cached(
                    "INSERT INTO wf_log (instance_id, level, message, fields, key, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (instance_id, key) DO NOTHING",
                )?
                .execute(params![
                    lease.run_id.to_string(),
                    line.level.as_str(),
                    line.message,
                    line.fields,
                    line.key,
                    line.created_at
                ])?;
            Ok(WriteOut::Done)
        }
        WriteOp::StartChild {
            lease,
            step,
            child,
            wait,
        } => {
            if !holds_lease(connection, lease)? {
                return Ok(Err(Error::LeaseLost {
                    run_id: lease.run_id,
                }));
            }
            connection
                .prepare_cached(
                    "INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at, \
                       ready_at, deadline_at, parent_id) \
                     VALUES (?1, ?2, 'pending', ?3, ?4, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    child.id.to_string(),
                    child.workflow,
                    child.input,
                    child.now,
                    child.ready_at,
                    child.deadline_at,
                    lease.run_id.to_string()
                ])?;
            if *wait {
                let columns = WaitColumns::of(&Wait::Run { run_id: child.id });
                upsert_step(connection, lease.run_id, step, &columns)?;
            } else {
                let step = StepRecord {
                    output: Some(format!("\"{}\"", child.id)),
                    ..step.clone()
                };
                upsert_step(connection, lease.run_id, &step, &WaitColumns::default())?;
            }
            Ok(WriteOut::Done)
        }
        WriteOp::Retry {
            run_id,
            now,
            deadline_at,
        } => {
            let changed = connection
                .prepare_cached(
                    "UPDATE wf_instance SET status = 'pending', ready_at = ?1, updated_at = ?1, \
                     deadline_at = ?2, output = NULL, error = NULL, finished_at = NULL \
                     WHERE id = ?3 AND status IN ('failed', 'timed_out')",
                )?
                .execute(params![now, deadline_at, run_id.to_string()])?;
            if changed == 1 {
                connection
                    .prepare_cached(RETRY_DELETE_SQL)?
                    .execute(params![run_id.to_string()])?;
            }
            Ok(WriteOut::Transition(
                transition(connection, *run_id, changed)?,
                Vec::new(),
            ))
        }
    })
}

/// The step records a retry of run `?1` discards: unfinished and failed
/// steps, the records of the failure's unwinding (`compensate/...` and
/// `on-failure/...`), and every step whose compensation completed, so that
/// an undone step runs again instead of being replayed as done.
const RETRY_DELETE_SQL: &str = "\
    DELETE FROM wf_step WHERE instance_id = ?1 AND (\
      status IN ('pending', 'running', 'failed') \
      OR substr(name, 1, 11) IN ('compensate/', 'on-failure/') \
      OR 'compensate/' || name IN (SELECT name FROM wf_step \
        WHERE instance_id = ?1 AND status = 'completed' \
        AND substr(name, 1, 11) = 'compensate/'))";

/// Takes up to `?3` due runs of the workflows in `?4` (a JSON array), the
/// earliest first. Due runs are read through the ready index, in its order:
/// left to itself, the planner picks the index of workflow and status for
/// the workflow filter, then reads and sorts every waiting run of those
/// workflows, however few are due (with 10,000 runs asleep, a claim took 5
/// times longer).
const CLAIM_SQL: &str = "\
    UPDATE wf_instance SET status = 'running', lease_token = lease_token + 1, \
    lease_owner = ?1, executions = executions + 1, \
    started_at = COALESCE(started_at, ?2), updated_at = ?2, ready_at = NULL \
    WHERE id IN (SELECT id FROM wf_instance INDEXED BY wf_instance_ready \
      WHERE status IN ('pending', 'suspended') AND ready_at <= ?2 \
      AND workflow IN (SELECT value FROM json_each(?4)) \
      ORDER BY ready_at LIMIT ?3) \
    RETURNING id, workflow, input, lease_token, deadline_at, executions";

/// The earliest wake time of the waiting runs of the workflows in `?1`,
/// read through the ready index as [`CLAIM_SQL`] is (without it, every
/// dispatcher round read and sorted every waiting run: 0.01 ms against
/// 2.8 ms with 10,000 runs asleep).
const NEXT_READY_SQL: &str = "\
    SELECT ready_at FROM wf_instance INDEXED BY wf_instance_ready \
    WHERE status IN ('pending', 'suspended') AND ready_at IS NOT NULL \
    AND workflow IN (SELECT value FROM json_each(?1)) \
    ORDER BY ready_at LIMIT 1";

fn claim(connection: &Connection, request: &ClaimRequest) -> Result<Vec<ClaimedRun>, Error> {
    let mut statement = connection.prepare_cached(CLAIM_SQL)?;
    let limit = i64::try_from(request.limit).unwrap_or(i64::MAX);
    let rows = statement.query_map(
        params![request.owner, request.now, limit, &*request.workflows],
        |row| {
            Ok((
                row.get::<_, String>(0)?,
                ClaimedRun {
                    lease: Lease {
                        run_id: RunId(uuid::Uuid::nil()),
                        token: row.get(3)?,
                    },
                    workflow: row.get(1)?,
                    input: row.get(2)?,
                    deadline_at: row.get(4)?,
                    executions: row.get(5)?,
                    journal: None,
                },
            ))
        },
    )?;
    let mut claimed = Vec::new();
    for row in rows {
        let (id, mut run) = row?;
        run.lease.run_id = parse_run_id(&id)?;
        claimed.push(run);
    }
    // The journals are read here, on the writer's connection, whose page
    // cache the writes keep warm: read by the executor on a reader, each
    // found its cache stale after every commit and contended with the
    // writer (it cost a quarter of the process's time in the bench's W3).
    for run in &mut claimed {
        run.journal = Some(if run.executions > 1 {
            journal_rows(connection, run.lease.run_id)?
                .into_iter()
                .map(step_record)
                .collect::<Result<_, _>>()?
        } else {
            Vec::new()
        });
    }
    Ok(claimed)
}

/// A run's step rows, in the order the run reached them.
fn journal_rows(connection: &Connection, run_id: RunId) -> rusqlite::Result<Vec<StepRow>> {
    connection
        .prepare_cached(
            "SELECT name, seq, kind, status, input, output, error, attempts, wake_at, \
             updated_at FROM wf_step WHERE instance_id = ?1 ORDER BY created_at, seq",
        )?
        .query_map(params![run_id.to_string()], |row| StepRow::try_from(row))?
        .collect()
}

/// The run that holds `run`'s idempotency key.
fn existing_run(connection: &Connection, run: &NewRun) -> Result<CreateOutcome, Error> {
    let (id, input): (String, String) = connection
        .prepare_cached(
            "SELECT id, input FROM wf_instance WHERE workflow = ?1 AND idempotency_key = ?2",
        )?
        .query_row(params![run.workflow, run.idempotency_key], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    let existing = parse_run_id(&id)?;
    Ok(if input == run.input {
        CreateOutcome::Existing(existing)
    } else {
        CreateOutcome::Conflict(existing)
    })
}

/// `Create` writes as one multi-row insert (also a lone one).
fn create_runs(
    connection: &Connection,
    ops: &[WriteOp],
    chunk: &[usize],
    results: &mut [Option<Result<WriteOut, Error>>],
) -> Result<(), Error> {
    let runs: Vec<(usize, &NewRun)> = chunk
        .iter()
        .filter_map(|&index| match &ops[index] {
            WriteOp::Create(run) => Some((index, run)),
            _ => None,
        })
        .collect();
    let mut values = Vec::with_capacity(runs.len() * 8);
    for (_, run) in &runs {
        values.extend([
            Value::Text(run.id.to_string()),
            Value::Text(run.workflow.clone()),
            Value::Text(run.input.clone()),
            optional_text(&run.idempotency_key),
            Value::Integer(run.now),
            Value::Integer(run.ready_at),
            optional_integer(run.deadline_at),
            run.claimed_by
                .as_ref()
                .map_or(Value::Null, |claim| Value::Text(claim.owner.clone())),
        ]);
    }
    // A run claimed as it is created (column8 names its owner) starts
    // `running`, as a claim would leave it.
    let sql = format!(
        "INSERT INTO wf_instance (id, workflow, status, input, idempotency_key, created_at, \
           updated_at, ready_at, deadline_at, lease_owner, lease_token, executions, started_at) \
         SELECT column1, column2, CASE WHEN column8 IS NULL THEN 'pending' ELSE 'running' END, \
           column3, column4, column5, column5, CASE WHEN column8 IS NULL THEN column6 END, \
           column7, column8, CASE WHEN column8 IS NULL THEN 0 ELSE {token} END, \
           CASE WHEN column8 IS NULL THEN 0 ELSE 1 END, \
           CASE WHEN column8 IS NULL THEN NULL ELSE column5 END \
         FROM ({values}) WHERE true \
         ON CONFLICT (workflow, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
         RETURNING id",
        token = ClaimAtCreate::TOKEN,
        values = values_list(runs.len(), 8)
    );
    let inserted: HashSet<String> = connection
        .prepare_cached(&sql)?
        .query_map(params_from_iter(values), |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    for (index, run) in runs {
        results[index] = Some(Ok(WriteOut::Created(
            if inserted.contains(&run.id.to_string()) {
                CreateOutcome::Created(run.id)
            } else {
                existing_run(connection, run)?
            },
        )));
    }
    Ok(())
}

/// Several `SaveStep` writes as one multi-row, fenced upsert.
fn save_steps(
    connection: &Connection,
    ops: &[WriteOp],
    chunk: &[usize],
    results: &mut [Option<Result<WriteOut, Error>>],
) -> Result<(), Error> {
    let steps: Vec<(usize, &Lease, &StepRecord)> = chunk
        .iter()
        .filter_map(|&index| match &ops[index] {
            WriteOp::SaveStep(lease, step) => Some((index, lease, step)),
            _ => None,
        })
        .collect();
    let mut values = Vec::with_capacity(steps.len() * 13);
    for (order, (_, lease, step)) in steps.iter().enumerate() {
        values.extend([
            Value::Text(lease.run_id.to_string()),
            Value::Text(step.name.clone()),
            Value::Integer(step.seq),
            Value::Text(step.kind.as_str().into()),
            Value::Text(step.status.as_str().into()),
            optional_text(&step.input),
            optional_text(&step.output),
            optional_text(&step.error),
            Value::Integer(i64::from(step.attempts)),
            optional_integer(step.wake_at),
            Value::Integer(step.updated_at),
            Value::Integer(lease.token),
            Value::Integer(i64::try_from(order).unwrap_or(i64::MAX)),
        ]);
    }
    // ORDER BY keeps submission order for two writes of one step (a
    // `running` marker and the completion that follows it).
    let sql = format!(
        "INSERT INTO wf_step (instance_id, name, seq, kind, status, input, output, error, \
           attempts, wake_at, created_at, updated_at) \
         SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7, \
           v.column8, v.column9, v.column10, v.column11, v.column11 \
         FROM ({}) AS v JOIN wf_instance AS i ON i.id = v.column1 \
           AND i.lease_token = v.column12 AND i.status = 'running' \
         WHERE true ORDER BY v.column13 \
         ON CONFLICT (instance_id, name) DO UPDATE SET status = excluded.status, \
           input = COALESCE(excluded.input, wf_step.input), output = excluded.output, \
           error = excluded.error, attempts = excluded.attempts, \
           wake_at = excluded.wake_at, updated_at = excluded.updated_at \
         WHERE wf_step.status <> 'completed' \
         RETURNING instance_id, name",
        values_list(steps.len(), 13)
    );
    let written: HashSet<(String, String)> = connection
        .prepare_cached(&sql)?
        .query_map(params_from_iter(values), |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    for (index, lease, step) in steps {
        let key = (lease.run_id.to_string(), step.name.clone());
        results[index] = Some(step_saved(connection, written.contains(&key), lease, step)?);
    }
    Ok(())
}

/// Several `Finish` writes as one fenced multi-row update.
fn finish_runs(
    connection: &Connection,
    ops: &[WriteOp],
    chunk: &[usize],
    results: &mut [Option<Result<WriteOut, Error>>],
) -> Result<(), Error> {
    let chunk = &cancel_timed_out_children(connection, ops, chunk, results)?;
    if chunk.is_empty() {
        return Ok(());
    }
    let mut values = Vec::with_capacity(chunk.len() * 6);
    for &index in chunk {
        if let WriteOp::Finish {
            lease,
            outcome,
            steps,
            now,
        } = &ops[index]
        {
            // The finish answers for its steps: it is fenced by the same
            // lease, and a step already completed is kept as it is.
            for step in steps {
                let _saved = apply_op(connection, &WriteOp::SaveStep(*lease, step.clone()))?;
            }
            let (status, output, error) = outcome_columns(outcome);
            values.extend([
                Value::Text(lease.run_id.to_string()),
                Value::Text(status.as_str().into()),
                output.map_or(Value::Null, |text| Value::Text(text.into())),
                error.map_or(Value::Null, |text| Value::Text(text.into())),
                Value::Integer(*now),
                Value::Integer(lease.token),
            ]);
        }
    }
    let sql = format!(
        "UPDATE wf_instance SET status = v.column2, output = v.column3, error = v.column4, \
         finished_at = v.column5, updated_at = v.column5, ready_at = NULL, lease_owner = NULL \
         FROM ({}) AS v WHERE wf_instance.id = v.column1 AND wf_instance.lease_token = v.column6 \
         AND wf_instance.status = 'running' RETURNING wf_instance.id",
        values_list(values.len() / 6, 6)
    );
    let finished: HashSet<String> = connection
        .prepare_cached(&sql)?
        .query_map(params_from_iter(values), |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    // Settle the waiters of every run the chunk finished in one pass. The
    // runs it cancelled are reported with each finish: stopping a run
    // locally twice is harmless.
    let mut ended = Vec::with_capacity(chunk.len());
    let mut latest = 0;
    for &index in chunk {
        if let WriteOp::Finish {
            lease,
            outcome,
            now,
            ..
        } = &ops[index]
            && finished.contains(&lease.run_id.to_string())
        {
            ended.push((lease.run_id, outcome));
            latest = latest.max(*now);
        }
    }
    let (cancelled, awaited) = after_finish(connection, &ended, latest)?;
    let applied = |run_id: RunId| finished.contains(&run_id.to_string());
    let woke_waiters = |run_id: RunId| awaited.contains(&run_id);
    finish_results(ops, chunk, applied, woke_waiters, &cancelled, results);
    Ok(())
}

/// Whether the run `lease` holds is a child whose parent is unfinished and
/// past its deadline at `now`. (Under a stale lease: no, the finish then
/// refuses itself.)
const PARENT_OVERDUE_SQL: &str = "\
    SELECT 1 FROM wf_instance AS c JOIN wf_instance AS p ON p.id = c.parent_id \
    WHERE c.id = ?1 AND c.lease_token = ?2 AND c.status = 'running' \
    AND p.status IN ('pending', 'running', 'suspended') \
    AND p.deadline_at IS NOT NULL AND p.deadline_at <= ?3";

/// Ends as `cancelled` the runs of `chunk` that finish as timed out while
/// their parent is unfinished and past its deadline too: its timeout
/// cancels them, so they end the same whichever deadline the engine meets
/// first (see [`FinishEffects::recorded`]). Their steps are saved first,
/// as a finish saves them. Returns the rest of `chunk`.
fn cancel_timed_out_children(
    connection: &Connection,
    ops: &[WriteOp],
    chunk: &[usize],
    results: &mut [Option<Result<WriteOut, Error>>],
) -> Result<Vec<usize>, Error> {
    let mut rest = Vec::with_capacity(chunk.len());
    for &index in chunk {
        if let WriteOp::Finish {
            lease,
            outcome: RunOutcome::TimedOut,
            steps,
            now,
        } = &ops[index]
            && connection
                .prepare_cached(PARENT_OVERDUE_SQL)?
                .query_row(params![lease.run_id.to_string(), lease.token, now], |_| {
                    Ok(())
                })
                .optional()?
                .is_some()
        {
            for step in steps {
                let _saved = apply_op(connection, &WriteOp::SaveStep(*lease, step.clone()))?;
            }
            let mut cancelled = cancel_tree(connection, lease.run_id, true, *now)?;
            cancelled.retain(|run_id| *run_id != lease.run_id);
            results[index] = Some(Ok(WriteOut::Finished(FinishEffects {
                cancelled,
                // Its parent's `invoke` step was settled.
                woke_waiters: true,
                recorded: Some(RunOutcome::Cancelled(String::new())),
            })));
        } else {
            rest.push(index);
        }
    }
    Ok(rest)
}

/// Inserts or updates a step record with its wait columns (never one
/// already completed). The caller has checked the lease in this transaction.
fn upsert_step(
    connection: &Connection,
    run_id: RunId,
    step: &StepRecord,
    wait: &WaitColumns,
) -> Result<(), Error> {
    connection
        .prepare_cached(
            "INSERT INTO wf_step (instance_id, name, seq, kind, status, input, output, error, \
               attempts, wake_at, event_name, event_filter, wait_run, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14) \
             ON CONFLICT (instance_id, name) DO UPDATE SET status = excluded.status, \
               input = COALESCE(excluded.input, wf_step.input), output = excluded.output, \
               error = excluded.error, attempts = excluded.attempts, \
               wake_at = excluded.wake_at, event_name = excluded.event_name, \
               event_filter = excluded.event_filter, wait_run = excluded.wait_run, \
               updated_at = excluded.updated_at \
             WHERE wf_step.status <> 'completed'",
        )?
        .execute(params![
            run_id.to_string(),
            step.name,
            step.seq,
            step.kind.as_str(),
            step.status.as_str(),
            step.input,
            step.output,
            step.error,
            step.attempts,
            step.wake_at,
            wait.event,
            wait.filter,
            wait.run,
            step.updated_at,
        ])?;
    Ok(())
}

/// Registers a wait, or completes it at once when something satisfies it
/// already. The inner error refuses this write alone (an unknown run).
fn register_wait(
    connection: &Connection,
    lease: &Lease,
    step: &StepRecord,
    wait: &Wait,
) -> Result<Result<Option<String>, Error>, Error> {
    let satisfied = match wait {
        Wait::Event {
            name,
            filter,
            lookback_from: Some(from),
        } => {
            let filter = parse_filter(filter.as_deref())?;
            // Not an event an earlier wait of this run took (see `Wait::Event`).
            let mut statement = connection.prepare_cached(
                "SELECT id, data FROM wf_event WHERE name = ?1 AND target_run IS NULL \
                 AND created_at >= ?2 AND id NOT IN (SELECT json_extract(output, '$.event_id') \
                   FROM wf_step WHERE instance_id = ?3 AND kind = 'wait_for_event' \
                   AND status = 'completed' AND json_extract(output, '$.event_id') IS NOT NULL) \
                 ORDER BY id",
            )?;
            let mut rows = statement.query(params![name, from, lease.run_id.to_string()])?;
            let mut found = None;
            while let Some(row) = rows.next()? {
                let (id, data): (i64, String) = (row.get(0)?, row.get(1)?);
                if matches_filter(&data, filter.as_ref()) {
                    found = Some((event_output_json(id, &data), StepStatus::Completed));
                    break;
                }
            }
            found
        }
        Wait::Event { .. } => None,
        Wait::Signal { name } => {
            let buffered: Option<(i64, String)> = connection
                .prepare_cached(
                    "SELECT id, data FROM wf_event WHERE target_run = ?1 AND name = ?2 \
                     AND consumed_by IS NULL ORDER BY id LIMIT 1",
                )?
                .query_row(params![lease.run_id.to_string(), name], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()?;
            match buffered {
                Some((id, data)) => {
                    consume_signal(connection, id, lease.run_id, &step.name)?;
                    Some((event_output_json(id, &data), StepStatus::Completed))
                }
                None => None,
            }
        }
        Wait::Run { run_id } => {
            let ended: Option<(String, Option<String>, Option<String>)> = connection
                .prepare_cached("SELECT status, output, error FROM wf_instance WHERE id = ?1")?
                .query_row(params![run_id.to_string()], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })
                .optional()?;
            match ended {
                None => return Ok(Err(Error::RunNotFound(*run_id))),
                Some((status, output, error)) => {
                    let parsed = parse_run_status(&status)?;
                    parsed.is_terminal().then(|| {
                        let outcome =
                            run_outcome_json(&status, output.as_deref(), error.as_deref());
                        (outcome, run_wait_status(parsed))
                    })
                }
            }
        }
    };
    match satisfied {
        Some((output, status)) => {
            let step = StepRecord {
                status,
                output: Some(output.clone()),
                ..step.clone()
            };
            upsert_step(connection, lease.run_id, &step, &WaitColumns::default())?;
            Ok(Ok(Some(output)))
        }
        None => {
            let columns = WaitColumns::of(wait);
            upsert_step(connection, lease.run_id, step, &columns)?;
            Ok(Ok(None))
        }
    }
}

fn parse_filter(filter: Option<&str>) -> Result<Option<serde_json::Value>, Error> {
    filter
        .map(|text| {
            serde_json::from_str(text)
                .map_err(|error| decode_error(format!("stored event filter is invalid: {error}")))
        })
        .transpose()
}

fn matches_filter(data: &str, filter: Option<&serde_json::Value>) -> bool {
    match filter {
        None => true,
        Some(filter) => serde_json::from_str::<serde_json::Value>(data)
            .is_ok_and(|data| super::json_contains(&data, filter)),
    }
}

fn consume_signal(
    connection: &Connection,
    id: i64,
    run_id: RunId,
    step: &str,
) -> Result<(), Error> {
    connection
        .prepare_cached("UPDATE wf_event SET consumed_by = ?1 WHERE id = ?2")?
        .execute(params![format!("{run_id}/{step}"), id])?;
    Ok(())
}

/// Stores an event and settles the steps waiting for it.
fn send_event(connection: &Connection, event: &NewEvent) -> Result<SentEvent, Error> {
    let target = event.target.map(|run| run.to_string());
    connection
        .prepare_cached(
            "INSERT INTO wf_event (name, data, target_run, created_at) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![event.name, event.data, target, event.now])?;
    let id = connection.last_insert_rowid();
    // A run that ended takes no more events: its waiting steps stay as the
    // end left them (see `StepStatus`).
    let waiters: Vec<(String, String, Option<String>)> = match &target {
        // A signal goes to its run's oldest waiting `listen` only.
        Some(run) => connection
            .prepare_cached(
                "SELECT instance_id, name, event_filter FROM wf_step \
                 WHERE status = 'waiting' AND event_name = ?1 AND kind = 'listen' \
                 AND instance_id = ?2 AND instance_id IN (SELECT id FROM wf_instance \
                   WHERE id = ?2 AND status IN ('pending', 'running', 'suspended')) \
                 ORDER BY seq LIMIT 1",
            )?
            .query_map(params![event.name, run], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?
            .collect::<Result<_, _>>()?,
        None => connection
            .prepare_cached(
                "SELECT s.instance_id, s.name, s.event_filter FROM wf_step AS s \
                 JOIN wf_instance AS i ON i.id = s.instance_id \
                 WHERE s.status = 'waiting' AND s.event_name = ?1 AND s.kind = 'wait_for_event' \
                 AND i.status IN ('pending', 'running', 'suspended')",
            )?
            .query_map(params![event.name], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?
            .collect::<Result<_, _>>()?,
    };
    let output = event_output_json(id, &event.data);
    let mut woken = Vec::new();
    for (instance, step, filter) in waiters {
        if !matches_filter(&event.data, parse_filter(filter.as_deref())?.as_ref()) {
            continue;
        }
        let status = StepStatus::Completed;
        complete_waiting_step(connection, &instance, &step, status, &output, event.now)?;
        let run_id = parse_run_id(&instance)?;
        if target.is_some() {
            consume_signal(connection, id, run_id, &step)?;
        }
        woken.push(run_id);
    }
    Ok(SentEvent { id, woken })
}

/// Completes a waiting step with `output` and makes its run due now.
fn complete_waiting_step(
    connection: &Connection,
    instance: &str,
    step: &str,
    status: StepStatus,
    output: &str,
    now: i64,
) -> Result<(), Error> {
    connection
        .prepare_cached(
            "UPDATE wf_step SET status = ?1, output = ?2, updated_at = ?3 \
             WHERE instance_id = ?4 AND name = ?5 AND status = 'waiting'",
        )?
        .execute(params![status.as_str(), output, now, instance, step])?;
    // A suspended run becomes due; a running one keeps the wake in ready_at,
    // which its suspension honours (see Suspend), so no wake-up is lost.
    connection
        .prepare_cached(
            "UPDATE wf_instance SET ready_at = CASE WHEN ready_at IS NULL OR ready_at > ?1 \
               THEN ?1 ELSE ready_at END, updated_at = ?1 \
             WHERE id = ?2 AND status IN ('running', 'suspended')",
        )?
        .execute(params![now, instance])?;
    Ok(())
}

/// After runs ended: settles the steps waiting for them, and cancels the
/// unfinished descendants of those that timed out. Returns the cancelled
/// runs, and the ended runs whose waiters it settled.
fn after_finish(
    connection: &Connection,
    ended: &[(RunId, &RunOutcome)],
    now: i64,
) -> Result<(Vec<RunId>, HashSet<RunId>), Error> {
    let mut settled = Vec::with_capacity(ended.len());
    let mut cancelled = Vec::new();
    for (run_id, outcome) in ended {
        let (status, output, error) = outcome_columns(outcome);
        let outcome_json = run_outcome_json(status.as_str(), output, error);
        settled.push((*run_id, outcome_json, status == RunStatus::Completed));
        if matches!(outcome, RunOutcome::TimedOut | RunOutcome::Cancelled(_)) {
            cancelled.extend(cancel_tree(connection, *run_id, false, now)?);
        }
    }
    let awaited = settle_run_waiters(connection, &settled, now)?;
    Ok((cancelled, awaited))
}

/// Cancels a run (when `include_root`) and every unfinished descendant,
/// fencing out their workers, and settles the steps waiting for them.
fn cancel_tree(
    connection: &Connection,
    root: RunId,
    include_root: bool,
    now: i64,
) -> Result<Vec<RunId>, Error> {
    let ids: Vec<String> = connection
        .prepare_cached(
            "WITH RECURSIVE tree(id) AS ( \
               SELECT ?2 UNION SELECT i.id FROM wf_instance AS i JOIN tree ON i.parent_id = tree.id) \
             UPDATE wf_instance SET status = 'cancelled', lease_token = lease_token + 1, \
               lease_owner = NULL, ready_at = NULL, finished_at = ?1, updated_at = ?1 \
             WHERE id IN (SELECT id FROM tree) AND (?3 OR id <> ?2) \
               AND status IN ('pending', 'running', 'suspended') \
             RETURNING id",
        )?
        .query_map(params![now, root.to_string(), include_root], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let (cancelled, settled) = cancelled_runs(&ids)?;
    settle_run_waiters(connection, &settled, now)?;
    Ok(cancelled)
}

/// Completes the steps waiting for these runs with how each ended (the
/// outcome JSON, and whether the run completed); returns the runs that had
/// such steps. A run that did not complete fails its waiting step, so a
/// `retry` of the waiting run starts that step (a new child) again.
fn settle_run_waiters(
    connection: &Connection,
    ended: &[EndedRun],
    now: i64,
) -> Result<HashSet<RunId>, Error> {
    let mut awaited = HashSet::new();
    if ended.is_empty() {
        return Ok(awaited);
    }
    let ids: Vec<String> = ended.iter().map(|(id, _, _)| id.to_string()).collect();
    let ids = serde_json::to_string(&ids).map_err(|error| decode_error(error.to_string()))?;
    let waiters: Vec<(String, String, String)> = connection
        .prepare_cached(
            "SELECT instance_id, name, wait_run FROM wf_step WHERE status = 'waiting' \
             AND wait_run IN (SELECT value FROM json_each(?1))",
        )?
        .query_map(params![ids], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    for (instance, step, wait_run) in waiters {
        let ended = ended.iter().find(|(id, _, _)| id.to_string() == wait_run);
        if let Some((run_id, outcome, completed)) = ended {
            let status = if *completed {
                StepStatus::Completed
            } else {
                StepStatus::Failed
            };
            complete_waiting_step(connection, &instance, &step, status, outcome, now)?;
            awaited.insert(*run_id);
        }
    }
    Ok(awaited)
}

/// The status of a step that waited for a run that ended with `status`.
fn run_wait_status(status: RunStatus) -> StepStatus {
    if status == RunStatus::Completed {
        StepStatus::Completed
    } else {
        StepStatus::Failed
    }
}

/// `VALUES (?, ?), (?, ?)` for `rows` rows of `columns` parameters.
fn values_list(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    format!("VALUES {}", vec![row; rows].join(", "))
}

fn optional_text(text: &Option<String>) -> Value {
    text.clone().map_or(Value::Null, Value::Text)
}

fn optional_integer(number: Option<i64>) -> Value {
    number.map_or(Value::Null, Value::Integer)
}

/// The result of a step write (see [`super::rows::unwritten_step`]).
fn step_saved(
    connection: &Connection,
    written: bool,
    lease: &Lease,
    step: &StepRecord,
) -> Result<Result<WriteOut, Error>, Error> {
    if written {
        return Ok(Ok(WriteOut::Done));
    }
    Ok(super::rows::unwritten_step(
        holds_lease(connection, lease)?,
        lease,
        step,
    ))
}

/// Whether `lease` is the current lease of its running run.
fn holds_lease(connection: &Connection, lease: &Lease) -> Result<bool, Error> {
    Ok(connection
        .prepare_cached(
            "SELECT 1 FROM wf_instance WHERE id = ?1 AND lease_token = ?2 AND status = 'running'",
        )?
        .query_row(params![lease.run_id.to_string(), lease.token], |_| Ok(()))
        .optional()?
        .is_some())
}

fn fenced(rows_affected: usize, lease: &Lease) -> Result<WriteOut, Error> {
    if rows_affected == 1 {
        Ok(WriteOut::Done)
    } else {
        Err(Error::LeaseLost {
            run_id: lease.run_id,
        })
    }
}

fn transition(
    connection: &Connection,
    run_id: RunId,
    changed: usize,
) -> Result<TransitionOutcome, Error> {
    if changed == 1 {
        return Ok(TransitionOutcome::Done);
    }
    let status: Option<String> = connection
        .prepare_cached("SELECT status FROM wf_instance WHERE id = ?1")?
        .query_row(params![run_id.to_string()], |row| row.get(0))
        .optional()?;
    Ok(match status {
        Some(status) => TransitionOutcome::Refused(parse_run_status(&status)?),
        None => TransitionOutcome::NotFound,
    })
}

impl RunStore for SqliteStore {
    super::ops::queued_run_writes!();

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn next_ready_at(&self, workflows: Arc<str>) -> BoxFuture<'_, Result<Option<i64>, Error>> {
        let result = self.readers.read(|connection| {
            connection
                .prepare_cached(NEXT_READY_SQL)?
                .query_row(params![&*workflows], |row| row.get(0))
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

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.writer.close().await;
            if let Readers::File { idle, .. } = &self.readers {
                lock(idle).clear();
            }
            drop(lock(&self.file_lock).take());
        })
    }
}

impl WaitStore for SqliteStore {
    super::ops::queued_wait_writes!();
}

impl MaintenanceStore for SqliteStore {
    super::ops::queued_maintenance_writes!();
}

impl ReadStore for SqliteStore {
    fn last_cron_fire(&self, workflow: String) -> BoxFuture<'_, Result<Option<i64>, Error>> {
        let result = self.readers.read(|connection| {
            connection
                .prepare_cached(
                    "SELECT MAX(CAST(substr(idempotency_key, 6) AS INTEGER)) FROM wf_instance \
                     WHERE workflow = ?1 AND idempotency_key LIKE 'cron:%'",
                )?
                .query_row(params![workflow], |row| row.get::<_, Option<i64>>(0))
        });
        Box::pin(std::future::ready(result))
    }

    fn unfinished_runs(&self, workflow: String) -> BoxFuture<'_, Result<Vec<RunId>, Error>> {
        let rows = self.readers.read(|connection| {
            connection
                .prepare_cached(
                    "SELECT id FROM wf_instance WHERE workflow = ?1 \
                     AND status IN ('pending', 'running', 'suspended')",
                )?
                .query_map(params![workflow], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        });
        let result = rows.and_then(|ids| ids.iter().map(|id| parse_run_id(id)).collect());
        Box::pin(std::future::ready(result))
    }

    fn load_logs(&self, run_id: RunId) -> BoxFuture<'_, Result<Vec<LogLine>, Error>> {
        let result = self.readers.read(|connection| {
            connection
                .prepare_cached(
                    "SELECT key, level, message, fields, created_at FROM wf_log \
                     WHERE instance_id = ?1 ORDER BY id",
                )?
                .query_map(params![run_id.to_string()], |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()
        });
        Box::pin(std::future::ready(result.and_then(|rows| {
            rows.into_iter().map(super::rows::log_line).collect()
        })))
    }

    fn child_runs(&self, run_id: RunId) -> BoxFuture<'_, Result<Vec<RunId>, Error>> {
        let rows = self.readers.read(|connection| {
            connection
                .prepare_cached(
                    "SELECT id FROM wf_instance WHERE parent_id = ?1 ORDER BY created_at, id",
                )?
                .query_map(params![run_id.to_string()], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        });
        let result = rows.and_then(|ids| ids.iter().map(|id| parse_run_id(id)).collect());
        Box::pin(std::future::ready(result))
    }

    fn get_run(&self, run_id: RunId) -> BoxFuture<'_, Result<Option<RunInfo>, Error>> {
        let row: Result<Option<RunRow>, Error> = self.readers.read(|connection| {
            connection
                .prepare_cached(
                    "SELECT id, workflow, status, input, output, error, idempotency_key, \
                     created_at, finished_at, deadline_at, executions, parent_id, started_at \
                     FROM wf_instance WHERE id = ?1",
                )?
                .query_row(params![run_id.to_string()], |row| RunRow::try_from(row))
                .optional()
        });
        let result = row.and_then(|row| row.map(run_info).transpose());
        Box::pin(std::future::ready(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs left `running` by the last engine are claimed before a backlog
    /// of runs that fell due before the restart.
    #[test]
    fn recovered_runs_are_claimed_before_the_backlog() {
        let mut connection = Connection::open_in_memory().unwrap();
        migrate(&mut connection).unwrap();
        connection
            .execute_batch(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50) \
                 INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at, \
                   ready_at) \
                 SELECT printf('00000000-0000-0000-0000-%012d', i), 'w', 'pending', 'null', i, i, i FROM n; \
                 INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at, \
                   started_at, executions, lease_token, lease_owner) \
                 VALUES ('00000000-0000-0000-0000-000000009999', 'w', 'running', 'null', 60, 60, \
                   60, 1, 1, 'the engine that crashed')",
            )
            .unwrap();
        let recovered = apply_op(&connection, &WriteOp::Recover { now: 1_000 }).unwrap();
        assert!(matches!(recovered, Ok(WriteOut::Count(1))));
        let request = ClaimRequest {
            owner: "me".into(),
            now: 1_000,
            limit: 1,
            workflows: r#"["w"]"#.into(),
            lease_expires_at: None,
        };
        let ids: Vec<String> = claim(&connection, &request)
            .unwrap()
            .iter()
            .map(|run| run.lease.run_id.to_string())
            .collect();
        assert_eq!(
            ids,
            ["00000000-0000-0000-0000-000000009999"],
            "the recovered run waits behind the backlog"
        );
    }

    /// With many runs asleep, a claim and the dispatcher's next wake time
    /// read only the due runs, by the ready index and in its order; before
    /// and after `ANALYZE` (which `PRAGMA optimize` may run).
    #[test]
    fn claims_read_due_runs_by_index_however_many_runs_sleep() {
        let mut connection = Connection::open_in_memory().unwrap();
        migrate(&mut connection).unwrap();
        connection
            .execute_batch(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) \
                 INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at, \
                   ready_at) \
                 SELECT printf('00000000-0000-0000-0000-%012d', i), 'w', 'suspended', 'null', i, i, 1000 + i FROM n",
            )
            .unwrap();
        for when in ["before ANALYZE", "after ANALYZE"] {
            for (what, sql, params) in [
                ("claim", CLAIM_SQL, vec!["me", "1010", "100", r#"["w"]"#]),
                ("next wake time", NEXT_READY_SQL, vec![r#"["w"]"#]),
            ] {
                let plan: Vec<String> = connection
                    .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .unwrap()
                    .query_map(params_from_iter(params), |row| row.get(3))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                let plan = plan.join("\n");
                assert!(
                    plan.contains("USING INDEX wf_instance_ready") && !plan.contains("TEMP B-TREE"),
                    "{when}, the {what} reads or sorts every waiting run:\n{plan}"
                );
            }
            connection.execute_batch("ANALYZE").unwrap();
        }
        let request = ClaimRequest {
            owner: "me".into(),
            now: 1_010,
            limit: 100,
            workflows: r#"["w"]"#.into(),
            lease_expires_at: None,
        };
        let claimed = claim(&connection, &request).unwrap();
        let ids: Vec<String> = claimed
            .iter()
            .map(|run| run.lease.run_id.to_string())
            .collect();
        let due: Vec<String> = (1..=10)
            .map(|i| format!("00000000-0000-0000-0000-{i:012}"))
            .collect();
        assert_eq!(ids, due, "the runs due by 1010, the earliest first");
    }
}
