//! Runs on PostgreSQL: creation (with idempotency keys), suspension and
//! release, cancellation, retry, pause and resume, children, and the
//! `RunStore` impl.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgConnection;

use super::PostgresStore;
use super::cancel_on::register;
use super::claims::next_ready_at;
use super::finish::cancel_tree;
use super::notify::{Notes, listen};
use super::options::{batch_lease_holds, lease_holds};
use super::steps::{holds_lease, load_journal, upsert_step};
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::sync::{BoxFuture, lock};
use crate::store::changes::ChangeFeed;
use crate::store::ops::{Applied, Slots, WriteOp, WriteOut};
use crate::store::rows::unexpected;
use crate::store::rules::{existing_run, fenced, fork_refused, lease_lost, refused_transition};
use crate::store::settle::{StepWrite, child_step_write};
use crate::store::{
    ClaimRequest, ClaimedRun, CreateOutcome, FinishEffects, ForkOutcome, Lease, LogLine, NewFork,
    NewRun, Renewal, RunOutcome, RunStore, Served, StepRecord, StoreSignal, TransitionOutcome,
};

/// Creates, step results and finishes as one statement, each kind a
/// multi-row write over arrays (`$1`–`$37`); [`hot_writes_sql`] leaves out
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
pub(super) const HOT_CREATED: &str = "\
created AS ( \
  INSERT INTO wf_instance (id, workflow, status, input, idempotency_key, created_at, \
    updated_at, ready_at, deadline_at, parent_id, lease_owner, lease_expires_at, \
    lease_token, executions, started_at, version, priority, concurrency_key, queue) \
  SELECT v.id::uuid, v.workflow, \
    CASE WHEN v.owner IS NULL THEN 'pending' ELSE 'running' END, v.input::jsonb, v.key, \
    v.now, v.now, CASE WHEN v.owner IS NULL THEN v.ready END, v.deadline, v.parent::uuid, \
    v.owner, v.expires, CASE WHEN v.owner IS NULL THEN 0 ELSE $11 END, \
    CASE WHEN v.owner IS NULL THEN 0 ELSE 1 END, \
    CASE WHEN v.owner IS NULL THEN NULL ELSE v.now END, v.version, v.priority, v.ckey, v.queue \
  FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], \
    $7::bigint[], $8::text[], $9::text[], $10::bigint[], $35::text[], $36::int[], $37::text[], \
    $38::text[]) \
    AS v(id, workflow, input, key, now, ready, deadline, parent, owner, expires, version, \
      priority, ckey, queue) \
  ON CONFLICT (workflow, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
  RETURNING id, lease_owner), \
created_announced AS ( \
  SELECT pg_notify($33, '') WHERE EXISTS (SELECT 1 FROM created WHERE lease_owner IS NULL))";

/// The columns of the created runs in [`HOT_CREATED`], one array each.
#[derive(Default)]
pub(super) struct CreateColumns<'a> {
    pub(super) ids: Vec<String>,
    pub(super) workflows: Vec<&'a str>,
    pub(super) inputs: Vec<&'a str>,
    pub(super) keys: Vec<Option<&'a str>>,
    pub(super) nows: Vec<i64>,
    pub(super) ready: Vec<i64>,
    pub(super) deadlines: Vec<Option<i64>>,
    pub(super) parents: Vec<Option<String>>,
    pub(super) owners: Vec<Option<&'a str>>,
    pub(super) lease_expiries: Vec<Option<i64>>,
    pub(super) versions: Vec<Option<&'a str>>,
    pub(super) priorities: Vec<i32>,
    pub(super) concurrency_keys: Vec<&'a str>,
    pub(super) queues: Vec<&'a str>,
}

impl<'a> CreateColumns<'a> {
    pub(super) fn push(&mut self, run: &'a NewRun) {
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
        self.versions.push(run.version.as_deref());
        self.priorities.push(run.queue.priority);
        self.concurrency_keys.push(&run.queue.concurrency_key);
        self.queues.push(&run.queue.name);
    }
}

/// `Suspend` writes (also a lone one) in one statement, each fenced by its
/// run's lease. A run keeps an earlier wake-up already set (an event or a
/// finished child made it due while it ran).
pub(super) async fn suspend_runs(
    connection: &mut PgConnection,
    ops: &[WriteOp],
    group: &[usize],
    results: &mut Slots,
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
    let suspended: HashSet<String> = sqlx::query_scalar(concat!(
        "UPDATE wf_instance AS i SET status = 'suspended', \
           ready_at = CASE WHEN i.ready_at IS NOT NULL \
             AND (v.ready IS NULL OR i.ready_at < v.ready) THEN i.ready_at ELSE v.ready END, \
           updated_at = v.now, lease_owner = NULL, lease_expires_at = NULL \
         FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) \
           AS v(id, ready, now, token) \
         WHERE ",
        batch_lease_holds!(),
        " RETURNING i.id::text"
    ))
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
            let done = suspended.contains(&lease.run_id.to_string());
            results[index] = Some(fenced(done, lease));
        }
    }
    Ok(())
}

pub(super) async fn create_run(
    connection: &mut PgConnection,
    run: &NewRun,
    parent: Option<RunId>,
) -> Result<CreateOutcome, Error> {
    let lone = LoneRun {
        ready_at: run.ready_at,
        deadline_at: run.deadline_at,
        parent: parent.or(run.parent_id),
        debounce: None,
        throttle: None,
    };
    insert_lone(connection, run, &lone).await
}

/// The columns of a run created in a statement of its own that do not come
/// from its `NewRun` as they are: its start and deadline (a debounce or a
/// throttle moves them), its parent, and the debounce or throttle key and
/// time it records (see `flow.rs`).
pub(super) struct LoneRun<'a> {
    pub(super) ready_at: i64,
    pub(super) deadline_at: Option<i64>,
    pub(super) parent: Option<RunId>,
    pub(super) debounce: Option<(&'a str, i64)>,
    pub(super) throttle: Option<(&'a str, i64)>,
}

/// Inserts `run` alone, `pending`, with the rows of what cancels it; the
/// run created, or the one that holds its idempotency key.
pub(super) async fn insert_lone(
    connection: &mut PgConnection,
    run: &NewRun,
    lone: &LoneRun<'_>,
) -> Result<CreateOutcome, Error> {
    let inserted = sqlx::query(
        "INSERT INTO wf_instance (id, workflow, status, input, idempotency_key, created_at, \
           updated_at, ready_at, deadline_at, parent_id, version, priority, concurrency_key, \
           queue, debounce_key, debounce_first_at, throttle_key, throttle_start_at) \
         VALUES ($1::uuid, $2, 'pending', $3::jsonb, $4, $5, $5, $6, $7, $8::uuid, $9, $10, $11, \
           $12, $13, $14, $15, $16) \
         ON CONFLICT (workflow, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING",
    )
    .bind(run.id.to_string())
    .bind(&run.workflow)
    .bind(&run.input)
    .bind(&run.idempotency_key)
    .bind(run.now)
    .bind(lone.ready_at)
    .bind(lone.deadline_at)
    .bind(lone.parent.map(|id| id.to_string()))
    .bind(&run.version)
    .bind(run.queue.priority)
    .bind(&run.queue.concurrency_key)
    .bind(&run.queue.name)
    .bind(lone.debounce.map(|(key, _)| key))
    .bind(lone.debounce.map(|(_, first)| first))
    .bind(lone.throttle.map(|(key, _)| key))
    .bind(lone.throttle.map(|(_, start)| start))
    .execute(&mut *connection)
    .await?
    .rows_affected();
    if inserted == 1 {
        register(connection, run).await?;
        return Ok(CreateOutcome::Created(run.id));
    }
    // Another process's trigger took the idempotency key.
    key_holder(connection, run).await
}

/// The run that holds `run`'s idempotency key, if one does.
pub(super) async fn optional_key_holder(
    connection: &mut PgConnection,
    run: &NewRun,
) -> Result<Option<CreateOutcome>, Error> {
    let holder: Option<(String, String)> = sqlx::query_as(
        "SELECT id::text, input::text FROM wf_instance WHERE workflow = $1 AND idempotency_key = $2",
    )
    .bind(&run.workflow)
    .bind(&run.idempotency_key)
    .fetch_optional(&mut *connection)
    .await?;
    holder
        .map(|(id, input)| existing_run(&id, &input, &run.input))
        .transpose()
}

/// The run that holds `run`'s idempotency key.
pub(super) async fn key_holder(
    connection: &mut PgConnection,
    run: &NewRun,
) -> Result<CreateOutcome, Error> {
    optional_key_holder(connection, run)
        .await?
        .ok_or_else(unexpected)
}

pub(super) async fn transition(
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
    refused_transition(status.as_deref())
}

impl RunStore for PostgresStore {
    crate::store::ops::queued_run_writes!();

    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn lease_duration(&self) -> Option<Duration> {
        Some(self.lease)
    }

    fn announce_freed_slot(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(super::notify::WAKE_CHANNEL)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }

    fn watch(&self, signal: Arc<dyn Fn(StoreSignal) + Send + Sync>) {
        let ready = lock(&self.ready_listener).take();
        let listener = listen(
            self.pool.clone(),
            self.listen_pool.clone(),
            ready,
            self.changes.clone(),
            signal,
        );
        *lock(&self.listener) = Some(listener);
    }

    fn next_ready_at(&self, workflows: Served) -> BoxFuture<'_, Result<Option<i64>, Error>> {
        Box::pin(async move { next_ready_at(&self.pool, &workflows).await })
    }

    fn load_journal(&self, run_id: RunId) -> BoxFuture<'_, Result<Vec<StepRecord>, Error>> {
        Box::pin(async move { load_journal(&self.pool, run_id).await })
    }

    fn changes(&self) -> &ChangeFeed {
        &self.changes
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.writer.close().await;
            self.changes.close();
            if let Some(announcer) = &self.announcer {
                announcer.abort();
            }
            // The relay sends what the last batches changed, then ends.
            let relay = lock(&self.relay).take();
            if let Some(relay) = relay {
                let _ = relay.await;
            }
            self.claimer.lock().await.close().await;
            if let Some(listener) = lock(&self.listener).take() {
                listener.abort();
            }
            // A listener no task took (nothing watched) goes too.
            drop(lock(&self.ready_listener).take());
            self.listen_pool.close().await;
            self.pool.close().await;
        })
    }
}

/// Gives a running run back to `pending`, fenced by its lease.
pub(super) async fn release(
    connection: &mut PgConnection,
    lease: &Lease,
    now: i64,
    notes: &mut Notes,
) -> Applied {
    notes.wake = true;
    Ok(fenced(
        sqlx::query(concat!(
            "UPDATE wf_instance SET status = 'pending', ready_at = $1, updated_at = $1, \
             lease_owner = NULL, lease_expires_at = NULL WHERE ",
            lease_holds!("$2", "$3")
        ))
        .bind(now)
        .bind(lease.run_id.to_string())
        .bind(lease.token)
        .execute(&mut *connection)
        .await?
        .rows_affected()
            == 1,
        lease,
    ))
}

/// Cancels a run and its unfinished descendants.
pub(super) async fn cancel(
    connection: &mut PgConnection,
    run_id: RunId,
    now: i64,
    notes: &mut Notes,
) -> Applied {
    let cancelled = cancel_tree(connection, run_id, true, now, None, notes).await?;
    let outcome = if cancelled.contains(&run_id) {
        TransitionOutcome::Done
    } else {
        transition(connection, run_id, 0).await?
    };
    Ok(Ok(WriteOut::Transition(outcome, cancelled)))
}

/// Moves a failed or timed-out run back to `pending`, deleting the step
/// records that must run again.
pub(super) async fn retry(
    connection: &mut PgConnection,
    run_id: RunId,
    now: i64,
    deadline_at: Option<i64>,
    notes: &mut Notes,
) -> Applied {
    let changed = sqlx::query(
        "UPDATE wf_instance SET status = 'pending', ready_at = $1, updated_at = $1, \
         deadline_at = $2, output = NULL, error = NULL, finished_at = NULL, paused_at = NULL \
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
    Ok(Ok(WriteOut::Transition(
        transition(connection, run_id, changed).await?,
        Vec::new(),
    )))
}

/// Pauses (`paused`) or resumes a run that has not ended; a resume wakes
/// every worker, as the run may be due.
pub(super) async fn set_paused(
    connection: &mut PgConnection,
    run_id: RunId,
    paused: bool,
    now: i64,
    notes: &mut Notes,
) -> Applied {
    let changed = sqlx::query(
        "UPDATE wf_instance SET \
         paused_at = CASE WHEN $1 THEN COALESCE(paused_at, $2) END, updated_at = $2 \
         WHERE id = $3::uuid AND status IN ('pending', 'running', 'suspended')",
    )
    .bind(paused)
    .bind(now)
    .bind(run_id.to_string())
    .execute(&mut *connection)
    .await?
    .rows_affected();
    if changed == 1 && !paused {
        notes.wake = true;
    }
    Ok(Ok(WriteOut::Transition(
        transition(connection, run_id, changed).await?,
        Vec::new(),
    )))
}

/// Creates a fork of an ended run with the records it keeps (see
/// `RunStore::fork_run`); the new run is due now, so every worker is woken.
pub(super) async fn fork(
    connection: &mut PgConnection,
    fork: &NewFork,
    notes: &mut Notes,
) -> Applied {
    let source = fork.source.to_string();
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM wf_instance WHERE id = $1::uuid FOR SHARE")
            .bind(&source)
            .fetch_optional(&mut *connection)
            .await?;
    if let Some(refused) = fork_refused(status.as_deref())? {
        return Ok(Ok(WriteOut::Forked(refused)));
    }
    let at: Option<(i64, i64)> = sqlx::query_as(
        "SELECT created_at, seq FROM wf_step WHERE instance_id = $1::uuid AND name = $2",
    )
    .bind(&source)
    .bind(&fork.from_step)
    .fetch_optional(&mut *connection)
    .await?;
    let Some((created_at, seq)) = at else {
        return Ok(Ok(WriteOut::Forked(ForkOutcome::NoSuchStep)));
    };
    let run = &fork.run;
    sqlx::query(
        "INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at, \
           ready_at, deadline_at, executions, version, forked_from, forked_from_step, \
           priority, concurrency_key, queue) \
         VALUES ($1::uuid, $2, 'pending', $3::jsonb, $4, $4, $5, $6, 1, $7, $8::uuid, $9, \
           $10, $11, $12)",
    )
    .bind(run.id.to_string())
    .bind(&run.workflow)
    .bind(&run.input)
    .bind(run.now)
    .bind(run.ready_at)
    .bind(run.deadline_at)
    .bind(&run.version)
    .bind(&source)
    .bind(&fork.from_step)
    .bind(run.queue.priority)
    .bind(&run.queue.concurrency_key)
    .bind(&run.queue.name)
    .execute(&mut *connection)
    .await?;
    register(connection, run).await?;
    // The records before the step in journal order (`created_at`, then
    // `seq`) that ended or sleep: a step in progress or waiting runs again.
    // As a retry does, it leaves out the records of a failure's unwinding
    // and every step whose compensation completed: an undone step runs
    // again instead of being replayed as done.
    sqlx::query(
        "INSERT INTO wf_step (instance_id, name, seq, kind, status, input, output, error, \
           attempts, wake_at, event_name, event_filter, wait_run, created_at, updated_at, \
           started_at, ended_at, attempt_log) \
         SELECT $1::uuid, name, seq, kind, status, input, output, error, attempts, wake_at, \
           event_name, event_filter, wait_run, created_at, updated_at, started_at, ended_at, \
           attempt_log \
         FROM wf_step WHERE instance_id = $2::uuid \
           AND status IN ('completed', 'failed', 'sleeping') \
           AND (created_at < $3 OR (created_at = $3 AND seq < $4)) \
           AND substr(name, 1, 11) NOT IN ('compensate/', 'on-failure/') \
           AND 'compensate/' || name NOT IN (SELECT name FROM wf_step \
             WHERE instance_id = $2::uuid AND status = 'completed' \
             AND substr(name, 1, 11) = 'compensate/')",
    )
    .bind(run.id.to_string())
    .bind(&source)
    .bind(created_at)
    .bind(seq)
    .execute(&mut *connection)
    .await?;
    notes.wake = true;
    Ok(Ok(WriteOut::Forked(ForkOutcome::Created(run.id))))
}

/// Creates a child run and records the step that started it.
pub(super) async fn start_child(
    connection: &mut PgConnection,
    lease: &Lease,
    step: &StepRecord,
    child: &NewRun,
    wait: bool,
    notes: &mut Notes,
) -> Applied {
    if !holds_lease(connection, lease).await? {
        return Ok(lease_lost(lease));
    }
    create_run(connection, child, Some(lease.run_id)).await?;
    notes.wake = true;
    let write = child_step_write(step, child.id, wait);
    upsert_step(connection, lease, &write).await?;
    Ok(Ok(WriteOut::Done))
}

/// Sets the deadline of the run `lease` holds and saves the step that set
/// it.
pub(super) async fn set_deadline(
    connection: &mut PgConnection,
    lease: &Lease,
    step: &StepRecord,
    deadline_at: Option<i64>,
) -> Applied {
    let moved = sqlx::query(concat!(
        "UPDATE wf_instance SET deadline_at = $3, updated_at = $4 WHERE ",
        lease_holds!("$1", "$2")
    ))
    .bind(lease.run_id.to_string())
    .bind(lease.token)
    .bind(deadline_at)
    .bind(step.updated_at)
    .execute(&mut *connection)
    .await?
    .rows_affected();
    if moved == 0 {
        return Ok(lease_lost(lease));
    }
    upsert_step(connection, lease, &StepWrite::plain(step)).await?;
    Ok(Ok(WriteOut::Done))
}
