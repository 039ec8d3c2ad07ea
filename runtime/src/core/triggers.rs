//! Which event triggers (`#[workflow(on_event = ..)]`) an event fires: the
//! pattern's wildcards against the event's name, and the trigger's filter
//! against its data, by the same JSON containment the event waits use.
//!
//! The patterns' grammar is `durable_grammar::event_pattern`: segments
//! separated by `.`; a `*` segment in the middle matches exactly one
//! segment, a `*` as the last segment matches one or more (the rest of
//! the name); any other segment must equal the name's.

use serde_json::Value;

use crate::core::json::json_contains;
use crate::model::catalog::EventTriggerInfo;

/// Whether the event name `name` matches `pattern` (see the module).
pub(crate) fn pattern_matches(pattern: &str, name: &str) -> bool {
    let mut names = name.split('.');
    let mut patterns = pattern.split('.').peekable();
    while let Some(segment) = patterns.next() {
        let last = patterns.peek().is_none();
        match (segment, names.next()) {
            // The name ran out before the pattern did.
            (_, None) => return false,
            ("*", Some(_)) if last => return true,
            ("*", Some(_)) => {}
            (literal, Some(part)) if literal == part => {}
            _ => return false,
        }
    }
    // Without a trailing `*`, the name has no segment left over.
    names.next().is_none()
}

/// Whether `trigger` fires for the event `name` with `data`: the name
/// matches its pattern and the data contains its filter (a trigger without
/// a filter takes every event of a matching name).
pub(crate) fn fires(trigger: &EventTriggerInfo, name: &str, data: &Value) -> bool {
    pattern_matches(&trigger.event, name)
        && trigger
            .filter
            .as_ref()
            .is_none_or(|filter| json_contains(data, filter))
}

/// Whether any of a workflow's `triggers` fires for the event: a workflow
/// gets one run per event however many of its triggers match.
pub(crate) fn any_fires(triggers: &[EventTriggerInfo], name: &str, data: &Value) -> bool {
    triggers.iter().any(|trigger| fires(trigger, name, data))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_name_without_wildcards_matches_only_itself() {
        assert!(pattern_matches("order.created", "order.created"));
        assert!(!pattern_matches("order.created", "order.created.eu"));
        assert!(!pattern_matches("order.created", "order"));
        assert!(!pattern_matches("order.created", "order.paid"));
        assert!(!pattern_matches("order", "orders"));
    }

    #[test]
    fn a_middle_star_matches_exactly_one_segment() {
        assert!(pattern_matches("order.*.paid", "order.eu.paid"));
        assert!(!pattern_matches("order.*.paid", "order.paid"));
        assert!(!pattern_matches("order.*.paid", "order.eu.de.paid"));
        assert!(!pattern_matches("order.*.paid", "order.eu.refunded"));
        assert!(pattern_matches("*.created", "order.created"));
        assert!(!pattern_matches("*.created", "created"));
    }

    #[test]
    fn a_trailing_star_matches_one_or_more_segments() {
        assert!(pattern_matches("order.*", "order.created"));
        assert!(pattern_matches("order.*", "order.created.eu"));
        assert!(!pattern_matches("order.*", "order"));
        assert!(!pattern_matches("order.*", "orders.created"));
        assert!(pattern_matches("*", "order"));
        assert!(pattern_matches("*", "order.created.eu"));
        assert!(pattern_matches("a.*.c.*", "a.b.c.d.e"));
        assert!(!pattern_matches("a.*.c.*", "a.b.c"));
    }

    #[test]
    fn a_filter_is_json_containment_on_the_data() {
        let trigger = EventTriggerInfo {
            event: "order.*".into(),
            filter: Some(json!({ "region": "eu", "tags": ["vip"] })),
        };
        let data = json!({ "region": "eu", "tags": ["new", "vip"], "total": 5 });
        assert!(fires(&trigger, "order.created", &data));
        assert!(!fires(&trigger, "invoice.created", &data));
        assert!(!fires(
            &trigger,
            "order.created",
            &json!({ "region": "us" })
        ));
        assert!(!fires(&trigger, "order.created", &json!("eu")));
        let any = EventTriggerInfo {
            event: "order.created".into(),
            filter: None,
        };
        assert!(fires(&any, "order.created", &json!(null)));
    }

    #[test]
    fn any_of_a_workflows_triggers_fires_it() {
        let triggers = [
            EventTriggerInfo {
                event: "order.created".into(),
                filter: Some(json!({ "region": "eu" })),
            },
            EventTriggerInfo {
                event: "order.imported".into(),
                filter: None,
            },
        ];
        assert!(any_fires(
            &triggers,
            "order.created",
            &json!({ "region": "eu" })
        ));
        assert!(any_fires(&triggers, "order.imported", &json!({})));
        assert!(!any_fires(
            &triggers,
            "order.created",
            &json!({ "region": "us" })
        ));
        assert!(!any_fires(&[], "order.created", &json!({})));
    }
}
