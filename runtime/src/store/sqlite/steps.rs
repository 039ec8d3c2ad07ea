//! Steps: saving step records (one, or many in one multi-row statement),
//! fenced by the run's lease, the journal read back on replay, and the
//! run's log lines.

use std::collections::HashSet;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::values::{optional_integer, optional_text, values_list};
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::info::AttemptInfo;
use crate::store::ops::{Applied, Slots, WriteOp, WriteOut};
use crate::store::rows::{ATTEMPT_LOG_KEPT, StepRow, attempt_entry, step_on_conflict};
use crate::store::rules::{lease_lost, unwritten_step};
use crate::store::settle::StepWrite;
use crate::store::{Lease, LogLine, StepRecord};

/// The parameters of a one-row step write: `?1` the run's id, `?2` to `?10`
/// the record's name, seq, kind, status, input, output, error, attempts and
/// wake-up, then `$rest` from `?11` on.
macro_rules! step_params {
    ($run_id:expr, $step:expr, $($rest:expr),+ $(,)?) => {
        params![
            $run_id,
            $step.name,
            $step.seq,
            $step.kind.as_str(),
            $step.status.as_str(),
            $step.input,
            $step.output,
            $step.error,
            $step.attempts,
            $step.wake_at,
            $($rest),+
        ]
    };
}

/// Saves one step record, fenced by `lease` (never over a completed one).
pub(super) fn save_step(connection: &Connection, lease: &Lease, step: &StepRecord) -> Applied {
    let written = connection
        .prepare_cached(concat!(
            "INSERT INTO wf_step (instance_id, name, seq, kind, status, input, output, \
               error, attempts, wake_at, created_at, updated_at, started_at, ended_at) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, COALESCE(?13, ?11), \
               CASE WHEN ?5 IN ('completed', 'failed') THEN ?11 END \
             WHERE EXISTS (SELECT 1 FROM wf_instance WHERE id = ?1 AND lease_token = ?12 \
               AND status = 'running') ",
            step_on_conflict!(),
            " WHERE wf_step.status <> 'completed'",
        ))?
        .execute(step_params!(
            lease.run_id.to_string(),
            step,
            step.updated_at,
            lease.token,
            step.started_at,
        ))?;
    step_saved(connection, written == 1, lease, step)
}

/// Several `SaveStep` writes as one multi-row, fenced upsert.
pub(super) fn save_steps(
    connection: &Connection,
    ops: &[WriteOp],
    chunk: &[usize],
    results: &mut Slots,
) -> Result<(), Error> {
    let steps: Vec<(usize, &Lease, &StepRecord)> = chunk
        .iter()
        .filter_map(|&index| match &ops[index] {
            WriteOp::SaveStep(lease, step) => Some((index, lease, step)),
            _ => None,
        })
        .collect();
    let mut values = Vec::with_capacity(steps.len() * 14);
    for (order, (_, lease, step)) in steps.iter().enumerate() {
        values.extend([
            Value::Text(lease.run_id.to_string()),
            Value::Text(step.name.clone()),
            Value::Integer(step.seq),
            Value::Text(step.kind.as_str().into()),
            Value::Text(step.status.as_str().into()),
            optional_text(&step.input),
            optional_text(&step.output),
            optional_text(&step.error),
            Value::Integer(i64::from(step.attempts)),
            optional_integer(step.wake_at),
            Value::Integer(step.updated_at),
            Value::Integer(lease.token),
            Value::Integer(i64::try_from(order).unwrap_or(i64::MAX)),
            optional_integer(step.started_at),
        ]);
    }
    // ORDER BY keeps submission order for two writes of one step (a
    // `running` marker and the completion that follows it).
    let sql = format!(
        "INSERT INTO wf_step (instance_id, name, seq, kind, status, input, output, error, \
           attempts, wake_at, created_at, updated_at, started_at, ended_at) \
         SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7, \
           v.column8, v.column9, v.column10, v.column11, v.column11, \
           COALESCE(v.column14, v.column11), \
           CASE WHEN v.column5 IN ('completed', 'failed') THEN v.column11 END \
         FROM ({values}) AS v JOIN wf_instance AS i ON i.id = v.column1 \
           AND i.lease_token = v.column12 AND i.status = 'running' \
         WHERE true ORDER BY v.column13 {on_conflict} \
         WHERE wf_step.status <> 'completed' \
         RETURNING instance_id, name",
        values = values_list(steps.len(), 14),
        on_conflict = step_on_conflict!(),
    );
    let written: HashSet<(String, String)> = connection
        .prepare_cached(&sql)?
        .query_map(params_from_iter(values), |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    for (index, lease, step) in steps {
        let key = (lease.run_id.to_string(), step.name.clone());
        results[index] = Some(step_saved(connection, written.contains(&key), lease, step)?);
    }
    Ok(())
}

/// Inserts or updates a step record with its wait columns (never one
/// already completed), and the event that settled it if one did: a
/// [`StepWrite`], as the shared rules describe it.
/// The lease fence is the caller's: it checks the lease in this same
/// transaction (SQLite's one writer), so this statement does not.
pub(super) fn upsert_step(
    connection: &Connection,
    run_id: RunId,
    write: &StepWrite<'_>,
) -> Result<(), Error> {
    let StepWrite {
        step,
        wait,
        settled_by,
    } = write;
    connection
        .prepare_cached(concat!(
            "INSERT INTO wf_step (instance_id, name, seq, kind, status, input, output, error, \
               attempts, wake_at, event_name, event_filter, wait_run, created_at, updated_at, \
               started_at, ended_at, settled_by_event, wait_key) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14, \
               COALESCE(?15, ?14), CASE WHEN ?5 IN ('completed', 'failed') THEN ?14 END, ?16, \
               ?17) ",
            step_on_conflict!(),
            ", event_name = excluded.event_name, event_filter = excluded.event_filter, \
               wait_run = excluded.wait_run, settled_by_event = excluded.settled_by_event, \
               wait_key = excluded.wait_key \
             WHERE wf_step.status <> 'completed'",
        ))?
        .execute(step_params!(
            run_id.to_string(),
            step,
            wait.event,
            wait.filter,
            wait.run,
            step.updated_at,
            step.started_at,
            settled_by,
            wait.key,
        ))?;
    Ok(())
}

/// The result of a step write (see [`unwritten_step`]); a written one that
/// ends an attempt appends it to the step's attempt log.
fn step_saved(connection: &Connection, written: bool, lease: &Lease, step: &StepRecord) -> Applied {
    if written {
        if let Some(attempt) = &step.finished_attempt {
            append_attempt(connection, lease.run_id, &step.name, attempt)?;
        }
        return Ok(Ok(WriteOut::Done));
    }
    Ok(unwritten_step(holds_lease(connection, lease)?, lease, step))
}

/// Appends `attempt` to the attempt log of step `name`, keeping the last
/// [`ATTEMPT_LOG_KEPT`], unless the log already ends with it or a later
/// attempt (a write applied again).
fn append_attempt(
    connection: &Connection,
    run_id: RunId,
    name: &str,
    attempt: &AttemptInfo,
) -> Result<(), Error> {
    connection
        .prepare_cached(
            "UPDATE wf_step SET attempt_log = json_insert( \
               CASE WHEN json_array_length(attempt_log) >= ?4 \
                 THEN json_remove(attempt_log, '$[0]') ELSE COALESCE(attempt_log, '[]') END, \
               '$[#]', json(?3)) \
             WHERE instance_id = ?1 AND name = ?2 \
               AND COALESCE(json_extract(attempt_log, '$[#-1].attempt'), 0) < ?5",
        )?
        .execute(params![
            run_id.to_string(),
            name,
            attempt_entry(attempt),
            ATTEMPT_LOG_KEPT,
            attempt.attempt,
        ])?;
    Ok(())
}

/// Whether `lease` is the current lease of its running run.
pub(super) fn holds_lease(connection: &Connection, lease: &Lease) -> Result<bool, Error> {
    Ok(connection
        .prepare_cached(
            "SELECT 1 FROM wf_instance WHERE id = ?1 AND lease_token = ?2 AND status = 'running'",
        )?
        .query_row(params![lease.run_id.to_string(), lease.token], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The columns of a [`StepRow`], in its order.
pub(super) const STEP_COLUMNS: &str = "name, seq, kind, status, input, output, error, attempts, \
    wake_at, updated_at, started_at, ended_at, attempt_log";

/// A run's step rows, in the order the run reached them.
///
/// Read in the primary key's order and sorted here: an `ORDER BY` would
/// make SQLite build a temporary B-tree for every journal it reads, a
/// claim's most expensive part for a run of a few steps.
pub(super) fn journal_rows(
    connection: &Connection,
    run_id: RunId,
) -> rusqlite::Result<Vec<StepRow>> {
    let mut rows = connection
        .prepare_cached(&format!(
            "SELECT {STEP_COLUMNS}, created_at FROM wf_step WHERE instance_id = ?1"
        ))?
        .query_map(params![run_id.to_string()], |row| {
            let created_at: i64 = row.get(STEP_COLUMN_COUNT)?;
            Ok((created_at, StepRow::try_from(row)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.sort_unstable_by_key(|(created_at, row)| (*created_at, row.1));
    Ok(rows.into_iter().map(|(_, row)| row).collect())
}

/// How many columns [`STEP_COLUMNS`] names: the index of the column after them.
const STEP_COLUMN_COUNT: usize = column_count(STEP_COLUMNS);

/// The number of comma-separated names in `columns`.
const fn column_count(columns: &str) -> usize {
    let bytes = columns.as_bytes();
    let (mut index, mut count) = (0, 1);
    while index < bytes.len() {
        if bytes[index] == b',' {
            count += 1;
        }
        index += 1;
    }
    count
}

/// Appends a log line of a run, once per key (a replay does not log twice).
pub(super) fn append_log(connection: &Connection, lease: &Lease, line: &LogLine) -> Applied {
    if !holds_lease(connection, lease)? {
        return Ok(lease_lost(lease));
    }
    connection
        .prepare_cached(
            "INSERT INTO wf_log (instance_id, level, message, fields, key, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (instance_id, key) DO NOTHING",
        )?
        .execute(params![
            lease.run_id.to_string(),
            line.level.as_str(),
            line.message,
            line.fields,
            line.key,
            line.created_at
        ])?;
    Ok(Ok(WriteOut::Done))
}
