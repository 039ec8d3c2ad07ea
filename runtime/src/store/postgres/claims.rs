//! Claims on PostgreSQL: runs taken with `FOR UPDATE SKIP LOCKED` under a
//! lease (expired leases first, then due runs), the next time a claim may
//! find work, and lease renewal.

use sqlx::{PgConnection, PgPool};

use super::options::batch_lease_holds;

use crate::model::error::Error;
use crate::store::StepRecord;
use crate::store::ops::{Applied, WriteOut};
use crate::store::rows::{StepRow, parse_run_id, step_record};
use crate::store::{ClaimRequest, ClaimedRun, Lease, Served};

/// A claimed run: id, workflow, input, token, deadline, executions, version.
pub(super) type ClaimRow = (
    String,
    String,
    String,
    i64,
    Option<i64>,
    i32,
    Option<String>,
);

/// The condition that a run's version is served (see `Served`): `$v` is
/// the JSON array of served `name` U+001F `version` pairs.
macro_rules! version_served {
    ($v:literal) => {
        concat!(
            "(version IS NULL OR workflow || chr(31) || version = ANY (ARRAY(SELECT jsonb_array_elements_text(",
            $v,
            "::jsonb))))"
        )
    };
}

pub(super) async fn claim(
    connection: &mut PgConnection,
    request: &ClaimRequest,
) -> Result<Vec<ClaimedRun>, Error> {
    let rows: Vec<ClaimRow> = sqlx::query_as(
        // Runs whose lease expired (their worker died), then due runs, each
        // read in the order of its own index: a claim reads the rows it
        // takes, however many are due (one scan over both conditions sorted
        // every due run). Expired leases go first so that a dead worker's
        // runs are taken over within a lease and a claim, not behind the
        // whole backlog; they cannot starve the due runs, as each is taken
        // once and then held by a live worker. The workflow names are an
        // array filter, not a join, which would lose the index order; the
        // update finds the claimed rows by primary key (as a join, the plan
        // scanned the whole table).
        concat!(
            "WITH expired AS ( \
           SELECT id FROM wf_instance WHERE status = 'running' AND lease_expires_at < $2 \
             AND paused_at IS NULL AND workflow = ANY (ARRAY(SELECT jsonb_array_elements_text($4::jsonb))) AND ",
            version_served!("$6"),
            " ORDER BY lease_expires_at LIMIT $3 FOR UPDATE SKIP LOCKED), \
         due AS ( \
           SELECT id FROM wf_instance WHERE status IN ('pending', 'suspended') \
             AND ready_at <= $2 AND paused_at IS NULL \
             AND workflow = ANY (ARRAY(SELECT jsonb_array_elements_text($4::jsonb))) AND ",
            version_served!("$6"),
            " ORDER BY ready_at LIMIT GREATEST($3 - (SELECT COUNT(*) FROM expired), 0) \
           FOR UPDATE SKIP LOCKED) \
         UPDATE wf_instance SET status = 'running', lease_token = lease_token + 1, \
           lease_owner = $1, lease_expires_at = $5, executions = executions + 1, \
           started_at = COALESCE(started_at, $2), updated_at = $2, ready_at = NULL, \
           version = COALESCE(version, $7::jsonb ->> workflow) \
         WHERE id = ANY (ARRAY(SELECT id FROM expired UNION ALL SELECT id FROM due)) \
         RETURNING id::text, workflow, input::text, lease_token, deadline_at, executions, version"
        ),
    )
    .bind(&request.owner)
    .bind(request.now)
    .bind(i64::try_from(request.limit).unwrap_or(i64::MAX))
    .bind(&*request.workflows.names)
    .bind(request.lease_expires_at)
    .bind(&*request.workflows.versions)
    .bind(&*request.workflows.current)
    .fetch_all(&mut *connection)
    .await?;
    // The journals of resumed runs are read by a statement of their own,
    // after the claim: read inside it, they came from the snapshot the
    // claim started with, which misses a step the previous execution
    // committed while the claim waited for the run's row; the run then ran
    // that step again. After the claim, every later write of the previous
    // execution is fenced out, so this read sees the whole journal.
    let resumed: Vec<String> = rows
        .iter()
        .filter(|row| row.5 > 1)
        .map(|row| row.0.clone())
        .collect();
    let mut journals: std::collections::HashMap<String, Vec<StepRecord>> =
        std::collections::HashMap::new();
    if !resumed.is_empty() {
        let steps: Vec<(String, sqlx::types::Json<StepRow>)> = sqlx::query_as(
            "SELECT s.instance_id::text, json_build_array(s.name, s.seq, s.kind, s.status, \
               s.input::text, s.output::text, s.error, s.attempts, s.wake_at, s.updated_at, \
               s.started_at, s.ended_at, s.attempt_log::text) \
             FROM wf_step AS s WHERE s.instance_id = ANY ($1::text[]::uuid[]) \
             ORDER BY s.instance_id, s.created_at, s.seq",
        )
        .bind(&resumed)
        .fetch_all(&mut *connection)
        .await?;
        for (run_id, step) in steps {
            journals
                .entry(run_id)
                .or_default()
                .push(step_record(step.0)?);
        }
    }
    rows.into_iter()
        .map(
            |(id, workflow, input, token, deadline_at, executions, version)| {
                let journal = journals.remove(&id).unwrap_or_default();
                Ok(ClaimedRun {
                    lease: Lease {
                        run_id: parse_run_id(&id)?,
                        token,
                    },
                    workflow,
                    input,
                    deadline_at,
                    executions: i64::from(executions),
                    version,
                    journal: Some(journal),
                })
            },
        )
        .collect()
}

/// The earliest time a run of these workflows may need a worker: the first
/// `ready_at` of a pending or suspended run, or the first lease of a running
/// run to expire.
pub(super) async fn next_ready_at(pool: &PgPool, workflows: &Served) -> Result<Option<i64>, Error> {
    let next: Option<i64> = sqlx::query_scalar(concat!(
        "SELECT LEAST( \
           (SELECT ready_at FROM wf_instance WHERE status IN ('pending', 'suspended') \
              AND ready_at IS NOT NULL AND paused_at IS NULL \
              AND workflow IN (SELECT jsonb_array_elements_text($1::jsonb)) AND ",
        version_served!("$2"),
        " ORDER BY ready_at LIMIT 1), \
           (SELECT lease_expires_at FROM wf_instance WHERE status = 'running' \
              AND paused_at IS NULL AND workflow IN (SELECT jsonb_array_elements_text($1::jsonb)) AND ",
        version_served!("$2"),
        " ORDER BY lease_expires_at LIMIT 1))"
    ))
    .bind(&*workflows.names)
    .bind(&*workflows.versions)
    .fetch_one(pool)
    .await?;
    Ok(next)
}

/// Extends the leases still held until `until`; answers with the runs whose
/// lease was lost, and the held ones an operator paused.
pub(super) async fn renew_leases(
    connection: &mut PgConnection,
    leases: &[Lease],
    until: i64,
) -> Applied {
    let ids: Vec<String> = leases
        .iter()
        .map(|lease| lease.run_id.to_string())
        .collect();
    let tokens: Vec<i64> = leases.iter().map(|lease| lease.token).collect();
    let renewed: Vec<(String, bool)> = sqlx::query_as(concat!(
        "UPDATE wf_instance AS i SET lease_expires_at = $3 \
         FROM UNNEST($1::text[], $2::bigint[]) AS v(id, token) WHERE ",
        batch_lease_holds!(),
        " RETURNING i.id::text, i.paused_at IS NOT NULL"
    ))
    .bind(&ids)
    .bind(&tokens)
    .bind(until)
    .fetch_all(&mut *connection)
    .await?;
    let held = |lease: &&Lease| {
        let id = lease.run_id.to_string();
        renewed
            .iter()
            .find(|(renewed, _)| *renewed == id)
            .map(|(_, paused)| *paused)
    };
    let lost = leases
        .iter()
        .filter(|lease| held(lease).is_none())
        .map(|lease| lease.run_id)
        .collect();
    let paused = leases
        .iter()
        .filter(|lease| held(lease) == Some(true))
        .map(|lease| lease.run_id)
        .collect();
    Ok(Ok(WriteOut::Renewed(crate::store::Renewal {
        lost,
        paused,
    })))
}
