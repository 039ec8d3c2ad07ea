//! Maintenance on PostgreSQL: retention of finished runs and old events, and
//! the timeout of overdue runs no worker claims.

use sqlx::PgConnection;

use crate::model::ids::RunId;

use super::PostgresStore;
use super::finish::{after_finish, cancel_tree};
use super::notify::Notes;
use crate::model::error::Error;
use crate::model::sync::BoxFuture;
use crate::store::ops::{Applied, WriteOp, WriteOut};
use crate::store::rows::{outcome_columns, parse_run_id, unexpected};
use crate::store::{DeleteFinished, MaintenanceStore, RunOutcome};

impl MaintenanceStore for PostgresStore {
    crate::store::ops::queued_maintenance_writes!();
}

/// Up to `$5` runs of the statuses `$1` finished before `$2`, of workflow
/// `$3` (or any) but none of those in `$4` (a JSON array), deleted with
/// their steps and log lines (no foreign key cascades, see
/// migrations/0002_no_foreign_keys.sql): read along `wf_instance_finished`
/// from the oldest finish on.
pub(super) const DELETE_FINISHED_SQL: &str = "\
    WITH gone AS (DELETE FROM wf_instance WHERE id IN (SELECT id FROM wf_instance \
      WHERE status = ANY($1) AND finished_at < $2 \
      AND ($3::text IS NULL OR workflow = $3) \
      AND workflow NOT IN (SELECT jsonb_array_elements_text($4::jsonb)) LIMIT $5) \
      RETURNING id), \
    steps AS (DELETE FROM wf_step WHERE instance_id IN (SELECT id FROM gone)), \
    logs AS (DELETE FROM wf_log WHERE instance_id IN (SELECT id FROM gone)) \
    SELECT COUNT(*) FROM gone";

/// Up to `$2` waiting runs past their deadline at `$1` whose parent is
/// unfinished and past its deadline too, locked: read along
/// `wf_instance_overdue`, whose condition the query repeats.
pub(super) const OVERDUE_CHILDREN_SQL: &str = "\
    SELECT c.id::text FROM wf_instance AS c JOIN wf_instance AS p ON p.id = c.parent_id \
    WHERE c.status IN ('pending', 'suspended') AND c.deadline_at IS NOT NULL \
    AND c.deadline_at <= $1 \
    AND p.status IN ('pending', 'running', 'suspended') AND p.deadline_at <= $1 \
    LIMIT $2 FOR UPDATE OF c SKIP LOCKED";

/// Ends up to `$2` waiting runs past their deadline at `$1` as `$3` with
/// error `$4`: read along `wf_instance_overdue` (whose condition the query
/// repeats), not through every waiting run.
pub(super) const TIME_OUT_OVERDUE_SQL: &str = "\
    UPDATE wf_instance SET status = $3, error = $4, \
    finished_at = $1, updated_at = $1, ready_at = NULL, \
    lease_token = lease_token + 1, lease_owner = NULL, lease_expires_at = NULL \
    WHERE id IN (SELECT id FROM wf_instance WHERE status IN ('pending', 'suspended') \
      AND deadline_at IS NOT NULL AND deadline_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED) \
    RETURNING id::text";

/// Deletes up to `$2` events sent before `$1`, read along
/// `wf_event_created` from the oldest on.
pub(super) const DELETE_EVENTS_SQL: &str =
    "DELETE FROM wf_event WHERE id IN (SELECT id FROM wf_event WHERE created_at < $1 LIMIT $2)";

/// Deletes finished runs with their steps and log lines.
pub(super) async fn delete_finished(
    connection: &mut PgConnection,
    request: &DeleteFinished,
) -> Applied {
    let statuses: Vec<&str> = request.statuses.to_vec();
    let deleted: i64 = sqlx::query_scalar(DELETE_FINISHED_SQL)
        .bind(&statuses)
        .bind(request.finished_before)
        .bind(&request.workflow)
        .bind(&request.except)
        .bind(i64::try_from(request.limit).unwrap_or(i64::MAX))
        .fetch_one(&mut *connection)
        .await?;
    Ok(Ok(WriteOut::Count(u64::try_from(deleted).unwrap_or(0))))
}

/// Ends overdue pending or suspended runs as `timed_out` (or `cancelled`,
/// for an overdue child of an overdue parent).
pub(super) async fn time_out_overdue(
    connection: &mut PgConnection,
    now: i64,
    limit: usize,
    notes: &mut Notes,
) -> Applied {
    // An overdue child of an unfinished overdue parent is cancelled, as its
    // parent's timeout would cancel it (see `FinishEffects::recorded`); the
    // others time out.
    let children: Vec<String> = sqlx::query_scalar(OVERDUE_CHILDREN_SQL)
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *connection)
        .await?;
    let mut ended = Vec::new();
    for id in children {
        ended.extend(cancel_tree(connection, parse_run_id(&id)?, true, now, None, notes).await?);
    }
    // The others end as a worker's finish ends a run that timed out.
    let (status, _, error) = outcome_columns(&RunOutcome::TimedOut);
    let ids: Vec<String> = sqlx::query_scalar(TIME_OUT_OVERDUE_SQL)
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(status.as_str())
        .bind(error)
        .fetch_all(&mut *connection)
        .await?;
    for id in ids {
        let run_id = parse_run_id(&id)?;
        ended.push(run_id);
        ended.extend(
            after_finish(connection, &[(run_id, &RunOutcome::TimedOut, now)], notes).await?,
        );
    }
    Ok(Ok(WriteOut::Ended(ended)))
}

/// Deletes up to `limit` events sent before `before`.
pub(super) async fn delete_events(
    connection: &mut PgConnection,
    before: i64,
    limit: usize,
) -> Applied {
    let deleted = sqlx::query(DELETE_EVENTS_SQL)
        .bind(before)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .execute(&mut *connection)
        .await?
        .rows_affected();
    Ok(Ok(WriteOut::Count(deleted)))
}
