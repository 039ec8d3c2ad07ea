//! Filters from outside: the query parameters of `GET /runs` and
//! `GET /events`, and the `filter` object of a bulk action, read into the
//! engine's [`RunFilter`] and [`EventFilter`]. A bulk filter is the same
//! parameters as a JSON object, read by the same function.

use durable::{EventFilter, RunFilter, RunStatus};
use serde_json::Value;

use crate::error::{ApiError, ErrorCode};
use crate::extract::{QueryPairs, clip};

/// The parameters a run filter takes.
pub(crate) const RUN_FILTER_KEYS: &[&str] = &[
    "workflow",
    "status",
    "created_from",
    "created_until",
    "finished_from",
    "finished_until",
    "parent",
    "text",
    "unserved",
    "paused",
    "queue",
    "limit",
    "after",
];

/// The run filter that `pairs` describe. `status` may repeat and may list
/// several statuses separated by commas.
pub(crate) fn run_filter(pairs: &QueryPairs) -> Result<RunFilter, ApiError> {
    pairs.only(RUN_FILTER_KEYS)?;
    let mut statuses = Vec::new();
    for (_, value) in pairs.0.iter().filter(|(key, _)| key == "status") {
        for text in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let status = RunStatus::parse(text).ok_or_else(|| {
                let known: Vec<&str> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!(
                        "`{}` is not a run status; the statuses are {}",
                        clip(text),
                        known.join(", ")
                    ),
                )
            })?;
            if !statuses.contains(&status) {
                statuses.push(status);
            }
        }
    }
    const MS: &str = "a time in ms since the epoch";
    let mut filter = RunFilter {
        workflow: pairs.single("workflow")?.map(str::to_owned),
        statuses,
        created_from: pairs.parsed("created_from", MS)?,
        created_until: pairs.parsed("created_until", MS)?,
        finished_from: pairs.parsed("finished_from", MS)?,
        finished_until: pairs.parsed("finished_until", MS)?,
        parent: pairs.parsed("parent", "a run id (a UUID)")?,
        text: pairs.single("text")?.map(str::to_owned),
        unserved: pairs
            .parsed::<bool>("unserved", "`true` or `false`")?
            .unwrap_or(false),
        paused: pairs
            .parsed::<bool>("paused", "`true` or `false`")?
            .unwrap_or(false),
        after: None,
        ..RunFilter::default()
    };
    if let Some(queue) = pairs.single("queue")? {
        // A mistyped parameter, like the others: a 400 naming it.
        filter = filter.queue(queue).map_err(|error| {
            ApiError::new(
                ErrorCode::InvalidQuery,
                format!("query parameter `queue`: {error}"),
            )
        })?;
    }
    if let Some(after) = pairs.single("after")? {
        filter.after = Some(after.parse()?);
    }
    if let Some(limit) = pairs.parsed::<usize>("limit", "a page size, 1 to 200")? {
        filter = filter.limit(limit)?;
    }
    Ok(filter)
}

/// The event filter of `GET /events`: `name`, `limit`, `before`.
pub(crate) fn event_filter(pairs: &QueryPairs) -> Result<EventFilter, ApiError> {
    pairs.only(&["name", "limit", "before"])?;
    let mut filter = EventFilter::new();
    if let Some(name) = pairs.single("name")? {
        filter = filter.name(name);
    }
    if let Some(before) = pairs.parsed("before", "an event id (the `next` of a page)")? {
        filter = filter.before(before);
    }
    if let Some(limit) = pairs.parsed::<usize>("limit", "a page size, 1 to 200")? {
        filter = filter.limit(limit)?;
    }
    Ok(filter)
}

/// The filter of a bulk action: the run filter's parameters as a JSON
/// object (`{"workflow": "orders", "status": ["failed"]}`), without `limit`
/// and `after` (a bulk action walks every page). One that narrows nothing
/// is refused: "every run" is not a filter a click should send by mistake.
pub(crate) fn bulk_filter(object: &serde_json::Map<String, Value>) -> Result<RunFilter, ApiError> {
    let refuse = |message: String| ApiError::new(ErrorCode::InvalidRequest, message);
    let mut pairs = Vec::new();
    for (key, value) in object {
        if key == "limit" || key == "after" {
            return Err(refuse(format!(
                "filter.{key}: a bulk action walks every page and takes no `{key}`"
            )));
        }
        let mut push = |value: &Value| {
            let text = match value {
                Value::String(text) => text.clone(),
                Value::Number(number) => number.to_string(),
                Value::Bool(flag) => flag.to_string(),
                _ => {
                    return Err(refuse(format!(
                        "filter.{key}: expected a string or a number, not {value}"
                    )));
                }
            };
            pairs.push((key.clone(), text));
            Ok(())
        };
        match value {
            Value::Array(items) if key == "status" => items.iter().try_for_each(&mut push)?,
            Value::Null => {}
            other => push(other)?,
        }
    }
    let filter = run_filter(&QueryPairs(pairs)).map_err(|error| match error.code {
        // The same mistakes as in a query, said about the body's field.
        ErrorCode::InvalidQuery => refuse(
            error
                .message
                .replace("query parameter `", "filter.`")
                .replace("unknown query parameter", "unknown filter field"),
        ),
        _ => error,
    })?;
    if filter == RunFilter::default() {
        return Err(ApiError::new(
            ErrorCode::EmptyFilter,
            "the filter narrows nothing: name a workflow, statuses, a time range, a parent, a text, a queue, `unserved` or `paused`, or send `ids`",
        ));
    }
    Ok(filter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(list: &[(&str, &str)]) -> QueryPairs {
        QueryPairs(
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn query_parameters_become_a_run_filter() {
        let filter = run_filter(&pairs(&[
            ("workflow", "orders"),
            ("status", "failed,timed_out"),
            ("status", "failed"),
            ("created_from", "10"),
            ("limit", "20"),
            (
                "after",
                "1700000000000.0190e0a4-4c6e-7a3e-9d0b-5b1f3c2a1d00",
            ),
        ]))
        .unwrap();
        assert_eq!(filter.workflow.as_deref(), Some("orders"));
        assert_eq!(filter.statuses, [RunStatus::Failed, RunStatus::TimedOut]);
        assert_eq!(filter.created_from, Some(10));
        assert_eq!(filter.limit, 20);
        assert_eq!(filter.after.unwrap().created_at, 1_700_000_000_000);
        assert!(!filter.unserved);
        assert!(!filter.paused);
        assert!(
            run_filter(&pairs(&[("unserved", "true")]))
                .unwrap()
                .unserved
        );
        assert!(run_filter(&pairs(&[("paused", "true")])).unwrap().paused);
        let typo = run_filter(&pairs(&[("paused", "1")])).unwrap_err();
        assert!(typo.message.contains("`paused`"), "{}", typo.message);
        assert_eq!(
            run_filter(&pairs(&[("queue", "gpu")]))
                .unwrap()
                .queue
                .as_deref(),
            Some("gpu")
        );
        let queue = run_filter(&pairs(&[("queue", "no spaces")])).unwrap_err();
        assert_eq!(queue.code, ErrorCode::InvalidQuery);
        assert!(queue.message.contains("`queue`"), "{}", queue.message);
        let typo = run_filter(&pairs(&[("unserved", "yes")])).unwrap_err();
        assert!(typo.message.contains("`unserved`"), "{}", typo.message);
    }

    #[test]
    fn bad_values_name_the_parameter() {
        let status = run_filter(&pairs(&[("status", "done")])).unwrap_err();
        assert!(
            status.message.contains("`done` is not a run status"),
            "{status:?}"
        );
        let limit = run_filter(&pairs(&[("limit", "500")])).unwrap_err();
        assert_eq!(limit.code, ErrorCode::InvalidFilter);
        let after = run_filter(&pairs(&[("after", "yesterday")])).unwrap_err();
        assert_eq!(after.code, ErrorCode::InvalidFilter);
        let time = run_filter(&pairs(&[("created_from", "today")])).unwrap_err();
        assert_eq!(time.code, ErrorCode::InvalidQuery);
        assert!(time.message.contains("`created_from`"));
    }

    #[test]
    fn a_bulk_filter_must_narrow_something() {
        let object = |value: Value| value.as_object().unwrap().clone();
        let filter = bulk_filter(&object(json!({"status": ["failed"], "workflow": "w"}))).unwrap();
        assert_eq!(filter.statuses, [RunStatus::Failed]);
        assert!(
            bulk_filter(&object(json!({"unserved": true})))
                .unwrap()
                .unserved
        );
        assert_eq!(
            bulk_filter(&object(json!({}))).unwrap_err().code,
            ErrorCode::EmptyFilter
        );
        assert_eq!(
            bulk_filter(&object(json!({"workflow": null})))
                .unwrap_err()
                .code,
            ErrorCode::EmptyFilter
        );
        let limit = bulk_filter(&object(json!({"limit": 5}))).unwrap_err();
        assert_eq!(limit.code, ErrorCode::InvalidRequest);
        let typo = bulk_filter(&object(json!({"stauts": "failed"}))).unwrap_err();
        assert_eq!(typo.code, ErrorCode::InvalidRequest);
        assert!(typo.message.contains("`stauts`"), "{}", typo.message);
    }
}
