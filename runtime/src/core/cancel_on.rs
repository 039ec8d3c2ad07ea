//! Cancelled by an event (`#[workflow(cancel_on(..))]`): what a run of such
//! a workflow registers at its trigger, and the value an event is looked up
//! by.

use crate::core::concurrency::value_at;
use crate::model::workflow::CancelOn;

/// The path of a `cancel_on` without `match`, and the value its runs are
/// registered under: every event of the name cancels them.
pub(crate) const ANY_RUN: &str = "";

/// What cancels one run: an event named `event` whose data holds `value`
/// at `path` (`wf_cancel_on`'s row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CancelKey {
    /// The event's name.
    pub(crate) event: String,
    /// The path compared, or [`ANY_RUN`].
    pub(crate) path: String,
    /// The compact JSON of the run input's value at `path`, or [`ANY_RUN`].
    pub(crate) value: String,
}

/// The keys a run of a workflow with `cancel_on` registers, from its input
/// as stored (JSON text); none for a workflow without it.
pub(crate) fn cancel_keys(cancel_on: &[CancelOn], input: &str) -> Vec<CancelKey> {
    cancel_keys_of(cancel_on.iter().map(|on| (on.event, on.matching)), input)
}

/// The keys of [`cancel_keys`], each `cancel_on` given as its event's name
/// and its `match` path: declared by the macro, or recorded in the catalog
/// for a workflow registered elsewhere.
pub(crate) fn cancel_keys_of<'a>(
    cancel_on: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    input: &str,
) -> Vec<CancelKey> {
    cancel_on
        .into_iter()
        .map(|(event, matching)| {
            let path = matching.unwrap_or(ANY_RUN);
            CancelKey {
                event: event.to_owned(),
                path: path.to_owned(),
                value: event_value(path, input),
            }
        })
        .collect()
}

/// The value an event with `data` (JSON text) is looked up by for a
/// registered `path`: the same as [`cancel_keys`] takes from an input.
pub(crate) fn event_value(path: &str, data: &str) -> String {
    if path == ANY_RUN {
        ANY_RUN.to_owned()
    } else {
        value_at(path, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_registers_each_event_with_its_inputs_value() {
        let cancel_on = [
            CancelOn {
                event: "order.cancelled",
                matching: Some("order.id"),
            },
            CancelOn {
                event: "shop.closed",
                matching: None,
            },
        ];
        let keys = cancel_keys(&cancel_on, r#"{"order": {"id": 7}}"#);
        assert_eq!(
            keys,
            [
                CancelKey {
                    event: "order.cancelled".into(),
                    path: "order.id".into(),
                    value: "7".into(),
                },
                CancelKey {
                    event: "shop.closed".into(),
                    path: ANY_RUN.into(),
                    value: ANY_RUN.into(),
                },
            ]
        );
        assert!(cancel_keys(&[], "{}").is_empty());
    }

    #[test]
    fn an_event_is_looked_up_by_the_json_value_at_the_path() {
        assert_eq!(event_value("order.id", r#"{"order": {"id": 7}}"#), "7");
        // A string and a number are two values.
        assert_eq!(event_value("id", r#"{"id": "7"}"#), r#""7""#);
        assert_eq!(event_value("id", r#"{"other": 1}"#), "null");
        assert_eq!(event_value(ANY_RUN, r#"{"id": 1}"#), ANY_RUN);
    }
}
