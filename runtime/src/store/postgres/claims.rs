//! Claims on PostgreSQL: runs taken with `FOR UPDATE SKIP LOCKED` under a
//! lease (expired leases first, then due runs by priority), within the
//! concurrency limits of their workflows, the next time a claim may find
//! work, and lease renewal.

use sqlx::{PgConnection, PgPool};

use super::options::batch_lease_holds;

use crate::core::concurrency::{Candidate, pick};
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

/// The condition that the run `c`'s queue is served: `$8` is the JSON
/// array of the queues served.
macro_rules! queue_served {
    () => {
        "c.queue = ANY (ARRAY(SELECT jsonb_array_elements_text($8::jsonb)))"
    };
}

/// The priorities of pending and suspended runs, highest first, one row
/// each (and a last row NULL), each found by one probe of the queue index:
/// a loose index scan, as PostgreSQL has no skip scan.
macro_rules! priorities {
    () => {
        "priorities AS ( \
           (SELECT priority FROM wf_instance WHERE status IN ('pending', 'suspended') \
            ORDER BY priority DESC LIMIT 1) \
           UNION ALL \
           SELECT (SELECT q.priority FROM wf_instance AS q \
                   WHERE q.status IN ('pending', 'suspended') AND q.priority < p.priority \
                   ORDER BY q.priority DESC LIMIT 1) \
           FROM priorities AS p WHERE p.priority IS NOT NULL)"
    };
}

/// How many runs of the group (workflow and concurrency key) of the run
/// `c` are running: of a keyed group through the index of running keyed
/// runs by workflow and key (`wf_instance_slots`, which runs without a key
/// stay out of: most workflows have no limit, and every run of theirs
/// would enter and leave it), of a workflow limited as a whole (key `''`)
/// through the index of workflow and status, which holds at most its
/// limit of running runs.
macro_rules! running_of_group {
    () => {
        "(CASE WHEN c.concurrency_key = '' \
           THEN (SELECT COUNT(*) FROM wf_instance AS r WHERE r.status = 'running' \
             AND r.workflow = c.workflow AND r.concurrency_key = '') \
           ELSE (SELECT COUNT(*) FROM wf_instance AS r WHERE r.status = 'running' \
             AND r.concurrency_key <> '' \
             AND r.workflow = c.workflow AND r.concurrency_key = c.concurrency_key) END)"
    };
}

/// The concurrency limit of the workflow of the run `c` (`$9`, a JSON
/// object by name); NULL for a workflow without one.
macro_rules! limit_of {
    () => {
        "($9::jsonb ->> c.workflow)::bigint"
    };
}

/// The due runs of the served workflows and queues, by priority (highest first) and
/// then by ready time: for each priority in turn, its due runs as the queue
/// index reads them (a nested loop over the priorities: no sort), each
/// locked `FOR UPDATE SKIP LOCKED` as it is read, `$limit` in all; with
/// `$room`, only runs whose group has a free slot.
macro_rules! due_by_priority {
    ($limit:literal, $room:expr) => {
        concat!(
            "SELECT d.id, d.workflow, d.concurrency_key FROM priorities AS p CROSS JOIN LATERAL ( \
               SELECT c.id, c.workflow, c.concurrency_key FROM wf_instance AS c \
               WHERE c.status IN ('pending', 'suspended') AND c.priority = p.priority \
                 AND c.ready_at <= $2 AND c.paused_at IS NULL \
                 AND c.workflow = ANY (ARRAY(SELECT jsonb_array_elements_text($4::jsonb))) AND ",
            queue_served!(),
            " AND ",
            version_served!("$6"),
            $room,
            " ORDER BY c.ready_at LIMIT ",
            $limit,
            " FOR UPDATE SKIP LOCKED) AS d WHERE p.priority IS NOT NULL LIMIT ",
            $limit
        )
    };
}

/// Runs whose lease expired (their worker died), of the served workflows
/// and queues, not paused (a paused run waits for its resume, wherever it
/// ran).
macro_rules! expired {
    () => {
        concat!(
            "expired AS ( \
               SELECT id FROM wf_instance AS c WHERE status = 'running' AND lease_expires_at < $2 \
                 AND paused_at IS NULL AND workflow = ANY (ARRAY(SELECT jsonb_array_elements_text($4::jsonb))) AND ",
            queue_served!(),
            " AND ",
            version_served!("$6"),
            " ORDER BY lease_expires_at LIMIT $3 FOR UPDATE SKIP LOCKED)"
        )
    };
}

/// What a claim sets on the runs it takes and returns of them.
macro_rules! take_set {
    () => {
        "UPDATE wf_instance SET status = 'running', lease_token = lease_token + 1, \
           lease_owner = $1, lease_expires_at = $5, executions = executions + 1, \
           started_at = COALESCE(started_at, $2), updated_at = $2, ready_at = NULL, \
           version = COALESCE(version, $7::jsonb ->> workflow) "
    };
}

/// What a claim returns of each run it takes.
macro_rules! take_returning {
    () => {
        " RETURNING id::text, workflow, input::text, lease_token, deadline_at, executions, version"
    };
}

/// A claim of workflows without concurrency limits, in one statement:
/// runs whose lease expired (their worker died), then due runs by
/// priority, each read in the order of its own index: a claim reads the
/// rows it takes, however many are due (one scan over both conditions
/// sorted every due run). Expired leases go first so that a dead worker's
/// runs are taken over within a lease and a claim, not behind the whole
/// backlog; they cannot starve the due runs, as each is taken once and then
/// held by a live worker. The workflow names are an array filter, not a
/// join, which would lose the index order; the update finds the claimed
/// rows by primary key (as a join, the plan scanned the whole table).
pub(super) const CLAIM_SQL: &str = concat!(
    "WITH RECURSIVE ",
    expired!(),
    ", ",
    priorities!(),
    ", due AS (",
    due_by_priority!("GREATEST($3 - (SELECT COUNT(*) FROM expired), 0)", ""),
    ") ",
    take_set!(),
    "WHERE id = ANY (ARRAY(SELECT id FROM expired UNION ALL SELECT id FROM due))",
    take_returning!()
);

/// The candidates of a claim of workflows of which some have a
/// concurrency limit (`$9`): the runs whose lease expired, which hold
/// their group's slot already (no limit), then the due runs by priority of
/// groups with a free slot, each with its group, how many of its group run
/// and its limit. All are locked; the claim takes those [`pick`] keeps.
pub(super) const CANDIDATES_SQL: &str = concat!(
    "WITH RECURSIVE ",
    expired!(),
    ", ",
    priorities!(),
    ", due AS (",
    due_by_priority!(
        "GREATEST($3 - (SELECT COUNT(*) FROM expired), 0)",
        concat!(
            " AND (",
            limit_of!(),
            " IS NULL OR ",
            running_of_group!(),
            " < ",
            limit_of!(),
            ")"
        )
    ),
    ") SELECT id::text, '', '', 0::bigint, NULL::bigint FROM expired \
     UNION ALL SELECT c.id::text, c.workflow, c.concurrency_key, ",
    running_of_group!(),
    ", ",
    limit_of!(),
    " FROM due AS c"
);

/// Takes the candidates a claim kept (`$3`, their ids).
pub(super) const TAKE_SQL: &str = concat!(
    take_set!(),
    "WHERE id = ANY ($3::text[]::uuid[])",
    take_returning!()
);

/// The lock a claim of a workflow with a concurrency limit holds while it
/// counts the workflow's running runs and takes some: two engines' claims
/// of one workflow so never both take its last slot (under READ COMMITTED
/// each would count the running runs without the other's). Taken before
/// the claim's statements, whose snapshot then sees what the lock's last
/// holder committed. `$1` holds the workflows' names, sorted, so that two
/// claims take their locks in one order.
const LOCK_LIMITED_SQL: &str =
    "SELECT pg_advisory_xact_lock(7202, hashtext(w)) FROM UNNEST($1::text[]) AS w";

/// Takes the locks of the limited workflows `sorted` (see
/// [`LOCK_LIMITED_SQL`]) until the transaction ends; a create that counts
/// a group's running runs (`runs::create_limited`) holds them as a claim
/// does.
pub(super) async fn lock_limited(
    connection: &mut PgConnection,
    sorted: &[&str],
) -> Result<(), Error> {
    sqlx::query(LOCK_LIMITED_SQL)
        .bind(sorted)
        .execute(&mut *connection)
        .await?;
    Ok(())
}

pub(super) async fn claim(
    connection: &mut PgConnection,
    request: &ClaimRequest,
) -> Result<Vec<ClaimedRun>, Error> {
    let workflows = &request.workflows;
    let rows = if !workflows.has_limits() {
        bind_claim(sqlx::query_as(CLAIM_SQL), request, &workflows.names)
            .fetch_all(&mut *connection)
            .await?
    } else if !workflows.has_unlimited() || limited_runs_due(connection, request).await? {
        claim_limited(connection, request).await?
    } else {
        // No run of a limited workflow is due: the others in one statement,
        // as if none had a limit, without the limited claim's transaction
        // and locks (which cost every claim of an engine serving one
        // limited workflow among others about a third of W1 on this
        // machine). A limited run that falls due meanwhile waits for the
        // next claim, which its trigger's wake-up starts.
        bind_claim(
            sqlx::query_as(CLAIM_SQL),
            request,
            &workflows.unlimited_names,
        )
        .fetch_all(&mut *connection)
        .await?
    };
    with_journals(connection, rows).await
}

/// Whether a run of a workflow with a concurrency limit (the keys of `$2`)
/// is due at `$1` in a served queue (`$3`), not paused: read along the
/// index of workflow and status, the first due run of each limited
/// workflow's waiting runs.
const LIMITED_DUE_SQL: &str = "\
    SELECT EXISTS (SELECT 1 FROM wf_instance \
      WHERE workflow = ANY (ARRAY(SELECT jsonb_object_keys($2::jsonb))) \
      AND status IN ('pending', 'suspended') AND ready_at <= $1 AND paused_at IS NULL \
      AND queue = ANY (ARRAY(SELECT jsonb_array_elements_text($3::jsonb))))";

/// Whether the claim must take the limited path: a run of a limited
/// workflow is due.
async fn limited_runs_due(
    connection: &mut PgConnection,
    request: &ClaimRequest,
) -> Result<bool, Error> {
    Ok(sqlx::query_scalar(LIMITED_DUE_SQL)
        .bind(request.now)
        .bind(&*request.workflows.limits)
        .bind(&*request.workflows.queues)
        .fetch_one(&mut *connection)
        .await?)
}

/// Binds a claim's parameters, `$1` to `$8`, to `query`, the workflows
/// claimed being `names` (a JSON array).
fn bind_claim<'q, O>(
    query: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    request: &'q ClaimRequest,
    names: &'q str,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    query
        .bind(&request.owner)
        .bind(request.now)
        .bind(i64::try_from(request.limit).unwrap_or(i64::MAX))
        .bind(names)
        .bind(request.lease_expires_at)
        .bind(&*request.workflows.versions)
        .bind(&*request.workflows.current)
        .bind(&*request.workflows.queues)
}

/// A claim of workflows of which some have a concurrency limit, in a
/// transaction holding their locks (see [`LOCK_LIMITED_SQL`]): the
/// candidates, then the update of those that fit their groups' limits.
async fn claim_limited(
    connection: &mut PgConnection,
    request: &ClaimRequest,
) -> Result<Vec<ClaimRow>, Error> {
    let mut limited: Vec<String> =
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(
            &request.workflows.limits,
        )
        .map(|limits| limits.into_iter().map(|(name, _)| name).collect())
        .unwrap_or_default();
    limited.sort();
    let limited: Vec<&str> = limited.iter().map(String::as_str).collect();
    let mut tx = sqlx::Connection::begin(&mut *connection).await?;
    lock_limited(&mut tx, &limited).await?;
    let found: Vec<(String, String, String, i64, Option<i64>)> = bind_claim(
        sqlx::query_as(CANDIDATES_SQL),
        request,
        &request.workflows.names,
    )
    .bind(&*request.workflows.limits)
    .fetch_all(&mut *tx)
    .await?;
    let candidates: Vec<Candidate> = found
        .iter()
        .map(|(_, workflow, key, running, limit)| Candidate {
            workflow: workflow.clone(),
            key: key.clone(),
            running: *running,
            limit: *limit,
        })
        .collect();
    let ids: Vec<&str> = pick(&candidates, request.limit)
        .into_iter()
        .map(|index| found[index].0.as_str())
        .collect();
    let rows: Vec<ClaimRow> = if ids.is_empty() {
        Vec::new()
    } else {
        sqlx::query_as(TAKE_SQL)
            .bind(&request.owner)
            .bind(request.now)
            .bind(&ids)
            .bind(None::<i64>)
            .bind(request.lease_expires_at)
            .bind(None::<&str>)
            .bind(&*request.workflows.current)
            .fetch_all(&mut *tx)
            .await?
    };
    tx.commit().await?;
    Ok(rows)
}

/// The claimed runs, with the journals of the resumed ones.
async fn with_journals(
    connection: &mut PgConnection,
    rows: Vec<ClaimRow>,
) -> Result<Vec<ClaimedRun>, Error> {
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

/// The earliest time a run of the workflows `$1` (versions `$2`, JSON
/// arrays, limits per workflow `$3`, a JSON object) in the queues `$4` (a
/// JSON array) may need a worker: the
/// first `ready_at` of a pending or suspended run whose group has a free
/// slot (a run of a full group is passed over: it is due when a run of its
/// group stops, which wakes the dispatchers), or the first lease of a
/// running run to expire; each read from the first entry of its index on.
pub(super) const NEXT_READY_SQL: &str = concat!(
    "SELECT LEAST( \
       (SELECT c.ready_at FROM wf_instance AS c WHERE c.status IN ('pending', 'suspended') \
          AND c.ready_at IS NOT NULL AND c.paused_at IS NULL \
          AND c.workflow IN (SELECT jsonb_array_elements_text($1::jsonb)) \
          AND c.queue IN (SELECT jsonb_array_elements_text($4::jsonb)) AND ",
    version_served!("$2"),
    " AND (($3::jsonb ->> c.workflow)::bigint IS NULL OR ",
    running_of_group!(),
    " < ($3::jsonb ->> c.workflow)::bigint) \
         ORDER BY c.ready_at LIMIT 1), \
       (SELECT lease_expires_at FROM wf_instance WHERE status = 'running' AND paused_at IS NULL \
          AND workflow IN (SELECT jsonb_array_elements_text($1::jsonb)) \
          AND queue IN (SELECT jsonb_array_elements_text($4::jsonb)) AND ",
    version_served!("$2"),
    " ORDER BY lease_expires_at LIMIT 1))"
);

/// The earliest time a run of these workflows may need a worker (see
/// [`NEXT_READY_SQL`]).
pub(super) async fn next_ready_at(pool: &PgPool, workflows: &Served) -> Result<Option<i64>, Error> {
    let next: Option<i64> = sqlx::query_scalar(NEXT_READY_SQL)
        .bind(&*workflows.names)
        .bind(&*workflows.versions)
        .bind(&*workflows.limits)
        .bind(&*workflows.queues)
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
    // By id: an engine holds thousands of leases while its runs sleep in
    // memory, and a search of the list per lease made a renewal quadratic.
    let renewed: std::collections::HashMap<String, bool> = renewed.into_iter().collect();
    let held = |lease: &&Lease| renewed.get(&lease.run_id.to_string()).copied();
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
