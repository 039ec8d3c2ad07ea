//! Concurrency limits: the key a run is grouped by, computed from its input
//! when it is triggered (also by a debounce or a throttle), the check of a
//! key's path, and which of the
//! candidates a claim found it may take without exceeding a limit.

use std::collections::HashMap;

use crate::model::workflow::Concurrency;

/// The key stored for a run of a workflow without a concurrency key (also
/// one without a limit): every such run of a workflow is in one group.
pub(crate) const NO_KEY: &str = "";

/// Checks the path of a key that groups runs (of a concurrency limit, a
/// debounce or a throttle) or of another path into the input (a
/// `cancel_on` match), named by `what`: field names joined by dots, none
/// empty. What is wrong, in words, otherwise.
///
/// ```text
/// "customer_id", "customer.id"   valid
/// "", "customer.", ".id", "a..b"  not
/// ```
pub(crate) fn check_key_path(path: &str, what: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err(format!(
            "the {what} is empty; name a field of the input, e.g. \"customer_id\" or \"customer.id\""
        ));
    }
    if path.split('.').any(str::is_empty) {
        return Err(format!(
            "the {what} {path:?} has an empty field name; write field names joined by single dots, e.g. \"customer.id\""
        ));
    }
    Ok(())
}

/// The concurrency key of a run of a workflow with `concurrency`, from its
/// input as stored (JSON text): the compact JSON of the value at the key's
/// path (`"c-1"` with its quotes for a string, so that the string `"1"`
/// and the number `1` are two keys), `null` when the path leads nowhere;
/// [`NO_KEY`] for a workflow limited as a whole or not limited.
pub(crate) fn key_of(concurrency: Option<&Concurrency>, input: &str) -> String {
    key_at(concurrency.and_then(|concurrency| concurrency.key), input)
}

/// The key of a run whose options group runs by the field at `path` (a
/// concurrency limit, a debounce, a throttle), from its input as stored:
/// as [`key_of`] says; [`NO_KEY`] without a path.
pub(crate) fn key_at(path: Option<&str>, input: &str) -> String {
    let Some(path) = path else {
        return NO_KEY.to_owned();
    };
    value_at(path, input)
}

/// The compact JSON of the value at `path` (field names joined by dots) in
/// the JSON text `json`, `null` when the path leads nowhere or `json` is no
/// JSON: how a run's input is keyed, for a concurrency key or a
/// `cancel_on` match, and how an event's data is compared with it.
pub(crate) fn value_at(path: &str, json: &str) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(json) else {
        return "null".to_owned();
    };
    path.split('.')
        .try_fold(&value, |value, name| value.get(name))
        .unwrap_or(&serde_json::Value::Null)
        .to_string()
}

/// A run a claim found due, in the order it would take them (priority,
/// then trigger order), with what a limit needs to know of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// Its workflow.
    pub(crate) workflow: String,
    /// Its concurrency key.
    pub(crate) key: String,
    /// How many runs of its workflow and key are running now.
    pub(crate) running: i64,
    /// Its workflow's limit, if it has one.
    pub(crate) limit: Option<i64>,
}

/// Which of `candidates` (by index, in their order) a claim takes, at most
/// `limit`: each unless its group (workflow and key) would then run more
/// than its limit, counting the runs running and those taken before it.
pub(crate) fn pick(candidates: &[Candidate], limit: usize) -> Vec<usize> {
    let mut taken: HashMap<(&str, &str), i64> = HashMap::new();
    let mut picked = Vec::new();
    for (index, candidate) in candidates.iter().enumerate() {
        if picked.len() == limit {
            break;
        }
        if let Some(max) = candidate.limit {
            let count = taken
                .entry((candidate.workflow.as_str(), candidate.key.as_str()))
                .or_insert(0);
            if candidate.running + *count >= max {
                continue;
            }
            *count += 1;
        }
        picked.push(index);
    }
    picked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(workflow: &str, key: &str, running: i64, limit: Option<i64>) -> Candidate {
        Candidate {
            workflow: workflow.into(),
            key: key.into(),
            running,
            limit,
        }
    }

    #[test]
    fn a_key_is_the_json_of_the_value_at_its_path() {
        let keyed = Concurrency {
            limit: 1,
            key: Some("customer.id"),
        };
        let input = r#"{"customer": {"id": "c-1"}, "n": 1}"#;
        assert_eq!(key_of(Some(&keyed), input), r#""c-1""#);
        let number = Concurrency {
            limit: 1,
            key: Some("n"),
        };
        assert_eq!(key_of(Some(&number), input), "1");
        let missing = Concurrency {
            limit: 1,
            key: Some("customer.name"),
        };
        assert_eq!(key_of(Some(&missing), input), "null");
        let whole = Concurrency {
            limit: 2,
            key: None,
        };
        assert_eq!(key_of(Some(&whole), input), NO_KEY);
        assert_eq!(key_of(None, input), NO_KEY);
    }

    #[test]
    fn a_key_path_is_names_joined_by_dots() {
        assert!(check_key_path("customer_id", "concurrency key").is_ok());
        assert!(check_key_path("customer.id", "debounce key").is_ok());
        for bad in ["", ".id", "customer.", "a..b"] {
            assert!(check_key_path(bad, "cancel_on match").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_pick_keeps_every_group_within_its_limit_in_order() {
        let candidates = [
            candidate("w", "a", 0, Some(1)),
            candidate("w", "a", 0, Some(1)),
            candidate("w", "b", 1, Some(1)),
            candidate("other", "", 0, None),
            candidate("w", "c", 1, Some(2)),
            candidate("w", "c", 1, Some(2)),
        ];
        assert_eq!(pick(&candidates, 10), vec![0, 3, 4]);
        assert_eq!(pick(&candidates, 2), vec![0, 3]);
        assert_eq!(pick(&candidates, 0), Vec::<usize>::new());
    }
}
