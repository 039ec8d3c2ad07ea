//! Rules both backends apply to what their statements report, with no SQL:
//! a backend runs its statements, then asks these what the result means.

use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::status::StepStatus;
use crate::store::ops::{WriteOp, WriteOut};
use crate::store::rows::{parse_run_id, parse_run_status};
use crate::store::{
    CreateOutcome, FinishEffects, ForkOutcome, Lease, RunOutcome, StepRecord, TransitionOutcome,
};

/// The answer to a write whose run is no longer held by `lease` (the run
/// moved on without it).
pub(crate) fn lease_lost(lease: &Lease) -> Result<WriteOut, Error> {
    Err(Error::LeaseLost {
        run_id: lease.run_id,
    })
}

/// The result of a write fenced by `lease` that had to change its run's row:
/// done if it did, else the lease was lost.
pub(crate) fn fenced(changed_its_row: bool, lease: &Lease) -> Result<WriteOut, Error> {
    if changed_its_row {
        Ok(WriteOut::Done)
    } else {
        lease_lost(lease)
    }
}

/// A transition that changed no row, given the run's stored status (`None`
/// when there is no such run): refused by that status, or not found.
pub(crate) fn refused_transition(status: Option<&str>) -> Result<TransitionOutcome, Error> {
    Ok(match status {
        Some(status) => TransitionOutcome::Refused(parse_run_status(status)?),
        None => TransitionOutcome::NotFound,
    })
}

/// Whether a fork of a run whose stored status is `status` (`None` when
/// there is no such run) is refused: only a run that ended is forked.
pub(crate) fn fork_refused(status: Option<&str>) -> Result<Option<ForkOutcome>, Error> {
    Ok(match status {
        None => Some(ForkOutcome::NotFound),
        Some(status) => {
            let status = parse_run_status(status)?;
            (!status.is_terminal()).then_some(ForkOutcome::NotEnded(status))
        }
    })
}

/// A create whose idempotency key the run `id` holds already, with
/// `stored_input`: that run if it was created with the same input as the
/// create's `input`, else a conflict.
pub(crate) fn existing_run(
    id: &str,
    stored_input: &str,
    input: &str,
) -> Result<CreateOutcome, Error> {
    let existing = parse_run_id(id)?;
    Ok(if same_input(stored_input, input) {
        CreateOutcome::Existing(existing)
    } else {
        CreateOutcome::Conflict(existing)
    })
}

/// Whether two inputs (JSON texts) are the same value, as PostgreSQL's
/// `jsonb` compares them: object keys in any order, whitespace aside,
/// numbers by value (`1` is `1.0`). A backend may store an input as it was
/// written (SQLite) or normalised (PostgreSQL); either way a retried trigger
/// finds its run. Texts that are not JSON compare as text.
pub(crate) fn same_input(stored: &str, input: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(stored),
        serde_json::from_str::<serde_json::Value>(input),
    ) {
        (Ok(stored), Ok(input)) => same_json(&stored, &input),
        _ => stored == input,
    }
}

/// [`same_input`] on parsed values.
fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => {
            a == b || matches!((a.as_f64(), b.as_f64()), (Some(a), Some(b)) if a == b)
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(key, a)| b.get(key).is_some_and(|b| same_json(a, b)))
        }
        (a, b) => a == b,
    }
}

/// The result of a finish under `lease`: done, with the runs the batch
/// cancelled and whether the run's waiters were settled, if the finish
/// `applied`; else the lease was lost.
pub(crate) fn finished(
    lease: &Lease,
    applied: bool,
    woke_waiters: bool,
    cancelled: &[RunId],
) -> Result<WriteOut, Error> {
    if applied {
        Ok(WriteOut::Finished(FinishEffects {
            cancelled: cancelled.to_vec(),
            woke_waiters,
            recorded: None,
        }))
    } else {
        lease_lost(lease)
    }
}

/// A finish that ends as cancelled instead when the run's parent is
/// unfinished and overdue too, as that parent's timeout would cancel it: a
/// timeout, with its lease, the steps it saves and when it happens. Any
/// other finish (and any other write) stays as it is.
pub(crate) fn timeout_finish(op: &WriteOp) -> Option<(&Lease, &[StepRecord], i64)> {
    match op {
        WriteOp::Finish {
            lease,
            outcome: RunOutcome::TimedOut,
            steps,
            now,
        } => Some((lease, steps, *now)),
        _ => None,
    }
}

/// The finish of the run `run_id`, which timed out while its parent was
/// unfinished and overdue too, so it was cancelled with its tree as its
/// parent's timeout would cancel it: recorded `cancelled`, its parent's
/// waiting step settled, and the rest of the tree (`cancelled` without the
/// run) stopped.
pub(crate) fn finished_as_cancelled(run_id: RunId, mut cancelled: Vec<RunId>) -> WriteOut {
    cancelled.retain(|id| *id != run_id);
    WriteOut::Finished(FinishEffects {
        cancelled,
        woke_waiters: true,
        recorded: Some(RunOutcome::Cancelled(String::new())),
    })
}

/// The result of a step write that wrote nothing, given whether the run's
/// lease still holds: refused for a stale lease; for a completed step (never
/// overwritten) harmless if the write was a `running` marker, else a sign
/// that another execution recorded the step first.
pub(crate) fn unwritten_step(
    holds_lease: bool,
    lease: &Lease,
    step: &StepRecord,
) -> Result<WriteOut, Error> {
    if !holds_lease {
        lease_lost(lease)
    } else if step.status == StepStatus::Running {
        Ok(WriteOut::Done)
    } else {
        Err(Error::StepRecordedElsewhere {
            run_id: lease.run_id,
            step: step.name.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_the_same_json_value_whatever_their_text() {
        assert!(same_input(
            r#"{"a":1,"b":[2,3]}"#,
            r#"{ "b": [2, 3], "a": 1.0 }"#
        ));
        assert!(!same_input(r#"{"a":1}"#, r#"{"a":2}"#));
        assert!(!same_input(r#"{"a":1}"#, r#"{"a":1,"b":null}"#));
        assert!(!same_input("[1,2]", "[2,1]"));
        assert!(!same_input(r#""1""#, "1"));
        assert!(same_input("not json", "not json"));
        assert!(!same_input("not json", "null"));
    }

    #[test]
    fn only_a_timeout_may_end_as_its_parents_cancellation() {
        let lease = Lease {
            run_id: RunId(uuid::Uuid::now_v7()),
            token: 3,
        };
        let finish = |outcome| WriteOp::Finish {
            lease,
            outcome,
            steps: Vec::new(),
            now: 9,
        };
        let timeout = finish(RunOutcome::TimedOut);
        let (held, steps, now) = timeout_finish(&timeout).unwrap();
        assert_eq!((held.token, steps.len(), now), (3, 0, 9));
        assert!(timeout_finish(&finish(RunOutcome::Failed("x".into()))).is_none());
        assert!(timeout_finish(&finish(RunOutcome::Cancelled(String::new()))).is_none());
    }
}
