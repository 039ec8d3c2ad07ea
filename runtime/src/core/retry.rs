//! Retry policies for steps: how many attempts, and how long between them.

use std::time::Duration;

use crate::model::duration::IntoDuration;
use crate::model::error::Error;

/// How a step retries a failed attempt. Finite by default: a step without a
/// policy uses [`Retry::default`], 3 attempts with exponential back-off from
/// 1 s.
///
/// Back-off delays get full jitter within ±`jitter` of their value (default
/// 20%), so many runs failing together do not retry in lock-step: a
/// `Retry::fixed(3, "2s")` waits between 1.6 s and 2.4 s. Use
/// [`jitter(0.0)`](Retry::jitter) for exact delays.
///
/// Any duration is accepted, `Duration::MAX` included: a delay too long to
/// represent is cut to the longest one that is (a retry that waits that long
/// never comes, which is what such a policy asks for).
///
/// ```
/// use durable::Retry;
/// use std::time::Duration;
/// let policy = Retry::exponential(5, "200ms").max_delay("10s").jitter(0.0);
/// assert_eq!(policy.max_attempts(), 5);
/// assert_eq!(policy.delay_after(1), Duration::from_millis(200));
/// assert_eq!(policy.delay_after(3), Duration::from_millis(800));
/// assert_eq!(Retry::none().max_attempts(), 1);
/// ```
///
/// A duration string outside the grammar is reported when the step runs, as
/// [`Error::InvalidDuration`]; the `#[workflow]` macro already rejects
/// literals outside it at compile time.
#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    invalid: Option<durable_grammar::DurationError>,
    max_attempts: u32,
    initial: Duration,
    factor: f64,
    max_delay: Duration,
    jitter: f64,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            invalid: None,
            max_attempts: 3,
            initial: Duration::from_secs(1),
            factor: 2.0,
            max_delay: Duration::from_secs(60),
            jitter: 0.2,
        }
    }
}

impl Retry {
    /// One attempt, no retry.
    pub fn none() -> Self {
        Retry {
            max_attempts: 1,
            ..Retry::default()
        }
    }

    /// Up to `max_attempts` attempts in all (0 counts as 1), `delay` apart,
    /// with the default jitter of ±20% (`.jitter(0.0)` for exactly `delay`).
    ///
    /// ```
    /// use durable::Retry;
    /// use std::time::Duration;
    /// let exact = Retry::fixed(3, "2s").jitter(0.0);
    /// assert_eq!(exact.delay_after(2), Duration::from_secs(2));
    /// ```
    pub fn fixed(max_attempts: u32, delay: impl IntoDuration) -> Self {
        let mut policy = Retry {
            max_attempts: max_attempts.max(1),
            factor: 1.0,
            ..Retry::default()
        };
        let delay = policy.duration(delay);
        policy.initial = delay;
        policy.max_delay = delay;
        policy
    }

    /// Up to `max_attempts` attempts in all (0 counts as 1); the first retry
    /// waits `initial`, and each later one twice as long as the one before,
    /// up to 60 s (see [`max_delay`](Retry::max_delay)), each with the
    /// default jitter of ±20% (see [`jitter`](Retry::jitter)).
    pub fn exponential(max_attempts: u32, initial: impl IntoDuration) -> Self {
        let mut policy = Retry {
            max_attempts: max_attempts.max(1),
            ..Retry::default()
        };
        policy.initial = policy.duration(initial);
        policy
    }

    /// Caps each back-off delay.
    pub fn max_delay(mut self, max: impl IntoDuration) -> Self {
        self.max_delay = self.duration(max);
        self
    }

    /// Converts a duration, remembering the first invalid one for
    /// [`validate`](Retry::validate).
    fn duration(&mut self, duration: impl IntoDuration) -> Duration {
        match duration.into_duration() {
            Ok(duration) => duration,
            Err(Error::InvalidDuration(invalid)) => {
                self.invalid.get_or_insert(invalid);
                Duration::ZERO
            }
            Err(_) => Duration::ZERO,
        }
    }

    /// Checks the durations the policy was built with.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidDuration`] for the first string outside the grammar.
    ///
    /// ```
    /// assert!(durable::Retry::fixed(3, "1 second").validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        match &self.invalid {
            Some(invalid) => Err(Error::InvalidDuration(invalid.clone())),
            None => Ok(()),
        }
    }

    /// Sets the jitter as a fraction of each delay (0.0 to 1.0; outside
    /// values are clamped to it, NaN counts as 0.0). `0.0` waits exactly
    /// [`delay_after`](Retry::delay_after).
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        self
    }

    /// The number of attempts in all, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The back-off after failed attempt number `attempt` (1-based), before
    /// jitter.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(64) as i32;
        let scaled = self.initial.as_secs_f64() * self.factor.powi(exponent);
        // The cap as an `f64` may round up: past it by a nanosecond, or,
        // near `Duration::MAX`, past what a `Duration` holds.
        Duration::try_from_secs_f64(scaled.min(self.max_delay.as_secs_f64()))
            .map_or(self.max_delay, |delay| delay.min(self.max_delay))
    }

    /// The back-off after failed attempt number `attempt`, with jitter.
    pub(crate) fn jittered_delay_after(&self, attempt: u32) -> Duration {
        let base = self.delay_after(attempt).as_secs_f64();
        let spread = base * self.jitter;
        let jittered = base - spread + 2.0 * spread * fastrand::f64();
        saturating_secs(jittered)
    }
}

/// Seconds as a `Duration`, cut to `Duration::MAX` above it (which
/// `Duration::from_secs_f64` panics on: `Duration::MAX` itself does not
/// survive the round trip through `f64`), and to zero below zero.
fn saturating_secs(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_doubles_up_to_the_cap() {
        let policy = Retry::exponential(10, "1s").max_delay("5s");
        let delays: Vec<u64> = (1..=5).map(|a| policy.delay_after(a).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 5, 5]);
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let policy = Retry::fixed(3, "1s").jitter(0.5);
        for _ in 0..1000 {
            let ms = policy.jittered_delay_after(1).as_millis();
            assert!((500..=1500).contains(&ms), "{ms}");
        }
    }

    #[test]
    fn huge_delays_saturate_instead_of_panicking() {
        let policies = [
            Retry::fixed(2, Duration::MAX),
            Retry::fixed(u32::MAX, Duration::MAX).jitter(1.0),
            Retry::exponential(u32::MAX, Duration::MAX).max_delay(Duration::MAX),
            Retry::exponential(100, "1w").max_delay(Duration::MAX),
        ];
        for policy in policies {
            for attempt in [0, 1, 2, 63, 64, 65, u32::MAX] {
                assert!(policy.jittered_delay_after(attempt) >= Duration::from_secs(604_800 / 2));
            }
        }
        assert_eq!(Retry::fixed(2, Duration::MAX).delay_after(1), Duration::MAX);
        let doubling = Retry::exponential(100, "1w").max_delay(Duration::MAX);
        assert_eq!(doubling.delay_after(u32::MAX), Duration::MAX);
    }

    #[test]
    fn zero_delays_and_jitter_extremes_stay_in_range() {
        let policy = Retry::exponential(u32::MAX, Duration::ZERO).jitter(f64::NAN);
        assert_eq!(policy.jittered_delay_after(u32::MAX), Duration::ZERO);
        let policy = Retry::fixed(3, "1s").jitter(f64::INFINITY);
        assert!(policy.jittered_delay_after(1) <= Duration::from_secs(2));
        let policy = Retry::fixed(3, "1s").jitter(-1.0);
        assert_eq!(policy.jittered_delay_after(1), Duration::from_secs(1));
        assert_eq!(
            Retry::fixed(3, "1s").jitter(f64::NAN),
            Retry::fixed(3, "1s").jitter(0.0)
        );
    }

    #[test]
    fn an_uncapped_policy_does_not_panic_on_late_attempts() {
        // Found by the property test below: `from_secs_f64` panicked once
        // the delay passed what a `Duration` holds.
        let policy = Retry::exponential(100, "1s").max_delay(Duration::MAX);
        assert_eq!(policy.delay_after(100), Duration::MAX);
        assert!(policy.jittered_delay_after(100) >= Duration::from_secs(1 << 62));
    }

    #[test]
    fn zero_attempts_still_runs_once() {
        assert_eq!(Retry::fixed(0, 10u64).max_attempts(), 1);
    }

    proptest::proptest! {
        /// Back-off delays grow with the attempt, never beyond the cap; the
        /// jittered delay stays within its fraction of the delay; for any
        /// durations and attempt numbers, without panicking.
        #[test]
        fn delays_grow_up_to_the_cap_and_jitter_stays_within_bounds(
            initial_ms in proptest::prop_oneof![0u64..10_000, proptest::prelude::any::<u64>()],
            cap_ms in proptest::prop_oneof![0u64..100_000, proptest::prelude::any::<u64>()],
            huge_cap in proptest::prelude::any::<bool>(),
            jitter in 0.0f64..=1.0,
            attempt in 1u32..=u32::MAX,
        ) {
            let cap = if huge_cap { Duration::MAX } else { Duration::from_millis(cap_ms) };
            let policy = Retry::exponential(10, initial_ms).max_delay(cap).jitter(jitter);
            let delay = policy.delay_after(attempt);
            proptest::prop_assert!(delay <= cap);
            if attempt > 1 {
                proptest::prop_assert!(policy.delay_after(attempt - 1) <= delay);
            }
            let jittered = policy.jittered_delay_after(attempt).as_secs_f64();
            let base = delay.as_secs_f64();
            // A relative tolerance for the float arithmetic.
            let slack = base * 1e-9 + 1e-9;
            proptest::prop_assert!(jittered >= base * (1.0 - jitter) - slack, "{} < {}", jittered, base);
            proptest::prop_assert!(jittered <= base * (1.0 + jitter) + slack, "{} > {}", jittered, base);
        }
    }
}
