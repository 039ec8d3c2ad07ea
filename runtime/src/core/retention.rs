//! Retention: finished runs (with their steps and logs) and old events are
//! deleted after a period per status, per workflow if set, in bounded
//! batches, by a maintenance task of every engine.
//!
//! | what | default period |
//! |---|---|
//! | completed runs | 7 days after they finished |
//! | failed and timed-out runs | 30 days |
//! | cancelled runs | 7 days |
//! | events and signals | 7 days after they were sent |

use std::time::Duration;

use crate::model::duration::IntoDuration;

/// How long finished runs and events are kept.
///
/// ```
/// use durable::Retention;
/// let retention = Retention::default().completed("1d").failed("90d");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    pub(crate) completed: Duration,
    pub(crate) failed: Duration,
    pub(crate) cancelled: Duration,
    pub(crate) events: Duration,
    /// The first invalid period given, reported by `EngineBuilder::start`.
    pub(crate) invalid: Option<String>,
}

impl Default for Retention {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        Retention {
            completed: Duration::from_secs(7 * DAY),
            failed: Duration::from_secs(30 * DAY),
            cancelled: Duration::from_secs(7 * DAY),
            events: Duration::from_secs(7 * DAY),
            invalid: None,
        }
    }
}

impl Retention {
    fn set(mut self, slot: fn(&mut Retention) -> &mut Duration, period: impl IntoDuration) -> Self {
        match period.into_duration() {
            Ok(period) => *slot(&mut self) = period,
            Err(error) => {
                self.invalid.get_or_insert(error.to_string());
            }
        }
        self
    }

    /// Keeps completed runs this long after they finished.
    pub fn completed(self, period: impl IntoDuration) -> Self {
        self.set(|r| &mut r.completed, period)
    }

    /// Keeps failed and timed-out runs this long after they finished.
    pub fn failed(self, period: impl IntoDuration) -> Self {
        self.set(|r| &mut r.failed, period)
    }

    /// Keeps cancelled runs this long after they finished.
    pub fn cancelled(self, period: impl IntoDuration) -> Self {
        self.set(|r| &mut r.cancelled, period)
    }

    /// Keeps events and signals this long after they were sent (engine-wide;
    /// ignored in per-workflow settings).
    pub fn events(self, period: impl IntoDuration) -> Self {
        self.set(|r| &mut r.events, period)
    }

    /// The statuses of finished runs and how long each is kept.
    pub(crate) fn periods(&self) -> [(&'static [&'static str], Duration); 3] {
        [
            (&["completed"], self.completed),
            (&["failed", "timed_out"], self.failed),
            (&["cancelled"], self.cancelled),
        ]
    }
}
