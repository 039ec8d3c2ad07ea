//! Waits on PostgreSQL: waiting steps, events and signals (with the runs an
//! event starts), and the settlement of the steps they satisfy. A wait and
//! a send that may meet take one advisory lock, so across processes they
//! cannot miss each other:
//! an event wait locks its name and wait key exclusively, a send locks its
//! name and each of its event's keys shared (see [`event_lock`]), so sends
//! of one name never wait for each other, only for a wait they may satisfy.

use sqlx::PgConnection;

use super::PostgresStore;
use super::cancel_on::{cancel_matching, register};
use super::notify::Notes;
use super::options::{held_run, status_is};
use super::steps::{holds_lease, upsert_step};
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::status::StepStatus;
use crate::model::sync::BoxFuture;
use crate::store::ops::{Applied, WriteOp, WriteOut};
use crate::store::rows::{parse_run_id, unexpected};
use crate::store::rules::lease_lost;
use crate::store::settle::{
    AwaitedRow, Satisfied, StepWrite, event_output_json, event_run_key, run_ids_json,
    satisfied_by_event, satisfied_by_run, sent_step, trigger_errors_json, wait_write,
};
use crate::store::wait_keys;
use crate::store::{Lease, NewEvent, NewRun, SentEvent, StepRecord, Wait, WaitStore};

/// Serializes the waits and sends of one key (an event name, a run) across
/// every worker, for the rest of the transaction.
pub(super) async fn lock_key(connection: &mut PgConnection, key: &str) -> Result<(), Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(key)
        .execute(connection)
        .await?;
    Ok(())
}

/// The advisory lock of the event waits of `name` with the wait key `key`
/// (`None`: the waits whose filters have no key; see `wait_keys`). An
/// event can only match a wait under one of its own keys or under none.
fn event_lock(name: &str, key: Option<&str>) -> String {
    match key {
        Some(key) => format!("event:{name}:{key}"),
        None => format!("event:{name}"),
    }
}

/// Takes the advisory locks `keys` in shared mode for the rest of the
/// transaction, in one order (by hash), so that two senders that lock
/// several never wait on each other in opposite orders.
async fn lock_keys_shared(connection: &mut PgConnection, keys: &[String]) -> Result<(), Error> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock_shared(h) FROM \
           (SELECT DISTINCT hashtext(k) AS h FROM unnest($1::text[]) AS k ORDER BY 1) AS locks",
    )
    .bind(keys)
    .execute(connection)
    .await?;
    Ok(())
}

pub(super) async fn register_wait(
    connection: &mut PgConnection,
    lease: &Lease,
    step: &StepRecord,
    wait: &Wait,
) -> Result<Result<Option<String>, Error>, Error> {
    let satisfied: Option<Satisfied> = match wait {
        Wait::Event {
            name,
            filter,
            lookback_from,
        } => {
            let key = wait_keys::filter_key(filter.as_deref());
            lock_key(connection, &event_lock(name, key.as_deref())).await?;
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
                .map(|(id, data)| satisfied_by_event(id, &data)),
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
                    Some(satisfied_by_event(id, &data))
                }
                None => None,
            }
        }
        Wait::Run { run_id } => {
            // Locks the awaited run's row against its finish until this
            // transaction commits (see `settle_run_waiters`).
            let ended: Option<AwaitedRow> = sqlx::query_as(
                "SELECT status, output::text, error FROM wf_instance WHERE id = $1::uuid FOR SHARE",
            )
            .bind(run_id.to_string())
            .fetch_optional(&mut *connection)
            .await?;
            match ended {
                None => return Ok(Err(Error::RunNotFound(*run_id))),
                Some(ended) => satisfied_by_run(ended)?,
            }
        }
    };
    let (write, output) = wait_write(step, wait, satisfied);
    upsert_step(connection, lease, &write).await?;
    Ok(Ok(output))
}

pub(super) async fn consume_signal(
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

pub(super) async fn send_event(
    connection: &mut PgConnection,
    event: &NewEvent,
    notes: &mut Notes,
) -> Result<SentEvent, Error> {
    let target = event.target.map(|run| run.to_string());
    let keys = match &target {
        Some(run) => {
            lock_key(connection, &format!("signal:{run}:{}", event.name)).await?;
            Vec::new()
        }
        None => {
            let keys = wait_keys::event_keys(&event.data);
            let locks: Vec<String> = std::iter::once(event_lock(&event.name, None))
                .chain(keys.iter().map(|key| event_lock(&event.name, Some(key))))
                .collect();
            lock_keys_shared(connection, &locks).await?;
            keys
        }
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO wf_event (name, data, target_run, created_at, trigger_errors) \
         VALUES ($1, $2::jsonb, $3::uuid, $4, $5::jsonb) RETURNING id",
    )
    .bind(&event.name)
    .bind(&event.data)
    .bind(&target)
    .bind(event.now)
    .bind(trigger_errors_json(&event.trigger_errors))
    .fetch_one(&mut *connection)
    .await?;
    // First, so that the runs it cancels take it as no waiter's event.
    let cancelled = if target.is_none() {
        cancel_matching(connection, id, &event.name, &event.data, event.now, notes).await?
    } else {
        Vec::new()
    };
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
        // Only the waiters keyed by one of the event's keys, and those with
        // no key, are read (see `wait_keys`): one index range of
        // `wf_step_waiting_event` per key, whatever the other waiters of
        // the name. Each key's range is a subquery the planner cannot
        // flatten (`OFFSET 0`): flattened, or as `wait_key = ANY(..)`, a
        // plan made before the table has statistics (a fresh deployment
        // whose waiters grew fast) reads every waiter of the name and
        // filters by key.
        None => {
            sqlx::query_as(
                "SELECT s.instance_id::text, s.name FROM ( \
               SELECT instance_id, name, kind, event_filter FROM wf_step \
               WHERE status = 'waiting' AND event_name = $1 AND wait_key IS NULL \
               UNION ALL \
               SELECT w.instance_id, w.name, w.kind, w.event_filter \
               FROM unnest($3::text[]) AS k(key) CROSS JOIN LATERAL ( \
                 SELECT instance_id, name, kind, event_filter FROM wf_step \
                 WHERE status = 'waiting' AND event_name = $1 AND wait_key = k.key \
                 OFFSET 0) AS w) AS s \
             JOIN wf_instance AS i ON i.id = s.instance_id \
             WHERE s.kind = 'wait_for_event' \
             AND (s.event_filter IS NULL OR $2::jsonb @> s.event_filter) \
             AND i.status IN ('pending', 'running', 'suspended')",
            )
            .bind(&event.name)
            .bind(&event.data)
            .bind(&keys)
            .fetch_all(&mut *connection)
            .await?
        }
    };
    let output = event_output_json(id, &event.data);
    let mut woken = Vec::with_capacity(waiters.len());
    for (instance, step) in waiters {
        // A send of the same name that committed meanwhile may have taken
        // this waiter (sends do not lock each other out): then it is not
        // this event's.
        let settled = complete_waiting_step(
            connection,
            &instance,
            &step,
            StepStatus::Completed,
            &output,
            id,
            event.now,
        )
        .await?;
        if !settled {
            continue;
        }
        let run_id = parse_run_id(&instance)?;
        if target.is_some() {
            consume_signal(connection, id, run_id, &step).await?;
        }
        woken.push(run_id);
    }
    let started = start_runs(connection, id, &event.starts).await?;
    Ok(SentEvent {
        id,
        woken,
        started,
        cancelled,
        trigger_errors: event.trigger_errors.clone(),
    })
}

/// Creates the runs the event `event` starts, each pending with the key
/// [`event_run_key`] and the event's id, and records them on the event.
/// A run whose key is taken already is not created again: the event names
/// the run that holds the key (the unique key on (workflow, idempotency
/// key) decides between concurrent inserts).
async fn start_runs(
    connection: &mut PgConnection,
    event: i64,
    runs: &[NewRun],
) -> Result<Vec<RunId>, Error> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let key = event_run_key(event);
    let mut started = Vec::with_capacity(runs.len());
    for run in runs {
        let inserted: Option<String> = sqlx::query_scalar(
            "INSERT INTO wf_instance (id, workflow, status, input, idempotency_key, created_at, \
               updated_at, ready_at, deadline_at, version, event_id, priority, concurrency_key, \
               queue) \
             VALUES ($1::uuid, $2, 'pending', $3::jsonb, $4, $5, $5, $6, $7, $8, $9, $10, $11, \
               $12) \
             ON CONFLICT (workflow, idempotency_key) WHERE idempotency_key IS NOT NULL \
             DO NOTHING RETURNING id::text",
        )
        .bind(run.id.to_string())
        .bind(&run.workflow)
        .bind(&run.input)
        .bind(&key)
        .bind(run.now)
        .bind(run.ready_at)
        .bind(run.deadline_at)
        .bind(&run.version)
        .bind(event)
        .bind(run.queue.priority)
        .bind(&run.queue.concurrency_key)
        .bind(&run.queue.name)
        .fetch_optional(&mut *connection)
        .await?;
        if inserted.is_some() {
            register(connection, run).await?;
        }
        let id =
            match inserted {
                Some(id) => id,
                None => sqlx::query_scalar(
                    "SELECT id::text FROM wf_instance WHERE workflow = $1 AND idempotency_key = $2",
                )
                .bind(&run.workflow)
                .bind(&key)
                .fetch_one(&mut *connection)
                .await?,
            };
        started.push(parse_run_id(&id)?);
    }
    sqlx::query("UPDATE wf_event SET started_runs = $1::jsonb WHERE id = $2")
        .bind(run_ids_json(&started))
        .bind(event)
        .execute(&mut *connection)
        .await?;
    Ok(started)
}

/// Completes a waiting step as settled by the event `event`, and makes its
/// run due now (a running run keeps the wake in `ready_at`, which its
/// suspension honours). Whether the step was still waiting (else nothing
/// is written).
pub(super) async fn complete_waiting_step(
    connection: &mut PgConnection,
    instance: &str,
    step: &str,
    status: StepStatus,
    output: &str,
    event: i64,
    now: i64,
) -> Result<bool, Error> {
    let settled = sqlx::query(
        "UPDATE wf_step SET status = $1, output = $2::jsonb, updated_at = $3, ended_at = $3, \
           settled_by_event = $6 \
         WHERE instance_id = $4::uuid AND name = $5 AND status = 'waiting'",
    )
    .bind(status.as_str())
    .bind(output)
    .bind(now)
    .bind(instance)
    .bind(step)
    .bind(event)
    .execute(&mut *connection)
    .await?
    .rows_affected()
        == 1;
    if !settled {
        return Ok(false);
    }
    sqlx::query(concat!(
        "UPDATE wf_instance SET ready_at = CASE WHEN ready_at IS NULL OR ready_at > $1 \
           THEN $1 ELSE ready_at END, updated_at = $1 \
         WHERE id = $2::uuid AND ",
        status_is!("status", "running", "suspended")
    ))
    .bind(now)
    .bind(instance)
    .execute(connection)
    .await?;
    Ok(true)
}

impl WaitStore for PostgresStore {
    crate::store::ops::queued_wait_writes!();
}

/// Completes a waiting step at its timeout with the output `null`, unless it
/// was satisfied first; answers with the step's output either way.
pub(super) async fn resolve_wait(
    connection: &mut PgConnection,
    lease: &Lease,
    step: &str,
    now: i64,
) -> Applied {
    // The lease check is part of the statement, so the write is fenced
    // without a transaction of its own (see `WriteOp::is_single_write`).
    let (held, output): (bool, Option<String>) = sqlx::query_as(concat!(
        "WITH held AS (",
        held_run!("$2", "$4"),
        "), \
         resolved AS ( \
           UPDATE wf_step SET status = 'completed', output = 'null'::jsonb, updated_at = $1, \
             ended_at = $1 \
           WHERE instance_id = $2::uuid AND name = $3 AND status = 'waiting' \
             AND EXISTS (SELECT 1 FROM held) RETURNING output) \
         SELECT EXISTS (SELECT 1 FROM held), COALESCE((SELECT output::text FROM resolved), \
           (SELECT output::text FROM wf_step WHERE instance_id = $2::uuid AND name = $3))"
    ))
    .bind(now)
    .bind(lease.run_id.to_string())
    .bind(step)
    .bind(lease.token)
    .fetch_one(&mut *connection)
    .await?;
    if !held {
        return Ok(lease_lost(lease));
    }
    Ok(Ok(WriteOut::Resolved(
        output.unwrap_or_else(|| "null".into()),
    )))
}

/// Sends an event, recording the step that sent it (if a run did) in the
/// same transaction.
pub(super) async fn send_event_from(
    connection: &mut PgConnection,
    event: &NewEvent,
    origin: Option<&(Lease, StepRecord)>,
    notes: &mut Notes,
) -> Applied {
    if let Some((lease, _)) = origin
        && !holds_lease(connection, lease).await?
    {
        return Ok(lease_lost(lease));
    }
    let sent = send_event(connection, event, notes).await?;
    // Other workers claim the runs it started, as they claim created ones.
    notes.wake |= !sent.woken.is_empty() || !sent.started.is_empty();
    if let Some((lease, step)) = origin {
        let step = sent_step(step, sent.id);
        upsert_step(connection, lease, &StepWrite::plain(&step)).await?;
    }
    Ok(Ok(WriteOut::Sent(sent)))
}
