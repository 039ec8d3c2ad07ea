//! The payload size limits an engine checks before it writes anything.

/// Size limits, checked before anything is written; a payload over a limit
/// gets [`Error::PayloadTooLarge`](crate::Error::PayloadTooLarge) naming the
/// limit.
///
/// ```
/// let limits = durable::Limits { max_input_bytes: 64 * 1024, ..Default::default() };
/// assert_eq!(limits.max_step_output_bytes, 1024 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest workflow input, as JSON (default 1 MiB).
    pub max_input_bytes: usize,
    /// The largest step output or workflow output, as JSON (default 1 MiB).
    pub max_step_output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_bytes: 1024 * 1024,
            max_step_output_bytes: 1024 * 1024,
        }
    }
}

impl Limits {
    /// Refuses an `input` over [`max_input_bytes`](Limits::max_input_bytes),
    /// named in the error by `what` (such as `input of workflow "x"`);
    /// checked before anything is written.
    pub(crate) fn check_input(
        &self,
        input: &str,
        what: impl FnOnce() -> String,
    ) -> Result<(), crate::model::error::Error> {
        if input.len() > self.max_input_bytes {
            return Err(crate::model::error::Error::PayloadTooLarge {
                what: what(),
                size: input.len(),
                limit: self.max_input_bytes,
                limit_name: "max_input_bytes",
            });
        }
        Ok(())
    }
}
