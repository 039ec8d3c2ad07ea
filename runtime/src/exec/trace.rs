//! The tracing spans and events durable emits, named in one place so that a
//! subscriber (`tracing-subscriber`, or `tracing-opentelemetry` for traces)
//! sees stable names and fields. All have the target `durable`.
//!
//! | name | kind | fields |
//! |---|---|---|
//! | `durable.run` | span, one per execution of a run | `workflow`, `run_id`, `execution` (1 for the first, counting resumptions and retries), `outcome` |
//! | `durable.step` | span, one per attempt of a step's body | `step`, `kind`, `attempt`, `outcome` |
//! | `durable.resume` | event: an execution replays a journal | `replayed_steps` |
//! | `durable.suspend` | event: the run leaves memory until it is due | `ready_at` (ms since the epoch; absent when only an event can wake it) |
//! | `durable.retry` | event: an attempt failed and another is due | `step`, `attempt`, `retry_at`, `error` |
//! | `durable.compensate` | event: a compensation starts | `step` |
//!
//! A run's `outcome` is `completed`, `failed`, `cancelled`, `timed_out`,
//! `suspended` or `stopped` (handed back, to be replayed elsewhere or
//! later); a step attempt's is `completed`, `retrying` or `failed`.
//! Without a subscriber these cost one check of a cached flag each.

use tracing::Span;

use crate::model::ids::RunId;
use crate::model::outcome::RunOutcome;

/// The span of one execution of run `run_id`.
pub(crate) fn run_span(workflow: &str, run_id: RunId, execution: i64) -> Span {
    tracing::info_span!(
        target: "durable",
        "durable.run",
        workflow,
        run_id = %run_id,
        execution,
        outcome = tracing::field::Empty,
    )
}

/// The span of one attempt of the body of step `step`, of kind `kind`.
pub(crate) fn step_span(step: &str, kind: &str, attempt: u32) -> Span {
    tracing::info_span!(
        target: "durable",
        "durable.step",
        step,
        kind,
        attempt,
        outcome = tracing::field::Empty,
    )
}

/// The `outcome` field of a run span for a run that ended so.
pub(crate) fn run_outcome_name(outcome: &RunOutcome) -> &'static str {
    match outcome {
        RunOutcome::Completed(_) => "completed",
        RunOutcome::Failed(_) => "failed",
        RunOutcome::Cancelled(_) => "cancelled",
        RunOutcome::TimedOut => "timed_out",
    }
}

/// An execution starts by replaying `replayed_steps` recorded steps.
pub(crate) fn resumed(replayed_steps: usize) {
    tracing::info!(name: "durable.resume", target: "durable", replayed_steps, "resuming from the journal");
}

/// The run leaves memory until `ready_at`, if any.
pub(crate) fn suspended(ready_at: Option<i64>) {
    tracing::info!(name: "durable.suspend", target: "durable", ready_at, "suspended");
}

/// Attempt `attempt` of step `step` failed with `error`; the next is due at
/// `retry_at`.
pub(crate) fn retrying(step: &str, attempt: u32, retry_at: i64, error: &str) {
    tracing::info!(name: "durable.retry", target: "durable", step, attempt, retry_at, error, "retrying the step");
}

/// The compensation of step `step` starts.
pub(crate) fn compensating(step: &str) {
    tracing::info!(name: "durable.compensate", target: "durable", step, "compensating the step");
}
