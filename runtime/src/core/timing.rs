//! Timing decisions: when a run is due to be claimed again, and when it
//! times out. Pure functions of times in milliseconds since the epoch.

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

#[cfg(test)]
mod tests {
    use super::*;

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
