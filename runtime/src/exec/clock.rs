//! Time for the engine: the wall clock in production, a manual clock in tests.
//!
//! Every timestamp the engine writes and every timer it waits on (sleeps,
//! retry back-off, step and workflow timeouts, the dispatcher's wake-ups)
//! comes through one [`Clock`], so a test can move time forward by days in a
//! millisecond with [`ManualClock`].

use std::sync::Arc;
use std::time::Duration;

use crate::model::sync::{BoxFuture, system_now_ms};

/// A source of wall-clock time in milliseconds since the Unix epoch, and
/// timers on it.
///
/// Implementations must never wake a timer early: `sleep_until(t)` returns
/// only once `now_ms() >= t`.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;

    /// Completes once `now_ms() >= deadline_ms`.
    fn sleep_until(&self, deadline_ms: i64) -> BoxFuture<'static, ()>;
}

/// The system's wall clock, with tokio timers.
///
/// ```
/// use durable::{Clock, SystemClock};
/// assert!(SystemClock.now_ms() > 1_600_000_000_000);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        system_now_ms()
    }

    fn sleep_until(&self, deadline_ms: i64) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            // The monotonic timer and the wall clock can disagree (NTP steps,
            // a timer rounding down); check the wall clock and sleep again
            // rather than ever return early.
            loop {
                let left = deadline_ms.saturating_sub(SystemClock.now_ms());
                if left <= 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(left.unsigned_abs())).await;
            }
        })
    }
}

/// A clock that moves only when told to: for tests of sleeps, timeouts and
/// back-off that should not wait in real time.
///
/// ```
/// use durable::{Clock, ManualClock};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let clock = ManualClock::new(1_000);
/// let wake = clock.sleep_until(61_000);
/// clock.advance(std::time::Duration::from_secs(60));
/// wake.await; // returns at once: the clock reached 61 000 ms
/// assert_eq!(clock.now_ms(), 61_000);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<tokio::sync::watch::Sender<i64>>,
}

impl ManualClock {
    /// A clock standing at `start_ms` milliseconds since the epoch.
    pub fn new(start_ms: i64) -> Self {
        ManualClock {
            now: Arc::new(tokio::sync::watch::Sender::new(start_ms)),
        }
    }

    /// Moves the clock forward, waking every timer whose deadline it passes.
    pub fn advance(&self, by: Duration) {
        let by = crate::model::duration::millis(by);
        self.now.send_modify(|now| *now = now.saturating_add(by));
    }

    /// Sets the clock to `now_ms`, if that is later than its current time.
    pub fn set(&self, now_ms: i64) {
        self.now.send_modify(|now| *now = (*now).max(now_ms));
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        *self.now.borrow()
    }

    fn sleep_until(&self, deadline_ms: i64) -> BoxFuture<'static, ()> {
        let mut receiver = self.now.subscribe();
        Box::pin(async move {
            // Err means the clock was dropped: time will never reach the
            // deadline, so wait forever as a real timer would.
            if receiver.wait_for(|now| *now >= deadline_ms).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Under random jumps (by `advance` and `set`, some backwards), a
        /// timer has fired exactly when the clock reached its deadline.
        #[test]
        fn manual_timers_fire_exactly_when_their_deadline_passed(
            deadlines in proptest::collection::vec(0i64..10_000, 1..12),
            jumps in proptest::collection::vec((any::<bool>(), 0i64..3_000), 1..12),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            runtime.block_on(async {
                let clock = ManualClock::new(0);
                let fired: Vec<_> = deadlines
                    .iter()
                    .map(|deadline| {
                        let timer = clock.sleep_until(*deadline);
                        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
                        let set = flag.clone();
                        tokio::spawn(async move {
                            timer.await;
                            set.store(true, std::sync::atomic::Ordering::SeqCst);
                        });
                        flag
                    })
                    .collect();
                for (absolute, by) in jumps {
                    if absolute {
                        clock.set(by * 3);
                    } else {
                        clock.advance(Duration::from_millis(by.unsigned_abs()));
                    }
                    // Let every woken timer task run.
                    for _ in 0..4 {
                        tokio::task::yield_now().await;
                    }
                    let now = clock.now_ms();
                    for (deadline, flag) in deadlines.iter().zip(&fired) {
                        let has_fired = flag.load(std::sync::atomic::Ordering::SeqCst);
                        prop_assert_eq!(has_fired, *deadline <= now, "deadline {} at {}", deadline, now);
                    }
                }
                Ok(())
            })?;
        }
    }
}
