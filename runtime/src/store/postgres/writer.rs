//! The PostgreSQL group-commit writer: applies a batch of writes in one
//! transaction (or one autocommit statement), the hot writes (creates, step
//! results, finishes) as one multi-row statement, and dispatches every other
//! write to the file of its concern.

use std::collections::HashSet;

use sqlx::{Connection, PgConnection};

use super::cancel_on::register;
use super::claims::{claim, lock_limited, renew_leases};
use super::finish::{FinishColumns, HOT_FINISHED, cancel_descendants, cancel_timed_out_children};
use super::flow::create_flowing;
use super::limits::create_limited_runs;
use super::maintenance::{delete_events, delete_finished, time_out_overdue};
use super::notify::{FINISHED_CHANNEL, Notes, WAKE_CHANNEL};
use super::options::OwnConnection;
use super::runs::{
    CreateColumns, HOT_CREATED, cancel, fork, key_holder, release, retry, set_deadline, set_paused,
    start_child, suspend_runs,
};
use super::steps::{
    HOT_SAVED, SaveColumns, append_attempt, append_log, holds_lease, keep_last_write, step_saved,
    upsert_step,
};
use super::waits::{register_wait, resolve_wait, send_event_from};
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::sync::BoxFuture;
use crate::store::ops::{Applied, FINISH_PHASE, Slots, WriteOp, WriteOut};
use crate::store::rows::unexpected;
use crate::store::rules::{finished, lease_lost};
use crate::store::settle::{StepWrite, ends_descendants};
use crate::store::writer::{BatchApply, BatchResults};
use crate::store::{ClaimAtCreate, CreateOutcome, Flow, Lease, StepRecord};

/// The group-commit writer: applies batches on a connection of its own, so
/// a write never waits for a connection of the pool.
pub(super) struct PgWriter(pub(super) OwnConnection);

pub(super) type Results = BatchResults<WriteOut>;

impl BatchApply for PgWriter {
    type Op = WriteOp;
    type Out = WriteOut;

    fn apply<'a>(&'a mut self, ops: &'a [WriteOp]) -> BoxFuture<'a, Result<Results, Error>> {
        Box::pin(async move {
            let applied = apply_batch(self.0.get().await?, ops).await;
            self.0.keep_if_ok(applied)
        })
    }
}

/// Applies `ops` in one transaction, or as one autocommit statement.
///
/// The writes most runs make (creates, step results and finishes) run as
/// one statement ([`HOT_CREATED`]); a batch of nothing else needs no
/// transaction. The others run in phase order (see [`WriteOp::phase`]),
/// the hot statement taking the finishes' place: the ops of a batch were
/// submitted concurrently, so any order is a valid serial order, except
/// that a run's detached writes (log lines, `running` markers) must land
/// before its finish.
pub(super) async fn apply_batch(
    connection: &mut PgConnection,
    ops: &[WriteOp],
) -> Result<Results, Error> {
    let mut notes = Notes::default();
    let mut results: Vec<Option<Result<WriteOut, Error>>> = ops.iter().map(|_| None).collect();
    // A suspension's steps are saved with the hot writes; the suspension
    // itself follows them.
    let mut hot: Vec<usize> = (0..ops.len())
        .filter(|&i| is_hot(&ops[i]) || carries_steps(&ops[i]))
        .collect();
    let (limited, mut rest): (Vec<usize>, Vec<usize>) = (0..ops.len())
        .filter(|&i| !is_hot(&ops[i]))
        .partition(|&i| counts_group(&ops[i]));
    let cancels_descendants = hot
        .iter()
        .any(|&i| matches!(&ops[i], WriteOp::Finish { outcome, .. } if ends_descendants(outcome)));
    // An attempt log's append is a second statement: it needs the
    // transaction (only retried or failed steps write one).
    let appends_attempt = hot.iter().any(|&i| ops[i].appends_attempt());
    if limited.is_empty() && rest.is_empty() && !cancels_descendants && !appends_attempt {
        apply_hot(connection, ops, &hot, &mut results).await?;
    } else if let ([], [], [index]) = (limited.as_slice(), hot.as_slice(), rest.as_slice())
        && ops[*index].is_single_write()
    {
        // One write whose only change is one statement (see
        // `WriteOp::is_single_write`): autocommit saves the BEGIN and
        // COMMIT round trips.
        results[*index] = Some(apply_op(connection, &ops[*index], &mut notes).await?);
        notes.send(connection).await?;
    } else {
        let mut tx = connection.begin().await?;
        if !limited.is_empty() {
            // First: a transaction that waits for these locks holds no row
            // that a claim holding them could wait for.
            lock_limited_workflows(&mut tx, ops, &limited).await?;
        }
        cancel_timed_out_children(&mut tx, ops, &mut hot, &mut results, &mut notes).await?;
        if !limited.is_empty() {
            // Where the creates' phase is (the first of the writes).
            create_limited_runs(&mut tx, ops, &limited, &mut results, &mut notes).await?;
        }
        // Debounced and throttled creates take their keys' locks in one
        // order in every process, so two batches never wait for each other.
        rest.sort_by_key(|&index| (ops[index].phase(), flow_key(&ops[index])));
        // The hot writes go where the finishes' phase is: a log line or a
        // `running` marker a run queued before its finish lands first.
        let split = rest.partition_point(|&index| ops[index].phase() < FINISH_PHASE);
        for &index in &rest[..split] {
            results[index] = Some(apply_op(&mut tx, &ops[index], &mut notes).await?);
        }
        if !hot.is_empty() {
            apply_hot(&mut tx, ops, &hot, &mut results).await?;
            if cancels_descendants {
                cancel_descendants(&mut tx, ops, &hot, &mut results, &mut notes).await?;
            }
        }
        for group in rest[split..].chunk_by(|&a, &b| ops[a].phase() == ops[b].phase()) {
            if let WriteOp::Suspend { .. } = &ops[group[0]] {
                suspend_runs(&mut tx, ops, group, &mut results).await?;
                continue;
            }
            for &index in group {
                results[index] = Some(apply_op(&mut tx, &ops[index], &mut notes).await?);
            }
        }
        notes.send(&mut tx).await?;
        tx.commit().await?;
    }
    Ok(results
        .into_iter()
        .map(|result| result.unwrap_or_else(|| Err(unexpected())))
        .collect())
}

/// Whether a write is a creation, a step result or a finish, which
/// [`apply_hot`] applies in one statement.
pub(super) fn is_hot(op: &WriteOp) -> bool {
    match op {
        // A debounce or a throttle reads the key's runs under its lock
        // first, and a run claimed within a limit counts its group's
        // running runs under its workflow's lock first.
        WriteOp::Create(run) => !counts_group(op) && run.flow.is_none(),
        WriteOp::SaveStep(..) | WriteOp::Finish { .. } => true,
        _ => false,
    }
}

/// Whether a write creates a run claimed within a concurrency limit (see
/// `limits::create_limited_runs`).
fn counts_group(op: &WriteOp) -> bool {
    matches!(op, WriteOp::Create(run) if run.claim_within_limit().is_some())
}

/// Takes the locks of the workflows of the runs at `indices`, which are
/// claimed within a concurrency limit as they are created: the lock a
/// claim of a limited workflow holds while it counts and takes
/// (`claims::LOCK_LIMITED_SQL`), sorted as a claim sorts them, so that a
/// create and a claim of one workflow never both take its last slot (the
/// statements after the lock read what its last holder committed), and no
/// two batches or claims wait for each other in a circle.
async fn lock_limited_workflows(
    connection: &mut PgConnection,
    ops: &[WriteOp],
    indices: &[usize],
) -> Result<(), Error> {
    let mut workflows: Vec<&str> = indices
        .iter()
        .filter_map(|&index| match &ops[index] {
            WriteOp::Create(run) => Some(run.workflow.as_str()),
            _ => None,
        })
        .collect();
    workflows.sort_unstable();
    workflows.dedup();
    lock_limited(connection, &workflows).await
}

/// The workflow and key whose lock a debounced or throttled create takes
/// (see `create_flowing`); `None` for every other write.
fn flow_key(op: &WriteOp) -> Option<(&str, &str)> {
    match op {
        WriteOp::Create(run) => match &run.flow {
            Some(Flow::Debounce { key, .. } | Flow::Throttle { key, .. }) => {
                Some((run.workflow.as_str(), key.as_str()))
            }
            None => None,
        },
        _ => None,
    }
}

/// Whether a write is a suspension that saves steps as well.
pub(super) fn carries_steps(op: &WriteOp) -> bool {
    matches!(op, WriteOp::Suspend { steps, .. } if !steps.is_empty())
}

/// The statement of [`HOT_CREATED`] for the kinds of writes a batch holds.
pub(super) fn hot_writes_sql(creates: bool, saves: bool, finishes: bool) -> &'static str {
    static STATEMENTS: [std::sync::OnceLock<String>; 8] = [const { std::sync::OnceLock::new() }; 8];
    let key = usize::from(creates) | usize::from(saves) << 1 | usize::from(finishes) << 2;
    STATEMENTS[key].get_or_init(|| {
        let mut parts = Vec::new();
        let mut rows = Vec::new();
        if creates {
            parts.push(HOT_CREATED);
            rows.push("SELECT 'created', id::text, NULL FROM created");
            rows.push("SELECT 'announced', NULL, COUNT(*)::text FROM created_announced");
        }
        if saves {
            parts.push(HOT_SAVED);
            rows.push("SELECT 'saved', instance_id::text, name FROM saved");
        }
        let finished;
        if finishes {
            // With steps saved as well, the finishes wait for them (the
            // condition reads `saved` first): a run's step result queued
            // before its finish lands, and locking its row does not meet the
            // row already updated by this statement.
            let after_saved = if saves {
                "AND (SELECT COUNT(*) FROM saved) >= 0 "
            } else {
                ""
            };
            finished = HOT_FINISHED.replace("{after_saved}", after_saved);
            parts.push(&finished);
            rows.push("SELECT 'finished', id::text, NULL FROM finished");
            rows.push("SELECT DISTINCT 'awaited', awaited::text, NULL FROM settled");
            rows.push("SELECT 'announced', NULL, COUNT(*)::text FROM finished_announced");
        }
        format!("WITH {} {}", parts.join(", "), rows.join(" UNION ALL "))
    })
}

/// Applies the [`is_hot`] writes at `indices` in one statement
/// ([`HOT_CREATED`]). A write
/// that wrote nothing is then explained by reads: a taken idempotency key,
/// a lost lease, or a step completed by another execution.
pub(super) async fn apply_hot(
    connection: &mut PgConnection,
    ops: &[WriteOp],
    indices: &[usize],
    results: &mut Slots,
) -> Result<(), Error> {
    if let [index] = indices
        && let WriteOp::SaveStep(lease, step) = &ops[*index]
    {
        // A lone step result (a run's steps one after another): the
        // single-row statement costs less than the multi-row one.
        let written = upsert_step(connection, lease, &StepWrite::plain(step)).await?;
        if written && let Some(attempt) = &step.finished_attempt {
            append_attempt(connection, lease.run_id, &step.name, attempt).await?;
        }
        results[*index] = Some(step_saved(connection, written, lease, step).await?);
        return Ok(());
    }
    let mut creates = CreateColumns::default();
    let mut finishes = FinishColumns::default();
    let mut steps: Vec<(&Lease, &StepRecord)> = Vec::new();
    for &index in indices {
        match &ops[index] {
            WriteOp::Create(run) => creates.push(run),
            WriteOp::SaveStep(lease, step) => keep_last_write(&mut steps, lease, step),
            // Its suspension (after this statement) is fenced as well and
            // answers for it.
            WriteOp::Suspend {
                lease,
                steps: carried,
                ..
            } => {
                for step in carried {
                    keep_last_write(&mut steps, lease, step);
                }
            }
            WriteOp::Finish {
                lease,
                outcome,
                steps: carried,
                now,
            } => {
                // Saved by this statement before the finish (see
                // `after_saved` in `hot_writes_sql`).
                for step in carried {
                    keep_last_write(&mut steps, lease, step);
                }
                finishes.push(lease, outcome, *now);
            }
            _ => {}
        }
    }
    let mut saves = SaveColumns::default();
    for (lease, step) in &steps {
        saves.push(lease, step);
    }
    let sql = hot_writes_sql(
        !creates.ids.is_empty(),
        !saves.ids.is_empty(),
        !finishes.ids.is_empty(),
    );
    let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(sql)
        .bind(&creates.ids)
        .bind(&creates.workflows)
        .bind(&creates.inputs)
        .bind(&creates.keys)
        .bind(&creates.nows)
        .bind(&creates.ready)
        .bind(&creates.deadlines)
        .bind(&creates.parents)
        .bind(&creates.owners)
        .bind(&creates.lease_expiries)
        .bind(ClaimAtCreate::TOKEN)
        .bind(&saves.ids)
        .bind(&saves.names)
        .bind(&saves.seqs)
        .bind(&saves.kinds)
        .bind(&saves.statuses)
        .bind(&saves.inputs)
        .bind(&saves.outputs)
        .bind(&saves.errors)
        .bind(&saves.attempts)
        .bind(&saves.wake_ats)
        .bind(&saves.updated_ats)
        .bind(&saves.tokens)
        .bind(&finishes.ids)
        .bind(&finishes.statuses)
        .bind(&finishes.outputs)
        .bind(&finishes.errors)
        .bind(&finishes.nows)
        .bind(&finishes.tokens)
        .bind(&finishes.outcomes)
        .bind(&finishes.waiter_statuses)
        .bind(FINISHED_CHANNEL)
        .bind(WAKE_CHANNEL)
        .bind(&saves.started_ats)
        .bind(&creates.versions)
        .bind(&creates.priorities)
        .bind(&creates.concurrency_keys)
        .bind(&creates.queues)
        .fetch_all(&mut *connection)
        .await?;
    let written: HashSet<(String, Option<String>, Option<String>)> = rows.into_iter().collect();
    let wrote = |kind: &str, run_id: RunId, step: Option<&str>| {
        written.contains(&(
            kind.to_owned(),
            Some(run_id.to_string()),
            step.map(str::to_owned),
        ))
    };
    for (lease, step) in &steps {
        if let Some(attempt) = &step.finished_attempt
            && wrote("saved", lease.run_id, Some(step.name.as_str()))
        {
            append_attempt(connection, lease.run_id, &step.name, attempt).await?;
        }
    }
    for &index in indices {
        results[index] = Some(match &ops[index] {
            WriteOp::Create(run) => Ok(WriteOut::Created(if wrote("created", run.id, None) {
                register(connection, run).await?;
                CreateOutcome::Created(run.id)
            } else {
                // Its key is taken (also by another run of this batch).
                key_holder(connection, run).await?
            })),
            WriteOp::SaveStep(lease, step) => {
                let written = wrote("saved", lease.run_id, Some(step.name.as_str()));
                step_saved(connection, written, lease, step).await?
            }
            WriteOp::Finish { lease, .. } => {
                let applied = wrote("finished", lease.run_id, None);
                let woke_waiters = applied && wrote("awaited", lease.run_id, None);
                finished(lease, applied, woke_waiters, &[])
            }
            _ => continue,
        });
    }
    Ok(())
}

/// Applies one write inside the batch's transaction, by the file of its
/// concern.
pub(super) async fn apply_op(
    connection: &mut PgConnection,
    op: &WriteOp,
    notes: &mut Notes,
) -> Applied {
    match op {
        // Orphaned runs are reclaimed when their lease expires.
        WriteOp::Recover { .. } => Ok(Ok(WriteOut::Count(0))),
        WriteOp::Create(run) if let Some(flow) = &run.flow => Ok(Ok(WriteOut::Created(
            create_flowing(connection, run, flow, notes).await?,
        ))),
        WriteOp::Create(_) | WriteOp::SaveStep(..) | WriteOp::Finish { .. } => {
            // `apply_batch` applies these with `apply_hot` (a run claimed
            // within a limit with `create_limited_runs`); this is the same
            // for one alone.
            let alone = std::slice::from_ref(op);
            let mut results = [None];
            if let WriteOp::Create(run) = op
                && counts_group(op)
            {
                lock_limited(connection, &[run.workflow.as_str()]).await?;
                create_limited_runs(connection, alone, &[0], &mut results, notes).await?;
            } else {
                apply_hot(connection, alone, &[0], &mut results).await?;
                cancel_descendants(connection, alone, &[0], &mut results, notes).await?;
            }
            let [result] = results;
            Ok(result.unwrap_or_else(|| Err(unexpected())))
        }
        // `PostgresStore::write` runs claims on a connection of their own;
        // one in a batch all the same is applied like the other writes.
        WriteOp::Claim(request) => Ok(Ok(WriteOut::Claimed(claim(connection, request).await?))),
        WriteOp::Suspend { .. } => {
            // Suspends go through the multi-row path, also one alone.
            let mut results = [None];
            if carries_steps(op) {
                apply_hot(connection, std::slice::from_ref(op), &[0], &mut results).await?;
            }
            suspend_runs(connection, std::slice::from_ref(op), &[0], &mut results).await?;
            let [result] = results;
            Ok(result.unwrap_or_else(|| Err(unexpected())))
        }
        WriteOp::Release { lease, now } => release(connection, lease, *now, notes).await,
        WriteOp::Cancel { run_id, now } => cancel(connection, *run_id, *now, notes).await,
        WriteOp::Retry {
            run_id,
            now,
            deadline_at,
        } => retry(connection, *run_id, *now, *deadline_at, notes).await,
        WriteOp::SetPaused {
            run_id,
            paused,
            now,
        } => set_paused(connection, *run_id, *paused, *now, notes).await,
        WriteOp::Fork(new) => fork(connection, new, notes).await,
        WriteOp::RegisterWait { lease, step, wait } => {
            if !holds_lease(connection, lease).await? {
                return Ok(lease_lost(lease));
            }
            Ok(register_wait(connection, lease, step, wait)
                .await?
                .map(WriteOut::Waited))
        }
        WriteOp::ResolveWait { lease, step, now } => {
            resolve_wait(connection, lease, step, *now).await
        }
        WriteOp::SendEvent { event, origin } => {
            send_event_from(connection, event, origin.as_ref(), notes).await
        }
        WriteOp::StartChild {
            lease,
            step,
            child,
            wait,
        } => start_child(connection, lease, step, child, *wait, notes).await,
        WriteOp::AppendLog(lease, line) => append_log(connection, lease, line).await,
        WriteOp::SetDeadline {
            lease,
            step,
            deadline_at,
        } => set_deadline(connection, lease, step, *deadline_at).await,
        WriteOp::DeleteFinished(request) => delete_finished(connection, request).await,
        WriteOp::TimeOutOverdue { now, limit } => {
            time_out_overdue(connection, *now, *limit, notes).await
        }
        WriteOp::DeleteEvents { before, limit } => delete_events(connection, *before, *limit).await,
        WriteOp::RenewLeases { leases, until } => renew_leases(connection, leases, *until).await,
        WriteOp::RecordWorker(_) | WriteOp::Heartbeat { .. } | WriteOp::RemoveWorker(_) => {
            super::catalog::apply(connection, op).await
        }
    }
}
