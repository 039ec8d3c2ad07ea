//! Debounced and throttled runs on PostgreSQL (see `core::flow`): a
//! trigger creates its run, or joins its debounce key's run that has not
//! started (its input, and so what cancels it, replaced), under the key's
//! advisory lock.

use sqlx::PgConnection;

use super::cancel_on::rewrite;
use super::notify::Notes;
use super::runs::{LoneRun, insert_lone, optional_key_holder};
use crate::core::flow::{debounce_start, moved_deadline, throttle_start};
use crate::model::error::Error;
use crate::store::rows::parse_run_id;
use crate::store::{CreateOutcome, Flow, NewRun};

/// Creates a debounced or throttled run, or joins the debounce key's run
/// that has not started (see `core::flow`), under the key's advisory lock,
/// so that the triggers of one key in every process take turns: two
/// debounced triggers join one run, and two throttled ones read each
/// other's start. A claim takes no such lock and pays nothing: it either
/// takes a run before a trigger reads it (the trigger then creates the next
/// run) or after the trigger changed it. An idempotency key that names a
/// run answers first.
pub(super) async fn create_flowing(
    connection: &mut PgConnection,
    run: &NewRun,
    flow: &Flow,
    notes: &mut Notes,
) -> Result<CreateOutcome, Error> {
    if run.idempotency_key.is_some()
        && let Some(holder) = optional_key_holder(connection, run).await?
    {
        return Ok(holder);
    }
    let key = match flow {
        Flow::Debounce { key, .. } | Flow::Throttle { key, .. } => key,
    };
    sqlx::query("SELECT pg_advisory_xact_lock(7203, hashtext($1 || ' ' || $2))")
        .bind(&run.workflow)
        .bind(key)
        .execute(&mut *connection)
        .await?;
    let (ready_at, debounce, throttle) = match flow {
        Flow::Debounce {
            key,
            period_ms,
            max_wait_ms,
        } => {
            let at =
                |joined| debounce_start(run.now, run.ready_at, *period_ms, *max_wait_ms, joined);
            let joined: Option<(String, i64, i64, Option<i64>, bool)> = sqlx::query_as(
                "SELECT id::text, debounce_first_at, ready_at, deadline_at, cancel_on \
                 FROM wf_instance \
                 WHERE workflow = $1 AND debounce_key = $2 AND debounce_key IS NOT NULL \
                 AND status = 'pending' AND executions = 0",
            )
            .bind(&run.workflow)
            .bind(key)
            .fetch_optional(&mut *connection)
            .await?;
            if let Some((id, first, start, deadline_at, registered)) = joined {
                let ready_at = at(Some((first, start)));
                // A claim that took the run since the read leaves it as it
                // is, and this trigger makes the next run.
                let changed = sqlx::query(
                    "UPDATE wf_instance SET input = $1::jsonb, ready_at = $2, deadline_at = $3, \
                     updated_at = $4 WHERE id = $5::uuid AND status = 'pending' AND executions = 0",
                )
                .bind(&run.input)
                .bind(ready_at)
                .bind(moved_deadline(deadline_at, start, ready_at))
                .bind(run.now)
                .bind(&id)
                .execute(&mut *connection)
                .await?
                .rows_affected();
                if changed == 1 {
                    // What cancels it follows its new input.
                    rewrite(connection, &id, registered, run).await?;
                    return Ok(CreateOutcome::Joined(parse_run_id(&id)?));
                }
            }
            (at(None), Some((key, run.now)), None)
        }
        Flow::Throttle {
            key,
            limit,
            period_ms,
        } => {
            let nth_latest: Option<i64> = sqlx::query_scalar(
                "SELECT throttle_start_at FROM wf_instance \
                 WHERE workflow = $1 AND throttle_key = $2 AND throttle_key IS NOT NULL \
                 AND status <> 'cancelled' \
                 ORDER BY throttle_start_at DESC LIMIT 1 OFFSET $3",
            )
            .bind(&run.workflow)
            .bind(key)
            .bind(i64::from(limit.saturating_sub(1)))
            .fetch_optional(&mut *connection)
            .await?;
            let ready_at = throttle_start(run.now, run.ready_at, *period_ms, nth_latest);
            (ready_at, None, Some((key, ready_at)))
        }
    };
    let lone = LoneRun {
        ready_at,
        deadline_at: moved_deadline(run.deadline_at, run.ready_at, ready_at),
        parent: run.parent_id,
        debounce: debounce.map(|(key, first)| (key.as_str(), first)),
        throttle: throttle.map(|(key, start)| (key.as_str(), start)),
    };
    let outcome = insert_lone(connection, run, &lone).await?;
    if matches!(outcome, CreateOutcome::Created(_)) {
        notes.wake = true;
    }
    Ok(outcome)
}
