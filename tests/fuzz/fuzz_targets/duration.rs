//! Fuzzes the duration grammar: no input panics the parser, and every
//! accepted duration fits a millisecond timestamp and parses back the same
//! from its canonical form.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The grammar's units, largest first, with their length in milliseconds.
const UNITS: [(&str, u128); 6] = [
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

fuzz_target!(|text: &str| {
    let Ok(duration) = durable_grammar::parse_duration(text) else {
        return;
    };
    let mut ms = duration.as_millis();
    assert!(
        ms <= i64::MAX as u128,
        "{text:?} is longer than i64::MAX ms"
    );
    let mut canonical = String::new();
    for (name, length) in UNITS {
        if ms >= length {
            canonical.push_str(&format!("{}{name}", ms / length));
            ms %= length;
        }
    }
    if canonical.is_empty() {
        canonical.push_str("0s");
    }
    assert_eq!(
        durable_grammar::parse_duration(&canonical),
        Ok(duration),
        "{text:?} vs {canonical:?}"
    );
});
