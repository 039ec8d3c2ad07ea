//! Waits: registering a wait (completed at once by a lookback event, a
//! buffered signal or an ended run), resolving one, sending events and
//! signals (with the runs an event starts and cancels), and the settlement
//! of the steps waiting for them.

use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use super::cancel_on::{cancel_matching, register};
use super::finish::complete_waiting_step;
use super::steps::{holds_lease, upsert_step};
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::status::StepStatus;
use crate::model::sync::BoxFuture;
use crate::store::ops::{Applied, WriteOp, WriteOut};
use crate::store::rows::{decode_error, parse_run_id, unexpected};
use crate::store::rules::lease_lost;
use crate::store::settle::{
    AwaitedRow, StepWrite, event_output_json, event_run_key, run_ids_json, satisfied_by_event,
    satisfied_by_run, sent_step, trigger_errors_json, wait_write,
};
use crate::store::wait_keys;
use crate::store::{Lease, NewEvent, NewRun, SentEvent, StepRecord, Wait, WaitStore};

impl WaitStore for SqliteStore {
    crate::store::ops::queued_wait_writes!();
}

/// Registers a wait for the run `lease` holds.
pub(super) fn register_wait_op(
    connection: &Connection,
    lease: &Lease,
    step: &StepRecord,
    wait: &Wait,
) -> Applied {
    if !holds_lease(connection, lease)? {
        return Ok(lease_lost(lease));
    }
    Ok(register_wait(connection, lease, step, wait)?.map(WriteOut::Waited))
}

/// Completes a waiting step the run resolved itself (a wait that timed out),
/// and answers the step's output as it now stands.
pub(super) fn resolve_wait(
    connection: &Connection,
    lease: &Lease,
    step: &str,
    now: i64,
) -> Applied {
    if !holds_lease(connection, lease)? {
        return Ok(lease_lost(lease));
    }
    let run_id = lease.run_id.to_string();
    connection
        .prepare_cached(
            "UPDATE wf_step SET status = 'completed', output = 'null', updated_at = ?1, \
             ended_at = ?1 WHERE instance_id = ?2 AND name = ?3 AND status = 'waiting'",
        )?
        .execute(params![now, run_id, step])?;
    let output: Option<String> = connection
        .prepare_cached("SELECT output FROM wf_step WHERE instance_id = ?1 AND name = ?2")?
        .query_row(params![run_id, step], |row| row.get(0))
        .optional()?
        .flatten();
    Ok(Ok(WriteOut::Resolved(
        output.unwrap_or_else(|| "null".into()),
    )))
}

/// Sends an event, recording the step that sent it when a run did.
pub(super) fn send_event_op(
    connection: &Connection,
    event: &NewEvent,
    origin: Option<&(Lease, StepRecord)>,
) -> Applied {
    if let Some((lease, _)) = origin
        && !holds_lease(connection, lease)?
    {
        return Ok(lease_lost(lease));
    }
    let sent = send_event(connection, event)?;
    if let Some((lease, step)) = origin {
        let step = sent_step(step, sent.id);
        upsert_step(connection, lease.run_id, &StepWrite::plain(&step))?;
    }
    Ok(Ok(WriteOut::Sent(sent)))
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
                    found = Some(satisfied_by_event(id, &data));
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
                    Some(satisfied_by_event(id, &data))
                }
                None => None,
            }
        }
        Wait::Run { run_id } => {
            let ended: Option<AwaitedRow> = connection
                .prepare_cached("SELECT status, output, error FROM wf_instance WHERE id = ?1")?
                .query_row(params![run_id.to_string()], |row| AwaitedRow::try_from(row))
                .optional()?;
            match ended {
                None => return Ok(Err(Error::RunNotFound(*run_id))),
                Some(ended) => satisfied_by_run(ended)?,
            }
        }
    };
    let (write, output) = wait_write(step, wait, satisfied);
    upsert_step(connection, lease.run_id, &write)?;
    Ok(Ok(output))
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
            .is_ok_and(|data| crate::store::json_contains(&data, filter)),
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
            "INSERT INTO wf_event (name, data, target_run, created_at, trigger_errors) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            event.name,
            event.data,
            target,
            event.now,
            trigger_errors_json(&event.trigger_errors)
        ])?;
    let id = connection.last_insert_rowid();
    // First, so that the runs it cancels take it as no waiter's event.
    let cancelled = if target.is_none() {
        cancel_matching(connection, id, &event.name, &event.data, event.now)?
    } else {
        Vec::new()
    };
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
        None => event_waiters(connection, &event.name, &event.data)?,
    };
    let output = event_output_json(id, &event.data);
    let mut woken = Vec::new();
    for (instance, step, filter) in waiters {
        if !matches_filter(&event.data, parse_filter(filter.as_deref())?.as_ref()) {
            continue;
        }
        let status = StepStatus::Completed;
        complete_waiting_step(
            connection,
            (&instance, &step),
            status,
            &output,
            Some(id),
            event.now,
        )?;
        let run_id = parse_run_id(&instance)?;
        if target.is_some() {
            consume_signal(connection, id, run_id, &step)?;
        }
        woken.push(run_id);
    }
    let started = start_runs(connection, id, &event.starts)?;
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
/// the run that holds the key.
fn start_runs(connection: &Connection, event: i64, runs: &[NewRun]) -> Result<Vec<RunId>, Error> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let key = event_run_key(event);
    let mut started = Vec::with_capacity(runs.len());
    for run in runs {
        let inserted = connection
            .prepare_cached(
                "INSERT INTO wf_instance (id, workflow, status, input, idempotency_key, \
                   created_at, updated_at, ready_at, deadline_at, version, event_id, priority, \
                   concurrency_key, queue) \
                 VALUES (?1, ?2, 'pending', ?3, ?4, ?5, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
                 ON CONFLICT (workflow, idempotency_key) WHERE idempotency_key IS NOT NULL \
                 DO NOTHING",
            )?
            .execute(params![
                run.id.to_string(),
                run.workflow,
                run.input,
                key,
                run.now,
                run.ready_at,
                run.deadline_at,
                run.version,
                event,
                run.queue.priority,
                run.queue.concurrency_key,
                run.queue.name
            ])?;
        started.push(if inserted == 1 {
            register(connection, run)?;
            run.id
        } else {
            let holder: String = connection
                .prepare_cached(
                    "SELECT id FROM wf_instance WHERE workflow = ?1 AND idempotency_key = ?2",
                )?
                .query_row(params![run.workflow, key], |row| row.get(0))?;
            parse_run_id(&holder)?
        });
    }
    connection
        .prepare_cached("UPDATE wf_event SET started_runs = ?1 WHERE id = ?2")?
        .execute(params![run_ids_json(&started), event])?;
    Ok(started)
}

/// The waiters of one event name that [`event_waiters`] reads, before the
/// condition on their key.
macro_rules! event_waiters_sql {
    () => {
        "SELECT s.instance_id, s.name, s.event_filter FROM wf_step AS s \
         JOIN wf_instance AS i ON i.id = s.instance_id \
         WHERE s.status = 'waiting' AND s.event_name = ?1 AND s.kind = 'wait_for_event' \
         AND i.status IN ('pending', 'running', 'suspended')"
    };
}

/// The waiters of the event `?1` with no key.
pub(super) const UNKEYED_WAITERS_SQL: &str =
    concat!(event_waiters_sql!(), " AND s.wait_key IS NULL");

/// The waiters of the event `?1` with the key `?2`.
pub(super) const KEYED_WAITERS_SQL: &str = concat!(event_waiters_sql!(), " AND s.wait_key = ?2");

/// The steps waiting for the event `name` with this data whose filters it
/// may match: those keyed by one of its keys, and those with no key (see
/// [`wait_keys`](crate::store::wait_keys)); each as (run id, step name,
/// filter). Each lookup is one index range, whatever the other waiters.
fn event_waiters(
    connection: &Connection,
    name: &str,
    data: &str,
) -> Result<Vec<(String, String, Option<String>)>, Error> {
    let waiter = |row: &rusqlite::Row<'_>| Ok((row.get(0)?, row.get(1)?, row.get(2)?));
    let mut waiters: Vec<(String, String, Option<String>)> = connection
        .prepare_cached(UNKEYED_WAITERS_SQL)?
        .query_map(params![name], waiter)?
        .collect::<Result<_, _>>()?;
    let mut keyed = connection.prepare_cached(KEYED_WAITERS_SQL)?;
    for key in wait_keys::event_keys(data) {
        for found in keyed.query_map(params![name, key], waiter)? {
            waiters.push(found?);
        }
    }
    Ok(waiters)
}
