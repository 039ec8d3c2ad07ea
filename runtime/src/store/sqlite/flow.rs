//! Debounced and throttled runs on SQLite (see `core::flow`): a trigger
//! creates its run, or joins its debounce key's run that has not started
//! (its input, and so what cancels it, replaced), in the writer's one write
//! at a time.

use rusqlite::{Connection, OptionalExtension, params};

use super::cancel_on::{register, rewrite};
use crate::core::flow::{debounce_start, moved_deadline, throttle_start};
use crate::model::error::Error;
use crate::store::rows::parse_run_id;
use crate::store::{CreateOutcome, Flow, NewRun};

/// Creates a debounced or throttled run, or joins the debounce key's run
/// that has not started (see `core::flow`); the caller answered an
/// idempotency key that names a run first. The writer applies one write at
/// a time, so nothing runs between the reads and the write.
pub(super) fn create_flowing(
    connection: &Connection,
    run: &NewRun,
    flow: &Flow,
) -> Result<CreateOutcome, Error> {
    let (ready_at, debounce, throttle) = match flow {
        Flow::Debounce {
            key,
            period_ms,
            max_wait_ms,
        } => {
            let joined: Option<(String, i64, i64, Option<i64>, bool)> = connection
                .prepare_cached(
                    "SELECT id, debounce_first_at, ready_at, deadline_at, cancel_on FROM wf_instance \
                     INDEXED BY wf_instance_debounce WHERE workflow = ?1 AND debounce_key = ?2 \
                     AND debounce_key IS NOT NULL AND status = 'pending' AND executions = 0",
                )?
                .query_row(params![run.workflow, key], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
                })
                .optional()?;
            let at =
                |joined| debounce_start(run.now, run.ready_at, *period_ms, *max_wait_ms, joined);
            if let Some((id, first, start, deadline_at, registered)) = joined {
                let ready_at = at(Some((first, start)));
                connection
                    .prepare_cached(
                        "UPDATE wf_instance SET input = ?1, ready_at = ?2, deadline_at = ?3, \
                         updated_at = ?4 WHERE id = ?5",
                    )?
                    .execute(params![
                        run.input,
                        ready_at,
                        moved_deadline(deadline_at, start, ready_at),
                        run.now,
                        id
                    ])?;
                // What cancels it follows its new input.
                rewrite(connection, &id, registered, run)?;
                return Ok(CreateOutcome::Joined(parse_run_id(&id)?));
            }
            (at(None), Some((key, run.now)), None)
        }
        Flow::Throttle {
            key,
            limit,
            period_ms,
        } => {
            let nth_latest: Option<i64> = connection
                .prepare_cached(
                    "SELECT throttle_start_at FROM wf_instance INDEXED BY wf_instance_throttle \
                     WHERE workflow = ?1 AND throttle_key = ?2 AND throttle_key IS NOT NULL \
                     AND status <> 'cancelled' \
                     ORDER BY throttle_start_at DESC LIMIT 1 OFFSET ?3",
                )?
                .query_row(params![run.workflow, key, limit.saturating_sub(1)], |row| {
                    row.get(0)
                })
                .optional()?;
            let ready_at = throttle_start(run.now, run.ready_at, *period_ms, nth_latest);
            (ready_at, None, Some((key, ready_at)))
        }
    };
    connection
        .prepare_cached(
            "INSERT INTO wf_instance (id, workflow, status, input, idempotency_key, created_at, \
               updated_at, ready_at, deadline_at, version, priority, concurrency_key, \
               debounce_key, debounce_first_at, throttle_key, throttle_start_at, queue) \
             VALUES (?1, ?2, 'pending', ?3, ?4, ?5, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, \
               ?15)",
        )?
        .execute(params![
            run.id.to_string(),
            run.workflow,
            run.input,
            run.idempotency_key,
            run.now,
            ready_at,
            moved_deadline(run.deadline_at, run.ready_at, ready_at),
            run.version,
            run.queue.priority,
            run.queue.concurrency_key,
            debounce.map(|(key, _)| key),
            debounce.map(|(_, first)| first),
            throttle.map(|(key, _)| key),
            throttle.map(|(_, start)| start),
            run.queue.name,
        ])?;
    register(connection, run)?;
    Ok(CreateOutcome::Created(run.id))
}
