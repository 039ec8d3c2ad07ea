//! The SQLite writer: the one connection that applies each group commit's
//! batch in one transaction, merging writes of one kind into multi-row
//! statements, and the dispatch of each write to the code of its concern.

use std::sync::{Arc, Mutex};

use rusqlite::{Connection, TransactionBehavior};

use super::{catalog, claims, finish, maintenance, runs, steps, waits};
use crate::model::error::Error;
use crate::model::sync::{BoxFuture, lock};
use crate::store::ops::{Applied, WriteOp, WriteOut};
use crate::store::rows::unexpected;
use crate::store::writer::{BatchApply, BatchResults};

/// The most writes one group commit applies in one transaction.
pub(super) const MAX_BATCH: usize = 1024;

/// Rows per multi-row statement, well under SQLite's 32,766 parameters.
const ROWS_PER_STATEMENT: usize = 256;

/// Splits a batch's writes of one kind into the chunks of its multi-row
/// statements: lengths that are powers of two up to [`ROWS_PER_STATEMENT`],
/// largest first, in order. A multi-row statement's text depends on its
/// number of rows, and preparing one costs far more than running it (about
/// 650,000 instructions for a batch of steps); with a statement per batch
/// size most batches prepared theirs anew, with these few shapes the
/// statement cache keeps every one.
fn statement_chunks(indexes: &[usize]) -> impl Iterator<Item = &[usize]> {
    let mut rest = indexes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let rows = ROWS_PER_STATEMENT.min(1 << rest.len().ilog2());
        let (chunk, tail) = rest.split_at(rows);
        rest = tail;
        Some(chunk)
    })
}

/// The [`BatchApply`] side of SQLite's group commit.
pub(super) struct SqliteWriter {
    /// The writer's connection, behind a lock that others take to keep the
    /// writer out for a moment: the readers of an in-memory database (the
    /// same connection), and the checkpointer while it starts the log over.
    pub(super) connection: Arc<Mutex<Connection>>,
    /// Commits wait for an fsync: tell tokio this task blocks.
    pub(super) blocking: bool,
}

/// One result per write of a batch.
pub(super) type Results = BatchResults<WriteOut>;

impl BatchApply for SqliteWriter {
    type Op = WriteOp;
    type Out = WriteOut;

    fn apply<'a>(&'a mut self, ops: &'a [WriteOp]) -> BoxFuture<'a, Result<Results, Error>> {
        let blocking = self.blocking
            && tokio::runtime::Handle::current().runtime_flavor()
                == tokio::runtime::RuntimeFlavor::MultiThread;
        let result = if blocking {
            tokio::task::block_in_place(|| self.apply_now(ops))
        } else {
            self.apply_now(ops)
        };
        Box::pin(std::future::ready(result))
    }
}

/// The writer of a client that opened a file another engine holds: it
/// answers every write with [`Error::ReadOnly`], so nothing is written.
pub(super) struct ReadOnlyWriter(pub(super) String);

impl BatchApply for ReadOnlyWriter {
    type Op = WriteOp;
    type Out = WriteOut;

    fn apply<'a>(&'a mut self, ops: &'a [WriteOp]) -> BoxFuture<'a, Result<Results, Error>> {
        let refused = ops
            .iter()
            .map(|_| {
                Err(Error::ReadOnly {
                    reason: self.0.clone(),
                })
            })
            .collect();
        Box::pin(std::future::ready(Ok(refused)))
    }
}

impl SqliteWriter {
    fn apply_now(&mut self, ops: &[WriteOp]) -> Result<Results, Error> {
        apply_in_transaction(&mut lock(&self.connection), ops)
    }
}

fn apply_in_transaction(connection: &mut Connection, ops: &[WriteOp]) -> Result<Results, Error> {
    if let [op] = ops
        && op.is_single_write()
    {
        // One write alone: SQLite's implicit transaction around the statement
        // is enough.
        return Ok(vec![apply_op(connection, op)?]);
    }
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let results = apply_batch(&tx, ops)?;
    tx.commit()?;
    Ok(results)
}

fn apply_batch(connection: &Connection, ops: &[WriteOp]) -> Result<Results, Error> {
    let mut results: Vec<Option<Result<WriteOut, Error>>> = ops.iter().map(|_| None).collect();
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&index| ops[index].phase());
    for group in order.chunk_by(|&a, &b| ops[a].phase() == ops[b].phase()) {
        for chunk in statement_chunks(group) {
            match &ops[chunk[0]] {
                WriteOp::Create(_) => runs::create_runs(connection, ops, chunk, &mut results)?,
                WriteOp::SaveStep(..) if chunk.len() > 1 => {
                    steps::save_steps(connection, ops, chunk, &mut results)?
                }
                WriteOp::Finish { .. } => {
                    finish::finish_runs(connection, ops, chunk, &mut results)?;
                }
                _ => {
                    for &index in chunk {
                        results[index] = Some(apply_op(connection, &ops[index])?);
                    }
                }
            }
        }
    }
    Ok(results
        .into_iter()
        .map(|result| result.unwrap_or_else(|| Err(unexpected())))
        .collect())
}

/// Applies one write. The outer error fails the transaction; the inner one
/// refuses this write alone.
pub(super) fn apply_op(connection: &Connection, op: &WriteOp) -> Applied {
    match op {
        WriteOp::Recover { now } => claims::recover(connection, *now),
        WriteOp::Create(_) => {
            // Creates go through the multi-row path, also one alone.
            let mut results = [None];
            runs::create_runs(connection, std::slice::from_ref(op), &[0], &mut results)?;
            let [result] = results;
            Ok(result.unwrap_or_else(|| Err(unexpected())))
        }
        WriteOp::Claim(request) => Ok(Ok(WriteOut::Claimed(claims::claim(connection, request)?))),
        WriteOp::SaveStep(lease, step) => steps::save_step(connection, lease, step),
        WriteOp::Suspend {
            lease,
            ready_at,
            steps,
            now,
        } => runs::suspend(connection, lease, *ready_at, steps, *now),
        WriteOp::Release { lease, now } => runs::release(connection, lease, *now),
        WriteOp::Finish { .. } => {
            // Finishes go through the multi-row path, also one alone.
            let mut results = [None];
            finish::finish_runs(connection, std::slice::from_ref(op), &[0], &mut results)?;
            let [result] = results;
            Ok(result.unwrap_or_else(|| Err(unexpected())))
        }
        WriteOp::Cancel { run_id, now } => runs::cancel(connection, *run_id, *now),
        WriteOp::RegisterWait { lease, step, wait } => {
            waits::register_wait_op(connection, lease, step, wait)
        }
        WriteOp::ResolveWait { lease, step, now } => {
            waits::resolve_wait(connection, lease, step, *now)
        }
        WriteOp::SendEvent { event, origin } => {
            waits::send_event_op(connection, event, origin.as_ref())
        }
        WriteOp::DeleteFinished(request) => maintenance::delete_finished(connection, request),
        WriteOp::TimeOutOverdue { now, limit } => {
            maintenance::time_out_overdue(connection, *now, *limit)
        }
        WriteOp::DeleteEvents { before, limit } => {
            maintenance::delete_events(connection, *before, *limit)
        }
        WriteOp::RenewLeases { .. } => Ok(Ok(claims::renew_leases())),
        WriteOp::AppendLog(lease, line) => steps::append_log(connection, lease, line),
        WriteOp::SetDeadline {
            lease,
            step,
            deadline_at,
        } => runs::set_deadline(connection, lease, step, *deadline_at),
        WriteOp::StartChild {
            lease,
            step,
            child,
            wait,
        } => runs::start_child(connection, lease, step, child, *wait),
        WriteOp::Retry {
            run_id,
            now,
            deadline_at,
        } => runs::retry(connection, *run_id, *now, *deadline_at),
        WriteOp::SetPaused {
            run_id,
            paused,
            now,
        } => runs::set_paused(connection, *run_id, *paused, *now),
        WriteOp::Fork(fork) => runs::fork(connection, fork),
        WriteOp::RecordWorker(_) | WriteOp::Heartbeat { .. } | WriteOp::RemoveWorker(_) => {
            catalog::apply(connection, op)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_chunks_are_powers_of_two_in_order_covering_the_batch() {
        for len in 0..=3 * ROWS_PER_STATEMENT + 5 {
            let indexes: Vec<usize> = (0..len).collect();
            let chunks: Vec<&[usize]> = statement_chunks(&indexes).collect();
            assert_eq!(chunks.concat(), indexes, "{len} writes");
            assert!(
                chunks.iter().all(|chunk| chunk.len().is_power_of_two()
                    && chunk.len() <= ROWS_PER_STATEMENT),
                "{len} writes: {:?}",
                chunks.iter().map(|chunk| chunk.len()).collect::<Vec<_>>()
            );
            assert!(
                chunks.windows(2).all(|pair| pair[0].len() >= pair[1].len()),
                "{len} writes: largest first"
            );
            let below = len % ROWS_PER_STATEMENT;
            assert_eq!(
                chunks.len(),
                len / ROWS_PER_STATEMENT + below.count_ones() as usize,
                "{len} writes: one statement per bit of the remainder"
            );
        }
    }
}
