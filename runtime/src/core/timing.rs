//! Timing decisions: when a run is due to be claimed again, when it times
//! out, and when a sleep is over. Pure functions of times in milliseconds
//! since the epoch.

use crate::model::info::{RunInfo, StepInfo};
use crate::model::status::StepStatus;

/// When a run that started (or was due to start) at `from` times out, for a
/// workflow with `timeout_ms`; `None` without a timeout.
pub(crate) fn deadline(from: i64, timeout_ms: Option<u64>) -> Option<i64> {
    timeout_ms.map(|ms| from.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX)))
}

/// When a run that suspends now may be claimed again: at the earliest of
/// its wait timeout (`timeout_at`) and its `deadline`, or `claim_early_ms`
/// before its earliest timer (`timer_at`: a sleep or a retry backoff).
///
/// A replay that reaches the timer early waits out the rest in memory, so
/// the step after a sleep runs on time instead of a claim later;
/// `claim_early_ms` must be below the time `keep_in_memory_below` lets a
/// wait stay in memory, or the replay would suspend again. A timeout is
/// never claimed early: its wait would only suspend again. `None`: only an
/// event or a child wakes the run.
pub(crate) fn ready_at(
    timer_at: Option<i64>,
    timeout_at: Option<i64>,
    deadline: Option<i64>,
    claim_early_ms: i64,
) -> Option<i64> {
    let timer = timer_at.map(|at| at.saturating_sub(claim_early_ms));
    [timer, timeout_at, deadline].into_iter().flatten().min()
}

/// Marks the sleeps of `run` that are over as completed, as every reader
/// of steps must see them.
///
/// A sleep's `sleeping` record is never rewritten when it wakes (see
/// `Ctx::sleep`: that saves a write per sleep), so a reader decides: a
/// sleep is over at its wake time, unless its run ended first (see
/// [`StepStatus`]), in which case it stays `sleeping`. `run` must be read
/// after `steps`: a run that ends in between is then read ended, and its
/// sleeps stay `sleeping`, never the other way round.
pub(crate) fn settle_elapsed_sleeps(steps: &mut [StepInfo], run: &RunInfo, now: i64) {
    let over_by = match run.finished_at {
        Some(finished) if run.status.is_terminal() => finished.min(now),
        _ => now,
    };
    for step in steps {
        if step.status != StepStatus::Sleeping {
            continue;
        }
        if let Some(wake_at) = step.wake_at.filter(|&at| at <= over_by) {
            step.status = StepStatus::Completed;
            step.output = Some(serde_json::Value::Null);
            step.ended_at = Some(wake_at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ids::RunId;
    use crate::model::status::RunStatus;
    use crate::model::workflow::StepKind;

    fn sleep_until(wake_at: i64) -> StepInfo {
        StepInfo {
            name: "nap".into(),
            seq: 0,
            kind: StepKind::Sleep,
            status: StepStatus::Sleeping,
            input: None,
            output: None,
            error: None,
            attempts: 1,
            wake_at: Some(wake_at),
            started_at: Some(0),
            ended_at: None,
            attempt_log: Vec::new(),
        }
    }

    fn run(status: RunStatus, finished_at: Option<i64>) -> RunInfo {
        RunInfo {
            id: RunId::new(),
            workflow: "napper".into(),
            status,
            input: serde_json::Value::Null,
            output: None,
            error: None,
            idempotency_key: None,
            created_at: 0,
            started_at: Some(0),
            finished_at,
            parent: None,
            deadline_at: None,
            executions: 1,
            version: None,
            event_id: None,
            queue: "default".into(),
            paused_at: None,
            forked_from: None,
        }
    }

    #[test]
    fn a_sleep_is_over_at_its_wake_time_unless_its_run_ended_first() {
        let mut steps = [sleep_until(1_000), sleep_until(5_000)];
        settle_elapsed_sleeps(&mut steps, &run(RunStatus::Suspended, None), 2_000);
        assert_eq!(steps[0].status, StepStatus::Completed);
        assert_eq!(steps[0].ended_at, Some(1_000));
        assert_eq!(steps[0].output, Some(serde_json::Value::Null));
        assert_eq!(steps[1].status, StepStatus::Sleeping, "not woken yet");
        assert_eq!(steps[1].ended_at, None);

        let mut steps = [sleep_until(1_000), sleep_until(3_000)];
        settle_elapsed_sleeps(&mut steps, &run(RunStatus::Cancelled, Some(2_000)), 9_000);
        assert_eq!(
            steps[0].status,
            StepStatus::Completed,
            "woke before the end"
        );
        assert_eq!(steps[1].status, StepStatus::Sleeping, "the run ended first");
    }

    #[test]
    fn a_deadline_is_the_start_plus_the_timeout_and_saturates() {
        assert_eq!(deadline(1_000, Some(500)), Some(1_500));
        assert_eq!(deadline(1_000, None), None);
        assert_eq!(deadline(i64::MAX - 1, Some(u64::MAX)), Some(i64::MAX));
    }

    #[test]
    fn timers_are_claimed_early_and_timeouts_and_deadlines_on_time() {
        assert_eq!(ready_at(Some(10_000), None, None, 40), Some(9_960));
        assert_eq!(ready_at(Some(10_000), Some(9_980), None, 40), Some(9_960));
        assert_eq!(ready_at(Some(10_000), Some(9_900), None, 40), Some(9_900));
        assert_eq!(ready_at(None, Some(5_000), Some(4_000), 40), Some(4_000));
        assert_eq!(ready_at(None, None, None, 40), None);
        assert_eq!(ready_at(Some(i64::MIN), None, None, 40), Some(i64::MIN));
    }
}
