//! Finishing runs: the fenced multi-row finish, what follows a run's end
//! (its waiters settled, its unfinished descendants cancelled), cancel trees,
//! timed-out children of overdue parents, and the settlement of the steps
//! waiting for an ended run (as in the PostgreSQL backend's `finish.rs`, so
//! that cancelling from a send, in `cancel_on.rs`, imports no cycle).

use std::collections::HashSet;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::steps::save_step;
use super::values::values_list;
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::status::StepStatus;
use crate::store::RunOutcome;
use crate::store::ops::{Slots, WriteOp};
use crate::store::rows::decode_error;
use crate::store::rows::outcome_columns;
use crate::store::rules::{finished, finished_as_cancelled, timeout_finish};
use crate::store::settle::{
    EndedRun, RunWaiterRow, after_ends, cancelled_runs, run_waiters_settled,
};

/// Several `Finish` writes as one fenced multi-row update.
pub(super) fn finish_runs(
    connection: &Connection,
    ops: &[WriteOp],
    chunk: &[usize],
    results: &mut Slots,
) -> Result<(), Error> {
    let chunk = &cancel_timed_out_children(connection, ops, chunk, results)?;
    if chunk.is_empty() {
        return Ok(());
    }
    let mut values = Vec::with_capacity(chunk.len() * 6);
    for &index in chunk {
        if let WriteOp::Finish {
            lease,
            outcome,
            steps,
            now,
        } = &ops[index]
        {
            // The finish answers for its steps: it is fenced by the same
            // lease, and a step already completed is kept as it is.
            for step in steps {
                let _saved = save_step(connection, lease, step)?;
            }
            let (status, output, error) = outcome_columns(outcome);
            values.extend([
                Value::Text(lease.run_id.to_string()),
                Value::Text(status.as_str().into()),
                output.map_or(Value::Null, |text| Value::Text(text.into())),
                error.map_or(Value::Null, |text| Value::Text(text.into())),
                Value::Integer(*now),
                Value::Integer(lease.token),
            ]);
        }
    }
    let finished_runs: HashSet<String> = if let [Value::Text(run_id), ..] = values.as_slice()
        && values.len() == 6
    {
        // One finish alone: a plain fenced update, without the join and the
        // RETURNING that SQLite runs through temporary tables.
        let changed = connection
            .prepare_cached(LONE_FINISH_SQL)?
            .execute(params_from_iter(values.iter()))?;
        (changed == 1).then(|| run_id.clone()).into_iter().collect()
    } else {
        let sql = format!(
            "UPDATE wf_instance SET status = v.column2, output = v.column3, error = v.column4, \
             finished_at = v.column5, updated_at = v.column5, ready_at = NULL, \
             lease_owner = NULL FROM ({}) AS v WHERE wf_instance.id = v.column1 \
             AND wf_instance.lease_token = v.column6 AND wf_instance.status = 'running' \
             RETURNING wf_instance.id",
            values_list(values.len() / 6, 6)
        );
        connection
            .prepare_cached(&sql)?
            .query_map(params_from_iter(values), |row| row.get(0))?
            .collect::<Result<_, _>>()?
    };
    // Settle the waiters of every run the chunk finished in one pass. The
    // runs it cancelled are reported with each finish: stopping a run
    // locally twice is harmless.
    let mut ended = Vec::with_capacity(chunk.len());
    for &index in chunk {
        if let WriteOp::Finish {
            lease,
            outcome,
            now,
            ..
        } = &ops[index]
            && finished_runs.contains(&lease.run_id.to_string())
        {
            ended.push((lease.run_id, outcome, *now));
        }
    }
    let (cancelled, awaited) = after_finish(connection, &ended)?;
    for &index in chunk {
        if let WriteOp::Finish { lease, .. } = &ops[index] {
            let applied = finished_runs.contains(&lease.run_id.to_string());
            let woke_waiters = awaited.contains(&lease.run_id);
            results[index] = Some(finished(lease, applied, woke_waiters, &cancelled));
        }
    }
    Ok(())
}

/// One `Finish` alone, with the parameters of one row of the multi-row form.
const LONE_FINISH_SQL: &str = "\
    UPDATE wf_instance SET status = ?2, output = ?3, error = ?4, finished_at = ?5, \
    updated_at = ?5, ready_at = NULL, lease_owner = NULL \
    WHERE id = ?1 AND lease_token = ?6 AND status = 'running'";

/// Whether the run `lease` holds is a child whose parent is unfinished and
/// past its deadline at `now`. (Under a stale lease: no, the finish then
/// refuses itself.)
const PARENT_OVERDUE_SQL: &str = "\
    SELECT 1 FROM wf_instance AS c JOIN wf_instance AS p ON p.id = c.parent_id \
    WHERE c.id = ?1 AND c.lease_token = ?2 AND c.status = 'running' \
    AND p.status IN ('pending', 'running', 'suspended') \
    AND p.deadline_at IS NOT NULL AND p.deadline_at <= ?3";

/// Ends as `cancelled` the runs of `chunk` that finish as timed out while
/// their parent is unfinished and past its deadline too: its timeout
/// cancels them, so they end the same whichever deadline the engine meets
/// first (see [`FinishEffects::recorded`]). Their steps are saved first,
/// as a finish saves them. Returns the rest of `chunk`.
fn cancel_timed_out_children(
    connection: &Connection,
    ops: &[WriteOp],
    chunk: &[usize],
    results: &mut Slots,
) -> Result<Vec<usize>, Error> {
    let mut rest = Vec::with_capacity(chunk.len());
    for &index in chunk {
        if let Some((lease, steps, now)) = timeout_finish(&ops[index])
            && connection
                .prepare_cached(PARENT_OVERDUE_SQL)?
                .query_row(params![lease.run_id.to_string(), lease.token, now], |_| {
                    Ok(())
                })
                .optional()?
                .is_some()
        {
            for step in steps {
                let _saved = save_step(connection, lease, step)?;
            }
            let cancelled = cancel_tree(connection, lease.run_id, true, now, None)?;
            results[index] = Some(Ok(finished_as_cancelled(lease.run_id, cancelled)));
        } else {
            rest.push(index);
        }
    }
    Ok(rest)
}

/// After runs ended (each with the time it ended): settles the steps
/// waiting for them (at the latest of those times, as one batch), and
/// cancels the unfinished descendants of those that timed out or were
/// cancelled, at the time each ended. Returns the cancelled runs, and the
/// ended runs whose waiters it settled.
pub(super) fn after_finish(
    connection: &Connection,
    ended: &[(RunId, &RunOutcome, i64)],
) -> Result<(Vec<RunId>, HashSet<RunId>), Error> {
    let after = after_ends(ended);
    let mut cancelled = Vec::new();
    for (run_id, now) in after.cancel_below {
        cancelled.extend(cancel_tree(connection, run_id, false, now, None)?);
    }
    let awaited = settle_run_waiters(connection, &after.settled, after.at)?;
    Ok((cancelled, awaited))
}

/// Cancels a run (when `include_root`) and every unfinished descendant,
/// fencing out their workers, and settles the steps waiting for them;
/// records `reason` as their error, if given (an event that cancelled them).
pub(super) fn cancel_tree(
    connection: &Connection,
    root: RunId,
    include_root: bool,
    now: i64,
    reason: Option<&str>,
) -> Result<Vec<RunId>, Error> {
    let ids: Vec<String> = connection
        .prepare_cached(
            "WITH RECURSIVE tree(id) AS ( \
               SELECT ?2 UNION SELECT i.id FROM wf_instance AS i JOIN tree ON i.parent_id = tree.id) \
             UPDATE wf_instance SET status = 'cancelled', lease_token = lease_token + 1, \
               lease_owner = NULL, ready_at = NULL, finished_at = ?1, updated_at = ?1, \
               error = COALESCE(?4, error) \
             WHERE id IN (SELECT id FROM tree) AND (?3 OR id <> ?2) \
               AND status IN ('pending', 'running', 'suspended') \
             RETURNING id",
        )?
        .query_map(params![now, root.to_string(), include_root, reason], |row| {
            row.get(0)
        })?
        .collect::<Result<_, _>>()?;
    let (cancelled, settled) = cancelled_runs(&ids)?;
    settle_run_waiters(connection, &settled, now)?;
    Ok(cancelled)
}

/// Completes the steps waiting for these runs with how each ended (the
/// outcome JSON, and the status the steps end in); returns the runs that
/// had such steps.
pub(super) fn settle_run_waiters(
    connection: &Connection,
    ended: &[EndedRun],
    now: i64,
) -> Result<HashSet<RunId>, Error> {
    let mut awaited = HashSet::new();
    if ended.is_empty() {
        return Ok(awaited);
    }
    let waiter = |row: &rusqlite::Row<'_>| Ok((row.get(0)?, row.get(1)?, row.get(2)?));
    let waiters: Vec<RunWaiterRow> = if let [(id, _, _)] = ended {
        // One run alone: no JSON list for SQLite to expand into a temporary table.
        connection
            .prepare_cached(
                "SELECT instance_id, name, wait_run FROM wf_step WHERE status = 'waiting' \
                 AND wait_run = ?1",
            )?
            .query_map(params![id.to_string()], waiter)?
            .collect::<Result<_, _>>()?
    } else {
        let ids: Vec<String> = ended.iter().map(|(id, _, _)| id.to_string()).collect();
        let ids = serde_json::to_string(&ids).map_err(|error| decode_error(error.to_string()))?;
        connection
            .prepare_cached(
                "SELECT instance_id, name, wait_run FROM wf_step WHERE status = 'waiting' \
                 AND wait_run IN (SELECT value FROM json_each(?1))",
            )?
            .query_map(params![ids], waiter)?
            .collect::<Result<_, _>>()?
    };
    for ((instance, step), (run_id, outcome, status)) in run_waiters_settled(ended, waiters) {
        complete_waiting_step(connection, (&instance, &step), *status, outcome, None, now)?;
        awaited.insert(*run_id);
    }
    Ok(awaited)
}

/// Completes the waiting step `(run id, step name)` with `output`, ended
/// now and settled by `settled_by_event` (an event or signal, `None` for
/// an ended run), and makes its run due now.
pub(super) fn complete_waiting_step(
    connection: &Connection,
    (instance, step): (&str, &str),
    status: StepStatus,
    output: &str,
    settled_by_event: Option<i64>,
    now: i64,
) -> Result<(), Error> {
    connection
        .prepare_cached(
            "UPDATE wf_step SET status = ?1, output = ?2, updated_at = ?3, ended_at = ?3, \
             settled_by_event = ?6 \
             WHERE instance_id = ?4 AND name = ?5 AND status = 'waiting'",
        )?
        .execute(params![
            status.as_str(),
            output,
            now,
            instance,
            step,
            settled_by_event
        ])?;
    // A suspended run becomes due; a running one keeps the wake in ready_at,
    // which its suspension honours (see Suspend), so no wake-up is lost.
    connection
        .prepare_cached(
            "UPDATE wf_instance SET ready_at = CASE WHEN ready_at IS NULL OR ready_at > ?1 \
               THEN ?1 ELSE ready_at END, updated_at = ?1 \
             WHERE id = ?2 AND status IN ('running', 'suspended')",
        )?
        .execute(params![now, instance])?;
    Ok(())
}
