//! Maintenance: deleting finished runs and old events (retention), and
//! timing out runs past their deadline.

use rusqlite::{Connection, params};

use super::SqliteStore;
use super::finish::{after_finish, cancel_tree};
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::sync::BoxFuture;
use crate::store::ops::{Applied, WriteOp, WriteOut};
use crate::store::rows::{outcome_columns, parse_run_id, unexpected};
use crate::store::{DeleteFinished, MaintenanceStore, RunOutcome};

impl MaintenanceStore for SqliteStore {
    crate::store::ops::queued_maintenance_writes!();
}

/// Up to `?5` runs of the statuses in `?1` (a JSON array) finished before
/// `?2`, of workflow `?3` (or any) but none of those in `?4`: read along
/// `wf_instance_finished` from the oldest finish on. Named: left to itself
/// the planner reads the status index, every run of those statuses, also
/// when none is due.
pub(super) const DELETE_FINISHED_SQL: &str = "\
    DELETE FROM wf_instance WHERE id IN (SELECT id FROM wf_instance \
      INDEXED BY wf_instance_finished \
      WHERE status IN (SELECT value FROM json_each(?1)) AND finished_at < ?2 \
      AND (?3 IS NULL OR workflow = ?3) \
      AND workflow NOT IN (SELECT value FROM json_each(?4)) LIMIT ?5)";

/// Up to `?2` waiting runs past their deadline at `?1` whose parent is
/// unfinished and past its deadline too: read along `wf_instance_overdue`
/// (named, whose condition the query repeats: left to itself the planner
/// reads every waiting run through the status index).
pub(super) const OVERDUE_CHILDREN_SQL: &str = "\
    SELECT c.id FROM wf_instance AS c INDEXED BY wf_instance_overdue \
    JOIN wf_instance AS p ON p.id = c.parent_id \
    WHERE c.status IN ('pending', 'suspended') AND c.deadline_at IS NOT NULL \
    AND c.deadline_at <= ?1 \
    AND p.status IN ('pending', 'running', 'suspended') AND p.deadline_at <= ?1 \
    LIMIT ?2";

/// Ends up to `?2` waiting runs past their deadline at `?1` as `?3` with
/// error `?4`: read along `wf_instance_overdue` (named, as in
/// [`OVERDUE_CHILDREN_SQL`]), not through every waiting run.
pub(super) const TIME_OUT_OVERDUE_SQL: &str = "\
    UPDATE wf_instance SET status = ?3, error = ?4, \
    finished_at = ?1, updated_at = ?1, ready_at = NULL, \
    lease_token = lease_token + 1, lease_owner = NULL \
    WHERE id IN (SELECT id FROM wf_instance INDEXED BY wf_instance_overdue \
      WHERE status IN ('pending', 'suspended') \
      AND deadline_at IS NOT NULL AND deadline_at <= ?1 LIMIT ?2) \
    RETURNING id";

/// Deletes up to `?2` events stored before `?1`, read along
/// `wf_event_created` from the oldest on.
pub(super) const DELETE_EVENTS_SQL: &str = "\
    DELETE FROM wf_event WHERE id IN (SELECT id FROM wf_event \
      WHERE created_at < ?1 LIMIT ?2)";

/// Deletes up to `request.limit` finished runs (their steps and logs with
/// them).
pub(super) fn delete_finished(connection: &Connection, request: &DeleteFinished) -> Applied {
    let statuses = serde_json::to_string(request.statuses).unwrap_or_default();
    let deleted = connection
        .prepare_cached(DELETE_FINISHED_SQL)?
        .execute(params![
            statuses,
            request.finished_before,
            request.workflow,
            request.except,
            i64::try_from(request.limit).unwrap_or(i64::MAX)
        ])?;
    Ok(Ok(WriteOut::Count(deleted as u64)))
}

/// Ends up to `limit` runs past their deadline, and answers every run that
/// ended.
pub(super) fn time_out_overdue(connection: &Connection, now: i64, limit: usize) -> Applied {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // An overdue child of an unfinished overdue parent is cancelled,
    // as its parent's timeout would cancel it (see
    // `FinishEffects::recorded`); the others time out.
    let children: Vec<String> = connection
        .prepare_cached(OVERDUE_CHILDREN_SQL)?
        .query_map(params![now, limit], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let mut ended = Vec::new();
    for id in children {
        ended.extend(cancel_tree(
            connection,
            parse_run_id(&id)?,
            true,
            now,
            None,
        )?);
    }
    // The others end as a worker's finish ends a run that timed out.
    let (status, _, error) = outcome_columns(&RunOutcome::TimedOut);
    let ids: Vec<String> = connection
        .prepare_cached(TIME_OUT_OVERDUE_SQL)?
        .query_map(params![now, limit, status.as_str(), error], |row| {
            row.get(0)
        })?
        .collect::<Result<_, _>>()?;
    for id in ids {
        let run_id = parse_run_id(&id)?;
        ended.push(run_id);
        let (cancelled, _) = after_finish(connection, &[(run_id, &RunOutcome::TimedOut, now)])?;
        ended.extend(cancelled);
    }
    Ok(Ok(WriteOut::Ended(ended)))
}

/// Deletes up to `limit` events stored before `before`.
pub(super) fn delete_events(connection: &Connection, before: i64, limit: usize) -> Applied {
    let deleted = connection
        .prepare_cached(DELETE_EVENTS_SQL)?
        .execute(params![before, i64::try_from(limit).unwrap_or(i64::MAX)])?;
    Ok(Ok(WriteOut::Count(deleted as u64)))
}
