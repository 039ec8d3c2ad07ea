//! Debounce and throttle: when a triggered run starts, decided at trigger
//! time from the timestamps its store read under the key's lock, so that a
//! claim never has to ask.

/// When a debounced run starts. `now` is the trigger's time, `not_before`
/// the start the trigger itself asked for (its delay or start time; `now`
/// without one), and `joined` the key's run not started yet, if there is
/// one: its first trigger's time and its start as stored.
///
/// A new run starts `period` after its trigger. A trigger that joins a run
/// moves its start to `period` after itself, but never past `max_wait`
/// after the first trigger, and never earlier than it was; a run already
/// due (its claim has not come yet) stays due, taking the new input with
/// it. An explicit start later than the computed one wins.
///
/// ```text
/// period 5s, max_wait 12s, triggers at 0s, 4s, 8s, 11s
///   start 5s -> 9s -> 12s (bounded by max_wait) -> 12s
/// ```
pub(crate) fn debounce_start(
    now: i64,
    not_before: i64,
    period_ms: u64,
    max_wait_ms: Option<u64>,
    joined: Option<(i64, i64)>,
) -> i64 {
    let after_period = now.saturating_add(ms(period_ms));
    let computed = match joined {
        None => after_period,
        Some((_, start)) if start <= now => start,
        Some((first, start)) => {
            let bound = max_wait_ms.map_or(i64::MAX, |wait| first.saturating_add(ms(wait)));
            after_period.min(bound).max(start)
        }
    };
    computed.max(not_before)
}

/// When a throttled run starts: at `now` (or the start the trigger asked
/// for, `not_before`), unless `limit` runs of its key are already scheduled
/// within `period` before it; then `period` after the `limit`-th latest of
/// them, `nth_latest` (the store reads it by an index on the scheduled
/// starts), so that no window of `period` holds more than `limit` starts.
///
/// ```text
/// limit 2, period 1s, six triggers at 0s
///   starts 0s, 0s, 1s, 1s, 2s, 2s
/// ```
pub(crate) fn throttle_start(
    now: i64,
    not_before: i64,
    period_ms: u64,
    nth_latest: Option<i64>,
) -> i64 {
    let turn = nth_latest.map_or(i64::MIN, |start| start.saturating_add(ms(period_ms)));
    now.max(turn).max(not_before)
}

/// A run's deadline when its start moves from `from` to `to`: the same
/// time after its start (see `timing::deadline`).
pub(crate) fn moved_deadline(deadline_at: Option<i64>, from: i64, to: i64) -> Option<i64> {
    deadline_at.map(|deadline| deadline.saturating_add(to.saturating_sub(from)))
}

fn ms(duration_ms: u64) -> i64 {
    i64::try_from(duration_ms).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_debounced_run_starts_a_period_after_its_trigger() {
        assert_eq!(debounce_start(1_000, 1_000, 5_000, None, None), 6_000);
        // An explicit later start wins; an earlier one does not.
        assert_eq!(debounce_start(1_000, 9_000, 5_000, None, None), 9_000);
        assert_eq!(debounce_start(1_000, 500, 5_000, None, None), 6_000);
    }

    #[test]
    fn each_trigger_moves_the_start_until_max_wait() {
        let (period, wait) = (5_000, Some(12_000));
        let mut start = debounce_start(0, 0, period, wait, None);
        assert_eq!(start, 5_000);
        for (now, expected) in [(4_000, 9_000), (8_000, 12_000), (11_000, 12_000)] {
            start = debounce_start(now, now, period, wait, Some((0, start)));
            assert_eq!(start, expected, "trigger at {now}");
        }
        // Without max_wait the stream holds it back for as long as it lasts.
        assert_eq!(
            debounce_start(11_000, 11_000, period, None, Some((0, 12_000))),
            16_000
        );
    }

    #[test]
    fn a_due_run_stays_due_and_a_start_never_moves_earlier() {
        // Due (at 5 s) but not claimed yet: it stays due.
        assert_eq!(
            debounce_start(7_000, 7_000, 5_000, None, Some((0, 5_000))),
            7_000
        );
        // max_wait already passed by a start set later explicitly.
        assert_eq!(
            debounce_start(1_000, 1_000, 5_000, Some(5_000), Some((0, 20_000))),
            20_000
        );
    }

    #[test]
    fn a_throttled_run_waits_for_the_window_of_the_limit_th_latest_start() {
        assert_eq!(throttle_start(100, 100, 1_000, None), 100);
        assert_eq!(throttle_start(100, 100, 1_000, Some(0)), 1_000);
        assert_eq!(throttle_start(5_000, 5_000, 1_000, Some(0)), 5_000);
        assert_eq!(throttle_start(100, 3_000, 1_000, Some(0)), 3_000);
        // limit 2 over six triggers at 0: the starts as the store records them.
        let mut starts: Vec<i64> = Vec::new();
        for _ in 0..6 {
            let mut latest = starts.clone();
            latest.sort_unstable_by(|a, b| b.cmp(a));
            let nth = latest.get(1).copied();
            starts.push(throttle_start(0, 0, 1_000, nth));
        }
        assert_eq!(starts, vec![0, 0, 1_000, 1_000, 2_000, 2_000]);
    }

    #[test]
    fn a_moved_start_moves_the_deadline_with_it() {
        assert_eq!(moved_deadline(Some(1_500), 1_000, 6_000), Some(6_500));
        assert_eq!(moved_deadline(None, 1_000, 6_000), None);
    }
}
