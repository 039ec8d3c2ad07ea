//! JSON from outside, decoded with errors in words, and the containment
//! test that matches events to the filters of waiting steps.

/// Decodes a JSON value from outside (an input, an event's data) into `T`,
/// or says what is wrong in words: the path of the field that does not fit
/// (`address.zip: invalid type: ..`), and "expected a JSON object" where
/// serde would say `invalid length 0, expected struct Order with 5
/// elements` (serde reads a struct from an array too, by position). Long
/// texts from the value are cut.
pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().clone();
        let mut message = error.into_inner().to_string();
        let struct_name = message
            .strip_prefix("invalid length ")
            .and_then(|rest| rest.split_once(", expected struct "))
            .and_then(|(_, rest)| rest.split(' ').next());
        if let Some(name) = struct_name
            && value_at(value, &path).is_some_and(serde_json::Value::is_array)
        {
            message =
                format!("expected a JSON object with the fields of struct {name}, found an array");
        }
        let message = crate::model::error::clip_to(&message, 300);
        let path = path.to_string();
        if path == "." {
            message
        } else {
            format!("{}: {message}", crate::model::error::clip(&path))
        }
    })
}

/// The part of `value` that `path` (from serde_path_to_error) names.
fn value_at<'a>(
    value: &'a serde_json::Value,
    path: &serde_path_to_error::Path,
) -> Option<&'a serde_json::Value> {
    use serde_path_to_error::Segment;
    path.iter().try_fold(value, |value, segment| match segment {
        Segment::Seq { index } => value.get(index),
        Segment::Map { key } => value.get(key),
        Segment::Enum { .. } | Segment::Unknown => None,
    })
}

/// Whether `data` contains `pattern`, as PostgreSQL's `@>` on `jsonb`:
/// an object contains every key of the pattern with a contained value, an
/// array contains each element of the pattern somewhere, and scalars must be
/// equal. This is how `wait_for_event(..).matching(..)` matches events.
///
/// ```
/// use durable::store::json_contains;
/// use serde_json::json;
/// let data = json!({ "orderId": "o-1", "tags": ["a", "b"], "total": 5 });
/// assert!(json_contains(&data, &json!({ "orderId": "o-1" })));
/// assert!(json_contains(&data, &json!({ "tags": ["b"] })));
/// assert!(!json_contains(&data, &json!({ "orderId": "o-2" })));
/// assert!(!json_contains(&data, &json!({ "missing": null })));
/// ```
pub fn json_contains(data: &serde_json::Value, pattern: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (data, pattern) {
        (Value::Object(data), Value::Object(pattern)) => pattern.iter().all(|(key, wanted)| {
            data.get(key)
                .is_some_and(|value| json_contains(value, wanted))
        }),
        (Value::Array(data), Value::Array(pattern)) => pattern
            .iter()
            .all(|wanted| data.iter().any(|value| json_contains(value, wanted))),
        // As in PostgreSQL, an array contains a scalar it has as an element.
        (Value::Array(data), scalar) if !scalar.is_object() => {
            data.iter().any(|value| value == scalar)
        }
        (data, pattern) => data == pattern,
    }
}
