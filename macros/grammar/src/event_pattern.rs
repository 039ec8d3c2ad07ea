//! The grammar of the event patterns a workflow is started by
//! (`#[workflow(on_event = "order.*")]`), checked by the macro at compile
//! time and by the engine when it registers a workflow.
//!
//! A pattern is 1 to 200 characters without whitespace: segments separated
//! by `.`, none of them empty. A segment is a literal, which an event
//! name's segment must equal, or `*` alone:
//!
//! - `*` in the middle matches exactly one segment (`order.*.paid` matches
//!   `order.eu.paid`, not `order.paid` nor `order.eu.de.paid`);
//! - `*` as the last segment matches one or more segments, the rest of the
//!   name (`order.*` matches `order.created` and `order.created.eu`, not
//!   `order`); the pattern `*` alone matches every event.
//!
//! A `*` inside a segment (`order*`, `ord*.x`) is refused: a wildcard
//! stands for whole segments.
//!
//! ```
//! use durable_grammar::event_pattern::check_event_pattern;
//! assert!(check_event_pattern("order.*").is_ok());
//! assert!(check_event_pattern("order*").is_err());
//! ```

use std::fmt;

/// The longest pattern, in bytes (as long as a workflow name may be).
pub const MAX_PATTERN_BYTES: usize = 200;

/// Why an event pattern was rejected; `Display` says what to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPatternError {
    /// The rejected pattern.
    pub pattern: String,
    /// What is wrong with it, in words.
    pub reason: &'static str,
    /// Whether an exact event name was wanted ([`check_event_name`]), not a
    /// pattern: the message then suggests a name only.
    pub name_only: bool,
}

impl fmt::Display for EventPatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name_only {
            return write!(
                f,
                "invalid event name {:?}: {}; write the exact name of the event, e.g. \"order.cancelled\"",
                self.pattern, self.reason
            );
        }
        write!(
            f,
            "invalid event pattern {:?}: {}; write an event name such as \"order.created\", \
             or segments with `*` for a whole segment, e.g. \"order.*\"",
            self.pattern, self.reason
        )
    }
}

impl std::error::Error for EventPatternError {}

/// Checks that `pattern` follows the grammar of the module.
///
/// # Errors
///
/// An [`EventPatternError`] saying what is wrong.
pub fn check_event_pattern(pattern: &str) -> Result<(), EventPatternError> {
    let refuse = |reason| {
        Err(EventPatternError {
            pattern: pattern.to_owned(),
            reason,
            name_only: false,
        })
    };
    if pattern.is_empty() {
        return refuse("it is empty");
    }
    if pattern.len() > MAX_PATTERN_BYTES {
        return refuse("it is longer than 200 bytes");
    }
    if pattern.chars().any(char::is_whitespace) {
        return refuse("it has whitespace");
    }
    for segment in pattern.split('.') {
        if segment.is_empty() {
            return refuse("it has an empty segment (a leading, trailing or doubled `.`)");
        }
        if segment != "*" && segment.contains('*') {
            return refuse("a `*` stands for a whole segment, not part of one");
        }
    }
    Ok(())
}

/// Checks that `name` is an event name: a pattern of the module's grammar
/// without a `*` segment, as `#[workflow(cancel_on(event = ..))]` takes it
/// (an event cancels the runs registered under its exact name, looked up
/// by index, so a wildcard has nothing to match).
///
/// ```
/// use durable_grammar::event_pattern::check_event_name;
/// assert!(check_event_name("order.cancelled").is_ok());
/// assert!(check_event_name("order.*").is_err());
/// ```
///
/// # Errors
///
/// An [`EventPatternError`] saying what is wrong.
pub fn check_event_name(name: &str) -> Result<(), EventPatternError> {
    let as_name = |error: EventPatternError| EventPatternError {
        name_only: true,
        ..error
    };
    check_event_pattern(name).map_err(as_name)?;
    if name.split('.').any(|segment| segment == "*") {
        return Err(EventPatternError {
            pattern: name.to_owned(),
            reason: "a cancelling event is named exactly, without `*`",
            name_only: true,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_and_whole_segment_wildcards() {
        for pattern in ["order.created", "order.*", "*", "*.created", "a.*.c.*", "x"] {
            assert_eq!(check_event_pattern(pattern), Ok(()), "{pattern}");
        }
    }

    #[test]
    fn refuses_empty_spaced_partial_and_empty_segments() {
        for (pattern, reason) in [
            ("", "empty"),
            ("order created", "whitespace"),
            ("order*", "whole segment"),
            ("order.cre*", "whole segment"),
            ("**", "whole segment"),
            ("order.", "empty segment"),
            (".order", "empty segment"),
            ("order..created", "empty segment"),
        ] {
            let error = check_event_pattern(pattern).unwrap_err();
            assert!(error.reason.contains(reason), "{pattern}: {error}");
            assert!(error.to_string().contains("order.*"), "{error}");
        }
        assert!(check_event_pattern(&"a".repeat(201)).is_err());
    }

    #[test]
    fn an_event_name_is_a_pattern_without_wildcards() {
        assert_eq!(check_event_name("order.cancelled"), Ok(()));
        for name in ["order.*", "*", "a.*.c"] {
            let error = check_event_name(name).unwrap_err();
            assert!(error.reason.contains("without `*`"), "{name}: {error}");
            assert!(error.to_string().contains("exact name"), "{error}");
        }
        assert!(check_event_name("order..x").is_err());
    }
}
