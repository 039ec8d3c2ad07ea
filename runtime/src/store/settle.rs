//! How steps settle, the same on every backend and with no SQL: what a wait
//! records when something satisfies it already, what the steps waiting for
//! an ended run record, the records of a started child and a sent event,
//! and how an event records the runs it started. A backend reads and writes the rows; these say what goes in them.

use std::borrow::Cow;

use crate::model::error::Error;
use crate::model::event::TriggerError;
use crate::model::ids::RunId;
use crate::model::journal::{StepRecord, Wait};
use crate::model::outcome::RunOutcome;
use crate::model::status::{RunStatus, StepStatus};
use crate::store::rows::{WaitColumns, outcome_columns, parse_run_ids, parse_run_status};

/// The output recorded for a step that waited for a run: how it ended.
pub(crate) fn run_outcome_json(status: &str, output: Option<&str>, error: Option<&str>) -> String {
    let output: serde_json::Value = output
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(serde_json::Value::Null);
    serde_json::json!({ "status": status, "output": output, "error": error }).to_string()
}

/// The output recorded for a wait satisfied by the event `id` with this
/// data. The id is recorded so a later lookback wait of the same run skips
/// the events its earlier waits took (see [`Wait::Event`]).
pub(crate) fn event_output_json(id: i64, data: &str) -> String {
    format!("{{\"data\":{data},\"event_id\":{id}}}")
}

/// The status of a step that waited for a run: completed if the run
/// completed, else failed, so a `retry` of the waiting run starts that step
/// (a new child) again.
pub(crate) fn run_wait_status(completed: bool) -> StepStatus {
    if completed {
        StepStatus::Completed
    } else {
        StepStatus::Failed
    }
}

/// A run that ended, as the steps waiting for it settle: its id, its
/// outcome as JSON, and the status those steps end in.
pub(crate) type EndedRun = (RunId, String, StepStatus);

/// How a run that ended with `outcome` settles the steps waiting for it:
/// the outcome as JSON, and the status they end in.
pub(crate) fn waiter_outcome(outcome: &RunOutcome) -> (String, StepStatus) {
    let (status, output, error) = outcome_columns(outcome);
    (
        run_outcome_json(status.as_str(), output, error),
        run_wait_status(status == RunStatus::Completed),
    )
}

#[cfg(feature = "sqlite")]
/// A step waiting for a run, as a backend reads it (SQLite; PostgreSQL
/// settles them in its statement): its run's id, its name, and the id of
/// the run it waits for.
pub(crate) type RunWaiterRow = (String, String, String);

#[cfg(feature = "sqlite")]
/// The waiting steps `waiters` settle, each `(run id, step name)` with the
/// ended run it waited for and so how it ends; a row for a run not in
/// `ended` settles nothing.
pub(crate) fn run_waiters_settled(
    ended: &[EndedRun],
    waiters: Vec<RunWaiterRow>,
) -> Vec<((String, String), &EndedRun)> {
    waiters
        .into_iter()
        .filter_map(|(instance, step, awaited)| {
            ended
                .iter()
                .find(|(id, _, _)| id.to_string() == awaited)
                .map(|run| ((instance, step), run))
        })
        .collect()
}

/// What follows the end of runs, the same on every backend: how the steps
/// waiting for them settle, when, and which trees below them are cancelled.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AfterEnds {
    /// How each ended run settles the steps waiting for it.
    pub(crate) settled: Vec<EndedRun>,
    /// When they settle: the latest of the ends, so that a backend settles
    /// them all at once.
    pub(crate) at: i64,
    /// The runs whose unfinished descendants end with them (they timed out
    /// or were cancelled), each with the time it ended, at which its tree
    /// is cancelled.
    pub(crate) cancel_below: Vec<(RunId, i64)>,
}

/// What follows the end of these runs, each with how and when it ended.
pub(crate) fn after_ends(ended: &[(RunId, &RunOutcome, i64)]) -> AfterEnds {
    let settled = ended
        .iter()
        .map(|(run_id, outcome, _)| {
            let (outcome, status) = waiter_outcome(outcome);
            (*run_id, outcome, status)
        })
        .collect();
    let at = ended
        .iter()
        .map(|(_, _, now)| *now)
        .max()
        .unwrap_or_default();
    let cancel_below = ended
        .iter()
        .filter(|(_, outcome, _)| ends_descendants(outcome))
        .map(|(run_id, _, now)| (*run_id, *now))
        .collect();
    AfterEnds {
        settled,
        at,
        cancel_below,
    }
}

/// The runs a cancellation ended, from their ids as read back, and how each
/// settles the steps waiting for it: failed, with a `cancelled` outcome.
pub(crate) fn cancelled_runs(ids: &[String]) -> Result<(Vec<RunId>, Vec<EndedRun>), Error> {
    let cancelled = parse_run_ids(ids)?;
    let outcome = run_outcome_json("cancelled", None, None);
    let settled = cancelled
        .iter()
        .map(|id| (*id, outcome.clone(), run_wait_status(false)))
        .collect();
    Ok((cancelled, settled))
}

/// The error recorded on the runs an event cancels
/// (`#[workflow(cancel_on(..))]`): the event's name and id.
pub(crate) fn cancelled_by_event(name: &str, id: i64) -> String {
    format!("cancelled by event {name:?} (id {id})")
}

/// Whether a run that ended with `outcome` takes its unfinished
/// descendants with it (it timed out or was cancelled).
pub(crate) fn ends_descendants(outcome: &RunOutcome) -> bool {
    matches!(outcome, RunOutcome::TimedOut | RunOutcome::Cancelled(_))
}

/// What satisfies a wait at once: the step's output and status, and the
/// event that settled it, if one did.
pub(crate) type Satisfied = (String, StepStatus, Option<i64>);

/// A wait satisfied by the event (or signal) `id` with `data`.
pub(crate) fn satisfied_by_event(id: i64, data: &str) -> Satisfied {
    (event_output_json(id, data), StepStatus::Completed, Some(id))
}

/// The status, output and error columns of the run a wait is for.
pub(crate) type AwaitedRow = (String, Option<String>, Option<String>);

/// A wait for a run whose row holds this status, output and error:
/// satisfied if the run ended, else `None`.
pub(crate) fn satisfied_by_run(
    (status, output, error): AwaitedRow,
) -> Result<Option<Satisfied>, Error> {
    let parsed = parse_run_status(&status)?;
    Ok(parsed.is_terminal().then(|| {
        let outcome = run_outcome_json(&status, output.as_deref(), error.as_deref());
        (
            outcome,
            run_wait_status(parsed == RunStatus::Completed),
            None,
        )
    }))
}

/// A step record to write, with the columns a waiting step sets and the
/// event that settled it, if one did.
pub(crate) struct StepWrite<'a> {
    pub(crate) step: Cow<'a, StepRecord>,
    pub(crate) wait: WaitColumns,
    pub(crate) settled_by: Option<i64>,
}

impl<'a> StepWrite<'a> {
    /// A step record to write as it is: no wait columns, settled by no
    /// event.
    pub(crate) fn plain(step: &'a StepRecord) -> Self {
        StepWrite {
            step: Cow::Borrowed(step),
            wait: WaitColumns::default(),
            settled_by: None,
        }
    }
}

/// What a wait records, and the output it answers: the step completed (or
/// failed, for a run that failed) when something satisfies it already,
/// else the step waiting, with what it waits for.
pub(crate) fn wait_write<'a>(
    step: &'a StepRecord,
    wait: &Wait,
    satisfied: Option<Satisfied>,
) -> (StepWrite<'a>, Option<String>) {
    match satisfied {
        Some((output, status, settled_by)) => {
            let step = StepRecord {
                status,
                output: Some(output.clone()),
                ..step.clone()
            };
            let write = StepWrite {
                step: Cow::Owned(step),
                wait: WaitColumns::default(),
                settled_by,
            };
            (write, Some(output))
        }
        None => {
            let write = StepWrite {
                step: Cow::Borrowed(step),
                wait: WaitColumns::of(wait),
                settled_by: None,
            };
            (write, None)
        }
    }
}

/// What the step that started the child `child` records: waiting for the
/// child's end when `wait`, else completed with the child's id.
pub(crate) fn child_step_write(step: &StepRecord, child: RunId, wait: bool) -> StepWrite<'_> {
    if wait {
        StepWrite {
            step: Cow::Borrowed(step),
            wait: WaitColumns::of(&Wait::Run { run_id: child }),
            settled_by: None,
        }
    } else {
        StepWrite {
            step: Cow::Owned(StepRecord {
                output: Some(format!("\"{child}\"")),
                ..step.clone()
            }),
            wait: WaitColumns::default(),
            settled_by: None,
        }
    }
}

/// The idempotency key of the run the event `event` starts of a workflow
/// (`#[workflow(on_event = ..)]`): with the runs table's unique key on
/// (workflow, idempotency key), one event starts at most one run of each
/// workflow, however often its insert is attempted.
pub(crate) fn event_run_key(event: i64) -> String {
    format!("event:{event}")
}

/// The `started_runs` or `cancelled_runs` column of an event: those runs
/// as a JSON array, `None` for none.
pub(crate) fn run_ids_json(runs: &[RunId]) -> Option<String> {
    (!runs.is_empty()).then(|| {
        let ids: Vec<String> = runs.iter().map(ToString::to_string).collect();
        serde_json::Value::from(ids).to_string()
    })
}

/// The `trigger_errors` column of an event, `None` for none.
pub(crate) fn trigger_errors_json(errors: &[TriggerError]) -> Option<String> {
    (!errors.is_empty()).then(|| serde_json::to_string(errors).unwrap_or_else(|_| "[]".into()))
}

/// The record of the step that sent the event `event`: its output is the
/// event's id.
pub(crate) fn sent_step(step: &StepRecord, event: i64) -> StepRecord {
    StepRecord {
        output: Some(event.to_string()),
        ..step.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::workflow::StepKind;

    fn waiting() -> StepRecord {
        StepRecord {
            status: StepStatus::Waiting,
            output: None,
            ..StepRecord::completed("w", 0, StepKind::Invoke)
        }
    }

    fn row(status: &str, output: Option<&str>, error: Option<&str>) -> AwaitedRow {
        (status.into(), output.map(Into::into), error.map(Into::into))
    }

    #[test]
    fn a_wait_for_a_run_settles_by_how_it_ended() {
        assert_eq!(satisfied_by_run(row("running", None, None)).unwrap(), None);
        let (output, status, event) = satisfied_by_run(row("completed", Some("7"), None))
            .unwrap()
            .unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&output).unwrap(),
            serde_json::json!({ "status": "completed", "output": 7, "error": null })
        );
        assert_eq!((status, event), (StepStatus::Completed, None));
        let (_, status, _) = satisfied_by_run(row("cancelled", None, Some("stop")))
            .unwrap()
            .unwrap();
        assert_eq!(status, StepStatus::Failed);
        assert!(satisfied_by_run(row("lost", None, None)).is_err());
    }

    #[test]
    fn a_satisfied_wait_records_its_output_and_an_open_one_what_it_waits_for() {
        let step = waiting();
        let run = RunId(uuid::Uuid::now_v7());
        let wait = Wait::Run { run_id: run };
        let (write, output) = wait_write(&step, &wait, Some(satisfied_by_event(3, "{}")));
        assert_eq!(output.as_deref(), Some(r#"{"data":{},"event_id":3}"#));
        assert_eq!(write.step.output, output);
        assert_eq!(write.step.status, StepStatus::Completed);
        assert_eq!((write.wait.run, write.settled_by), (None, Some(3)));
        let (write, output) = wait_write(&step, &wait, None);
        assert_eq!(output, None);
        assert_eq!(*write.step, step);
        assert_eq!(write.wait.run, Some(run.to_string()));
    }

    #[test]
    fn ended_runs_settle_at_the_latest_end_and_a_timeout_takes_its_tree() {
        let (a, b) = (RunId(uuid::Uuid::now_v7()), RunId(uuid::Uuid::now_v7()));
        let AfterEnds {
            settled,
            at,
            cancel_below,
        } = after_ends(&[
            (a, &RunOutcome::Completed("1".into()), 20),
            (b, &RunOutcome::TimedOut, 10),
        ]);
        assert_eq!(at, 20);
        assert_eq!(cancel_below, [(b, 10)]);
        assert_eq!((settled[0].0, settled[0].2), (a, StepStatus::Completed));
        assert_eq!((settled[1].0, settled[1].2), (b, StepStatus::Failed));
        assert!(ends_descendants(&RunOutcome::TimedOut));
        assert!(!ends_descendants(&RunOutcome::Failed("x".into())));
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn waiters_settle_by_the_run_they_wait_for() {
        let (a, b) = (RunId(uuid::Uuid::now_v7()), RunId(uuid::Uuid::now_v7()));
        let settled = after_ends(&[
            (a, &RunOutcome::Completed("1".into()), 20),
            (b, &RunOutcome::TimedOut, 10),
        ])
        .settled;
        let waiters = vec![
            ("p".to_owned(), "s1".to_owned(), b.to_string()),
            (
                "q".to_owned(),
                "s2".to_owned(),
                RunId(uuid::Uuid::now_v7()).to_string(),
            ),
            ("r".to_owned(), "s3".to_owned(), a.to_string()),
        ];
        let settles = run_waiters_settled(&settled, waiters);
        assert_eq!(settles.len(), 2);
        assert_eq!((settles[0].0.0.as_str(), settles[0].1.0), ("p", b));
        assert_eq!(
            (settles[1].0.1.as_str(), settles[1].1.2),
            ("s3", StepStatus::Completed)
        );
    }
}
