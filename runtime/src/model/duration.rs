//! Durations as steps take them: a string of the shared grammar (`"5m"`),
//! integer milliseconds, or a `std::time::Duration`.

use std::time::Duration;

use crate::model::error::Error;

/// Anything a step accepts as a duration.
///
/// Strings follow the grammar of [`durable_grammar::parse_duration`] (`ms`,
/// `s`, `m`, `h`, `d`, `w`, e.g. `"1h30m"`); the `#[workflow]` macro checks
/// string literals at compile time, and the runtime checks strings built at
/// run time with the same function. Integers are milliseconds.
///
/// The longest duration is [`durable_grammar::MAX_DURATION_MS`]
/// (`i64::MAX` milliseconds): a longer string is refused with an error that
/// says the maximum; a longer `u64` or `Duration` counts as the maximum.
///
/// ```
/// use durable::IntoDuration;
/// use std::time::Duration;
/// assert_eq!("1m30s".into_duration().unwrap(), Duration::from_secs(90));
/// assert_eq!(250u64.into_duration().unwrap(), Duration::from_millis(250));
/// assert!("5 minutes".into_duration().is_err());
/// let too_long = "18446744073709551615ms".into_duration().unwrap_err().to_string();
/// assert!(too_long.contains("the longest duration, 9223372036854775807ms"), "{too_long}");
/// ```
pub trait IntoDuration {
    /// Converts to a `Duration`, or says why the text is not a duration.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidDuration`] for a string outside the grammar.
    fn into_duration(self) -> Result<Duration, Error>;
}

impl IntoDuration for Duration {
    fn into_duration(self) -> Result<Duration, Error> {
        Ok(self)
    }
}

impl IntoDuration for u64 {
    fn into_duration(self) -> Result<Duration, Error> {
        Ok(Duration::from_millis(self))
    }
}

impl IntoDuration for &str {
    fn into_duration(self) -> Result<Duration, Error> {
        Ok(durable_grammar::parse_duration(self)?)
    }
}

impl IntoDuration for String {
    fn into_duration(self) -> Result<Duration, Error> {
        self.as_str().into_duration()
    }
}

impl IntoDuration for &String {
    fn into_duration(self) -> Result<Duration, Error> {
        self.as_str().into_duration()
    }
}

/// A duration in whole milliseconds, saturating at `i64::MAX`, for adding to
/// millisecond timestamps.
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
