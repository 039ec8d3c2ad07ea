//! The options a run is triggered with.

use crate::model::duration::{IntoDuration, millis};
use crate::model::error::Error;

/// Options for [`Engine::trigger_with`](crate::Engine::trigger_with) and the generated `trigger_with`.
///
/// ```
/// use durable::TriggerOptions;
/// let options = TriggerOptions::new().idempotency_key("order-42").delay("10m").unwrap();
/// ```
#[derive(Debug, Clone, Default)]
pub struct TriggerOptions {
    pub(crate) idempotency_key: Option<String>,
    pub(crate) delay_ms: i64,
    pub(crate) start_at_ms: Option<i64>,
    pub(crate) priority: i32,
}

impl TriggerOptions {
    /// No key, start now.
    pub fn new() -> Self {
        TriggerOptions::default()
    }

    /// A key that makes the trigger idempotent: a second trigger of the same
    /// workflow with the same key and the same input returns the first run;
    /// with a different input it is rejected with
    /// [`Error::IdempotencyConflict`]. Inputs are compared as JSON values
    /// (key order and spacing do not matter), on both backends.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Starts the run after `delay`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidDuration`] for a string outside the grammar.
    pub fn delay(mut self, delay: impl IntoDuration) -> Result<Self, Error> {
        self.delay_ms = millis(delay.into_duration()?);
        Ok(self)
    }

    /// The run's priority, 0 by default: among the runs that are due, a
    /// worker claims those of higher priority first, and those of equal
    /// priority in the order they were triggered. Any `i32` is allowed
    /// (negative ones go after the default); it orders only runs waiting
    /// for a worker, never pre-empts a running one, and a run a free slot
    /// starts as it is triggered waits for no other. A run keeps it when it
    /// resumes after a sleep or a wait; the runs it starts as children, and
    /// those cron and events start, have 0.
    ///
    /// ```
    /// use durable::TriggerOptions;
    /// let urgent = TriggerOptions::new().priority(10);
    /// ```
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Starts the run at `at` (a time in the past starts it at once).
    pub fn start_at(mut self, at: std::time::SystemTime) -> Self {
        let ms = at
            .duration_since(std::time::UNIX_EPOCH)
            .map(millis)
            .unwrap_or(0);
        self.start_at_ms = Some(ms);
        self
    }
}
