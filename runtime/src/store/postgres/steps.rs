//! Steps on PostgreSQL: step records written one at a time or many per
//! statement (never overwriting a completed one), each fenced by its run's
//! lease, the journal, and log lines.

use sqlx::{PgConnection, PgPool};

use super::options::{batch_lease_holds, held_run};
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::info::AttemptInfo;
use crate::model::status::StepStatus;
use crate::store::ops::{Applied, WriteOut};
use crate::store::rows::{ATTEMPT_LOG_KEPT, StepRow, attempt_entry, step_on_conflict, step_record};
use crate::store::rules::{lease_lost, unwritten_step};
use crate::store::settle::StepWrite;
use crate::store::{Lease, LogLine, StepRecord};

/// The step results of [`HOT_CREATED`]'s statement.
pub(super) const HOT_SAVED: &str = concat!(
    "\
saved AS ( \
  INSERT INTO wf_step (instance_id, name, seq, kind, status, input, output, error, \
    attempts, wake_at, created_at, updated_at, started_at, ended_at) \
  SELECT v.id::uuid, v.name, v.seq, v.kind, v.status, v.input::jsonb, v.output::jsonb, \
    v.error, v.attempts, v.wake_at, v.updated_at, v.updated_at, \
    COALESCE(v.started_at, v.updated_at), \
    CASE WHEN v.status IN ('completed', 'failed') THEN v.updated_at END \
  FROM UNNEST($12::text[], $13::text[], $14::bigint[], $15::text[], $16::text[], \
    $17::text[], $18::text[], $19::text[], $20::int[], $21::bigint[], $22::bigint[], \
    $23::bigint[], $34::bigint[]) \
    AS v(id, name, seq, kind, status, input, output, error, attempts, wake_at, updated_at, \
      token, started_at) \
  WHERE EXISTS (SELECT 1 FROM wf_instance AS i WHERE ",
    batch_lease_holds!(),
    " FOR SHARE) ",
    step_on_conflict!(),
    " WHERE wf_step.status <> 'completed' \
  RETURNING instance_id, name)"
);

/// Adds a step write to `steps`, keeping one write per (run, step): the
/// last one that is not a `running` marker, else the last one. PostgreSQL
/// updates a row once per statement, and a marker never replaces a result.
pub(super) fn keep_last_write<'a>(
    steps: &mut Vec<(&'a Lease, &'a StepRecord)>,
    lease: &'a Lease,
    step: &'a StepRecord,
) {
    let same =
        |(l, s): &&mut (&Lease, &StepRecord)| l.run_id == lease.run_id && s.name == step.name;
    match steps.iter_mut().find(same) {
        Some(slot)
            if step.status != StepStatus::Running || slot.1.status == StepStatus::Running =>
        {
            *slot = (lease, step);
        }
        Some(_) => {}
        None => steps.push((lease, step)),
    }
}

/// The columns of the saved steps in [`HOT_SAVED`], one array each.
#[derive(Default)]
pub(super) struct SaveColumns {
    pub(super) ids: Vec<String>,
    pub(super) names: Vec<String>,
    pub(super) seqs: Vec<i64>,
    pub(super) kinds: Vec<&'static str>,
    pub(super) statuses: Vec<&'static str>,
    pub(super) inputs: Vec<Option<String>>,
    pub(super) outputs: Vec<Option<String>>,
    pub(super) errors: Vec<Option<String>>,
    pub(super) attempts: Vec<i32>,
    pub(super) wake_ats: Vec<Option<i64>>,
    pub(super) updated_ats: Vec<i64>,
    pub(super) tokens: Vec<i64>,
    /// The start each record carries, if any (see [`StepRecord::started_at`]).
    pub(super) started_ats: Vec<Option<i64>>,
}

impl SaveColumns {
    pub(super) fn push(&mut self, lease: &Lease, step: &StepRecord) {
        self.ids.push(lease.run_id.to_string());
        self.names.push(step.name.clone());
        self.seqs.push(step.seq);
        self.kinds.push(step.kind.as_str());
        self.statuses.push(step.status.as_str());
        self.inputs.push(step.input.clone());
        self.outputs.push(step.output.clone());
        self.errors.push(step.error.clone());
        self.attempts
            .push(i32::try_from(step.attempts).unwrap_or(i32::MAX));
        self.wake_ats.push(step.wake_at);
        self.updated_ats.push(step.updated_at);
        self.tokens.push(lease.token);
        self.started_ats.push(step.started_at);
    }
}

/// Inserts or updates a step record with its wait columns (never one
/// already completed), fenced by the run's lease; returns whether it wrote.
/// The write's `settled_by` is the event that completed the waiting step,
/// if one did.
/// The step keeps the start first stored (else the record's, else this
/// write's time), and ends at this write's time the first time it is
/// completed or failed.
/// The lease fence is in the statement itself (`WHERE EXISTS` on the run
/// under its lease, `FOR SHARE`), whatever the caller checked before.
pub(super) async fn upsert_step(
    connection: &mut PgConnection,
    lease: &Lease,
    write: &StepWrite<'_>,
) -> Result<bool, Error> {
    let StepWrite {
        step,
        wait,
        settled_by,
    } = write;
    let written = sqlx::query(concat!(
        "INSERT INTO wf_step (instance_id, name, seq, kind, status, input, output, error, \
           attempts, wake_at, event_name, event_filter, wait_run, created_at, updated_at, \
           started_at, ended_at, settled_by_event, wait_key) \
         SELECT $1::uuid, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10, $11, $12::jsonb, \
           $13::uuid, $14, $14, COALESCE($16, $14), \
           CASE WHEN $5 IN ('completed', 'failed') THEN $14 END, $17, $18 \
         WHERE EXISTS (",
        held_run!("$1", "$15"),
        ") ",
        step_on_conflict!(),
        ", event_name = excluded.event_name, event_filter = excluded.event_filter, \
           wait_run = excluded.wait_run, settled_by_event = excluded.settled_by_event, \
           wait_key = excluded.wait_key \
         WHERE wf_step.status <> 'completed'"
    ))
    .bind(lease.run_id.to_string())
    .bind(&step.name)
    .bind(step.seq)
    .bind(step.kind.as_str())
    .bind(step.status.as_str())
    .bind(&step.input)
    .bind(&step.output)
    .bind(&step.error)
    .bind(i64::from(step.attempts))
    .bind(step.wake_at)
    .bind(&wait.event)
    .bind(&wait.filter)
    .bind(&wait.run)
    .bind(step.updated_at)
    .bind(lease.token)
    .bind(step.started_at)
    .bind(settled_by)
    .bind(&wait.key)
    .execute(connection)
    .await?
    .rows_affected();
    Ok(written == 1)
}

/// Appends `attempt` to the attempt log of step `name` of `run_id`,
/// keeping the last [`ATTEMPT_LOG_KEPT`], unless the log already ends with
/// it or a later attempt (a write applied again). Called after the step's
/// write, in its transaction (see [`WriteOp::appends_attempt`]).
///
/// [`WriteOp::appends_attempt`]: crate::store::ops::WriteOp::appends_attempt
pub(super) async fn append_attempt(
    connection: &mut PgConnection,
    run_id: RunId,
    name: &str,
    attempt: &AttemptInfo,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE wf_step SET attempt_log = \
           CASE WHEN jsonb_array_length(attempt_log) >= $4 THEN attempt_log - 0 \
             ELSE COALESCE(attempt_log, '[]'::jsonb) END || jsonb_build_array($3::jsonb) \
         WHERE instance_id = $1::uuid AND name = $2 \
           AND COALESCE((attempt_log -> -1 ->> 'attempt')::bigint, 0) < $5",
    )
    .bind(run_id.to_string())
    .bind(name)
    .bind(attempt_entry(attempt))
    .bind(ATTEMPT_LOG_KEPT)
    .bind(i64::from(attempt.attempt))
    .execute(connection)
    .await?;
    Ok(())
}

/// The result of a step write (see [`unwritten_step`]).
pub(super) async fn step_saved(
    connection: &mut PgConnection,
    written: bool,
    lease: &Lease,
    step: &StepRecord,
) -> Result<Result<WriteOut, Error>, Error> {
    if written {
        return Ok(Ok(WriteOut::Done));
    }
    Ok(unwritten_step(
        holds_lease(connection, lease).await?,
        lease,
        step,
    ))
}

pub(super) async fn holds_lease(
    connection: &mut PgConnection,
    lease: &Lease,
) -> Result<bool, Error> {
    let held: Option<i32> = sqlx::query_scalar(held_run!("$1", "$2"))
        .bind(lease.run_id.to_string())
        .bind(lease.token)
        .fetch_optional(connection)
        .await?;
    Ok(held.is_some())
}

/// Appends a log line of a run (unless one with its key exists), fenced by
/// its lease.
pub(super) async fn append_log(
    connection: &mut PgConnection,
    lease: &Lease,
    line: &LogLine,
) -> Applied {
    // The lease check is part of the statement, so the write is fenced
    // without a transaction of its own (see `WriteOp::is_single_write`).
    let held: bool = sqlx::query_scalar(concat!(
        "WITH held AS (",
        held_run!("$1", "$7"),
        "), \
         appended AS ( \
           INSERT INTO wf_log (instance_id, level, message, fields, key, created_at) \
           SELECT $1::uuid, $2, $3, $4::jsonb, $5, $6 WHERE EXISTS (SELECT 1 FROM held) \
           ON CONFLICT (instance_id, key) DO NOTHING) \
         SELECT EXISTS (SELECT 1 FROM held)"
    ))
    .bind(lease.run_id.to_string())
    .bind(line.level.as_str())
    .bind(&line.message)
    .bind(&line.fields)
    .bind(&line.key)
    .bind(line.created_at)
    .bind(lease.token)
    .fetch_one(&mut *connection)
    .await?;
    Ok(if held {
        Ok(WriteOut::Done)
    } else {
        lease_lost(lease)
    })
}

/// A run's journal, in the order its steps were first written.
pub(super) async fn load_journal(pool: &PgPool, run_id: RunId) -> Result<Vec<StepRecord>, Error> {
    let rows: Vec<StepRow> = sqlx::query_as(
        "SELECT name, seq, kind, status, input::text, output::text, error, \
         attempts::bigint, wake_at, updated_at, started_at, ended_at, attempt_log::text \
         FROM wf_step WHERE instance_id = $1::uuid \
         ORDER BY created_at, seq",
    )
    .bind(run_id.to_string())
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(step_record).collect()
}
