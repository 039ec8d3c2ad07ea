//! How runs, steps and events look in the API's answers: as the engine
//! serializes them, with every value that may be large (inputs, outputs,
//! errors, event data) cut to a preview. The whole value has a route of its
//! own (`.../input`, `.../output`, `.../error`).

use serde::Serialize;
use serde_json::{Value, json};

/// A value as a list or a detail shows it.
///
/// Small: `{"truncated": false, "bytes": 17, "value": <the value>}`. Over
/// `limit` bytes: `{"truncated": true, "bytes": 5000000, "preview": "<the
/// first bytes of its text>"}`, the text being its JSON (for a string, the
/// string itself) cut at a character boundary at or below `limit`. `bytes`
/// is the length of that whole text.
pub(crate) fn preview(value: &Value, limit: usize) -> Value {
    let text = match value {
        Value::String(text) => std::borrow::Cow::Borrowed(text.as_str()),
        other => std::borrow::Cow::Owned(other.to_string()),
    };
    if text.len() <= limit {
        return json!({ "truncated": false, "bytes": text.len(), "value": value });
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    json!({ "truncated": true, "bytes": text.len(), "preview": &text[..end] })
}

/// `item` serialized, with each of `fields` (when present and not null)
/// replaced by its [`preview`].
fn with_previews(item: &impl Serialize, fields: &[&str], limit: usize) -> Value {
    let mut value = serde_json::to_value(item).unwrap_or(Value::Null);
    preview_fields(&mut value, fields, limit);
    value
}

/// Replaces each of `fields` of the object `value` (when present and not
/// null) by its [`preview`].
fn preview_fields(value: &mut Value, fields: &[&str], limit: usize) {
    if let Value::Object(map) = value {
        for field in fields {
            if let Some(slot) = map.get_mut(*field)
                && !slot.is_null()
            {
                *slot = preview(slot, limit);
            }
        }
    }
}

/// A run ([`durable::RunInfo`]) with its input, output and error previewed.
pub(crate) fn run(info: &durable::RunInfo, limit: usize) -> Value {
    with_previews(info, &["input", "output", "error"], limit)
}

/// A step ([`durable::StepInfo`]) with its input, output and error
/// previewed, and the error of each attempt in its `attempt_log`.
pub(crate) fn step(info: &durable::StepInfo, limit: usize) -> Value {
    let mut value = with_previews(info, &["input", "output", "error"], limit);
    if let Some(Value::Array(attempts)) = value.get_mut("attempt_log") {
        for attempt in attempts {
            preview_fields(attempt, &["error"], limit);
        }
    }
    value
}

/// An event ([`durable::EventInfo`]) with its data previewed.
pub(crate) fn event(info: &durable::EventInfo, limit: usize) -> Value {
    with_previews(info, &["data"], limit)
}

/// What sending an event or a signal did: the runs it woke, started and
/// cancelled, and the workflows it matched but could not start.
pub(crate) fn sent(sent: &durable::SentEvent) -> Value {
    json!({
        "id": sent.id,
        "woken": sent.woken,
        "started": sent.started,
        "cancelled": sent.cancelled,
        "trigger_errors": sent.trigger_errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_stay_whole_and_large_ones_are_cut_at_a_character() {
        let small = preview(&json!({"a": 1}), 16);
        assert_eq!(
            small,
            json!({"truncated": false, "bytes": 7, "value": {"a": 1}})
        );
        let large = preview(&json!("ééééé"), 5);
        assert_eq!(
            large,
            json!({"truncated": true, "bytes": 10, "preview": "éé"})
        );
        let object = preview(&json!({"text": "x".repeat(100)}), 10);
        assert_eq!(object["preview"], "{\"text\":\"x");
        assert_eq!(object["bytes"], 111);
    }
}
