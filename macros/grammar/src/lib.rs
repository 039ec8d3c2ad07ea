//! The small grammars that `durable` checks twice: once at compile time in the
//! `#[workflow]` macro and once at run time, so both agree by construction
//! (durations, [`cron`] expressions, [`event_pattern`]s, [`queue`] names); and the kinds of
//! step ([`StepKind`]), which both name.
//!
//! Today this is the duration grammar: one or more `<integer><unit>` parts,
//! written without spaces, largest unit first, each unit at most once:
//!
//! | unit | meaning      |
//! |------|--------------|
//! | `ms` | milliseconds |
//! | `s`  | seconds      |
//! | `m`  | minutes      |
//! | `h`  | hours        |
//! | `d`  | days (24 h)  |
//! | `w`  | weeks (7 d)  |
//!
//! ```
//! use std::time::Duration;
//! assert_eq!(durable_grammar::parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
//! assert!(durable_grammar::parse_duration("5 minutes").is_err());
//! ```

pub mod cron;
pub mod event_pattern;
pub mod queue;
mod step_kind;

pub use step_kind::StepKind;

use std::fmt;
use std::time::Duration;

/// The units of the duration grammar, largest first, with their length in
/// milliseconds.
const UNITS: [(&str, u64); 6] = [
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Why a duration string was rejected. `Display` says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError {
    /// The rejected text.
    pub input: String,
    /// What is wrong with it, in words.
    pub reason: String,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid duration {}: {}; write a number followed by a unit \
             (ms, s, m, h, d or w), e.g. \"500ms\", \"30s\", \"5m\", \"1h30m\", \"7d\"",
            quoted_clip(&self.input),
            self.reason
        )
    }
}

/// The longest duration the grammar accepts, in milliseconds: `i64::MAX`, so
/// that every accepted duration can be added to a millisecond timestamp.
pub const MAX_DURATION_MS: u64 = i64::MAX as u64;

/// How many characters of a rejected text an error message echoes: a
/// duration string can come from outside (a request), and a message that
/// repeats a megabyte of it hides what is wrong.
const ECHO_CHARS: usize = 100;

/// `text` quoted as `{:?}` does, cut to its first [`ECHO_CHARS`] characters
/// with its length in bytes after it when longer.
fn quoted_clip(text: &str) -> String {
    match text.char_indices().nth(ECHO_CHARS) {
        Some((end, _)) => format!("{:?}… ({} bytes)", &text[..end], text.len()),
        None => format!("{text:?}"),
    }
}

/// The reason for a duration over [`MAX_DURATION_MS`].
fn too_long() -> String {
    format!(
        "it is longer than the longest duration, {MAX_DURATION_MS}ms (i64::MAX milliseconds, \
         about 292 million years; \"15250284452w\" is the most whole weeks)"
    )
}

impl std::error::Error for DurationError {}

/// Parses a duration such as `"30s"`, `"5m"`, `"1h30m"` or `"7d"`.
///
/// The grammar is documented at the crate root. Durations longer than
/// `i64::MAX` milliseconds are rejected, so every accepted value can be added
/// to a millisecond timestamp.
///
/// # Errors
///
/// Returns a [`DurationError`] that names what is wrong: an empty string, a
/// missing number or unit, an unknown unit, units out of order or repeated, or
/// an overflowing value.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let fail = |reason: String| DurationError {
        input: input.to_owned(),
        reason,
    };
    if input.is_empty() {
        return Err(fail("it is empty".into()));
    }
    let mut rest = input;
    let mut total: u64 = 0;
    // Index into UNITS of the last unit seen; the next must be smaller.
    let mut last_unit: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(fail(format!("expected a number at {}", quoted_clip(rest))));
        }
        let (number, after) = rest.split_at(digits);
        let value: u64 = number.parse().map_err(|_| fail(too_long()))?;
        let unit_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        if unit_len == 0 {
            return Err(fail(format!("the number {number} has no unit")));
        }
        let (unit, after) = after.split_at(unit_len);
        let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(fail(format!("unknown unit {}", quoted_clip(unit))));
        };
        if let Some(last) = last_unit
            && index <= last
        {
            return Err(fail(format!(
                "unit {unit:?} must come before {:?} and appear once",
                UNITS[last].0
            )));
        }
        last_unit = Some(index);
        total = value
            .checked_mul(UNITS[index].1)
            .and_then(|ms| total.checked_add(ms))
            .filter(|ms| *ms <= MAX_DURATION_MS)
            .ok_or_else(|| fail(too_long()))?;
        rest = after;
    }
    Ok(Duration::from_millis(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one table of duration cases; the runtime and the macro call the
    /// same function, so this table covers both.
    const CASES: &[(&str, Option<u64>)] = &[
        ("0s", Some(0)),
        ("1ms", Some(1)),
        ("500ms", Some(500)),
        ("30s", Some(30_000)),
        ("5m", Some(300_000)),
        ("24h", Some(86_400_000)),
        ("7d", Some(604_800_000)),
        ("2w", Some(1_209_600_000)),
        ("1h30m", Some(5_400_000)),
        ("1d2h3m4s5ms", Some(93_784_005)),
        ("1m30s", Some(90_000)),
        ("", None),
        ("5", None),
        ("m", None),
        ("5 m", None),
        (" 5m", None),
        ("5min", None),
        ("5M", None),
        ("1.5h", None),
        ("-5s", None),
        ("30m1h", None),
        ("1s1s", None),
        ("5y", None),
        ("99999999999999999999s", None),
        ("9223372036854775808ms", None),
        ("9223372036854775807ms", Some(9_223_372_036_854_775_807)),
        ("15250284452w", Some(9_223_372_036_569_600_000)),
        ("15250284453w", None),
    ];

    #[test]
    fn duration_table() {
        for (input, expected) in CASES {
            let got = parse_duration(input).ok().map(|d| d.as_millis() as u64);
            assert_eq!(got, *expected, "parse_duration({input:?})");
        }
    }

    /// Writes `ms` in the grammar, largest unit first, skipping zero parts.
    fn format_duration(mut ms: u64) -> String {
        if ms == 0 {
            return "0s".into();
        }
        let mut text = String::new();
        for (name, length) in UNITS {
            if ms >= length {
                text.push_str(&format!("{}{name}", ms / length));
                ms %= length;
            }
        }
        text
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        #[test]
        fn formatted_durations_parse_back(ms in 0..=i64::MAX as u64) {
            let text = format_duration(ms);
            proptest::prop_assert_eq!(parse_duration(&text), Ok(Duration::from_millis(ms)), "{}", text);
        }

        /// Any subset of the units, largest first, each with any number:
        /// accepted exactly when the sum fits in `i64` milliseconds.
        #[test]
        fn well_formed_durations_sum_their_parts(
            parts in proptest::collection::vec(proptest::option::of(0u64..=u64::MAX), UNITS.len())
        ) {
            let mut text = String::new();
            let mut total: Option<u64> = Some(0);
            for ((name, length), value) in UNITS.iter().zip(&parts) {
                if let Some(value) = value {
                    text.push_str(&format!("{value}{name}"));
                    total = total
                        .and_then(|t| value.checked_mul(*length).and_then(|ms| t.checked_add(ms)))
                        .filter(|ms| i64::try_from(*ms).is_ok());
                }
            }
            proptest::prop_assume!(!text.is_empty());
            let got = parse_duration(&text).ok().map(|d| d.as_millis() as u64);
            proptest::prop_assert_eq!(got, total, "{}", text);
        }

        #[test]
        fn no_string_panics_the_parser(text in "\\PC{0,24}") {
            let _ = parse_duration(&text);
        }

        /// Strings of the grammar's own characters reach deeper than
        /// arbitrary text; whatever is accepted formats back to itself.
        #[test]
        fn near_misses_are_rejected_or_canonical(text in "[0-9smhdw]{0,16}") {
            if let Ok(duration) = parse_duration(&text) {
                let ms = duration.as_millis() as u64;
                proptest::prop_assert_eq!(parse_duration(&format_duration(ms)), Ok(duration));
            }
        }
    }

    #[test]
    fn errors_say_what_to_write() {
        let err = parse_duration("5min").unwrap_err().to_string();
        assert!(err.contains("unknown unit \"min\""), "{err}");
        assert!(err.contains("e.g. \"500ms\""), "{err}");
    }

    #[test]
    fn a_duration_over_the_maximum_says_the_maximum() {
        for input in [
            "18446744073709551615ms",
            "99999999999999999999s",
            "15250284453w",
        ] {
            let err = parse_duration(input).unwrap_err().to_string();
            assert!(
                err.contains("longest duration, 9223372036854775807ms"),
                "{input}: {err}"
            );
        }
    }

    #[test]
    fn a_long_rejected_text_is_echoed_cut_with_its_length() {
        let long = "x".repeat(1 << 20);
        let err = parse_duration(&long).unwrap_err().to_string();
        assert!(err.len() < 600, "{} bytes", err.len());
        assert!(err.contains("… (1048576 bytes)"), "{err}");
        let unit = format!("5{}", "q".repeat(1000));
        let err = parse_duration(&unit).unwrap_err().to_string();
        assert!(err.len() < 600 && err.contains("unknown unit"), "{err}");
    }
}
