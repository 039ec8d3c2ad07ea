//! Claims: taking due runs for a worker, the dispatcher's next wake time,
//! handing back the runs a previous process left running, and leases (which
//! never expire here).

use rusqlite::{Connection, params};

use super::steps::journal_rows;
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

/// Takes up to `?3` due runs of the workflows in `?4` (a JSON array), the
/// earliest first. Due runs are read through the ready index, in its order:
/// left to itself, the planner picks the index of workflow and status for
/// the workflow filter, then reads and sorts every waiting run of those
/// workflows, however few are due (with 10,000 runs asleep, a claim took 5
/// times longer).
pub(super) const CLAIM_SQL: &str = "\
    UPDATE wf_instance SET status = 'running', lease_token = lease_token + 1, \
    lease_owner = ?1, executions = executions + 1, \
    started_at = COALESCE(started_at, ?2), updated_at = ?2, ready_at = NULL, \
    version = COALESCE(version, (SELECT value FROM json_each(?6) WHERE key = workflow)) \
    WHERE id IN (SELECT id FROM wf_instance INDEXED BY wf_instance_ready \
      WHERE status IN ('pending', 'suspended') AND ready_at <= ?2 AND paused_at IS NULL \
      AND workflow IN (SELECT value FROM json_each(?4)) \
      AND (version IS NULL OR workflow || char(31) || version IN (SELECT value FROM json_each(?5))) \
      ORDER BY ready_at LIMIT ?3) \
    RETURNING id, workflow, input, lease_token, deadline_at, executions, version";

/// The earliest wake time of the waiting runs of the workflows in `?1`,
/// read through the ready index as [`CLAIM_SQL`] is (without it, every
/// dispatcher round read and sorted every waiting run: 0.01 ms against
/// 2.8 ms with 10,000 runs asleep).
pub(super) const NEXT_READY_SQL: &str = "\
    SELECT ready_at FROM wf_instance INDEXED BY wf_instance_ready \
    WHERE status IN ('pending', 'suspended') AND ready_at IS NOT NULL AND paused_at IS NULL \
    AND workflow IN (SELECT value FROM json_each(?1)) \
    AND (version IS NULL OR workflow || char(31) || version IN (SELECT value FROM json_each(?2))) \
    ORDER BY ready_at LIMIT 1";

pub(super) fn claim(
    connection: &Connection,
    request: &ClaimRequest,
) -> Result<Vec<ClaimedRun>, Error> {
    let mut statement = connection.prepare_cached(CLAIM_SQL)?;
    let limit = i64::try_from(request.limit).unwrap_or(i64::MAX);
    let rows = statement.query_map(
        params![
            request.owner,
            request.now,
            limit,
            &*request.workflows.names,
            &*request.workflows.versions,
            &*request.workflows.current
        ],
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
        claimed.push(run);
    }
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
