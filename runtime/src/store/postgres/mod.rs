//! The PostgreSQL backend: many worker processes on many machines share one
//! database.
//!
//! Claims take runs with `FOR UPDATE SKIP LOCKED` and give each a lease
//! with a fencing token and an expiry; the engine renews the leases of the
//! runs it executes, and a run whose lease expired (its worker died) is
//! claimed by another worker. Every write of a run is fenced by its token.
//! Writes are grouped per process into one transaction (group commit, see
//! `store/batch.rs`), applied on a connection and a thread of their own.
//! Waits and sends of one event name (and a run's end and the waits for it)
//! take the same transaction-scoped advisory lock, so a send and a wait in
//! two processes cannot miss each other. Commits that
//! make runs due or end runs `NOTIFY` the other workers, which wake at once;
//! they also poll, as a fallback.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

use super::ops::{FINISH_PHASE, WriteOp, WriteOut};
use super::rows::{
    EndedRun, RunRow, StepRow, WaitColumns, cancelled_runs, decode_error, outcome_columns,
    parse_run_id, parse_run_status, run_info, step_record, unexpected,
};
use super::writer::{BatchApply, BatchResults, GroupCommit};
use super::{
    ClaimAtCreate, ClaimRequest, ClaimedRun, CreateOutcome, DeleteFinished, FinishEffects, Lease,
    LogLine, MaintenanceStore, NewEvent, NewRun, ReadStore, RunOutcome, RunStore, SentEvent,
    StepRecord, StoreSignal, TransitionOutcome, Wait, WaitStore, event_output_json,
    run_outcome_json,
};
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::info::RunInfo;
use crate::model::status::{RunStatus, StepStatus};
use crate::model::sync::BoxFuture;
use crate::model::sync::lock;

/// The schema migrations, applied in order, each once (`wf_migration`).
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("schema.sql")),
    (2, include_str!("schema_2.sql")),
];

/// The most writes one group commit applies in one transaction.
const MAX_BATCH: usize = 512;

/// How long opening a connection may take, the server's answer to the
/// start-up included, unless the URL's `connect_timeout` (whole seconds, as
/// in libpq) says otherwise: a server that accepts and never answers must
/// not hang the engine.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The channel on which commits announce due runs.
const WAKE_CHANNEL: &str = "durable_wake";

/// The channel on which commits announce ended runs (payload: the run id).
const FINISHED_CHANNEL: &str = "durable_finished";

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        Error::Database(Box::new(error))
    }
}

/// The PostgreSQL store.
pub(crate) struct PostgresStore {
    pool: PgPool,
    writer: GroupCommit<WriteOp, WriteOut>,
    /// Claims run here, beside the writer, not queued behind its batches:
    /// a claim then takes one statement's time, however busy the writer is.
    claimer: tokio::sync::Mutex<OwnConnection>,
    listener: Mutex<Option<tokio::task::AbortHandle>>,
    lease: Duration,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://...`) and migrates the schema. With
    /// `schema`, the tables live in that PostgreSQL schema (created if
    /// missing): tests use one per test. Claims hold a run for `lease`
    /// unless renewed. Every connection the store opens gives up after the
    /// URL's `connect_timeout` (whole seconds, at least 1; default
    /// [`DEFAULT_CONNECT_TIMEOUT`]).
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] when the server refuses, cannot be reached or does
    /// not answer in time (first connection opened alone, so the error is
    /// the real cause, at once); [`Error::Database`] when it cannot be
    /// migrated; [`Error::Config`] for a URL or schema name that is not valid;
    /// [`Error::SchemaTooNew`] or [`Error::ForeignTable`] when the schema
    /// holds tables this durable cannot use.
    pub(crate) async fn open(
        url: &str,
        schema: Option<&str>,
        lease: Duration,
    ) -> Result<Self, Error> {
        let (url, connect_timeout) = split_connect_timeout(url)?;
        let mut options: PgConnectOptions = url
            .parse()
            .map_err(|error| Error::Config(format!("invalid PostgreSQL URL: {error}")))?;
        if let Some(schema) = schema
            && (schema.is_empty()
                || !schema
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            return Err(Error::Config(format!(
                "invalid schema name {schema:?}: use letters, digits and _"
            )));
        }
        // One connection first, alone and under the timeout: a pool would
        // retry a refused connection until its own timeout and then report
        // only that it timed out.
        let action = match schema {
            Some(schema) => format!("create schema {schema}"),
            None => "open the store".to_owned(),
        };
        let mut first = connect(&options, connect_timeout, &action).await?;
        if let Some(schema) = schema {
            let create = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
            match tokio::time::timeout(connect_timeout, sqlx::query(&create).execute(&mut first))
                .await
            {
                Ok(created) => {
                    created?;
                }
                Err(_) => return Err(no_answer(&options, connect_timeout, &action)),
            }
            options = options.options([("search_path", schema)]);
        }
        // Closing only says goodbye to the server; dropping would do.
        let _ = first.close().await;
        // No ping before each use: a broken connection fails its statement,
        // and the writer retries the batch on a fresh one.
        let writer = PgWriter(OwnConnection::new(
            &options,
            connect_timeout,
            "open the writer's connection",
        ));
        let mut claimer =
            OwnConnection::new(&options, connect_timeout, "open the claimer's connection");
        claimer.options = claimer_options(&options);
        let claimer = tokio::sync::Mutex::new(claimer);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .acquire_timeout(connect_timeout)
            .connect_with(options.clone())
            .await
            .map_err(|error| Error::Connect {
                action: "open the connection pool".into(),
                host: host_of(&options),
                reason: error.to_string(),
            })?;
        migrate(&pool).await?;
        Ok(PostgresStore {
            writer: GroupCommit::spawn(writer, MAX_BATCH),
            pool,
            claimer,
            listener: Mutex::new(None),
            lease,
        })
    }

    /// Applies a write: a claim on the claimer's connection, any other
    /// write through the writer.
    async fn write(&self, op: WriteOp) -> Result<WriteOut, Error> {
        match op {
            WriteOp::Claim(request) => {
                let mut claimer = self.claimer.lock().await;
                let claimed = claim(claimer.get().await?, &request).await;
                Ok(WriteOut::Claimed(claimer.keep_if_ok(claimed)?))
            }
            op => self.writer.submit(op).await,
        }
    }
}

/// Takes libpq's `connect_timeout` (whole seconds) out of `url`, which
/// sqlx would ignore with a warning: the URL without it, and the timeout.
fn split_connect_timeout(url: &str) -> Result<(String, Duration), Error> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), DEFAULT_CONNECT_TIMEOUT));
    };
    let mut timeout = DEFAULT_CONNECT_TIMEOUT;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("connect_timeout", value)) => {
                timeout = match value.parse::<u64>() {
                    Ok(seconds) if seconds > 0 => Duration::from_secs(seconds),
                    // libpq waits forever for 0; here every connection has
                    // a timeout.
                    _ => {
                        return Err(Error::Config(format!(
                            "invalid connect_timeout {value:?} in the PostgreSQL URL: give whole seconds, at least 1"
                        )));
                    }
                }
            }
            _ => kept.push(pair),
        }
    }
    Ok(if kept.is_empty() {
        (base.to_owned(), timeout)
    } else {
        (format!("{base}?{}", kept.join("&")), timeout)
    })
}

/// The server of `options`, as `host:port` (or the socket's path): what a
/// connection error names, never the password.
fn host_of(options: &PgConnectOptions) -> String {
    match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    }
}

/// The error of a server that did not answer within `timeout`.
fn no_answer(options: &PgConnectOptions, timeout: Duration, action: &str) -> Error {
    Error::Connect {
        action: action.to_owned(),
        host: host_of(options),
        reason: format!(
            "no answer within {timeout:?} (the URL's connect_timeout, in seconds, sets this)"
        ),
    }
}

/// Opens one connection for `action`, giving up after `timeout`: the error
/// names the server and the action.
async fn connect(
    options: &PgConnectOptions,
    timeout: Duration,
    action: &str,
) -> Result<PgConnection, Error> {
    match tokio::time::timeout(timeout, PgConnection::connect_with(options)).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(error)) => Err(Error::Connect {
            action: action.to_owned(),
            host: host_of(options),
            reason: error.to_string(),
        }),
        Err(_) => Err(no_answer(options, timeout, action)),
    }
}

async fn migrate(pool: &PgPool) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    // Many workers may start at once: one migrates, the others wait.
    sqlx::query("SELECT pg_advisory_xact_lock(7201)")
        .execute(&mut *tx)
        .await?;
    sqlx::query(MIGRATION_TABLE).execute(&mut *tx).await?;
    let current: Result<(i64,), sqlx::Error> =
        sqlx::query_as("SELECT COALESCE(MAX(version), 0) FROM wf_migration")
            .fetch_one(&mut *tx)
            .await;
    let current = match current {
        Ok((current,)) => current,
        Err(error) => {
            tx.rollback().await?;
            return Err(foreign_table(pool).await.unwrap_or_else(|| error.into()));
        }
    };
    super::refuse_newer_schema(current, MIGRATIONS)?;
    for (version, sql) in MIGRATIONS.iter().filter(|(version, _)| *version > current) {
        if let Err(error) = sqlx::raw_sql(sql).execute(&mut *tx).await {
            // A table of the same name made by someone else is the likely
            // cause: name it rather than only the statement that failed.
            tx.rollback().await?;
            return Err(foreign_table(pool).await.unwrap_or_else(|| error.into()));
        }
        sqlx::query("INSERT INTO wf_migration (version, applied_at) VALUES ($1, $2)")
            .bind(version)
            .bind(crate::model::sync::system_now_ms())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The table recording which migrations ran.
const MIGRATION_TABLE: &str = "CREATE TABLE IF NOT EXISTS wf_migration (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)";

/// A durable table in the current schema that lacks columns durable's schema
/// gives it (one created by someone else), if there is one. The reference
/// is what [`MIGRATIONS`] make of a scratch schema, in a transaction that is
/// rolled back (PostgreSQL's DDL is transactional), so nothing stays. Best
/// effort: `None` when the comparison itself cannot run (say, without the
/// right to create a schema).
async fn foreign_table(pool: &PgPool) -> Option<Error> {
    let mut tx = pool.begin().await.ok()?;
    let compared = async {
        let (schema,): (Option<String>,) = sqlx::query_as("SELECT current_schema()::text")
            .fetch_one(&mut *tx)
            .await?;
        let probe = format!(
            "durable_probe_{}",
            RunId::new().to_string().replace('-', "")
        );
        sqlx::raw_sql(&format!(
            "CREATE SCHEMA {probe}; SET LOCAL search_path TO {probe}; {MIGRATION_TABLE}"
        ))
        .execute(&mut *tx)
        .await?;
        for (_, sql) in MIGRATIONS {
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
        }
        let columns = "SELECT table_name::text, column_name::text FROM information_schema.columns \
                       WHERE table_schema = $1 ORDER BY table_name, ordinal_position";
        let reference: Vec<(String, String)> = sqlx::query_as(columns)
            .bind(&probe)
            .fetch_all(&mut *tx)
            .await?;
        let found: Vec<(String, String)> = sqlx::query_as(columns)
            .bind(schema.unwrap_or_default())
            .fetch_all(&mut *tx)
            .await?;
        Ok::<_, sqlx::Error>((reference, found))
    }
    .await;
    // Nothing of the scratch schema stays, whatever happened.
    let _ = tx.rollback().await;
    let (reference, found) = compared.ok()?;
    let mut tables: Vec<&str> = reference.iter().map(|(table, _)| table.as_str()).collect();
    tables.dedup();
    tables.into_iter().find_map(|table| {
        let has = |column: &str| found.iter().any(|(t, c)| t == table && c == column);
        if !found.iter().any(|(t, _)| t == table) {
            return None;
        }
        let missing: Vec<&str> = reference
            .iter()
            .filter(|(t, column)| t == table && !has(column))
            .map(|(_, column)| column.as_str())
            .collect();
        (!missing.is_empty()).then(|| Error::foreign_table(table, &missing))
    })
}

/// The writer connection's settings. Its statements find rows by key,
/// whatever their arguments: planning each once saves a custom plan per
/// batch (most of the cost of a lone step's write). A statement is planned
/// on its first use, maybe while the tables are nearly empty, so sequential
/// scans are off: a plan that scanned a small table whole would go on doing
/// so as the table grows (a claim with 10,000 runs had come to take 5 to
/// 13 ms). A statement with no other way to read a table still scans it.
///
/// For the same reason a statement that reads runs by id tests their
/// status as `(status = 'running') IS TRUE`: the same test, but not one an
/// index can answer. Written plainly, on empty tables it made the indexes
/// by status (`wf_instance_list`, `wf_instance_lease`) look as cheap as the
/// primary key, and the plan made then read every running run for each step
/// saved (in W1, most of a batch's time went there).
fn writer_options(options: &PgConnectOptions) -> PgConnectOptions {
    options.clone().options([
        ("plan_cache_mode", "force_generic_plan"),
        ("enable_seqscan", "off"),
    ])
}

/// The claimer connection's settings: the writer's, and no sorts. A claim
/// must read its runs in the order of an index, but planned while the tables
/// were nearly empty (or before the statistics knew better) it could find a
/// bitmap scan and a sort of every due run cheaper; that plan would stay.
/// The journal a claim reads along is ordered inside its aggregate, which
/// this does not touch.
fn claimer_options(options: &PgConnectOptions) -> PgConnectOptions {
    writer_options(options).options([("enable_sort", "off")])
}

/// A connection of the store's own, outside the pool, with the writer's
/// settings ([`writer_options`]): opened on first use, and again after a
/// failure left it in doubt.
struct OwnConnection {
    options: PgConnectOptions,
    /// How long opening it may take.
    timeout: Duration,
    /// What it is for, as a connection error says.
    action: &'static str,
    /// `None` until connected, and again after a failed use.
    connection: Option<PgConnection>,
}

impl OwnConnection {
    fn new(options: &PgConnectOptions, timeout: Duration, action: &'static str) -> Self {
        OwnConnection {
            options: writer_options(options),
            timeout,
            action,
            connection: None,
        }
    }

    /// The connection, opened if it is not. A failure to open it is an
    /// [`Error::Database`] (naming the server), as any other failure of a
    /// write is: the engine retries those.
    async fn get(&mut self) -> Result<&mut PgConnection, Error> {
        Ok(match &mut self.connection {
            Some(connection) => connection,
            slot @ None => slot.insert(
                connect(&self.options, self.timeout, self.action)
                    .await
                    .map_err(|error| Error::Database(Box::new(error)))?,
            ),
        })
    }

    /// Forgets the connection if `result` failed: it may be broken or inside
    /// a failed transaction, so the next use starts on a fresh one.
    fn keep_if_ok<T>(&mut self, result: Result<T, Error>) -> Result<T, Error> {
        if result.is_err() {
            self.connection = None;
        }
        result
    }

    async fn close(&mut self) {
        if let Some(connection) = self.connection.take() {
            // Closing only says goodbye to the server; dropping would do.
            let _ = connection.close().await;
        }
    }
}

/// The group-commit writer: applies batches on a connection of its own, so
/// a write never waits for a connection of the pool.
struct PgWriter(OwnConnection);

type Results = BatchResults<WriteOut>;

impl BatchApply for PgWriter {
    type Op = WriteOp;
    type Out = WriteOut;

    fn apply<'a>(&'a mut self, ops: &'a [WriteOp]) -> BoxFuture<'a, Result<Results, Error>> {
        Box::pin(async move {
            let applied = apply_batch(self.0.get().await?, ops).await;
            self.0.keep_if_ok(applied)
        })
    }
}

/// Applies `ops` in one transaction, or as one autocommit statement.
///
/// The writes most runs make (creates, step results and finishes) run as
/// one statement ([`HOT_CREATED`]); a batch of nothing else needs no
/// transaction. The others run in phase order (see [`WriteOp::phase`]),
/// the hot statement taking the finishes' place: the ops of a batch were
/// submitted concurrently, so any order is a valid serial order, except
/// that a run's detached writes (log lines, `running` markers) must land
/// before its finish.
async fn apply_batch(connection: &mut PgConnection, ops: &[WriteOp]) -> Result<Results, Error> {
    let mut notes = Notes::default();
    let mut results: Vec<Option<Result<WriteOut, Error>>> = ops.iter().map(|_| None).collect();
    // A suspension's steps are saved with the hot writes; the suspension
    // itself follows them.
    let mut hot: Vec<usize> = (0..ops.len())
        .filter(|&i| is_hot(&ops[i]) || carries_steps(&ops[i]))
        .collect();
    let mut rest: Vec<usize> = (0..ops.len()).filter(|&i| !is_hot(&ops[i])).collect();
    let cancels_descendants = hot.iter().any(|&i| ends_descendants(&ops[i]));
    if rest.is_empty() && !cancels_descendants {
        apply_hot(connection, ops, &hot, &mut results).await?;
    } else if let ([], [index]) = (hot.as_slice(), rest.as_slice())
        && alone_is_atomic(&ops[*index])
    {
        // One write whose only change is one statement: autocommit
        // saves the BEGIN and COMMIT round trips.
        results[*index] = Some(apply_op(connection, &ops[*index], &mut notes).await?);
        notes.send(connection).await?;
    } else {
        let mut tx = connection.begin().await?;
        cancel_timed_out_children(&mut tx, ops, &mut hot, &mut results, &mut notes).await?;
        rest.sort_by_key(|&index| ops[index].phase());
        // The hot writes go where the finishes' phase is: a log line or a
        // `running` marker a run queued before its finish lands first.
        let split = rest.partition_point(|&index| ops[index].phase() < FINISH_PHASE);
        for &index in &rest[..split] {
            results[index] = Some(apply_op(&mut tx, &ops[index], &mut notes).await?);
        }
        if !hot.is_empty() {
            apply_hot(&mut tx, ops, &hot, &mut results).await?;
            if cancels_descendants {
                cancel_descendants(&mut tx, ops, &hot, &mut results, &mut notes).await?;
            }
        }
        for group in rest[split..].chunk_by(|&a, &b| ops[a].phase() == ops[b].phase()) {
            if let WriteOp::Suspend { .. } = &ops[group[0]] {
                suspend_runs(&mut tx, ops, group, &mut results).await?;
                continue;
            }
            for &index in group {
                results[index] = Some(apply_op(&mut tx, &ops[index], &mut notes).await?);
            }
        }
        notes.send(&mut tx).await?;
        tx.commit().await?;
    }
    Ok(results
        .into_iter()
        .map(|result| result.unwrap_or_else(|| Err(unexpected())))
        .collect())
}

/// Whether a write changes the database with a single statement (its other
/// statements only read, or announce), so it needs no explicit transaction.
fn alone_is_atomic(op: &WriteOp) -> bool {
    matches!(
        op,
        WriteOp::Suspend { .. }
            | WriteOp::Claim(_)
            | WriteOp::AppendLog(..)
            | WriteOp::RenewLeases { .. }
    )
}

/// Whether a write is a creation, a step result or a finish, which
/// [`apply_hot`] applies in one statement.
fn is_hot(op: &WriteOp) -> bool {
    matches!(
        op,
        WriteOp::Create(_) | WriteOp::SaveStep(..) | WriteOp::Finish { .. }
    )
}

/// Whether a write is a suspension that saves steps as well.
fn carries_steps(op: &WriteOp) -> bool {
    matches!(op, WriteOp::Suspend { steps, .. } if !steps.is_empty())
}

/// Whether a write ends a run whose unfinished descendants must then be
/// cancelled (it timed out or aborted), which takes more statements.
fn ends_descendants(op: &WriteOp) -> bool {
    matches!(
        op,
        WriteOp::Finish {
            outcome: RunOutcome::TimedOut | RunOutcome::Cancelled(_),
            ..
        }
    )
}

/// Creates, step results and finishes as one statement, each kind a
/// multi-row write over arrays (`$1`–`$33`); [`hot_writes_sql`] leaves out
/// the kinds a batch does not hold (their arrays are bound, empty, and
/// unused):
/// - `created`: new runs; one claimed as it is created (it has an owner)
///   starts `running`, as a claim would leave it. A taken idempotency key
///   inserts nothing.
/// - `saved`: step results, each fenced by its run's lease: the run's row is
///   read `FOR SHARE`, so a claim cannot take the run until this commits.
///   A completed step is never overwritten.
/// - `finished`: runs ended, fenced by their lease. Their rows are locked
///   by this statement, and `register_wait` reads them `FOR SHARE`: a wait
///   registered concurrently is either settled here or sees its run ended.
/// - `settled` and `woken`: the steps waiting for the ended runs, and their
///   runs, made due now.
/// - `announced`: every worker told of the ended runs, the woken runs and
///   the new unclaimed runs when this commits.
///
/// Its rows name what was written: `('created', run)`,
/// `('saved', run, step)`, `('finished', run)`, and `('awaited', run)` for
/// an ended run whose waiters were settled.
const HOT_CREATED: &str = "\
created AS ( \
  INSERT INTO wf_instance (id, workflow, status, input, idempotency_key, created_at, \
    updated_at, ready_at, deadline_at, parent_id, lease_owner, lease_expires_at, \
    lease_token, executions, started_at) \
  SELECT v.id::uuid, v.workflow, \
    CASE WHEN v.owner IS NULL THEN 'pending' ELSE 'running' END, v.input::jsonb, v.key, \
    v.now, v.now, CASE WHEN v.owner IS NULL THEN v.ready END, v.deadline, v.parent::uuid, \
    v.owner, v.expires, CASE WHEN v.owner IS NULL THEN 0 ELSE $11 END, \
    CASE WHEN v.owner IS NULL THEN 0 ELSE 1 END, \
    CASE WHEN v.owner IS NULL THEN NULL ELSE v.now END \
  FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], \
    $7::bigint[], $8::text[], $9::text[], $10::bigint[]) \
    AS v(id, workflow, input, key, now, ready, deadline, parent, owner, expires) \
  ON CONFLICT (workflow, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
  RETURNING id, lease_owner), \
created_announced AS ( \
  SELECT pg_notify($33, '') WHERE EXISTS (SELECT 1 FROM created WHERE lease_owner IS NULL))";

/// The step results of [`HOT_CREATED`]'s statement.
const HOT_SAVED: &str = "\
saved AS ( \
  INSERT INTO wf_step (instance_id, name, seq, kind, status, input, output, error, \
    attempts, wake_at, created_at, updated_at) \
  SELECT v.id::uuid, v.name, v.seq, v.kind, v.status, v.input::jsonb, v.output::jsonb, \
    v.error, v.attempts, v.wake_at, v.updated_at, v.updated_at \
  FROM UNNEST($12::text[], $13::text[], $14::bigint[], $15::text[], $16::text[], \
    $17::text[], $18::text[], $19::text[], $20::int[], $21::bigint[], $22::bigint[], \
    $23::bigint[]) \
    AS v(id, name, seq, kind, status, input, output, error, attempts, wake_at, updated_at, \
      token) \
  WHERE EXISTS (SELECT 1 FROM wf_instance AS i WHERE i.id = v.id::uuid \
    AND i.lease_token = v.token AND (i.status = 'running') IS TRUE FOR SHARE) \
  ON CONFLICT (instance_id, name) DO UPDATE SET status = excluded.status, \
    input = COALESCE(excluded.input, wf_step.input), output = excluded.output, \
    error = excluded.error, attempts = excluded.attempts, \
    wake_at = excluded.wake_at, updated_at = excluded.updated_at \
  WHERE wf_step.status <> 'completed' \
  RETURNING instance_id, name)";

/// The finishes of [`HOT_CREATED`]'s statement.
const HOT_FINISHED: &str = "\
finished AS ( \
  UPDATE wf_instance AS i SET status = v.status, output = v.output::jsonb, \
    error = v.error, finished_at = v.now, updated_at = v.now, ready_at = NULL, \
    lease_owner = NULL, lease_expires_at = NULL \
  FROM UNNEST($24::text[], $25::text[], $26::text[], $27::text[], $28::bigint[], \
    $29::bigint[], $30::text[], $31::bool[]) \
    AS v(id, status, output, error, now, token, outcome, completed) \
  WHERE i.id = v.id::uuid AND i.lease_token = v.token AND (i.status = 'running') IS TRUE \
  {after_saved}RETURNING i.id, v.outcome, v.completed, v.now), \
settled AS ( \
  UPDATE wf_step AS s SET \
    status = CASE WHEN f.completed THEN 'completed' ELSE 'failed' END, \
    output = f.outcome::jsonb, updated_at = f.now \
  FROM finished AS f WHERE s.wait_run = f.id AND s.status = 'waiting' \
  RETURNING s.instance_id, f.now, f.id AS awaited), \
woken AS ( \
  UPDATE wf_instance AS p SET updated_at = w.now, \
    ready_at = CASE WHEN p.ready_at IS NULL OR p.ready_at > w.now \
      THEN w.now ELSE p.ready_at END \
  FROM (SELECT instance_id, MIN(now) AS now FROM settled GROUP BY instance_id) AS w \
  WHERE p.id = w.instance_id AND (p.status IN ('running', 'suspended')) IS TRUE \
    AND p.id NOT IN (SELECT id FROM finished) \
  RETURNING p.id), \
finished_announced AS ( \
  SELECT pg_notify($32, id::text) FROM finished \
  UNION ALL SELECT pg_notify($33, '') WHERE EXISTS (SELECT 1 FROM woken))";

/// The statement of [`HOT_CREATED`] for the kinds of writes a batch holds.
fn hot_writes_sql(creates: bool, saves: bool, finishes: bool) -> &'static str {
    static STATEMENTS: [std::sync::OnceLock<String>; 8] = [const { std::sync::OnceLock::new() }; 8];
    let key = usize::from(creates) | usize::from(saves) << 1 | usize::from(finishes) << 2;
    STATEMENTS[key].get_or_init(|| {
        let mut parts = Vec::new();
        let mut rows = Vec::new();
        if creates {
            parts.push(HOT_CREATED);
            rows.push("SELECT 'created', id::text, NULL FROM created");
            rows.push("SELECT 'announced', NULL, COUNT(*)::text FROM created_announced");
        }
        if saves {
            parts.push(HOT_SAVED);
            rows.push("SELECT 'saved', instance_id::text, name FROM saved");
        }
        let finished;
        if finishes {
            // With steps saved as well, the finishes wait for them (the
            // condition reads `saved` first): a run's step result queued
            // before its finish lands, and locking its row does not meet the
            // row already updated by this statement.
            let after_saved = if saves {
                "AND (SELECT COUNT(*) FROM saved) >= 0 "
            } else {
                ""
            };
            finished = HOT_FINISHED.replace("{after_saved}", after_saved);
            parts.push(&finished);
            rows.push("SELECT 'finished', id::text, NULL FROM finished");
            rows.push("SELECT DISTINCT 'awaited', awaited::text, NULL FROM settled");
            rows.push("SELECT 'announced', NULL, COUNT(*)::text FROM finished_announced");
        }
        format!("WITH {} {}", parts.join(", "), rows.join(" UNION ALL "))
    })
}

/// Applies the [`is_hot`] writes at `indices` in one statement
/// ([`HOT_CREATED`]). A write
/// that wrote nothing is then explained by reads: a taken idempotency key,
/// a lost lease, or a step completed by another execution.
async fn apply_hot(
    connection: &mut PgConnection,
    ops: &[WriteOp],
    indices: &[usize],
    results: &mut [Option<Result<WriteOut, Error>>],
) -> Result<(), Error> {
    if let [index] = indices
        && let WriteOp::SaveStep(lease, step) = &ops[*index]
    {
        // A lone step result (a run's steps one after another): the
        // single-row statement costs less than the multi-row one.
        let written = upsert_step(connection, lease, step, &WaitColumns::default()).await?;
        results[*index] = Some(step_saved(connection, written, lease, step).await?);
        return Ok(());
    }
    let mut creates = CreateColumns::default();
    let mut finishes = FinishColumns::default();
    let mut steps: Vec<(&Lease, &StepRecord)> = Vec::new();
    for &index in indices {
        match &ops[index] {
            WriteOp::Create(run) => creates.push(run),
            WriteOp::SaveStep(lease, step) => keep_last_write(&mut steps, lease, step),
            // Its suspension (after this statement) is fenced as well and
            // answers for it.
            WriteOp::Suspend {
                lease,
                steps: carried,
                ..
            } => {
                for step in carried {
                    keep_last_write(&mut steps, lease, step);
                }
            }
            WriteOp::Finish {
                lease,
                outcome,
                steps: carried,
                now,
            } => {
                // Saved by this statement before the finish (see
                // `after_saved` in `hot_writes_sql`).
                for step in carried {
                    keep_last_write(&mut steps, lease, step);
                }
                finishes.push(lease, outcome, *now);
            }
            _ => {}
        }
    }
    let mut saves = SaveColumns::default();
    for (lease, step) in steps {
        saves.push(lease, step);
    }
    let sql = hot_writes_sql(
        !creates.ids.is_empty(),
        !saves.ids.is_empty(),
        !finishes.ids.is_empty(),
    );
    let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(sql)
        .bind(&creates.ids)
        .bind(&creates.workflows)
        .bind(&creates.inputs)
        .bind(&creates.keys)
        .bind(&creates.nows)
        .bind(&creates.ready)
        .bind(&creates.deadlines)
        .bind(&creates.parents)
        .bind(&creates.owners)
        .bind(&creates.lease_expiries)
        .bind(ClaimAtCreate::TOKEN)
        .bind(&saves.ids)
        .bind(&saves.names)
        .bind(&saves.seqs)
        .bind(&saves.kinds)
        .bind(&saves.statuses)
        .bind(&saves.inputs)
        .bind(&saves.outputs)
        .bind(&saves.errors)
        .bind(&saves.attempts)
        .bind(&saves.wake_ats)
        .bind(&saves.updated_ats)
        .bind(&saves.tokens)
        .bind(&finishes.ids)
        .bind(&finishes.statuses)
        .bind(&finishes.outputs)
        .bind(&finishes.errors)
        .bind(&finishes.nows)
        .bind(&finishes.tokens)
        .bind(&finishes.outcomes)
        .bind(&finishes.completed)
        .bind(FINISHED_CHANNEL)
        .bind(WAKE_CHANNEL)
        .fetch_all(&mut *connection)
        .await?;
    let written: HashSet<(String, Option<String>, Option<String>)> = rows.into_iter().collect();
    let wrote = |kind: &str, run_id: RunId, step: Option<&str>| {
        written.contains(&(
            kind.to_owned(),
            Some(run_id.to_string()),
            step.map(str::to_owned),
        ))
    };
    for &index in indices {
        results[index] = Some(match &ops[index] {
            WriteOp::Create(run) => Ok(WriteOut::Created(if wrote("created", run.id, None) {
                CreateOutcome::Created(run.id)
            } else {
                // Its key is taken (also by another run of this batch).
                existing_run(connection, run).await?
            })),
            WriteOp::SaveStep(lease, step) => {
                let written = wrote("saved", lease.run_id, Some(step.name.as_str()));
                step_saved(connection, written, lease, step).await?
            }
            WriteOp::Finish { lease, .. } if wrote("finished", lease.run_id, None) => {
                Ok(WriteOut::Finished(FinishEffects {
                    cancelled: Vec::new(),
                    woke_waiters: wrote("awaited", lease.run_id, None),
                    recorded: None,
                }))
            }
            WriteOp::Finish { lease, .. } => Err(Error::LeaseLost {
                run_id: lease.run_id,
            }),
            _ => continue,
        });
    }
    Ok(())
}

/// `Suspend` writes (also a lone one) in one statement, each fenced by its
/// run's lease. A run keeps an earlier wake-up already set (an event or a
/// finished child made it due while it ran).
async fn suspend_runs(
    connection: &mut PgConnection,
    ops: &[WriteOp],
    group: &[usize],
    results: &mut [Option<Result<WriteOut, Error>>],
) -> Result<(), Error> {
    let mut ids = Vec::new();
    let mut ready = Vec::new();
    let mut nows = Vec::new();
    let mut tokens = Vec::new();
    for &index in group {
        if let WriteOp::Suspend {
            lease,
            ready_at,
            now,
            ..
        } = &ops[index]
        {
            ids.push(lease.run_id.to_string());
            ready.push(*ready_at);
            nows.push(*now);
            tokens.push(lease.token);
        }
    }
    let suspended: HashSet<String> = sqlx::query_scalar(
        "UPDATE wf_instance AS i SET status = 'suspended', \
           ready_at = CASE WHEN i.ready_at IS NOT NULL \
             AND (v.ready IS NULL OR i.ready_at < v.ready) THEN i.ready_at ELSE v.ready END, \
           updated_at = v.now, lease_owner = NULL, lease_expires_at = NULL \
         FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) \
           AS v(id, ready, now, token) \
         WHERE i.id = v.id::uuid AND i.lease_token = v.token AND (i.status = 'running') IS TRUE \
         RETURNING i.id::text",
    )
    .bind(&ids)
    .bind(&ready)
    .bind(&nows)
    .bind(&tokens)
    .fetch_all(&mut *connection)
    .await?
    .into_iter()
    .collect();
    for &index in group {
        if let WriteOp::Suspend { lease, .. } = &ops[index] {
            let done = u64::from(suspended.contains(&lease.run_id.to_string()));
            results[index] = Some(fenced(done, lease));
        }
    }
    Ok(())
}

/// Cancels the unfinished descendants of the runs at `indices` that ended
/// timed out or aborted, and adds them to those finishes' results.
async fn cancel_descendants(
    connection: &mut PgConnection,
    ops: &[WriteOp],
    indices: &[usize],
    results: &mut [Option<Result<WriteOut, Error>>],
    notes: &mut Notes,
) -> Result<(), Error> {
    for &index in indices {
        if let WriteOp::Finish { lease, now, .. } = &ops[index]
            && ends_descendants(&ops[index])
            && let Some(Ok(WriteOut::Finished(effects))) = &mut results[index]
        {
            effects
                .cancelled
                .extend(cancel_tree(connection, lease.run_id, false, *now, notes).await?);
        }
    }
    Ok(())
}

/// Ends as `cancelled` the runs whose finish at `hot` is a timeout while
/// their parent is unfinished and past its deadline too: its timeout
/// cancels them, so they end the same whichever deadline the engine meets
/// first (see [`FinishEffects::recorded`]). Their steps are saved first, as
/// a finish saves them; their finishes leave `hot`. A parent's timeout
/// committed meanwhile cancelled the child already and bumped its lease,
/// so the child's row, read under its lease, is not found then.
async fn cancel_timed_out_children(
    connection: &mut PgConnection,
    ops: &[WriteOp],
    hot: &mut Vec<usize>,
    results: &mut [Option<Result<WriteOut, Error>>],
    notes: &mut Notes,
) -> Result<(), Error> {
    let mut kept = Vec::with_capacity(hot.len());
    for &index in hot.iter() {
        let WriteOp::Finish {
            lease,
            outcome: RunOutcome::TimedOut,
            steps,
            now,
        } = &ops[index]
        else {
            kept.push(index);
            continue;
        };
        let overdue_parent: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM wf_instance AS c JOIN wf_instance AS p ON p.id = c.parent_id \
             WHERE c.id = $1::uuid AND c.lease_token = $2 AND (c.status = 'running') IS TRUE \
             AND (p.status IN ('pending', 'running', 'suspended')) IS TRUE \
             AND p.deadline_at IS NOT NULL AND p.deadline_at <= $3 FOR UPDATE OF c",
        )
        .bind(lease.run_id.to_string())
        .bind(lease.token)
        .bind(now)
        .fetch_optional(&mut *connection)
        .await?;
        if overdue_parent.is_none() {
            kept.push(index);
            continue;
        }
        for step in steps {
            upsert_step(connection, lease, step, &WaitColumns::default()).await?;
        }
        let mut cancelled = cancel_tree(connection, lease.run_id, true, *now, notes).await?;
        cancelled.retain(|run_id| *run_id != lease.run_id);
        results[index] = Some(Ok(WriteOut::Finished(FinishEffects {
            cancelled,
            // Its parent's `invoke` step was settled.
            woke_waiters: true,
            recorded: Some(RunOutcome::Cancelled(String::new())),
        })));
    }
    *hot = kept;
    Ok(())
}

/// Adds a step write to `steps`, keeping one write per (run, step): the
/// last one that is not a `running` marker, else the last one. PostgreSQL
/// updates a row once per statement, and a marker never replaces a result.
fn keep_last_write<'a>(
    steps: &mut Vec<(&'a Lease, &'a StepRecord)>,
    lease: &'a Lease,
    step: &'a StepRecord,
) {
    let same =
        |(l, s): &&mut (&Lease, &StepRecord)| l.run_id == lease.run_id && s.name == step.name;
    match steps.iter_mut().find(same) {
        Some(slot)
            if step.status != StepStatus::Running || slot.1.status == StepStatus::Running =>
        {
            *slot = (lease, step);
        }
        Some(_) => {}
        None => steps.push((lease, step)),
    }
}

/// The columns of the created runs in [`HOT_CREATED`], one array each.
#[derive(Default)]
struct CreateColumns<'a> {
    ids: Vec<String>,
    workflows: Vec<&'a str>,
    inputs: Vec<&'a str>,
    keys: Vec<Option<&'a str>>,
    nows: Vec<i64>,
    ready: Vec<i64>,
    deadlines: Vec<Option<i64>>,
    parents: Vec<Option<String>>,
    owners: Vec<Option<&'a str>>,
    lease_expiries: Vec<Option<i64>>,
}

impl<'a> CreateColumns<'a> {
    fn push(&mut self, run: &'a NewRun) {
        self.ids.push(run.id.to_string());
        self.workflows.push(&run.workflow);
        self.inputs.push(&run.input);
        self.keys.push(run.idempotency_key.as_deref());
        self.nows.push(run.now);
        self.ready.push(run.ready_at);
        self.deadlines.push(run.deadline_at);
        self.parents.push(run.parent_id.map(|id| id.to_string()));
        let claim = run.claimed_by.as_ref();
        self.owners.push(claim.map(|claim| claim.owner.as_str()));
        self.lease_expiries
            .push(claim.and_then(|claim| claim.lease_expires_at));
    }
}

/// The columns of the saved steps in [`HOT_SAVED`], one array each.
#[derive(Default)]
struct SaveColumns {
    ids: Vec<String>,
    names: Vec<String>,
    seqs: Vec<i64>,
    kinds: Vec<&'static str>,
    statuses: Vec<&'static str>,
    inputs: Vec<Option<String>>,
    outputs: Vec<Option<String>>,
    errors: Vec<Option<String>>,
    attempts: Vec<i32>,
    wake_ats: Vec<Option<i64>>,
    updated_ats: Vec<i64>,
    tokens: Vec<i64>,
}

impl SaveColumns {
    fn push(&mut self, lease: &Lease, step: &StepRecord) {
        self.ids.push(lease.run_id.to_string());
        self.names.push(step.name.clone());
        self.seqs.push(step.seq);
        self.kinds.push(step.kind.as_str());
        self.statuses.push(step.status.as_str());
        self.inputs.push(step.input.clone());
        self.outputs.push(step.output.clone());
        self.errors.push(step.error.clone());
        self.attempts
            .push(i32::try_from(step.attempts).unwrap_or(i32::MAX));
        self.wake_ats.push(step.wake_at);
        self.updated_ats.push(step.updated_at);
        self.tokens.push(lease.token);
    }
}

/// The columns of the finished runs in [`HOT_FINISHED`], one array each.
#[derive(Default)]
struct FinishColumns {
    ids: Vec<String>,
    statuses: Vec<&'static str>,
    outputs: Vec<Option<String>>,
    errors: Vec<Option<String>>,
    nows: Vec<i64>,
    tokens: Vec<i64>,
    /// How each run ended, as the steps waiting for it record it.
    outcomes: Vec<String>,
    completed: Vec<bool>,
}

impl FinishColumns {
    fn push(&mut self, lease: &Lease, outcome: &RunOutcome, now: i64) {
        let (status, output, error) = outcome_columns(outcome);
        self.ids.push(lease.run_id.to_string());
        self.statuses.push(status.as_str());
        self.outputs.push(output.map(str::to_owned));
        self.errors.push(error.map(str::to_owned));
        self.nows.push(now);
        self.tokens.push(lease.token);
        self.outcomes
            .push(run_outcome_json(status.as_str(), output, error));
        self.completed.push(status == RunStatus::Completed);
    }
}

/// What a batch must announce to the other workers when it commits.
#[derive(Default)]
struct Notes {
    wake: bool,
    finished: Vec<String>,
}

impl Notes {
    /// Sends every notification of the batch in one statement.
    async fn send(&self, connection: &mut PgConnection) -> Result<(), sqlx::Error> {
        if !self.wake && self.finished.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "SELECT pg_notify($1, '') WHERE $2 \
             UNION ALL SELECT pg_notify($3, run) FROM UNNEST($4::text[]) AS run",
        )
        .bind(WAKE_CHANNEL)
        .bind(self.wake)
        .bind(FINISHED_CHANNEL)
        .bind(&self.finished)
        .execute(&mut *connection)
        .await?;
        Ok(())
    }
}

/// Applies one write inside the batch's transaction. The outer error fails
/// the transaction; the inner one refuses this write alone.
async fn apply_op(
    connection: &mut PgConnection,
    op: &WriteOp,
    notes: &mut Notes,
) -> Result<Result<WriteOut, Error>, Error> {
    Ok(match op {
        // Orphaned runs are reclaimed when their lease expires.
        WriteOp::Recover { .. } => Ok(WriteOut::Count(0)),
        WriteOp::Create(_) | WriteOp::SaveStep(..) | WriteOp::Finish { .. } => {
            // `apply_batch` applies these with `apply_hot`; this is the same
            // for one alone.
            let mut results = [None];
            apply_hot(connection, std::slice::from_ref(op), &[0], &mut results).await?;
            cancel_descendants(
                connection,
                std::slice::from_ref(op),
                &[0],
                &mut results,
                notes,
            )
            .await?;
            let [result] = results;
            result.unwrap_or_else(|| Err(unexpected()))
        }
        // `PostgresStore::write` runs claims on a connection of their own;
        // one in a batch all the same is applied like the other writes.
        WriteOp::Claim(request) => Ok(WriteOut::Claimed(claim(connection, request).await?)),
        WriteOp::Suspend { .. } => {
            // Suspends go through the multi-row path, also one alone.
            let mut results = [None];
            if carries_steps(op) {
                apply_hot(connection, std::slice::from_ref(op), &[0], &mut results).await?;
            }
            suspend_runs(connection, std::slice::from_ref(op), &[0], &mut results).await?;
            let [result] = results;
            result.unwrap_or_else(|| Err(unexpected()))
        }
        WriteOp::Release { lease, now } => {
            notes.wake = true;
            fenced(
                sqlx::query(
                    "UPDATE wf_instance SET status = 'pending', ready_at = $1, updated_at = $1, \
                     lease_owner = NULL, lease_expires_at = NULL \
                     WHERE id = $2::uuid AND lease_token = $3 AND (status = 'running') IS TRUE",
                )
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
            let cancelled = cancel_tree(connection, *run_id, true, *now, notes).await?;
            let outcome = if cancelled.contains(run_id) {
                TransitionOutcome::Done
            } else {
                transition(connection, *run_id, 0).await?
            };
            Ok(WriteOut::Transition(outcome, cancelled))
        }
        WriteOp::Retry {
            run_id,
            now,
            deadline_at,
        } => {
            let changed = sqlx::query(
                "UPDATE wf_instance SET status = 'pending', ready_at = $1, updated_at = $1, \
                 deadline_at = $2, output = NULL, error = NULL, finished_at = NULL \
                 WHERE id = $3::uuid AND status IN ('failed', 'timed_out')",
            )
            .bind(now)
            .bind(deadline_at)
            .bind(run_id.to_string())
            .execute(&mut *connection)
            .await?
            .rows_affected();
            if changed == 1 {
                notes.wake = true;
                // Unfinished and failed steps, the records of the failure's
                // unwinding, and every step whose compensation completed: an
                // undone step runs again instead of being replayed as done.
                sqlx::query(
                    "DELETE FROM wf_step WHERE instance_id = $1::uuid AND (\
                     status IN ('pending', 'running', 'failed') \
                     OR substr(name, 1, 11) IN ('compensate/', 'on-failure/') \
                     OR 'compensate/' || name IN (SELECT name FROM wf_step \
                       WHERE instance_id = $1::uuid AND status = 'completed' \
                       AND substr(name, 1, 11) = 'compensate/'))",
                )
                .bind(run_id.to_string())
                .execute(&mut *connection)
                .await?;
            }
            Ok(WriteOut::Transition(
                transition(connection, *run_id, changed).await?,
                Vec::new(),
            ))
        }
        WriteOp::RegisterWait { lease, step, wait } => {
            if !holds_lease(connection, lease).await? {
                return Ok(Err(Error::LeaseLost {
                    run_id: lease.run_id,
                }));
            }
            register_wait(connection, lease, step, wait)
                .await?
                .map(WriteOut::Waited)
        }
        WriteOp::ResolveWait { lease, step, now } => {
            if !holds_lease(connection, lease).await? {
                return Ok(Err(Error::LeaseLost {
                    run_id: lease.run_id,
                }));
            }
            let output: Option<Option<String>> = sqlx::query_scalar(
                "WITH resolved AS ( \
                   UPDATE wf_step SET status = 'completed', output = 'null'::jsonb, updated_at = $1 \
                   WHERE instance_id = $2::uuid AND name = $3 AND status = 'waiting' RETURNING output) \
                 SELECT COALESCE((SELECT output::text FROM resolved), \
                   (SELECT output::text FROM wf_step WHERE instance_id = $2::uuid AND name = $3))",
            )
            .bind(now)
            .bind(lease.run_id.to_string())
            .bind(step)
            .fetch_optional(&mut *connection)
            .await?;
            Ok(WriteOut::Resolved(
                output.flatten().unwrap_or_else(|| "null".into()),
            ))
        }
        WriteOp::SendEvent { event, origin } => {
            if let Some((lease, _)) = origin
                && !holds_lease(connection, lease).await?
            {
                return Ok(Err(Error::LeaseLost {
                    run_id: lease.run_id,
                }));
            }
            let sent = send_event(connection, event).await?;
            notes.wake |= !sent.woken.is_empty();
            if let Some((lease, step)) = origin {
                let step = StepRecord {
                    output: Some(sent.id.to_string()),
                    ..step.clone()
                };
                upsert_step(connection, lease, &step, &WaitColumns::default()).await?;
            }
            Ok(WriteOut::Sent(sent))
        }
        WriteOp::StartChild {
            lease,
            step,
            child,
            wait,
        } => {
            if !holds_lease(connection, lease).await? {
                return Ok(Err(Error::LeaseLost {
                    run_id: lease.run_id,
                }));
            }
            create_run(connection, child, Some(lease.run_id)).await?;
            notes.wake = true;
            if *wait {
                let columns = WaitColumns::of(&Wait::Run { run_id: child.id });
                upsert_step(connection, lease, step, &columns).await?;
            } else {
                let step = StepRecord {
                    output: Some(format!("\"{}\"", child.id)),
                    ..step.clone()
                };
                upsert_step(connection, lease, &step, &WaitColumns::default()).await?;
            }
            Ok(WriteOut::Done)
        }
        WriteOp::AppendLog(lease, line) => {
            if !holds_lease(connection, lease).await? {
                return Ok(Err(Error::LeaseLost {
                    run_id: lease.run_id,
                }));
            }
            sqlx::query(
                "INSERT INTO wf_log (instance_id, level, message, fields, key, created_at) \
                 VALUES ($1::uuid, $2, $3, $4::jsonb, $5, $6) ON CONFLICT (instance_id, key) DO NOTHING",
            )
            .bind(lease.run_id.to_string())
            .bind(line.level.as_str())
            .bind(&line.message)
            .bind(&line.fields)
            .bind(&line.key)
            .bind(line.created_at)
            .execute(&mut *connection)
            .await?;
            Ok(WriteOut::Done)
        }
        WriteOp::DeleteFinished(request) => {
            let statuses: Vec<&str> = request.statuses.to_vec();
            // Steps and log lines go with their run (no foreign key
            // cascades, see schema_2.sql).
            let deleted: i64 = sqlx::query_scalar(
                "WITH gone AS (DELETE FROM wf_instance WHERE id IN (SELECT id FROM wf_instance \
                   WHERE status = ANY($1) AND finished_at < $2 \
                   AND ($3::text IS NULL OR workflow = $3) \
                   AND workflow NOT IN (SELECT jsonb_array_elements_text($4::jsonb)) LIMIT $5) \
                   RETURNING id), \
                 steps AS (DELETE FROM wf_step WHERE instance_id IN (SELECT id FROM gone)), \
                 logs AS (DELETE FROM wf_log WHERE instance_id IN (SELECT id FROM gone)) \
                 SELECT COUNT(*) FROM gone",
            )
            .bind(&statuses)
            .bind(request.finished_before)
            .bind(&request.workflow)
            .bind(&request.except)
            .bind(i64::try_from(request.limit).unwrap_or(i64::MAX))
            .fetch_one(&mut *connection)
            .await?;
            Ok(WriteOut::Count(u64::try_from(deleted).unwrap_or(0)))
        }
        WriteOp::TimeOutOverdue { now, limit } => {
            // An overdue child of an unfinished overdue parent is cancelled,
            // as its parent's timeout would cancel it (see
            // `FinishEffects::recorded`); the others time out.
            let children: Vec<String> = sqlx::query_scalar(
                "SELECT c.id::text FROM wf_instance AS c JOIN wf_instance AS p ON p.id = c.parent_id \
                 WHERE c.status IN ('pending', 'suspended') AND c.deadline_at <= $1 \
                 AND p.status IN ('pending', 'running', 'suspended') AND p.deadline_at <= $1 \
                 LIMIT $2 FOR UPDATE OF c SKIP LOCKED",
            )
            .bind(now)
            .bind(i64::try_from(*limit).unwrap_or(i64::MAX))
            .fetch_all(&mut *connection)
            .await?;
            let mut ended = Vec::new();
            for id in children {
                ended.extend(cancel_tree(connection, parse_run_id(&id)?, true, *now, notes).await?);
            }
            let ids: Vec<String> = sqlx::query_scalar(
                "UPDATE wf_instance SET status = 'timed_out', error = 'workflow timeout', \
                 finished_at = $1, updated_at = $1, ready_at = NULL, \
                 lease_token = lease_token + 1, lease_owner = NULL, lease_expires_at = NULL \
                 WHERE id IN (SELECT id FROM wf_instance WHERE status IN ('pending', 'suspended') \
                   AND deadline_at IS NOT NULL AND deadline_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED) \
                 RETURNING id::text",
            )
            .bind(now)
            .bind(i64::try_from(*limit).unwrap_or(i64::MAX))
            .fetch_all(&mut *connection)
            .await?;
            for id in ids {
                let run_id = parse_run_id(&id)?;
                ended.push(run_id);
                ended.extend(
                    after_finish(connection, run_id, &RunOutcome::TimedOut, *now, notes).await?,
                );
            }
            Ok(WriteOut::Ended(ended))
        }
        WriteOp::DeleteEvents { before, limit } => {
            let deleted = sqlx::query(
                "DELETE FROM wf_event WHERE id IN (SELECT id FROM wf_event WHERE created_at < $1 LIMIT $2)",
            )
            .bind(before)
            .bind(i64::try_from(*limit).unwrap_or(i64::MAX))
            .execute(&mut *connection)
            .await?
            .rows_affected();
            Ok(WriteOut::Count(deleted))
        }
        WriteOp::RenewLeases { leases, until } => {
            let ids: Vec<String> = leases
                .iter()
                .map(|lease| lease.run_id.to_string())
                .collect();
            let tokens: Vec<i64> = leases.iter().map(|lease| lease.token).collect();
            let renewed: Vec<String> = sqlx::query_scalar(
                "UPDATE wf_instance AS i SET lease_expires_at = $3 \
                 FROM UNNEST($1::text[], $2::bigint[]) AS l(id, token) \
                 WHERE i.id = l.id::uuid AND i.lease_token = l.token AND (i.status = 'running') IS TRUE \
                 RETURNING i.id::text",
            )
            .bind(&ids)
            .bind(&tokens)
            .bind(until)
            .fetch_all(&mut *connection)
            .await?;
            let lost = leases
                .iter()
                .filter(|lease| !renewed.contains(&lease.run_id.to_string()))
                .map(|lease| lease.run_id)
                .collect();
            Ok(WriteOut::Lost(lost))
        }
    })
}

/// A claimed run: id, workflow, input, token, deadline, executions, and its
/// journal as a JSON array of [`StepRow`]s (`NULL` when empty).
type ClaimRow = (
    String,
    String,
    String,
    i64,
    Option<i64>,
    i32,
    Option<String>,
);

async fn claim(
    connection: &mut PgConnection,
    request: &ClaimRequest,
) -> Result<Vec<ClaimedRun>, Error> {
    let rows: Vec<ClaimRow> = sqlx::query_as(
        // Runs whose lease expired (their worker died), then due runs, each
        // read in the order of its own index: a claim reads the rows it
        // takes, however many are due (one scan over both conditions sorted
        // every due run). Expired leases go first so that a dead worker's
        // runs are taken over within a lease and a claim, not behind the
        // whole backlog; they cannot starve the due runs, as each is taken
        // once and then held by a live worker. The workflow names are an
        // array filter, not a join, which would lose the index order; the
        // update finds the claimed rows by primary key (as a join, the plan
        // scanned the whole table).
        "WITH expired AS ( \
           SELECT id FROM wf_instance WHERE status = 'running' AND lease_expires_at < $2 \
             AND workflow = ANY (ARRAY(SELECT jsonb_array_elements_text($4::jsonb))) \
           ORDER BY lease_expires_at LIMIT $3 FOR UPDATE SKIP LOCKED), \
         due AS ( \
           SELECT id FROM wf_instance WHERE status IN ('pending', 'suspended') \
             AND ready_at <= $2 \
             AND workflow = ANY (ARRAY(SELECT jsonb_array_elements_text($4::jsonb))) \
           ORDER BY ready_at LIMIT GREATEST($3 - (SELECT COUNT(*) FROM expired), 0) \
           FOR UPDATE SKIP LOCKED) \
         UPDATE wf_instance SET status = 'running', lease_token = lease_token + 1, \
           lease_owner = $1, lease_expires_at = $5, executions = executions + 1, \
           started_at = COALESCE(started_at, $2), updated_at = $2, ready_at = NULL \
         WHERE id = ANY (ARRAY(SELECT id FROM expired UNION ALL SELECT id FROM due)) \
         RETURNING id::text, workflow, input::text, lease_token, deadline_at, executions, \
           (SELECT json_agg(json_build_array(s.name, s.seq, s.kind, s.status, s.input::text, \
              s.output::text, s.error, s.attempts, s.wake_at, s.updated_at) \
              ORDER BY s.created_at, s.seq) \
            FROM wf_step AS s WHERE s.instance_id = wf_instance.id AND executions > 1)::text",
    )
    .bind(&request.owner)
    .bind(request.now)
    .bind(i64::try_from(request.limit).unwrap_or(i64::MAX))
    .bind(&*request.workflows)
    .bind(request.lease_expires_at)
    .fetch_all(&mut *connection)
    .await?;
    rows.into_iter()
        .map(
            |(id, workflow, input, token, deadline_at, executions, journal)| {
                // The claim reads the journal along: one statement instead of a
                // read per run.
                let journal: Vec<StepRow> = match journal {
                    Some(json) => serde_json::from_str(&json).map_err(|error| {
                        decode_error(format!("a claimed run's journal: {error}"))
                    })?,
                    None => Vec::new(),
                };
                Ok(ClaimedRun {
                    lease: Lease {
                        run_id: parse_run_id(&id)?,
                        token,
                    },
                    workflow,
                    input,
                    deadline_at,
                    executions: i64::from(executions),
                    journal: Some(
                        journal
                            .into_iter()
                            .map(step_record)
                            .collect::<Result<_, _>>()?,
                    ),
                })
            },
        )
        .collect()
}

async fn create_run(
    connection: &mut PgConnection,
    run: &NewRun,
    parent: Option<RunId>,
) -> Result<CreateOutcome, Error> {
    let inserted = sqlx::query(
        "INSERT INTO wf_instance (id, workflow, status, input, idempotency_key, created_at, \
           updated_at, ready_at, deadline_at, parent_id) \
         VALUES ($1::uuid, $2, 'pending', $3::jsonb, $4, $5, $5, $6, $7, $8::uuid) \
         ON CONFLICT (workflow, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING",
    )
    .bind(run.id.to_string())
    .bind(&run.workflow)
    .bind(&run.input)
    .bind(&run.idempotency_key)
    .bind(run.now)
    .bind(run.ready_at)
    .bind(run.deadline_at)
    .bind(parent.or(run.parent_id).map(|id| id.to_string()))
    .execute(&mut *connection)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(CreateOutcome::Created(run.id));
    }
    existing_run(connection, run).await
}

/// The run that holds `run`'s idempotency key.
async fn existing_run(connection: &mut PgConnection, run: &NewRun) -> Result<CreateOutcome, Error> {
    let (id, same): (String, bool) = sqlx::query_as(
        "SELECT id::text, input = $3::jsonb FROM wf_instance WHERE workflow = $1 AND idempotency_key = $2",
    )
    .bind(&run.workflow)
    .bind(&run.idempotency_key)
    .bind(&run.input)
    .fetch_one(&mut *connection)
    .await?;
    let existing = parse_run_id(&id)?;
    Ok(if same {
        CreateOutcome::Existing(existing)
    } else {
        CreateOutcome::Conflict(existing)
    })
}

/// Inserts or updates a step record with its wait columns (never one
/// already completed), fenced by the run's lease; returns whether it wrote.
async fn upsert_step(
    connection: &mut PgConnection,
    lease: &Lease,
    step: &StepRecord,
    wait: &WaitColumns,
) -> Result<bool, Error> {
    let written = sqlx::query(
        "INSERT INTO wf_step (instance_id, name, seq, kind, status, input, output, error, \
           attempts, wake_at, event_name, event_filter, wait_run, created_at, updated_at) \
         SELECT $1::uuid, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10, $11, $12::jsonb, \
           $13::uuid, $14, $14 \
         WHERE EXISTS (SELECT 1 FROM wf_instance WHERE id = $1::uuid AND lease_token = $15 \
           AND (status = 'running') IS TRUE FOR SHARE) \
         ON CONFLICT (instance_id, name) DO UPDATE SET status = excluded.status, \
           input = COALESCE(excluded.input, wf_step.input), output = excluded.output, \
           error = excluded.error, attempts = excluded.attempts, \
           wake_at = excluded.wake_at, event_name = excluded.event_name, \
           event_filter = excluded.event_filter, wait_run = excluded.wait_run, \
           updated_at = excluded.updated_at \
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
    .bind(i64::from(step.attempts))
    .bind(step.wake_at)
    .bind(&wait.event)
    .bind(&wait.filter)
    .bind(&wait.run)
    .bind(step.updated_at)
    .bind(lease.token)
    .execute(connection)
    .await?
    .rows_affected();
    Ok(written == 1)
}

/// Serializes the waits and sends of one key (an event name, a run) across
/// every worker, for the rest of the transaction.
async fn lock_key(connection: &mut PgConnection, key: &str) -> Result<(), Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(key)
        .execute(connection)
        .await?;
    Ok(())
}

async fn register_wait(
    connection: &mut PgConnection,
    lease: &Lease,
    step: &StepRecord,
    wait: &Wait,
) -> Result<Result<Option<String>, Error>, Error> {
    let satisfied: Option<(String, StepStatus)> = match wait {
        Wait::Event {
            name,
            filter,
            lookback_from,
        } => {
            lock_key(connection, &format!("event:{name}")).await?;
            match lookback_from {
                // Not an event an earlier wait of this run took (see `Wait::Event`).
                Some(from) => sqlx::query_as::<_, (i64, String)>(
                    "SELECT id, data::text FROM wf_event WHERE name = $1 AND target_run IS NULL \
                     AND created_at >= $2 AND ($3::jsonb IS NULL OR data @> $3::jsonb) \
                     AND id NOT IN (SELECT (output->>'event_id')::bigint FROM wf_step \
                       WHERE instance_id = $4::uuid AND kind = 'wait_for_event' \
                       AND status = 'completed' AND output->>'event_id' IS NOT NULL) \
                     ORDER BY id LIMIT 1",
                )
                .bind(name)
                .bind(from)
                .bind(filter)
                .bind(lease.run_id.to_string())
                .fetch_optional(&mut *connection)
                .await?
                .map(|(id, data)| (event_output_json(id, &data), StepStatus::Completed)),
                None => None,
            }
        }
        Wait::Signal { name } => {
            lock_key(connection, &format!("signal:{}:{name}", lease.run_id)).await?;
            let buffered: Option<(i64, String)> = sqlx::query_as(
                "SELECT id, data::text FROM wf_event WHERE target_run = $1::uuid AND name = $2 \
                 AND consumed_by IS NULL ORDER BY id LIMIT 1",
            )
            .bind(lease.run_id.to_string())
            .bind(name)
            .fetch_optional(&mut *connection)
            .await?;
            match buffered {
                Some((id, data)) => {
                    consume_signal(connection, id, lease.run_id, &step.name).await?;
                    Some((event_output_json(id, &data), StepStatus::Completed))
                }
                None => None,
            }
        }
        Wait::Run { run_id } => {
            // Locks the awaited run's row against its finish until this
            // transaction commits (see `settle_run_waiters`).
            let ended: Option<(String, Option<String>, Option<String>)> = sqlx::query_as(
                "SELECT status, output::text, error FROM wf_instance WHERE id = $1::uuid FOR SHARE",
            )
            .bind(run_id.to_string())
            .fetch_optional(&mut *connection)
            .await?;
            match ended {
                None => return Ok(Err(Error::RunNotFound(*run_id))),
                Some((status, output, error)) => {
                    let parsed = parse_run_status(&status)?;
                    parsed.is_terminal().then(|| {
                        let outcome =
                            run_outcome_json(&status, output.as_deref(), error.as_deref());
                        let step_status = if parsed == RunStatus::Completed {
                            StepStatus::Completed
                        } else {
                            StepStatus::Failed
                        };
                        (outcome, step_status)
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
            upsert_step(connection, lease, &step, &WaitColumns::default()).await?;
            Ok(Ok(Some(output)))
        }
        None => {
            let columns = WaitColumns::of(wait);
            upsert_step(connection, lease, step, &columns).await?;
            Ok(Ok(None))
        }
    }
}

async fn consume_signal(
    connection: &mut PgConnection,
    id: i64,
    run_id: RunId,
    step: &str,
) -> Result<(), Error> {
    sqlx::query("UPDATE wf_event SET consumed_by = $1 WHERE id = $2")
        .bind(format!("{run_id}/{step}"))
        .bind(id)
        .execute(connection)
        .await?;
    Ok(())
}

async fn send_event(connection: &mut PgConnection, event: &NewEvent) -> Result<SentEvent, Error> {
    let target = event.target.map(|run| run.to_string());
    let key = match &target {
        Some(run) => format!("signal:{run}:{}", event.name),
        None => format!("event:{}", event.name),
    };
    lock_key(connection, &key).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO wf_event (name, data, target_run, created_at) \
         VALUES ($1, $2::jsonb, $3::uuid, $4) RETURNING id",
    )
    .bind(&event.name)
    .bind(&event.data)
    .bind(&target)
    .bind(event.now)
    .fetch_one(&mut *connection)
    .await?;
    // A run that ended takes no more events: its waiting steps stay as the
    // end left them (see `StepStatus`).
    let waiters: Vec<(String, String)> = match &target {
        // A signal goes to its run's oldest waiting `listen` only.
        Some(run) => {
            sqlx::query_as(
                "SELECT s.instance_id::text, s.name FROM wf_step AS s \
             JOIN wf_instance AS i ON i.id = s.instance_id \
             WHERE s.status = 'waiting' AND s.event_name = $1 AND s.kind = 'listen' \
             AND s.instance_id = $2::uuid AND i.status IN ('pending', 'running', 'suspended') \
             ORDER BY s.seq LIMIT 1",
            )
            .bind(&event.name)
            .bind(run)
            .fetch_all(&mut *connection)
            .await?
        }
        None => {
            sqlx::query_as(
                "SELECT s.instance_id::text, s.name FROM wf_step AS s \
             JOIN wf_instance AS i ON i.id = s.instance_id \
             WHERE s.status = 'waiting' AND s.event_name = $1 AND s.kind = 'wait_for_event' \
             AND (s.event_filter IS NULL OR $2::jsonb @> s.event_filter) \
             AND i.status IN ('pending', 'running', 'suspended')",
            )
            .bind(&event.name)
            .bind(&event.data)
            .fetch_all(&mut *connection)
            .await?
        }
    };
    let output = event_output_json(id, &event.data);
    let mut woken = Vec::with_capacity(waiters.len());
    for (instance, step) in waiters {
        complete_waiting_step(
            connection,
            &instance,
            &step,
            StepStatus::Completed,
            &output,
            event.now,
        )
        .await?;
        let run_id = parse_run_id(&instance)?;
        if target.is_some() {
            consume_signal(connection, id, run_id, &step).await?;
        }
        woken.push(run_id);
    }
    Ok(SentEvent { id, woken })
}

/// Completes a waiting step and makes its run due now (a running run keeps
/// the wake in `ready_at`, which its suspension honours).
async fn complete_waiting_step(
    connection: &mut PgConnection,
    instance: &str,
    step: &str,
    status: StepStatus,
    output: &str,
    now: i64,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE wf_step SET status = $1, output = $2::jsonb, updated_at = $3 \
         WHERE instance_id = $4::uuid AND name = $5 AND status = 'waiting'",
    )
    .bind(status.as_str())
    .bind(output)
    .bind(now)
    .bind(instance)
    .bind(step)
    .execute(&mut *connection)
    .await?;
    sqlx::query(
        "UPDATE wf_instance SET ready_at = CASE WHEN ready_at IS NULL OR ready_at > $1 \
           THEN $1 ELSE ready_at END, updated_at = $1 \
         WHERE id = $2::uuid AND (status IN ('running', 'suspended')) IS TRUE",
    )
    .bind(now)
    .bind(instance)
    .execute(connection)
    .await?;
    Ok(())
}

/// After a run ended: settles the steps waiting for it, and cancels its
/// unfinished descendants if it timed out or was aborted.
async fn after_finish(
    connection: &mut PgConnection,
    run_id: RunId,
    outcome: &RunOutcome,
    now: i64,
    notes: &mut Notes,
) -> Result<Vec<RunId>, Error> {
    after_finish_many(connection, &[(run_id, outcome, now)], notes).await
}

/// [`after_finish`] for several runs, settling all their waiters in one
/// statement.
async fn after_finish_many(
    connection: &mut PgConnection,
    ended: &[(RunId, &RunOutcome, i64)],
    notes: &mut Notes,
) -> Result<Vec<RunId>, Error> {
    let mut settled = Vec::with_capacity(ended.len());
    for (run_id, outcome, _) in ended {
        notes.finished.push(run_id.to_string());
        let (status, output, error) = outcome_columns(outcome);
        let json = run_outcome_json(status.as_str(), output, error);
        settled.push((*run_id, json, status == RunStatus::Completed));
    }
    let now = ended
        .iter()
        .map(|(_, _, now)| *now)
        .max()
        .unwrap_or_default();
    settle_run_waiters(connection, &settled, now, notes).await?;
    let mut cancelled = Vec::new();
    for (run_id, outcome, now) in ended {
        if matches!(outcome, RunOutcome::TimedOut | RunOutcome::Cancelled(_)) {
            cancelled.extend(cancel_tree(connection, *run_id, false, *now, notes).await?);
        }
    }
    Ok(cancelled)
}

/// Completes the steps waiting for these runs with how each ended, and
/// wakes their runs, in one statement. The runs' rows are locked by this
/// transaction (it just updated them), and `register_wait` reads them
/// `FOR SHARE`: a wait registered concurrently is either seen here or sees
/// the run ended.
async fn settle_run_waiters(
    connection: &mut PgConnection,
    ended: &[EndedRun],
    now: i64,
    notes: &mut Notes,
) -> Result<(), Error> {
    if ended.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = ended.iter().map(|(id, _, _)| id.to_string()).collect();
    let outcomes: Vec<&str> = ended
        .iter()
        .map(|(_, outcome, _)| outcome.as_str())
        .collect();
    let completed: Vec<bool> = ended.iter().map(|(_, _, completed)| *completed).collect();
    let woken: i64 = sqlx::query_scalar(
        "WITH settled AS ( \
           UPDATE wf_step AS s SET \
             status = CASE WHEN o.completed THEN 'completed' ELSE 'failed' END, \
             output = o.outcome::jsonb, updated_at = $4 \
           FROM UNNEST($1::text[], $2::text[], $3::bool[]) AS o(id, outcome, completed) \
           WHERE s.wait_run = o.id::uuid AND s.status = 'waiting' \
           RETURNING s.instance_id), \
         woken AS ( \
           UPDATE wf_instance SET ready_at = CASE WHEN ready_at IS NULL OR ready_at > $4 \
             THEN $4 ELSE ready_at END, updated_at = $4 \
           WHERE id IN (SELECT instance_id FROM settled) AND (status IN ('running', 'suspended')) IS TRUE \
           RETURNING id) \
         SELECT COUNT(*) FROM woken",
    )
    .bind(&ids)
    .bind(&outcomes)
    .bind(&completed)
    .bind(now)
    .fetch_one(&mut *connection)
    .await?;
    notes.wake |= woken > 0;
    Ok(())
}

async fn cancel_tree(
    connection: &mut PgConnection,
    root: RunId,
    include_root: bool,
    now: i64,
    notes: &mut Notes,
) -> Result<Vec<RunId>, Error> {
    let ids: Vec<String> = sqlx::query_scalar(
        "WITH RECURSIVE tree(id) AS ( \
           SELECT $2::uuid UNION SELECT i.id FROM wf_instance AS i JOIN tree ON i.parent_id = tree.id) \
         UPDATE wf_instance SET status = 'cancelled', lease_token = lease_token + 1, \
           lease_owner = NULL, lease_expires_at = NULL, ready_at = NULL, finished_at = $1, updated_at = $1 \
         WHERE id IN (SELECT id FROM tree) AND ($3 OR id <> $2::uuid) \
           AND (status IN ('pending', 'running', 'suspended')) IS TRUE \
         RETURNING id::text",
    )
    .bind(now)
    .bind(root.to_string())
    .bind(include_root)
    .fetch_all(&mut *connection)
    .await?;
    let (cancelled, settled) = cancelled_runs(&ids)?;
    notes
        .finished
        .extend(cancelled.iter().map(ToString::to_string));
    settle_run_waiters(connection, &settled, now, notes).await?;
    Ok(cancelled)
}

/// The result of a step write (see [`super::rows::unwritten_step`]).
async fn step_saved(
    connection: &mut PgConnection,
    written: bool,
    lease: &Lease,
    step: &StepRecord,
) -> Result<Result<WriteOut, Error>, Error> {
    if written {
        return Ok(Ok(WriteOut::Done));
    }
    Ok(super::rows::unwritten_step(
        holds_lease(connection, lease).await?,
        lease,
        step,
    ))
}

async fn holds_lease(connection: &mut PgConnection, lease: &Lease) -> Result<bool, Error> {
    let held: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM wf_instance WHERE id = $1::uuid AND lease_token = $2 AND (status = 'running') IS TRUE \
         FOR SHARE",
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
    connection: &mut PgConnection,
    run_id: RunId,
    changed: u64,
) -> Result<TransitionOutcome, Error> {
    if changed == 1 {
        return Ok(TransitionOutcome::Done);
    }
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM wf_instance WHERE id = $1::uuid")
            .bind(run_id.to_string())
            .fetch_optional(connection)
            .await?;
    Ok(match status {
        Some(status) => TransitionOutcome::Refused(parse_run_status(&status)?),
        None => TransitionOutcome::NotFound,
    })
}

impl RunStore for PostgresStore {
    super::ops::queued_run_writes!();

    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn lease_duration(&self) -> Option<Duration> {
        Some(self.lease)
    }

    fn watch(&self, signal: Arc<dyn Fn(StoreSignal) + Send + Sync>) {
        let pool = self.pool.clone();
        let task = tokio::spawn(async move {
            loop {
                let mut listener = match PgListener::connect_with(&pool).await {
                    Ok(listener) => listener,
                    Err(error) => {
                        tracing::warn!(%error, "cannot LISTEN for wake-ups; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                };
                if let Err(error) = listener.listen_all([WAKE_CHANNEL, FINISHED_CHANNEL]).await {
                    tracing::warn!(%error, "cannot LISTEN for wake-ups; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                // Whatever was announced while not listening is found by polling.
                signal(StoreSignal::Wake);
                loop {
                    match listener.recv().await {
                        Ok(note) if note.channel() == FINISHED_CHANNEL => {
                            if let Ok(run_id) = note.payload().parse() {
                                signal(StoreSignal::Finished(run_id));
                            }
                        }
                        Ok(_) => signal(StoreSignal::Wake),
                        Err(error) => {
                            tracing::warn!(%error, "lost the LISTEN connection; reconnecting");
                            break;
                        }
                    }
                }
            }
        });
        *lock(&self.listener) = Some(task.abort_handle());
    }

    fn next_ready_at(&self, workflows: Arc<str>) -> BoxFuture<'_, Result<Option<i64>, Error>> {
        Box::pin(async move {
            let next: Option<i64> = sqlx::query_scalar(
                "SELECT LEAST( \
                   (SELECT ready_at FROM wf_instance WHERE status IN ('pending', 'suspended') \
                      AND ready_at IS NOT NULL \
                      AND workflow IN (SELECT jsonb_array_elements_text($1::jsonb)) \
                      ORDER BY ready_at LIMIT 1), \
                   (SELECT lease_expires_at FROM wf_instance WHERE status = 'running' \
                      AND workflow IN (SELECT jsonb_array_elements_text($1::jsonb)) \
                      ORDER BY lease_expires_at LIMIT 1))",
            )
            .bind(&*workflows)
            .fetch_one(&self.pool)
            .await?;
            Ok(next)
        })
    }

    fn load_journal(&self, run_id: RunId) -> BoxFuture<'_, Result<Vec<StepRecord>, Error>> {
        Box::pin(async move {
            let rows: Vec<StepRow> = sqlx::query_as(
                "SELECT name, seq, kind, status, input::text, output::text, error, \
                 attempts::bigint, wake_at, updated_at FROM wf_step WHERE instance_id = $1::uuid \
                 ORDER BY created_at, seq",
            )
            .bind(run_id.to_string())
            .fetch_all(&self.pool)
            .await?;
            rows.into_iter().map(step_record).collect()
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.writer.close().await;
            self.claimer.lock().await.close().await;
            if let Some(listener) = lock(&self.listener).take() {
                listener.abort();
            }
            self.pool.close().await;
        })
    }
}

impl WaitStore for PostgresStore {
    super::ops::queued_wait_writes!();
}

impl MaintenanceStore for PostgresStore {
    super::ops::queued_maintenance_writes!();
}

impl ReadStore for PostgresStore {
    fn last_cron_fire(&self, workflow: String) -> BoxFuture<'_, Result<Option<i64>, Error>> {
        Box::pin(async move {
            let last: Option<i64> = sqlx::query_scalar(
                "SELECT MAX(substr(idempotency_key, 6)::bigint) FROM wf_instance \
                 WHERE workflow = $1 AND idempotency_key LIKE 'cron:%'",
            )
            .bind(&workflow)
            .fetch_one(&self.pool)
            .await?;
            Ok(last)
        })
    }

    fn unfinished_runs(&self, workflow: String) -> BoxFuture<'_, Result<Vec<RunId>, Error>> {
        Box::pin(async move {
            let ids: Vec<String> = sqlx::query_scalar(
                "SELECT id::text FROM wf_instance WHERE workflow = $1 \
                 AND status IN ('pending', 'running', 'suspended')",
            )
            .bind(&workflow)
            .fetch_all(&self.pool)
            .await?;
            ids.iter().map(|id| parse_run_id(id)).collect()
        })
    }

    fn load_logs(&self, run_id: RunId) -> BoxFuture<'_, Result<Vec<LogLine>, Error>> {
        Box::pin(async move {
            let rows: Vec<(String, String, String, Option<String>, i64)> = sqlx::query_as(
                "SELECT key, level, message, fields::text, created_at FROM wf_log \
                 WHERE instance_id = $1::uuid ORDER BY id",
            )
            .bind(run_id.to_string())
            .fetch_all(&self.pool)
            .await?;
            rows.into_iter().map(super::rows::log_line).collect()
        })
    }

    fn child_runs(&self, run_id: RunId) -> BoxFuture<'_, Result<Vec<RunId>, Error>> {
        Box::pin(async move {
            let ids: Vec<String> = sqlx::query_scalar(
                "SELECT id::text FROM wf_instance WHERE parent_id = $1::uuid \
                 ORDER BY created_at, id",
            )
            .bind(run_id.to_string())
            .fetch_all(&self.pool)
            .await?;
            ids.iter().map(|id| parse_run_id(id)).collect()
        })
    }

    fn get_run(&self, run_id: RunId) -> BoxFuture<'_, Result<Option<RunInfo>, Error>> {
        Box::pin(async move {
            let row: Option<RunRow> = sqlx::query_as(
                "SELECT id::text, workflow, status, input::text, output::text, error, \
                 idempotency_key, created_at, finished_at, deadline_at, executions::bigint, \
                 parent_id::text, started_at FROM wf_instance WHERE id = $1::uuid",
            )
            .bind(run_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
            row.map(run_info).transpose()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StepKind;

    /// A loopback server that accepts connections and never answers, as a
    /// hung PostgreSQL would: its port. The connections stay open until the
    /// test process ends.
    fn silent_server() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                held.push(stream);
            }
        });
        port
    }

    /// The error of starting an engine on `url` (with `schema`), which must
    /// come within `limit`.
    async fn start_error(url: &str, schema: Option<&str>, limit: Duration) -> Error {
        let mut builder = crate::Engine::builder().postgres(url);
        if let Some(schema) = schema {
            builder = builder.postgres_schema(schema);
        }
        match tokio::time::timeout(limit, builder.start()).await {
            Err(_) => panic!("the engine's start hung on {url}"),
            Ok(Ok(_)) => panic!("the engine started on {url}"),
            Ok(Err(error)) => error,
        }
    }

    /// A server that accepts the connection and never answers: the start
    /// gives up after the connect timeout, with or without a schema to
    /// create (the connection that created it had no timeout), and says
    /// what it was doing and to which server, not the password.
    #[tokio::test]
    async fn a_start_against_a_server_that_never_answers_times_out() {
        let port = silent_server();
        let url = format!("postgres://durable:s3cret@127.0.0.1:{port}/db?connect_timeout=1");
        for (schema, action) in [
            (Some("app"), "to create schema app"),
            (None, "to open the store"),
        ] {
            let error = start_error(&url, schema, Duration::from_secs(30)).await;
            let message = error.to_string();
            assert!(matches!(error, Error::Connect { .. }), "{message}");
            assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
            assert!(message.contains(action), "{message}");
            assert!(message.contains("no answer within 1s"), "{message}");
            assert!(!message.contains("s3cret"), "{message}");
        }
    }

    /// A server that refuses connections: the start says so (not that a
    /// pool timed out), naming the server, with or without a schema.
    #[tokio::test]
    async fn a_start_against_a_refusing_server_says_it_refused() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let url = format!("postgres://durable:s3cret@127.0.0.1:{port}/db");
        for schema in [Some("app"), None] {
            let error = start_error(&url, schema, Duration::from_secs(30)).await;
            let message = error.to_string();
            assert!(matches!(error, Error::Connect { .. }), "{message}");
            assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
            assert!(message.to_lowercase().contains("refused"), "{message}");
            assert!(!message.contains("s3cret"), "{message}");
        }
    }

    #[test]
    fn connect_timeout_is_taken_out_of_the_url() {
        let (url, timeout) =
            split_connect_timeout("postgres://u@h/db?sslmode=disable&connect_timeout=3").unwrap();
        assert_eq!(
            (url.as_str(), timeout),
            ("postgres://u@h/db?sslmode=disable", Duration::from_secs(3))
        );
        let (url, timeout) = split_connect_timeout("postgres://u@h/db?connect_timeout=2").unwrap();
        assert_eq!(
            (url.as_str(), timeout),
            ("postgres://u@h/db", Duration::from_secs(2))
        );
        let (url, timeout) = split_connect_timeout("postgres://u@h/db").unwrap();
        assert_eq!(
            (url.as_str(), timeout),
            ("postgres://u@h/db", DEFAULT_CONNECT_TIMEOUT)
        );
        for bad in ["0", "-1", "1.5", ""] {
            let url = format!("postgres://u:pw@h/db?connect_timeout={bad}");
            assert!(
                matches!(split_connect_timeout(&url), Err(Error::Config(_))),
                "{bad:?}"
            );
        }
    }

    /// A store on a fresh schema (`t_<label>_<12 hex>`), with the server's
    /// URL and the schema's name; `None` (after a notice) without
    /// `DURABLE_TEST_POSTGRES_URL` (`.ci/run` sets it).
    async fn store_on_fresh_schema(label: &str) -> Option<(PostgresStore, String, String)> {
        let Ok(url) = std::env::var("DURABLE_TEST_POSTGRES_URL") else {
            eprintln!("skipped: set DURABLE_TEST_POSTGRES_URL to run the PostgreSQL store tests");
            return None;
        };
        let schema = format!(
            "t_{label}_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let store = PostgresStore::open(&url, Some(&schema), Duration::from_secs(30))
            .await
            .unwrap();
        Some((store, url, schema))
    }

    /// A fresh schema, migrated, and a connection to it with `settings`
    /// ([`writer_options`] or [`claimer_options`]); `None` (after a notice)
    /// without `DURABLE_TEST_POSTGRES_URL`.
    async fn writer_on_fresh_schema(
        label: &str,
        settings: fn(&PgConnectOptions) -> PgConnectOptions,
    ) -> Option<(PgConnection, String)> {
        let (store, url, schema) = store_on_fresh_schema(label).await?;
        store.close().await;
        let options: PgConnectOptions = url.parse().unwrap();
        let writer = PgConnection::connect_with(&settings(
            &options.options([("search_path", schema.as_str())]),
        ))
        .await
        .unwrap();
        Some((writer, schema))
    }

    /// A run of workflow `w` due at 1 ms, claimed as it is created by `owner`
    /// if given (its lease token is then 1).
    fn new_run(id: RunId, owner: Option<&str>) -> NewRun {
        NewRun {
            id,
            workflow: "w".into(),
            input: "null".into(),
            idempotency_key: None,
            now: 1,
            ready_at: 1,
            deadline_at: None,
            parent_id: None,
            claimed_by: owner.map(|owner| ClaimAtCreate {
                owner: owner.into(),
                lease_expires_at: Some(31_000),
            }),
        }
    }

    /// The plan of prepared statement `name`, run with every argument NULL
    /// (the writer's plans are generic: they do not depend on arguments).
    async fn generic_plan(writer: &mut PgConnection, name: &str, arguments: usize) -> String {
        let nulls = vec!["NULL"; arguments].join(", ");
        let explain = if arguments == 0 {
            format!("EXPLAIN EXECUTE {name}")
        } else {
            format!("EXPLAIN EXECUTE {name}({nulls})")
        };
        let plan: Vec<(String,)> = sqlx::query_as(&explain)
            .fetch_all(&mut *writer)
            .await
            .unwrap();
        plan.into_iter()
            .map(|(line,)| line)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The claimer plans a claim on its first use, here on empty tables;
    /// the plan must still read by index once the table holds many runs.
    /// Needs `DURABLE_TEST_POSTGRES_URL` (`.ci/run` sets it); skips without.
    #[tokio::test]
    async fn a_claim_planned_on_empty_tables_reads_by_index_as_they_grow() {
        let Some((mut writer, schema)) = writer_on_fresh_schema("claimplan", claimer_options).await
        else {
            return;
        };
        let request = ClaimRequest {
            owner: "plan-test".into(),
            now: 1_000,
            limit: 100,
            workflows: r#"["w"]"#.into(),
            lease_expires_at: Some(31_000),
        };
        assert!(claim(&mut writer, &request).await.unwrap().is_empty());
        sqlx::raw_sql(
            "INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at, ready_at) \
             SELECT gen_random_uuid(), 'w', 'pending', 'null', g, g, g FROM generate_series(1, 5000) AS g; \
             INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at, \
               lease_owner, lease_expires_at, lease_token) \
             SELECT gen_random_uuid(), 'w', 'running', 'null', g, g, 'other', 2000 + g, 1 \
             FROM generate_series(1, 5000) AS g",
        )
        .execute(&mut writer)
        .await
        .unwrap();
        let (name, generic_plans): (String, i64) = sqlx::query_as(
            "SELECT name, generic_plans FROM pg_prepared_statements WHERE statement LIKE 'WITH expired AS%'",
        )
        .fetch_one(&mut writer)
        .await
        .unwrap();
        assert_eq!(generic_plans, 1, "the first claim made the plan");
        // The plan made on empty tables, then the one made again once
        // ANALYZE gave the planner the table's real size.
        for when in ["planned on empty tables", "planned after ANALYZE"] {
            let plan = generic_plan(&mut writer, &name, 5).await;
            assert!(
                !plan.contains("Seq Scan") && !plan.contains("Sort"),
                "{when}, the claim scans or sorts every due run:\n{plan}"
            );
            sqlx::raw_sql("ANALYZE wf_instance")
                .execute(&mut writer)
                .await
                .unwrap();
        }
        assert_eq!(claim(&mut writer, &request).await.unwrap().len(), 100);
        sqlx::raw_sql(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&mut writer)
            .await
            .unwrap();
    }

    /// Every fenced write reads its run by primary key, also when planned on
    /// empty tables and run once thousands of runs are running: a plan that
    /// read the runs by their lease had come to read every running run for
    /// each step saved.
    #[tokio::test]
    async fn fenced_writes_planned_on_empty_tables_read_their_run_by_key() {
        let Some((mut writer, schema)) = writer_on_fresh_schema("fenceplan", writer_options).await
        else {
            return;
        };
        let run_id = RunId::new();
        let lease = Lease { run_id, token: 1 };
        let step = StepRecord::completed("a", 0, StepKind::Run);
        let create = WriteOp::Create(new_run(run_id, Some("plan-test")));
        let save = || WriteOp::SaveStep(lease, step.clone());
        let finish = || WriteOp::Finish {
            lease,
            outcome: RunOutcome::Completed("1".into()),
            steps: vec![step.clone()],
            now: 2,
        };
        let suspend = WriteOp::Suspend {
            lease,
            ready_at: Some(5),
            steps: vec![step.clone()],
            now: 2,
        };
        let renew = WriteOp::RenewLeases {
            leases: vec![lease],
            until: 60_000,
        };
        // Each kind of batch plans its statements on the empty tables.
        for batch in [
            vec![create, save(), finish()],
            vec![save()],
            vec![suspend],
            vec![renew],
            vec![finish()],
            vec![WriteOp::Release { lease, now: 3 }],
            vec![WriteOp::Cancel { run_id, now: 3 }],
        ] {
            apply_batch(&mut writer, &batch).await.unwrap();
        }
        sqlx::raw_sql(
            "INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at, \
               lease_owner, lease_expires_at, lease_token) \
             SELECT gen_random_uuid(), 'w', 'running', 'null', g, g, 'other', 40000 + g, 1 \
             FROM generate_series(1, 5000) AS g",
        )
        .execute(&mut writer)
        .await
        .unwrap();
        let statements: Vec<(String, String, i32)> = sqlx::query_as(
            "SELECT name, statement, COALESCE(cardinality(parameter_types), 0) \
             FROM pg_prepared_statements WHERE statement NOT LIKE 'WITH expired AS%'",
        )
        .fetch_all(&mut writer)
        .await
        .unwrap();
        assert!(statements.len() >= 8, "planned: {statements:?}");
        for when in ["planned on empty tables", "planned after ANALYZE"] {
            for (name, statement, arguments) in &statements {
                let plan = generic_plan(&mut writer, name, *arguments as usize).await;
                // Runs are read by key: their id (the primary key) or, for a
                // run's children, their parent; not by status or lease, and
                // not by a scan of the table.
                let reads_by_key = plan.lines().all(|line| {
                    !line.contains("Seq Scan on wf_instance")
                        && line
                            .split("using wf_instance_")
                            .skip(1)
                            .all(|index| index.starts_with("pkey ") || index.starts_with("parent "))
                });
                assert!(
                    reads_by_key,
                    "{when}, a fenced write reads every running run:\n{statement}\n{plan}"
                );
            }
            sqlx::raw_sql("ANALYZE wf_instance")
                .execute(&mut writer)
                .await
                .unwrap();
        }
        sqlx::raw_sql(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&mut writer)
            .await
            .unwrap();
    }

    /// Expired leases are claimed before a backlog of due runs (a dead
    /// worker's runs had waited behind the whole queue), and the rest of
    /// the claim's limit still goes to due runs.
    #[tokio::test]
    async fn a_claim_takes_expired_leases_before_a_backlog() {
        let Some((store, url, schema)) = store_on_fresh_schema("claimexpired").await else {
            return;
        };
        for _ in 0..50 {
            store.create_run(new_run(RunId::new(), None)).await.unwrap();
        }
        // Two runs of a worker that died: their leases end at 31,000.
        let dead = [RunId::new(), RunId::new()];
        for run_id in dead {
            store
                .create_run(new_run(run_id, Some("dead-worker")))
                .await
                .unwrap();
        }
        let claimed = store
            .claim_ready(ClaimRequest {
                owner: "live-worker".into(),
                now: 40_000,
                limit: 4,
                workflows: r#"["w"]"#.into(),
                lease_expires_at: Some(70_000),
            })
            .await
            .unwrap();
        let ids: Vec<RunId> = claimed.iter().map(|run| run.lease.run_id).collect();
        assert_eq!(ids.len(), 4, "the claim fills its limit: {ids:?}");
        for run_id in dead {
            assert!(
                ids.contains(&run_id),
                "a dead worker's run waits behind the backlog"
            );
        }
        store.close().await;
        let mut admin = PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&mut admin)
            .await
            .unwrap();
    }

    /// A claim does not queue behind the writer: with the writer's batch
    /// stuck on a locked row, a due run is still claimed.
    #[tokio::test]
    async fn a_claim_does_not_wait_for_the_writers_batch() {
        let Some((store, url, schema)) = store_on_fresh_schema("claimaside").await else {
            return;
        };
        let store = Arc::new(store);
        let (running, due) = (RunId::new(), RunId::new());
        store
            .create_run(new_run(running, Some("worker")))
            .await
            .unwrap();
        store.create_run(new_run(due, None)).await.unwrap();
        // Another session locks the running run's row: the writer's next
        // batch, a step of that run, waits for it.
        let options: PgConnectOptions = url.parse().unwrap();
        let mut other =
            PgConnection::connect_with(&options.options([("search_path", schema.as_str())]))
                .await
                .unwrap();
        sqlx::raw_sql("BEGIN").execute(&mut other).await.unwrap();
        sqlx::query("SELECT 1 FROM wf_instance WHERE id = $1::uuid FOR UPDATE")
            .bind(running.to_string())
            .execute(&mut other)
            .await
            .unwrap();
        let step = StepRecord::completed("a", 0, StepKind::Run);
        let lease = Lease {
            run_id: running,
            token: ClaimAtCreate::TOKEN,
        };
        let saving = tokio::spawn({
            let store = store.clone();
            async move { store.save_step(lease, step).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!saving.is_finished(), "the writer waits for the locked row");
        let claim = store.claim_ready(ClaimRequest {
            owner: "worker".into(),
            now: 1_000,
            limit: 10,
            workflows: r#"["w"]"#.into(),
            lease_expires_at: Some(31_000),
        });
        let claimed = tokio::time::timeout(Duration::from_secs(10), claim)
            .await
            .expect("the claim waited behind the writer's stuck batch")
            .unwrap();
        assert_eq!(
            claimed
                .iter()
                .map(|run| run.lease.run_id)
                .collect::<Vec<_>>(),
            [due]
        );
        sqlx::raw_sql("ROLLBACK").execute(&mut other).await.unwrap();
        saving.await.unwrap().unwrap();
        store.close().await;
        sqlx::raw_sql(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&mut other)
            .await
            .unwrap();
    }
}
