//! Runs claimed within a concurrency limit as they are created, on
//! SQLite: `running` if their group has a free slot, else `pending` for a
//! claim, counted in the writer's one write at a time.

use rusqlite::{Connection, OptionalExtension, params};

use super::cancel_on::register;
use crate::model::error::Error;
use crate::store::{ClaimAtCreate, CreateOutcome, NewRun};

/// Creates a run to be claimed as it is created if its group has a free
/// slot (see `ClaimAtCreate::limit`): `running` if fewer than the limit of
/// the runs of its workflow and concurrency key are running, else
/// `pending`, for a claim to take. The writer applies one write at a time,
/// so no claim runs between the count and the insert. `None` when the
/// run's idempotency key names another run (nothing was written).
pub(super) fn create_limited(
    connection: &Connection,
    run: &NewRun,
    claim: &ClaimAtCreate,
) -> Result<Option<CreateOutcome>, Error> {
    let status: Option<String> = connection
        .prepare_cached(&format!(
            "INSERT INTO wf_instance (id, workflow, status, input, idempotency_key, created_at, \
               updated_at, ready_at, deadline_at, lease_owner, lease_token, executions, \
               started_at, version, priority, concurrency_key, queue) \
             SELECT ?1, ?2, CASE WHEN free THEN 'running' ELSE 'pending' END, ?3, ?4, ?5, ?5, \
               CASE WHEN free THEN NULL ELSE ?6 END, ?7, CASE WHEN free THEN ?8 END, \
               CASE WHEN free THEN {token} ELSE 0 END, CASE WHEN free THEN 1 ELSE 0 END, \
               CASE WHEN free THEN ?5 END, ?9, ?10, ?11, ?13 \
             FROM (SELECT (SELECT COUNT(*) FROM wf_instance INDEXED BY wf_instance_slots \
                 WHERE status = 'running' AND workflow = ?2 AND concurrency_key = ?11) < ?12 \
               AS free) WHERE true \
             ON CONFLICT (workflow, idempotency_key) WHERE idempotency_key IS NOT NULL \
             DO NOTHING RETURNING status",
            token = ClaimAtCreate::TOKEN,
        ))?
        .query_row(
            params![
                run.id.to_string(),
                run.workflow,
                run.input,
                run.idempotency_key,
                run.now,
                run.ready_at,
                run.deadline_at,
                claim.owner,
                run.version,
                run.queue.priority,
                run.queue.concurrency_key,
                claim.limit,
                run.queue.name
            ],
            |row| row.get(0),
        )
        .optional()?;
    if status.is_some() {
        register(connection, run)?;
    }
    Ok(match status.as_deref() {
        Some("running") => Some(CreateOutcome::Created(run.id)),
        Some(_) => Some(CreateOutcome::Queued(run.id)),
        None => None,
    })
}
