//! Wait keys: how an event finds the few waiters whose filters it may match
//! without reading every waiter of its name.
//!
//! A filter matches an event when the event's data contains it (see
//! [`json_contains`](crate::core::json::json_contains)): every scalar the
//! filter holds at a path of object keys is at the same path of the event,
//! as that scalar or as an element of an array there. So a waiter stores one
//! such `(path, scalar)` pair of its filter as its key (indexed with the
//! event name), and an event looks up the keys of every `(path, scalar)` it
//! holds: the waiters found are the only ones whose filters can match, and
//! the backend checks each one's whole filter. A filter with no scalar
//! reached through objects alone (`{}`, `{"tags": ["a"]}`, not an object)
//! has no key; such waiters, and those written before keys existed, are
//! read by name and checked one by one as before.

use serde_json::Value;

/// The longest key stored: a longer pair (a long string) is not indexed, so
/// that an index entry stays well under PostgreSQL's limit for a B-tree row.
const MAX_KEY_LEN: usize = 512;

/// The key a waiter with this filter (JSON text) is found by, if any: its
/// first `(path, scalar)` pair that fits [`MAX_KEY_LEN`].
pub(crate) fn filter_key(filter: Option<&str>) -> Option<String> {
    let filter: Value = serde_json::from_str(filter?).ok()?;
    let mut found = None;
    visit(&filter, &mut Vec::new(), false, &mut |key| {
        if found.is_none() {
            found = Some(key);
        }
    });
    found
}

/// The keys of every waiter an event with this data (JSON text) may match,
/// without repeats.
pub(crate) fn event_keys(data: &str) -> Vec<String> {
    let Ok(data) = serde_json::from_str::<Value>(data) else {
        return Vec::new();
    };
    let mut keys = Vec::new();
    visit(&data, &mut Vec::new(), true, &mut |key| {
        if !keys.contains(&key) {
            keys.push(key);
        }
    });
    keys
}

/// Calls `found` with the key of each `(path, scalar)` pair in `value`,
/// which sits at `path`, depth first. Objects are descended; with
/// `arrays_hold`, so are the direct scalar elements of an array (an event's
/// array holds the scalar a filter names there); a scalar at the top is no
/// pair (a filter is an object).
fn visit(value: &Value, path: &mut Vec<String>, arrays_hold: bool, found: &mut impl FnMut(String)) {
    match value {
        Value::Object(map) => {
            for (name, inner) in map {
                path.push(name.clone());
                visit(inner, path, arrays_hold, found);
                path.pop();
            }
        }
        Value::Array(items) if arrays_hold && !path.is_empty() => {
            for item in items.iter().filter(|item| is_scalar(item)) {
                emit(path, item, found);
            }
        }
        Value::Array(_) => {}
        scalar if !path.is_empty() => emit(path, scalar, found),
        _ => {}
    }
}

fn is_scalar(value: &Value) -> bool {
    !matches!(value, Value::Object(_) | Value::Array(_))
}

/// Calls `found` with the key of the scalar at `path`, unless too long.
fn emit(path: &[String], scalar: &Value, found: &mut impl FnMut(String)) {
    let key = serde_json::json!([path, canonical(scalar)]).to_string();
    if key.len() <= MAX_KEY_LEN {
        found(key);
    }
}

/// A scalar as its key holds it: a number as the nearest `f64` (0 for -0),
/// so numbers PostgreSQL's jsonb holds equal (`5`, `5.0`, `5e0`) share a key;
/// numbers that differ only beyond an `f64`'s precision share one too, and
/// the whole filter, checked after, tells them apart.
fn canonical(scalar: &Value) -> Value {
    match scalar {
        Value::Number(number) => {
            let float = number.as_f64().unwrap_or(f64::NAN);
            let float = if float == 0.0 { 0.0 } else { float };
            serde_json::Number::from_f64(float).map_or(Value::Null, Value::Number)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::{event_keys, filter_key};
    use crate::core::json::json_contains;

    /// Whether the event's keys include the filter's key (or the filter
    /// has none, so it is read by name).
    fn found(filter: &str, event: &str) -> bool {
        filter_key(Some(filter)).is_none_or(|key| event_keys(event).contains(&key))
    }

    #[test]
    fn every_matching_filter_is_found_by_its_key() {
        let cases = [
            (r#"{"order": 5}"#, r#"{"order": 5, "amount": 3}"#),
            (r#"{"order": 5}"#, r#"{"order": [4, 5]}"#),
            (
                r#"{"a": {"b": "x"}, "c": 1}"#,
                r#"{"c": 1, "a": {"b": "x", "d": 2}}"#,
            ),
            (r#"{"a": {"b": null}}"#, r#"{"a": {"b": null}}"#),
            (r#"{"tags": ["a"]}"#, r#"{"tags": ["a", "b"]}"#),
            ("{}", r#"{"x": 1}"#),
        ];
        for (filter, event) in cases {
            let parsed: serde_json::Value = serde_json::from_str(event).expect("event");
            let wanted: serde_json::Value = serde_json::from_str(filter).expect("filter");
            assert!(
                json_contains(&parsed, &wanted),
                "{filter} should match {event}"
            );
            assert!(found(filter, event), "{filter} not found for {event}");
        }
    }

    /// Numbers PostgreSQL's jsonb holds equal share a key.
    #[test]
    fn equal_numbers_share_a_key() {
        assert!(found(r#"{"order": 5}"#, r#"{"order": 5.0}"#));
        assert!(found(r#"{"order": 5.0}"#, r#"{"order": 5e0}"#));
        assert!(found(r#"{"order": 0}"#, r#"{"order": -0.0}"#));
    }

    #[test]
    fn other_filters_are_not_candidates() {
        assert!(!found(r#"{"order": 5}"#, r#"{"order": 6}"#));
        assert!(!found(r#"{"order": 5}"#, r#"{"other": 5}"#));
        assert!(!found(r#"{"a": {"b": 1}}"#, r#"{"b": 1, "a": 2}"#));
        assert!(!found(r#"{"order": "5"}"#, r#"{"order": 5}"#));
    }

    #[test]
    fn filters_without_a_scalar_have_no_key() {
        for filter in ["{}", r#"{"tags": ["a"]}"#, r#"{"a": {}}"#, "5", "[1]"] {
            assert_eq!(filter_key(Some(filter)), None, "{filter}");
        }
        assert_eq!(filter_key(None), None);
        let long = format!(r#"{{"note": "{}"}}"#, "x".repeat(600));
        assert_eq!(filter_key(Some(&long)), None);
    }
}
