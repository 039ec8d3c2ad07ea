//! Runs: creating them (or finding the run that holds an idempotency key),
//! suspending and releasing them, starting children, and the operator's
//! cancel, retry, pause and resume.

use std::collections::HashSet;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::cancel_on::register;
use super::finish::cancel_tree;
use super::flow::create_flowing;
use super::limits::create_limited;
use super::steps::{holds_lease, save_step, upsert_step};
use super::values::{optional_integer, optional_text, values_list};
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::store::ops::{Applied, Slots, WriteOp, WriteOut};
use crate::store::rows::unexpected;
use crate::store::rules::{existing_run, fenced, fork_refused, lease_lost, refused_transition};
use crate::store::settle::{StepWrite, child_step_write};
use crate::store::{
    ClaimAtCreate, CreateOutcome, ForkOutcome, Lease, NewFork, NewRun, StepRecord,
    TransitionOutcome,
};

/// The run that holds `run`'s idempotency key.
fn key_holder(connection: &Connection, run: &NewRun) -> Result<CreateOutcome, Error> {
    optional_key_holder(connection, run)?.ok_or_else(unexpected)
}

/// A run to create, with the index of its write in the batch.
type Indexed<'a> = (usize, &'a NewRun);

/// `Create` writes as one multi-row insert (a lone one without RETURNING);
/// those claimed as they are created within a concurrency limit one by
/// one (see `limits::create_limited`).
pub(super) fn create_runs(
    connection: &Connection,
    ops: &[WriteOp],
    chunk: &[usize],
    results: &mut Slots,
) -> Result<(), Error> {
    let (flowing, runs): (Vec<Indexed<'_>>, Vec<Indexed<'_>>) = chunk
        .iter()
        .filter_map(|&index| match &ops[index] {
            WriteOp::Create(run) => Some((index, run)),
            _ => None,
        })
        .partition(|(_, run)| run.flow.is_some());
    // Each on its own, so that each reads the key's runs the ones before it
    // wrote.
    for (index, run) in flowing {
        if let Some(flow) = &run.flow {
            // An idempotency key that names a run answers first.
            let holder = match run.idempotency_key {
                Some(_) => optional_key_holder(connection, run)?,
                None => None,
            };
            let created = match holder {
                Some(holder) => holder,
                None => create_flowing(connection, run, flow)?,
            };
            results[index] = Some(Ok(WriteOut::Created(created)));
        }
    }
    let (limited, runs): (Vec<Indexed<'_>>, Vec<Indexed<'_>>) = runs
        .into_iter()
        .partition(|(_, run)| run.claim_within_limit().is_some());
    // Each on its own, so that each counts the ones before it.
    for (index, run) in limited {
        if let Some(claim) = run.claim_within_limit() {
            let created = match create_limited(connection, run, claim)? {
                Some(created) => created,
                None => key_holder(connection, run)?,
            };
            results[index] = Some(Ok(WriteOut::Created(created)));
        }
    }
    if runs.is_empty() {
        return Ok(());
    }
    let lone = runs.len() == 1;
    let mut values = Vec::with_capacity(runs.len() * 12);
    for (_, run) in &runs {
        values.extend([
            Value::Text(run.id.to_string()),
            Value::Text(run.workflow.clone()),
            Value::Text(run.input.clone()),
            optional_text(&run.idempotency_key),
            Value::Integer(run.now),
            Value::Integer(run.ready_at),
            optional_integer(run.deadline_at),
            run.claimed_by
                .as_ref()
                .map_or(Value::Null, |claim| Value::Text(claim.owner.clone())),
            optional_text(&run.version),
            Value::Integer(i64::from(run.queue.priority)),
            Value::Text(run.queue.concurrency_key.clone()),
            Value::Text(run.queue.name.clone()),
        ]);
    }
    // A run claimed as it is created (column8 names its owner) starts
    // `running`, as a claim would leave it.
    let sql = format!(
        "INSERT INTO wf_instance (id, workflow, status, input, idempotency_key, created_at, \
           updated_at, ready_at, deadline_at, lease_owner, lease_token, executions, started_at, \
           version, priority, concurrency_key, queue) \
         SELECT column1, column2, CASE WHEN column8 IS NULL THEN 'pending' ELSE 'running' END, \
           column3, column4, column5, column5, CASE WHEN column8 IS NULL THEN column6 END, \
           column7, column8, CASE WHEN column8 IS NULL THEN 0 ELSE {token} END, \
           CASE WHEN column8 IS NULL THEN 0 ELSE 1 END, \
           CASE WHEN column8 IS NULL THEN NULL ELSE column5 END, column9, column10, column11, \
           column12 \
         FROM ({values}) WHERE true \
         ON CONFLICT (workflow, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING{returning}",
        token = ClaimAtCreate::TOKEN,
        values = values_list(runs.len(), 12),
        returning = if lone { "" } else { " RETURNING id" },
    );
    let mut statement = connection.prepare_cached(&sql)?;
    // A lone insert needs no RETURNING (which SQLite buffers in a temporary
    // table): the count of rows it changed says whether it inserted.
    let inserted: HashSet<String> = if lone {
        let changed = statement.execute(params_from_iter(values))?;
        runs.iter()
            .filter(|_| changed == 1)
            .map(|(_, run)| run.id.to_string())
            .collect()
    } else {
        statement
            .query_map(params_from_iter(values), |row| row.get(0))?
            .collect::<Result<_, _>>()?
    };
    drop(statement);
    for (index, run) in runs {
        results[index] = Some(Ok(WriteOut::Created(
            if inserted.contains(&run.id.to_string()) {
                register(connection, run)?;
                CreateOutcome::Created(run.id)
            } else {
                key_holder(connection, run)?
            },
        )));
    }
    Ok(())
}

/// The run that holds `run`'s idempotency key, if one does.
fn optional_key_holder(
    connection: &Connection,
    run: &NewRun,
) -> Result<Option<CreateOutcome>, Error> {
    let holder: Option<(String, String)> = connection
        .prepare_cached(
            "SELECT id, input FROM wf_instance WHERE workflow = ?1 AND idempotency_key = ?2",
        )?
        .query_row(params![run.workflow, run.idempotency_key], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    holder
        .map(|(id, input)| existing_run(&id, &input, &run.input))
        .transpose()
}

/// Suspends a run (saving its steps first) until `ready_at`, or until a
/// wake-up that came while it ran.
pub(super) fn suspend(
    connection: &Connection,
    lease: &Lease,
    ready_at: Option<i64>,
    steps: &[StepRecord],
    now: i64,
) -> Applied {
    for step in steps {
        if let Err(error) = save_step(connection, lease, step)? {
            return Ok(Err(error));
        }
    }
    Ok(fenced(
        connection
            .prepare_cached(
                "UPDATE wf_instance SET status = 'suspended', \
                 ready_at = CASE WHEN ready_at IS NOT NULL AND (?1 IS NULL OR ready_at < ?1) \
                   THEN ready_at ELSE ?1 END, \
                 updated_at = ?2, lease_owner = NULL \
                 WHERE id = ?3 AND lease_token = ?4 AND status = 'running'",
            )?
            .execute(params![
                ready_at,
                now,
                lease.run_id.to_string(),
                lease.token
            ])?
            == 1,
        lease,
    ))
}

/// Hands a running run back, due now.
pub(super) fn release(connection: &Connection, lease: &Lease, now: i64) -> Applied {
    Ok(fenced(
        connection
            .prepare_cached(
                "UPDATE wf_instance SET status = 'pending', ready_at = ?1, updated_at = ?1, \
                 lease_owner = NULL WHERE id = ?2 AND lease_token = ?3 AND status = 'running'",
            )?
            .execute(params![now, lease.run_id.to_string(), lease.token])?
            == 1,
        lease,
    ))
}

/// Cancels a run and its unfinished descendants.
pub(super) fn cancel(connection: &Connection, run_id: RunId, now: i64) -> Applied {
    let cancelled = cancel_tree(connection, run_id, true, now, None)?;
    let outcome = if cancelled.contains(&run_id) {
        TransitionOutcome::Done
    } else {
        transition(connection, run_id, 0)?
    };
    Ok(Ok(WriteOut::Transition(outcome, cancelled)))
}

/// Creates a child run and records the step that started it: waiting for
/// the child when `wait`, else completed with the child's id.
pub(super) fn start_child(
    connection: &Connection,
    lease: &Lease,
    step: &StepRecord,
    child: &NewRun,
    wait: bool,
) -> Applied {
    if !holds_lease(connection, lease)? {
        return Ok(lease_lost(lease));
    }
    connection
        .prepare_cached(
            "INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at, \
               ready_at, deadline_at, parent_id, version, priority, concurrency_key, queue) \
             VALUES (?1, ?2, 'pending', ?3, ?4, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
            child.id.to_string(),
            child.workflow,
            child.input,
            child.now,
            child.ready_at,
            child.deadline_at,
            lease.run_id.to_string(),
            child.version,
            child.queue.priority,
            child.queue.concurrency_key,
            child.queue.name
        ])?;
    register(connection, child)?;
    let write = child_step_write(step, child.id, wait);
    upsert_step(connection, lease.run_id, &write)?;
    Ok(Ok(WriteOut::Done))
}

/// Makes a failed or timed-out run pending again, discarding the step
/// records its next execution must redo.
pub(super) fn retry(
    connection: &Connection,
    run_id: RunId,
    now: i64,
    deadline_at: Option<i64>,
) -> Applied {
    let changed = connection
        .prepare_cached(
            "UPDATE wf_instance SET status = 'pending', ready_at = ?1, updated_at = ?1, \
             deadline_at = ?2, output = NULL, error = NULL, finished_at = NULL, paused_at = NULL \
             WHERE id = ?3 AND status IN ('failed', 'timed_out')",
        )?
        .execute(params![now, deadline_at, run_id.to_string()])?;
    if changed == 1 {
        connection
            .prepare_cached(RETRY_DELETE_SQL)?
            .execute(params![run_id.to_string()])?;
    }
    Ok(Ok(WriteOut::Transition(
        transition(connection, run_id, changed)?,
        Vec::new(),
    )))
}

/// Pauses (`paused`) or resumes a run that has not ended.
pub(super) fn set_paused(
    connection: &Connection,
    run_id: RunId,
    paused: bool,
    now: i64,
) -> Applied {
    let changed = connection
        .prepare_cached(
            "UPDATE wf_instance SET \
             paused_at = CASE WHEN ?1 THEN COALESCE(paused_at, ?2) END, updated_at = ?2 \
             WHERE id = ?3 AND status IN ('pending', 'running', 'suspended')",
        )?
        .execute(params![paused, now, run_id.to_string()])?;
    Ok(Ok(WriteOut::Transition(
        transition(connection, run_id, changed)?,
        Vec::new(),
    )))
}

/// Creates a fork of an ended run with the records it keeps (see
/// `RunStore::fork_run`).
pub(super) fn fork(connection: &Connection, fork: &NewFork) -> Applied {
    let source = fork.source.to_string();
    let status: Option<String> = connection
        .prepare_cached("SELECT status FROM wf_instance WHERE id = ?1")?
        .query_row(params![source], |row| row.get(0))
        .optional()?;
    if let Some(refused) = fork_refused(status.as_deref())? {
        return Ok(Ok(WriteOut::Forked(refused)));
    }
    let at: Option<(i64, i64)> = connection
        .prepare_cached("SELECT created_at, seq FROM wf_step WHERE instance_id = ?1 AND name = ?2")?
        .query_row(params![source, fork.from_step], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    let Some((created_at, seq)) = at else {
        return Ok(Ok(WriteOut::Forked(ForkOutcome::NoSuchStep)));
    };
    let run = &fork.run;
    connection
        .prepare_cached(
            "INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at, \
               ready_at, deadline_at, executions, version, forked_from, forked_from_step, \
               priority, concurrency_key, queue) \
             VALUES (?1, ?2, 'pending', ?3, ?4, ?4, ?5, ?6, 1, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?
        .execute(params![
            run.id.to_string(),
            run.workflow,
            run.input,
            run.now,
            run.ready_at,
            run.deadline_at,
            run.version,
            source,
            fork.from_step,
            run.queue.priority,
            run.queue.concurrency_key,
            run.queue.name
        ])?;
    register(connection, run)?;
    connection.prepare_cached(FORK_COPY_SQL)?.execute(params![
        run.id.to_string(),
        source,
        created_at,
        seq
    ])?;
    Ok(Ok(WriteOut::Forked(ForkOutcome::Created(run.id))))
}

/// Copies into run `?1` the step records of run `?2` before the one first
/// written at `?3` with seq `?4` (journal order: `created_at`, then `seq`)
/// that ended or sleep: a step in progress or waiting runs again. As a
/// retry does, it leaves out the records of a failure's unwinding
/// (`compensate/...`, `on-failure/...`) and every step whose compensation
/// completed: an undone step runs again instead of being replayed as done.
const FORK_COPY_SQL: &str = "\
    INSERT INTO wf_step (instance_id, name, seq, kind, status, input, output, error, attempts, \
      wake_at, event_name, event_filter, wait_run, created_at, updated_at, started_at, ended_at, \
      attempt_log) \
    SELECT ?1, name, seq, kind, status, input, output, error, attempts, wake_at, event_name, \
      event_filter, wait_run, created_at, updated_at, started_at, ended_at, attempt_log \
    FROM wf_step WHERE instance_id = ?2 AND status IN ('completed', 'failed', 'sleeping') \
      AND (created_at < ?3 OR (created_at = ?3 AND seq < ?4)) \
      AND substr(name, 1, 11) NOT IN ('compensate/', 'on-failure/') \
      AND 'compensate/' || name NOT IN (SELECT name FROM wf_step \
        WHERE instance_id = ?2 AND status = 'completed' AND substr(name, 1, 11) = 'compensate/')";

/// The step records a retry of run `?1` discards: unfinished and failed
/// steps, the records of the failure's unwinding (`compensate/...` and
/// `on-failure/...`), and every step whose compensation completed, so that
/// an undone step runs again instead of being replayed as done.
const RETRY_DELETE_SQL: &str = "\
    DELETE FROM wf_step WHERE instance_id = ?1 AND (\
      status IN ('pending', 'running', 'failed') \
      OR substr(name, 1, 11) IN ('compensate/', 'on-failure/') \
      OR 'compensate/' || name IN (SELECT name FROM wf_step \
        WHERE instance_id = ?1 AND status = 'completed' \
        AND substr(name, 1, 11) = 'compensate/'))";

pub(super) fn transition(
    connection: &Connection,
    run_id: RunId,
    changed: usize,
) -> Result<TransitionOutcome, Error> {
    if changed == 1 {
        return Ok(TransitionOutcome::Done);
    }
    let status: Option<String> = connection
        .prepare_cached("SELECT status FROM wf_instance WHERE id = ?1")?
        .query_row(params![run_id.to_string()], |row| row.get(0))
        .optional()?;
    refused_transition(status.as_deref())
}

/// Sets the deadline of the run `lease` holds and saves the step that set
/// it.
pub(super) fn set_deadline(
    connection: &Connection,
    lease: &Lease,
    step: &StepRecord,
    deadline_at: Option<i64>,
) -> Applied {
    if !holds_lease(connection, lease)? {
        return Ok(lease_lost(lease));
    }
    connection
        .prepare_cached("UPDATE wf_instance SET deadline_at = ?1, updated_at = ?2 WHERE id = ?3")?
        .execute(params![
            deadline_at,
            step.updated_at,
            lease.run_id.to_string()
        ])?;
    upsert_step(connection, lease.run_id, &StepWrite::plain(step))?;
    Ok(Ok(WriteOut::Done))
}
