//! Finishing runs on PostgreSQL: the finishes of the hot statement, the
//! steps waiting for an ended run, cancelled trees of descendants, and a
//! timed-out child of an overdue parent recorded as cancelled.

use sqlx::PgConnection;

use super::notify::Notes;
use super::options::{batch_lease_holds, status_is};
use super::steps::upsert_step;
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::store::ops::{Slots, WriteOp, WriteOut};
use crate::store::rows::outcome_columns;
use crate::store::rules::{finished_as_cancelled, timeout_finish};
use crate::store::settle::{
    EndedRun, StepWrite, after_ends, cancelled_runs, ends_descendants, waiter_outcome,
};
use crate::store::{Lease, RunOutcome};

/// The finishes of [`HOT_CREATED`]'s statement.
pub(super) const HOT_FINISHED: &str = concat!(
    "\
finished AS ( \
  UPDATE wf_instance AS i SET status = v.status, output = v.output::jsonb, \
    error = v.error, finished_at = v.now, updated_at = v.now, ready_at = NULL, \
    lease_owner = NULL, lease_expires_at = NULL \
  FROM UNNEST($24::text[], $25::text[], $26::text[], $27::text[], $28::bigint[], \
    $29::bigint[], $30::text[], $31::text[]) \
    AS v(id, status, output, error, now, token, outcome, waiter_status) \
  WHERE ",
    batch_lease_holds!(),
    " \
  {after_saved}RETURNING i.id, v.outcome, v.waiter_status, v.now), \
settled AS ( \
  UPDATE wf_step AS s SET \
    status = f.waiter_status, output = f.outcome::jsonb, updated_at = f.now, ended_at = f.now \
  FROM finished AS f WHERE s.wait_run = f.id AND s.status = 'waiting' \
  RETURNING s.instance_id, f.now, f.id AS awaited), \
woken AS ( \
  UPDATE wf_instance AS p SET updated_at = w.now, \
    ready_at = CASE WHEN p.ready_at IS NULL OR p.ready_at > w.now \
      THEN w.now ELSE p.ready_at END \
  FROM (SELECT instance_id, MIN(now) AS now FROM settled GROUP BY instance_id) AS w \
  WHERE p.id = w.instance_id AND ",
    status_is!("p.status", "running", "suspended"),
    " \
    AND p.id NOT IN (SELECT id FROM finished) \
  RETURNING p.id), \
finished_announced AS ( \
  SELECT pg_notify($32, id::text) FROM finished \
  UNION ALL SELECT pg_notify($33, '') WHERE EXISTS (SELECT 1 FROM woken))"
);

/// The columns of the finished runs in [`HOT_FINISHED`], one array each.
#[derive(Default)]
pub(super) struct FinishColumns {
    pub(super) ids: Vec<String>,
    pub(super) statuses: Vec<&'static str>,
    pub(super) outputs: Vec<Option<String>>,
    pub(super) errors: Vec<Option<String>>,
    pub(super) nows: Vec<i64>,
    pub(super) tokens: Vec<i64>,
    /// How each run ended, as the steps waiting for it record it.
    pub(super) outcomes: Vec<String>,
    /// The status the steps waiting for each run end in.
    pub(super) waiter_statuses: Vec<&'static str>,
}

impl FinishColumns {
    pub(super) fn push(&mut self, lease: &Lease, outcome: &RunOutcome, now: i64) {
        let (status, output, error) = outcome_columns(outcome);
        let (waiters_outcome, waiter_status) = waiter_outcome(outcome);
        self.ids.push(lease.run_id.to_string());
        self.statuses.push(status.as_str());
        self.outputs.push(output.map(str::to_owned));
        self.errors.push(error.map(str::to_owned));
        self.nows.push(now);
        self.tokens.push(lease.token);
        self.outcomes.push(waiters_outcome);
        self.waiter_statuses.push(waiter_status.as_str());
    }
}

/// Cancels the unfinished descendants of the runs at `indices` that ended
/// timed out or aborted, and adds them to those finishes' results.
pub(super) async fn cancel_descendants(
    connection: &mut PgConnection,
    ops: &[WriteOp],
    indices: &[usize],
    results: &mut Slots,
    notes: &mut Notes,
) -> Result<(), Error> {
    for &index in indices {
        if let WriteOp::Finish {
            lease,
            outcome,
            now,
            ..
        } = &ops[index]
            && ends_descendants(outcome)
            && let Some(Ok(WriteOut::Finished(effects))) = &mut results[index]
        {
            effects
                .cancelled
                .extend(cancel_tree(connection, lease.run_id, false, *now, None, notes).await?);
        }
    }
    Ok(())
}

/// Ends as `cancelled` the runs whose finish at `hot` is a timeout while
/// their parent is unfinished and past its deadline too: its timeout
/// cancels them, so they end the same whichever deadline the engine meets
/// first (see [`FinishEffects::recorded`]). Their steps are saved first, as
/// a finish saves them; their finishes leave `hot`. A parent's timeout
/// committed meanwhile cancelled the child already and bumped its lease,
/// so the child's row, read under its lease, is not found then.
pub(super) async fn cancel_timed_out_children(
    connection: &mut PgConnection,
    ops: &[WriteOp],
    hot: &mut Vec<usize>,
    results: &mut Slots,
    notes: &mut Notes,
) -> Result<(), Error> {
    let mut kept = Vec::with_capacity(hot.len());
    for &index in hot.iter() {
        let Some((lease, steps, now)) = timeout_finish(&ops[index]) else {
            kept.push(index);
            continue;
        };
        let overdue_parent: Option<i32> = sqlx::query_scalar(concat!(
            "SELECT 1 FROM wf_instance AS c JOIN wf_instance AS p ON p.id = c.parent_id \
             WHERE c.id = $1::uuid AND c.lease_token = $2 AND ",
            status_is!("c.status", "running"),
            " \
             AND ",
            status_is!("p.status", "pending", "running", "suspended"),
            " \
             AND p.deadline_at IS NOT NULL AND p.deadline_at <= $3 FOR UPDATE OF c"
        ))
        .bind(lease.run_id.to_string())
        .bind(lease.token)
        .bind(now)
        .fetch_optional(&mut *connection)
        .await?;
        if overdue_parent.is_none() {
            kept.push(index);
            continue;
        }
        for step in steps {
            upsert_step(connection, lease, &StepWrite::plain(step)).await?;
        }
        let cancelled = cancel_tree(connection, lease.run_id, true, now, None, notes).await?;
        results[index] = Some(Ok(finished_as_cancelled(lease.run_id, cancelled)));
    }
    *hot = kept;
    Ok(())
}

/// After runs ended (each with the time it ended): settles the steps
/// waiting for them (at the latest of those times, in one statement), and
/// cancels the unfinished descendants of those that timed out or were
/// cancelled, at the time each ended, which it returns. The same contract
/// as SQLite's `after_finish`, with the notes the commit sends.
pub(super) async fn after_finish(
    connection: &mut PgConnection,
    ended: &[(RunId, &RunOutcome, i64)],
    notes: &mut Notes,
) -> Result<Vec<RunId>, Error> {
    notes
        .finished
        .extend(ended.iter().map(|(run_id, _, _)| run_id.to_string()));
    let after = after_ends(ended);
    settle_run_waiters(connection, &after.settled, after.at, notes).await?;
    let mut cancelled = Vec::new();
    for (run_id, now) in after.cancel_below {
        cancelled.extend(cancel_tree(connection, run_id, false, now, None, notes).await?);
    }
    Ok(cancelled)
}

/// Completes the steps waiting for these runs with how each ended, and
/// wakes their runs, in one statement. The runs' rows are locked by this
/// transaction (it just updated them), and `register_wait` reads them
/// `FOR SHARE`: a wait registered concurrently is either seen here or sees
/// the run ended.
pub(super) async fn settle_run_waiters(
    connection: &mut PgConnection,
    ended: &[EndedRun],
    now: i64,
    notes: &mut Notes,
) -> Result<(), Error> {
    if ended.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = ended.iter().map(|(id, _, _)| id.to_string()).collect();
    let outcomes: Vec<&str> = ended
        .iter()
        .map(|(_, outcome, _)| outcome.as_str())
        .collect();
    let statuses: Vec<&str> = ended.iter().map(|(_, _, status)| status.as_str()).collect();
    let woken: i64 = sqlx::query_scalar(concat!(
        "WITH settled AS ( \
           UPDATE wf_step AS s SET status = o.status, output = o.outcome::jsonb, updated_at = $4, ended_at = $4 \
           FROM UNNEST($1::text[], $2::text[], $3::text[]) AS o(id, outcome, status) \
           WHERE s.wait_run = o.id::uuid AND s.status = 'waiting' \
           RETURNING s.instance_id), \
         woken AS ( \
           UPDATE wf_instance SET ready_at = CASE WHEN ready_at IS NULL OR ready_at > $4 \
             THEN $4 ELSE ready_at END, updated_at = $4 \
           WHERE id IN (SELECT instance_id FROM settled) AND ",
        status_is!("status", "running", "suspended"),
        " \
           RETURNING id) \
         SELECT COUNT(*) FROM woken"
    ))
    .bind(&ids)
    .bind(&outcomes)
    .bind(&statuses)
    .bind(now)
    .fetch_one(&mut *connection)
    .await?;
    notes.wake |= woken > 0;
    Ok(())
}

pub(super) async fn cancel_tree(
    connection: &mut PgConnection,
    root: RunId,
    include_root: bool,
    now: i64,
    reason: Option<&str>,
    notes: &mut Notes,
) -> Result<Vec<RunId>, Error> {
    let ids: Vec<String> = sqlx::query_scalar(
        concat!("WITH RECURSIVE tree(id) AS ( \
           SELECT $2::uuid UNION SELECT i.id FROM wf_instance AS i JOIN tree ON i.parent_id = tree.id) \
         UPDATE wf_instance SET status = 'cancelled', lease_token = lease_token + 1, \
           lease_owner = NULL, lease_expires_at = NULL, ready_at = NULL, finished_at = $1, updated_at = $1, \
           error = COALESCE($4, error) \
         WHERE id IN (SELECT id FROM tree) AND ($3 OR id <> $2::uuid) \
           AND ", status_is!("status", "pending", "running", "suspended"), " \
         RETURNING id::text"),
    )
    .bind(now)
    .bind(root.to_string())
    .bind(include_root)
    .bind(reason)
    .fetch_all(&mut *connection)
    .await?;
    let (cancelled, settled) = cancelled_runs(&ids)?;
    notes
        .finished
        .extend(cancelled.iter().map(ToString::to_string));
    settle_run_waiters(connection, &settled, now, notes).await?;
    Ok(cancelled)
}
