//! Claims: taking due runs for a worker, the dispatcher's next wake time,
//! handing back the runs a previous process left running, and leases (which
//! never expire here).

use rusqlite::{Connection, OptionalExtension, params};

use super::steps::journal_rows;
use crate::core::concurrency::{Candidate, pick};
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::store::ops::{Applied, WriteOut};
use crate::store::rows::{parse_run_id, step_record};
use crate::store::{ClaimRequest, ClaimedRun, Lease};

/// Hands back the runs the last engine left `running`.
pub(super) fn recover(connection: &Connection, now: i64) -> Applied {
    // Runs the last engine left `running` are due since before any
    // other (`ready_at` 0): claims take the earliest first, so they
    // go ahead of the backlog instead of waiting behind every run
    // that fell due before the restart, as a dead worker's runs do
    // on PostgreSQL.
    let count = connection
        .prepare_cached(
            "UPDATE wf_instance SET status = 'pending', ready_at = 0, updated_at = ?1, \
             lease_token = lease_token + 1, lease_owner = NULL WHERE status = 'running'",
        )?
        .execute(params![now])?;
    Ok(Ok(WriteOut::Count(count as u64)))
}

/// Renews leases: one engine owns the file, so its leases never expire and
/// none is lost (and that engine pauses its runs itself, so none is told).
pub(super) fn renew_leases() -> WriteOut {
    WriteOut::Renewed(crate::store::Renewal::default())
}

/// The running runs of the candidate's workflow and concurrency key, read
/// through the index of running runs by workflow and key; 0, and not
/// counted, for a workflow without a limit (`?L` names the limits, a JSON
/// object by workflow).
macro_rules! running_of_group {
    ($limits:literal) => {
        concat!(
            "CASE WHEN (SELECT value FROM json_each(",
            $limits,
            ") WHERE key = c.workflow) IS NULL THEN 0 ELSE \
             (SELECT COUNT(*) FROM wf_instance AS r INDEXED BY wf_instance_slots \
              WHERE r.status = 'running' AND r.workflow = c.workflow \
              AND r.concurrency_key = c.concurrency_key) END"
        )
    };
}

/// Whether the candidate's group has a free slot: its workflow has no
/// limit, or fewer of its group's runs than the limit are running.
macro_rules! group_has_room {
    ($limits:literal) => {
        concat!(
            "((SELECT value FROM json_each(",
            $limits,
            ") WHERE key = c.workflow) IS NULL OR ",
            running_of_group!($limits),
            " < (SELECT value FROM json_each(",
            $limits,
            ") WHERE key = c.workflow))"
        )
    };
}

/// The highest priority below `?1` of a pending or suspended run, read
/// from the end of the queue index: a claim reads the due runs of each
/// priority in turn, highest first.
pub(super) const PRIORITY_BELOW_SQL: &str = "\
    SELECT priority FROM wf_instance INDEXED BY wf_instance_queue \
    WHERE status IN ('pending', 'suspended') AND priority < ?1 \
    ORDER BY priority DESC LIMIT 1";

/// Up to `?3` due runs, not paused, of priority `?7` of the workflows in
/// `?4` (a JSON array) waiting in the queues in `?8` (a JSON array) whose
/// group has a free slot (limits in `?6`), the earliest first,
/// each with how many of its group run and its workflow's limit. Read
/// through the queue index, in its order: left to itself, the planner
/// picks the index of workflow and status for the workflow filter, then
/// reads and sorts every waiting run of those workflows, however few are
/// due (with 10,000 runs asleep, a claim took 5 times longer). A run of a
/// full group is read and passed over.
pub(super) const CANDIDATES_SQL: &str = concat!(
    "SELECT c.id, c.workflow, c.concurrency_key, ",
    running_of_group!("?6"),
    ", (SELECT value FROM json_each(?6) WHERE key = c.workflow) \
    FROM wf_instance AS c INDEXED BY wf_instance_queue \
    WHERE c.status IN ('pending', 'suspended') AND c.priority = ?7 AND c.ready_at <= ?2 \
      AND c.paused_at IS NULL \
      AND c.workflow IN (SELECT value FROM json_each(?4)) \
      AND c.queue IN (SELECT value FROM json_each(?8)) \
      AND (c.version IS NULL OR c.workflow || char(31) || c.version IN (SELECT value FROM json_each(?5))) \
      AND ",
    group_has_room!("?6"),
    " ORDER BY c.ready_at LIMIT ?3"
);

/// Claims the runs of `?3` (a JSON array of ids) for `?1`.
pub(super) const TAKE_SQL: &str = "\
    UPDATE wf_instance SET status = 'running', lease_token = lease_token + 1, \
    lease_owner = ?1, executions = executions + 1, \
    started_at = COALESCE(started_at, ?2), updated_at = ?2, ready_at = NULL, \
    version = COALESCE(version, (SELECT value FROM json_each(?4) WHERE key = workflow)) \
    WHERE id IN (SELECT value FROM json_each(?3)) \
    RETURNING id, workflow, input, lease_token, deadline_at, executions, version";

/// The earliest wake time of the waiting runs, not paused, of the
/// workflows in `?1` waiting in the queues in `?4` whose group has a free slot (limits in `?3`), read
/// through the ready
/// index as the claim reads the queue index (without it, every dispatcher
/// round read and sorted every waiting run: 0.01 ms against 2.8 ms with
/// 10,000 runs asleep). A run of a full group is passed over: it is due
/// when a run of its group stops, which wakes the dispatcher.
pub(super) const NEXT_READY_SQL: &str = concat!(
    "SELECT c.ready_at FROM wf_instance AS c INDEXED BY wf_instance_ready \
    WHERE c.status IN ('pending', 'suspended') AND c.ready_at IS NOT NULL \
    AND c.paused_at IS NULL \
    AND c.workflow IN (SELECT value FROM json_each(?1)) \
    AND c.queue IN (SELECT value FROM json_each(?4)) \
    AND (c.version IS NULL OR c.workflow || char(31) || c.version IN (SELECT value FROM json_each(?2))) \
    AND ",
    group_has_room!("?3"),
    " ORDER BY c.ready_at LIMIT 1"
);

/// Takes up to `request.limit` due runs, the highest priority first and in
/// trigger order within one, none of a group (workflow and concurrency
/// key) beyond its workflow's limit: the candidates of each priority in
/// turn, of groups with a free slot, then those [`pick`] keeps (two of one
/// group found in one claim may not both fit). A claim may so take fewer
/// than it could; the dispatcher, finding due runs left, claims again.
pub(super) fn claim(
    connection: &Connection,
    request: &ClaimRequest,
) -> Result<Vec<ClaimedRun>, Error> {
    let workflows = &request.workflows;
    let mut candidates: Vec<(String, Candidate)> = Vec::new();
    let mut below = i64::MAX;
    while candidates.len() < request.limit {
        let Some(priority) = connection
            .prepare_cached(PRIORITY_BELOW_SQL)?
            .query_row(params![below], |row| row.get::<_, i64>(0))
            .optional()?
        else {
            break;
        };
        below = priority;
        let limit = i64::try_from(request.limit - candidates.len()).unwrap_or(i64::MAX);
        let mut statement = connection.prepare_cached(CANDIDATES_SQL)?;
        let rows = statement.query_map(
            params![
                request.owner,
                request.now,
                limit,
                &*workflows.names,
                &*workflows.versions,
                &*workflows.limits,
                priority,
                &*workflows.queues
            ],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    Candidate {
                        workflow: row.get(1)?,
                        key: row.get(2)?,
                        running: row.get(3)?,
                        limit: row.get(4)?,
                    },
                ))
            },
        )?;
        for row in rows {
            candidates.push(row?);
        }
    }
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let groups: Vec<Candidate> = candidates.iter().map(|(_, group)| group.clone()).collect();
    let picked: Vec<&str> = pick(&groups, request.limit)
        .into_iter()
        .map(|index| candidates[index].0.as_str())
        .collect();
    let ids = serde_json::Value::from(picked.clone()).to_string();
    let mut statement = connection.prepare_cached(TAKE_SQL)?;
    let rows = statement.query_map(
        params![request.owner, request.now, ids, &*workflows.current],
        |row| {
            Ok((
                row.get::<_, String>(0)?,
                ClaimedRun {
                    lease: Lease {
                        run_id: RunId(uuid::Uuid::nil()),
                        token: row.get(3)?,
                    },
                    workflow: row.get(1)?,
                    input: row.get(2)?,
                    deadline_at: row.get(4)?,
                    executions: row.get(5)?,
                    version: row.get(6)?,
                    journal: None,
                },
            ))
        },
    )?;
    let mut claimed = Vec::new();
    for row in rows {
        let (id, mut run) = row?;
        run.lease.run_id = parse_run_id(&id)?;
        claimed.push((id, run));
    }
    drop(statement);
    // In the order they were picked (RETURNING follows the table's).
    let order: std::collections::HashMap<&str, usize> = picked
        .iter()
        .enumerate()
        .map(|(index, id)| (*id, index))
        .collect();
    claimed.sort_by_key(|(id, _)| order.get(id.as_str()).copied());
    let mut claimed: Vec<ClaimedRun> = claimed.into_iter().map(|(_, run)| run).collect();
    // The journals are read here, on the writer's connection, whose page
    // cache the writes keep warm: read by the executor on a reader, each
    // found its cache stale after every commit and contended with the
    // writer (it cost a quarter of the process's time in the bench's W3).
    for run in &mut claimed {
        run.journal = Some(if run.executions > 1 {
            journal_rows(connection, run.lease.run_id)?
                .into_iter()
                .map(step_record)
                .collect::<Result<_, _>>()?
        } else {
            Vec::new()
        });
    }
    Ok(claimed)
}
