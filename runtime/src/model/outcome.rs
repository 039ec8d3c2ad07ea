//! How a run ended.

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RunOutcome {
    /// Completed with this output (JSON text).
    Completed(String),
    /// Failed with this error.
    Failed(String),
    /// Passed its deadline.
    TimedOut,
    /// Ended by the workflow without failing (`Ctx::abort`), with a reason.
    Cancelled(String),
}
