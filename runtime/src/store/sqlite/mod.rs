//! The SQLite backend: the embedded default, a file or an in-memory database
//! owned by one engine.
//!
//! Reads go through a small connection pool; every write goes through one
//! writer connection that commits the queued writes of all runs together
//! (group commit, see `store/batch.rs`). The database file is locked with a
//! `<file>.lock` side file for the engine's life, so two engines never share
//! it; runs left `running` by a previous process are therefore known to be
//! orphaned and are handed back at start ([`Store::recover`]).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};

use super::batch::{BatchApply, GroupCommit};
use super::{
    ClaimRequest, ClaimedRun, CreateOutcome, Lease, NewRun, RunOutcome, StepRecord, Store,
    TransitionOutcome,
};
use crate::run::{RunId, RunInfo, RunStatus, StepStatus};
use crate::{BoxFuture, Durability, Error, StepKind};

/// The schema migrations, applied in order, each once (`wf_migration`).
const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("schema.sql"))];

/// The most writes one group commit applies in one transaction.
const MAX_BATCH: usize = 1024;

/// Where the SQLite database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqliteLocation {
    /// A database file, created if missing.
    File(PathBuf),
    /// An in-memory database, gone when the engine stops.
    Memory,
}

/// The SQLite store.
pub struct SqliteStore {
    reader: SqlitePool,
    writer: GroupCommit<WriteOp, WriteOut>,
    // Held for the store's life: the OS releases the lock when the process
    // ends, however it ends.
    _lock: Option<std::fs::File>,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database.
    ///
    /// # Errors
    ///
    /// [`Error::DatabaseInUse`] when another engine holds the file;
    /// [`Error::Database`] when it cannot be opened or migrated.
    pub async fn open(location: &SqliteLocation, durability: Durability) -> Result<Self, Error> {
        let synchronous = match durability {
            Durability::Normal => SqliteSynchronous::Normal,
            Durability::Full => SqliteSynchronous::Full,
        };
        match location {
            SqliteLocation::File(path) => {
                let lock = lock_database(path)?;
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(synchronous)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true);
                let mut writer = options.connect().await?;
                migrate(&mut writer).await?;
                let reader = SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_with(options)
                    .await?;
                Ok(SqliteStore {
                    reader,
                    writer: GroupCommit::spawn(
                        SqliteWriter {
                            connection: WriterConnection::Owned(writer),
                        },
                        MAX_BATCH,
                    ),
                    _lock: Some(lock),
                })
            }
            SqliteLocation::Memory => {
                // One connection serves reads and writes: each connection to
                // `:memory:` would be a database of its own.
                let options = SqliteConnectOptions::from_str("sqlite::memory:")?
                    .synchronous(synchronous)
                    .foreign_keys(true);
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(options)
                    .await?;
                migrate(&mut *pool.acquire().await?).await?;
                Ok(SqliteStore {
                    reader: pool.clone(),
                    writer: GroupCommit::spawn(
                        SqliteWriter {
                            connection: WriterConnection::Pooled(pool),
                        },
                        MAX_BATCH,
                    ),
                    _lock: None,
                })
            }
        }
    }

    async fn write(&self, op: WriteOp) -> Result<WriteOut, Error> {
        self.writer.submit(op).await
    }
}

fn lock_database(path: &Path) -> Result<std::fs::File, Error> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|error| Error::Database(sqlx::Error::Io(error)))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::DatabaseInUse {
            path: path.display().to_string(),
            lock_path: lock_path.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(error)) => Err(Error::Database(sqlx::Error::Io(error))),
    }
}

async fn migrate(connection: &mut SqliteConnection) -> Result<(), Error> {
    let mut tx = connection.begin().await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS wf_migration (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    let (current,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(version), 0) FROM wf_migration")
        .fetch_one(&mut *tx)
        .await?;
    for (version, sql) in MIGRATIONS.iter().filter(|(version, _)| *version > current) {
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO wf_migration (version, applied_at) VALUES (?, ?)")
            .bind(version)
            .bind(crate::clock::Clock::now_ms(&crate::SystemClock))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// One write queued for the writer.
enum WriteOp {
    Recover { now: i64 },
    Create(NewRun),
    Claim(ClaimRequest),
    SaveStep(Lease, StepRecord),
    Suspend { lease: Lease, ready_at: Option<i64>, now: i64 },
    Release { lease: Lease, now: i64 },
    Finish { lease: Lease, outcome: RunOutcome, now: i64 },
    Cancel { run_id: RunId, now: i64 },
    Retry { run_id: RunId, now: i64, deadline_at: Option<i64> },
}

/// What one write returned.
enum WriteOut {
    Created(CreateOutcome),
    Claimed(Vec<ClaimedRun>),
    Count(u64),
    Transition(TransitionOutcome),
    Done,
}

enum WriterConnection {
    Owned(SqliteConnection),
    Pooled(SqlitePool),
}

struct SqliteWriter {
    connection: WriterConnection,
}

impl BatchApply for SqliteWriter {
    type Op = WriteOp;
    type Out = WriteOut;

    fn apply<'a>(
        &'a mut self,
        ops: &'a [WriteOp],
    ) -> BoxFuture<'a, Result<Vec<Result<WriteOut, Error>>, Error>> {
        Box::pin(async move {
            let mut pooled;
            let connection: &mut SqliteConnection = match &mut self.connection {
                WriterConnection::Owned(connection) => connection,
                WriterConnection::Pooled(pool) => {
                    pooled = pool.acquire().await?;
                    &mut pooled
                }
            };
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *connection).await?;
            let mut results = Vec::with_capacity(ops.len());
            for op in ops {
                match apply_op(connection, op).await {
                    Ok(result) => results.push(result),
                    Err(error) => {
                        rollback(connection).await;
                        return Err(error.into());
                    }
                }
            }
            if let Err(error) = sqlx::query("COMMIT").execute(&mut *connection).await {
                rollback(connection).await;
                return Err(error.into());
            }
            Ok(results)
        })
    }
}

async fn rollback(connection: &mut SqliteConnection) {
    // Fails only when no transaction is open (SQLite already rolled back).
    let _ = sqlx::query("ROLLBACK").execute(connection).await;
}

/// Applies one write inside the open transaction. The outer error fails the
/// transaction; the inner one refuses this write alone.
async fn apply_op(
    connection: &mut SqliteConnection,
    op: &WriteOp,
) -> Result<Result<WriteOut, Error>, sqlx::Error> {
    Ok(match op {
        WriteOp::Recover { now } => {
            let result = sqlx::query(
                "UPDATE wf_instance SET status = 'pending', ready_at = ?1, updated_at = ?1, \
                 lease_token = lease_token + 1, lease_owner = NULL WHERE status = 'running'",
            )
            .bind(now)
            .execute(&mut *connection)
            .await?;
            Ok(WriteOut::Count(result.rows_affected()))
        }
        WriteOp::Create(run) => Ok(WriteOut::Created(create_run(connection, run).await?)),
        WriteOp::Claim(request) => {
            let rows: Vec<(String, String, String, i64, Option<i64>, i64)> = sqlx::query_as(
                "UPDATE wf_instance SET status = 'running', lease_token = lease_token + 1, \
                 lease_owner = ?1, executions = executions + 1, \
                 started_at = COALESCE(started_at, ?2), updated_at = ?2, ready_at = NULL \
                 WHERE id IN (SELECT id FROM wf_instance \
                   WHERE status IN ('pending', 'suspended') AND ready_at <= ?2 \
                   AND workflow IN (SELECT value FROM json_each(?4)) \
                   ORDER BY ready_at LIMIT ?3) \
                 RETURNING id, workflow, input, lease_token, deadline_at, executions",
            )
            .bind(&request.owner)
            .bind(request.now)
            .bind(i64::try_from(request.limit).unwrap_or(i64::MAX))
            .bind(&*request.workflows)
            .fetch_all(&mut *connection)
            .await?;
            let mut claimed = Vec::with_capacity(rows.len());
            for (id, workflow, input, token, deadline_at, executions) in rows {
                claimed.push(ClaimedRun {
                    lease: Lease {
                        run_id: parse_run_id(&id)?,
                        token,
                    },
                    workflow,
                    input,
                    deadline_at,
                    executions,
                });
            }
            Ok(WriteOut::Claimed(claimed))
        }
        WriteOp::SaveStep(lease, step) => {
            let result = sqlx::query(
                "INSERT INTO wf_step (instance_id, name, seq, kind, status, input, output, error, \
                   attempts, wake_at, created_at, updated_at) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11 \
                 WHERE EXISTS (SELECT 1 FROM wf_instance WHERE id = ?1 AND lease_token = ?12 \
                   AND status = 'running') \
                 ON CONFLICT (instance_id, name) DO UPDATE SET status = excluded.status, \
                   input = COALESCE(excluded.input, wf_step.input), output = excluded.output, \
                   error = excluded.error, attempts = excluded.attempts, \
                   wake_at = excluded.wake_at, updated_at = excluded.updated_at \
                 WHERE wf_step.status <> 'completed'",
            )
            .bind(lease.run_id.to_string())
            .bind(&step.name)
            .bind(step.seq)
            .bind(step.kind.as_str())
            .bind(step.status.as_str())
            .bind(&step.input)
            .bind(&step.output)
            .bind(&step.error)
            .bind(step.attempts)
            .bind(step.wake_at)
            .bind(step.updated_at)
            .bind(lease.token)
            .execute(&mut *connection)
            .await?;
            if result.rows_affected() == 1 || holds_lease(connection, lease).await? {
                // Zero rows with the lease held: the step was already
                // completed, and a completed record is never overwritten.
                Ok(WriteOut::Done)
            } else {
                Err(Error::LeaseLost {
                    run_id: lease.run_id,
                })
            }
        }
        WriteOp::Suspend {
            lease,
            ready_at,
            now,
        } => fenced(
            sqlx::query(
                "UPDATE wf_instance SET status = 'suspended', ready_at = ?1, updated_at = ?2, \
                 lease_owner = NULL WHERE id = ?3 AND lease_token = ?4 AND status = 'running'",
            )
            .bind(ready_at)
            .bind(now)
            .bind(lease.run_id.to_string())
            .bind(lease.token)
            .execute(&mut *connection)
            .await?
            .rows_affected(),
            lease,
        ),
        WriteOp::Release { lease, now } => fenced(
            sqlx::query(
                "UPDATE wf_instance SET status = 'pending', ready_at = ?1, updated_at = ?1, \
                 lease_owner = NULL WHERE id = ?2 AND lease_token = ?3 AND status = 'running'",
            )
            .bind(now)
            .bind(lease.run_id.to_string())
            .bind(lease.token)
            .execute(&mut *connection)
            .await?
            .rows_affected(),
            lease,
        ),
        WriteOp::Finish {
            lease,
            outcome,
            now,
        } => {
            let (status, output, error) = match outcome {
                RunOutcome::Completed(output) => (RunStatus::Completed, Some(output.as_str()), None),
                RunOutcome::Failed(error) => (RunStatus::Failed, None, Some(error.as_str())),
                RunOutcome::TimedOut => (RunStatus::TimedOut, None, Some("workflow timeout")),
            };
            fenced(
                sqlx::query(
                    "UPDATE wf_instance SET status = ?1, output = ?2, error = ?3, \
                     finished_at = ?4, updated_at = ?4, ready_at = NULL, lease_owner = NULL \
                     WHERE id = ?5 AND lease_token = ?6 AND status = 'running'",
                )
                .bind(status.as_str())
                .bind(output)
                .bind(error)
                .bind(now)
                .bind(lease.run_id.to_string())
                .bind(lease.token)
                .execute(&mut *connection)
                .await?
                .rows_affected(),
                lease,
            )
        }
        WriteOp::Cancel { run_id, now } => {
            let changed = sqlx::query(
                "UPDATE wf_instance SET status = 'cancelled', lease_token = lease_token + 1, \
                 lease_owner = NULL, ready_at = NULL, finished_at = ?1, updated_at = ?1 \
                 WHERE id = ?2 AND status IN ('pending', 'running', 'suspended')",
            )
            .bind(now)
            .bind(run_id.to_string())
            .execute(&mut *connection)
            .await?
            .rows_affected();
            Ok(WriteOut::Transition(transition(connection, *run_id, changed).await?))
        }
        WriteOp::Retry {
            run_id,
            now,
            deadline_at,
        } => {
            let changed = sqlx::query(
                "UPDATE wf_instance SET status = 'pending', ready_at = ?1, updated_at = ?1, \
                 deadline_at = ?2, output = NULL, error = NULL, finished_at = NULL \
                 WHERE id = ?3 AND status IN ('failed', 'timed_out')",
            )
            .bind(now)
            .bind(deadline_at)
            .bind(run_id.to_string())
            .execute(&mut *connection)
            .await?
            .rows_affected();
            if changed == 1 {
                sqlx::query(
                    "DELETE FROM wf_step WHERE instance_id = ?1 \
                     AND status IN ('pending', 'running', 'failed')",
                )
                .bind(run_id.to_string())
                .execute(&mut *connection)
                .await?;
            }
            Ok(WriteOut::Transition(transition(connection, *run_id, changed).await?))
        }
    })
}

async fn create_run(
    connection: &mut SqliteConnection,
    run: &NewRun,
) -> Result<CreateOutcome, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO wf_instance (id, workflow, status, input, idempotency_key, created_at, \
           updated_at, ready_at, deadline_at) \
         VALUES (?1, ?2, 'pending', ?3, ?4, ?5, ?5, ?6, ?7) \
         ON CONFLICT (workflow, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING",
    )
    .bind(run.id.to_string())
    .bind(&run.workflow)
    .bind(&run.input)
    .bind(&run.idempotency_key)
    .bind(run.now)
    .bind(run.ready_at)
    .bind(run.deadline_at)
    .execute(&mut *connection)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(CreateOutcome::Created(run.id));
    }
    let (id, input): (String, String) = sqlx::query_as(
        "SELECT id, input FROM wf_instance WHERE workflow = ?1 AND idempotency_key = ?2",
    )
    .bind(&run.workflow)
    .bind(&run.idempotency_key)
    .fetch_one(&mut *connection)
    .await?;
    let existing = parse_run_id(&id)?;
    Ok(if input == run.input {
        CreateOutcome::Existing(existing)
    } else {
        CreateOutcome::Conflict(existing)
    })
}

async fn holds_lease(connection: &mut SqliteConnection, lease: &Lease) -> Result<bool, sqlx::Error> {
    let held: Option<(i64,)> = sqlx::query_as(
        "SELECT 1 FROM wf_instance WHERE id = ?1 AND lease_token = ?2 AND status = 'running'",
    )
    .bind(lease.run_id.to_string())
    .bind(lease.token)
    .fetch_optional(connection)
    .await?;
    Ok(held.is_some())
}

fn fenced(rows_affected: u64, lease: &Lease) -> Result<WriteOut, Error> {
    if rows_affected == 1 {
        Ok(WriteOut::Done)
    } else {
        Err(Error::LeaseLost {
            run_id: lease.run_id,
        })
    }
}

async fn transition(
    connection: &mut SqliteConnection,
    run_id: RunId,
    changed: u64,
) -> Result<TransitionOutcome, sqlx::Error> {
    if changed == 1 {
        return Ok(TransitionOutcome::Done);
    }
    let status: Option<(String,)> = sqlx::query_as("SELECT status FROM wf_instance WHERE id = ?1")
        .bind(run_id.to_string())
        .fetch_optional(connection)
        .await?;
    Ok(match status {
        Some((status,)) => TransitionOutcome::Refused(parse_run_status(&status)?),
        None => TransitionOutcome::NotFound,
    })
}

fn decode_error(message: String) -> sqlx::Error {
    sqlx::Error::Decode(message.into())
}

fn parse_run_id(text: &str) -> Result<RunId, sqlx::Error> {
    text.parse()
        .map_err(|_| decode_error(format!("wf_instance.id {text:?} is not a UUID")))
}

fn parse_run_status(text: &str) -> Result<RunStatus, sqlx::Error> {
    RunStatus::parse(text).ok_or_else(|| decode_error(format!("unknown run status {text:?}")))
}

fn parse_json(text: Option<String>) -> Result<Option<serde_json::Value>, sqlx::Error> {
    text.map(|text| serde_json::from_str(&text).map_err(|error| decode_error(error.to_string())))
        .transpose()
}

type RunRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
    i64,
);

type StepRow = (
    String,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
    i64,
);

fn step_from_row(row: StepRow) -> Result<StepRecord, sqlx::Error> {
    let (name, seq, kind, status, input, output, error, attempts, wake_at, updated_at) = row;
    Ok(StepRecord {
        kind: StepKind::parse(&kind)
            .ok_or_else(|| decode_error(format!("unknown step kind {kind:?}")))?,
        status: StepStatus::parse(&status)
            .ok_or_else(|| decode_error(format!("unknown step status {status:?}")))?,
        name,
        seq,
        input,
        output,
        error,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        wake_at,
        updated_at,
    })
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn recover(&self, now: i64) -> BoxFuture<'_, Result<u64, Error>> {
        Box::pin(async move {
            match self.write(WriteOp::Recover { now }).await? {
                WriteOut::Count(count) => Ok(count),
                _ => Err(unexpected()),
            }
        })
    }

    fn create_run(&self, run: NewRun) -> BoxFuture<'_, Result<CreateOutcome, Error>> {
        Box::pin(async move {
            match self.write(WriteOp::Create(run)).await? {
                WriteOut::Created(outcome) => Ok(outcome),
                _ => Err(unexpected()),
            }
        })
    }

    fn claim_ready(&self, request: ClaimRequest) -> BoxFuture<'_, Result<Vec<ClaimedRun>, Error>> {
        Box::pin(async move {
            match self.write(WriteOp::Claim(request)).await? {
                WriteOut::Claimed(runs) => Ok(runs),
                _ => Err(unexpected()),
            }
        })
    }

    fn next_ready_at(&self, workflows: Arc<str>) -> BoxFuture<'_, Result<Option<i64>, Error>> {
        Box::pin(async move {
            let next: Option<(i64,)> = sqlx::query_as(
                "SELECT ready_at FROM wf_instance \
                 WHERE status IN ('pending', 'suspended') AND ready_at IS NOT NULL \
                 AND workflow IN (SELECT value FROM json_each(?1)) \
                 ORDER BY ready_at LIMIT 1",
            )
            .bind(&*workflows)
            .fetch_optional(&self.reader)
            .await?;
            Ok(next.map(|(at,)| at))
        })
    }

    fn load_journal(&self, run_id: RunId) -> BoxFuture<'_, Result<Vec<StepRecord>, Error>> {
        Box::pin(async move {
            let rows: Vec<StepRow> = sqlx::query_as(
                "SELECT name, seq, kind, status, input, output, error, attempts, wake_at, \
                 updated_at FROM wf_step WHERE instance_id = ?1 ORDER BY seq",
            )
            .bind(run_id.to_string())
            .fetch_all(&self.reader)
            .await?;
            Ok(rows
                .into_iter()
                .map(step_from_row)
                .collect::<Result<_, _>>()?)
        })
    }

    fn save_step(&self, lease: Lease, step: StepRecord) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            self.write(WriteOp::SaveStep(lease, step)).await?;
            Ok(())
        })
    }

    fn save_step_detached(&self, lease: Lease, step: StepRecord) {
        self.writer.submit_detached(WriteOp::SaveStep(lease, step));
    }

    fn suspend_run(
        &self,
        lease: Lease,
        ready_at: Option<i64>,
        now: i64,
    ) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            self.write(WriteOp::Suspend {
                lease,
                ready_at,
                now,
            })
            .await?;
            Ok(())
        })
    }

    fn release_run(&self, lease: Lease, now: i64) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            self.write(WriteOp::Release { lease, now }).await?;
            Ok(())
        })
    }

    fn finish_run(
        &self,
        lease: Lease,
        outcome: RunOutcome,
        now: i64,
    ) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            self.write(WriteOp::Finish {
                lease,
                outcome,
                now,
            })
            .await?;
            Ok(())
        })
    }

    fn cancel_run(&self, run_id: RunId, now: i64) -> BoxFuture<'_, Result<TransitionOutcome, Error>> {
        Box::pin(async move {
            match self.write(WriteOp::Cancel { run_id, now }).await? {
                WriteOut::Transition(outcome) => Ok(outcome),
                _ => Err(unexpected()),
            }
        })
    }

    fn retry_run(
        &self,
        run_id: RunId,
        now: i64,
        deadline_at: Option<i64>,
    ) -> BoxFuture<'_, Result<TransitionOutcome, Error>> {
        Box::pin(async move {
            match self
                .write(WriteOp::Retry {
                    run_id,
                    now,
                    deadline_at,
                })
                .await?
            {
                WriteOut::Transition(outcome) => Ok(outcome),
                _ => Err(unexpected()),
            }
        })
    }

    fn get_run(&self, run_id: RunId) -> BoxFuture<'_, Result<Option<RunInfo>, Error>> {
        Box::pin(async move {
            let row: Option<RunRow> = sqlx::query_as(
                "SELECT id, workflow, status, input, output, error, idempotency_key, created_at, \
                 finished_at, deadline_at, executions FROM wf_instance WHERE id = ?1",
            )
            .bind(run_id.to_string())
            .fetch_optional(&self.reader)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let (id, workflow, status, input, output, error, key, created, finished, deadline, executions) =
                row;
            Ok(Some(RunInfo {
                id: parse_run_id(&id)?,
                workflow,
                status: parse_run_status(&status)?,
                input: parse_json(Some(input))?.unwrap_or_default(),
                output: parse_json(output)?,
                error,
                idempotency_key: key,
                created_at: created,
                finished_at: finished,
                deadline_at: deadline,
                executions,
            }))
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.reader.close().await })
    }
}

/// A write answered with the wrong kind of result: a bug in this module.
fn unexpected() -> Error {
    Error::Database(sqlx::Error::Protocol(
        "the SQLite writer answered a write with the wrong kind of result".into(),
    ))
}
