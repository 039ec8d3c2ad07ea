//! The grammar of a queue's name (`#[workflow(queue = "billing")]`,
//! `EngineBuilder::queues`, `ctx.invoke(..).queue("gpu")`): 1 to 100
//! characters, each an ASCII letter, digit, `-`, `_` or `.`, so that a
//! name reads the same in SQL, a URL's query and a log line.
//!
//! ```
//! use durable_grammar::queue::{DEFAULT_QUEUE, check_queue_name};
//! assert_eq!(DEFAULT_QUEUE, "default");
//! assert!(check_queue_name("gpu.large-1").is_ok());
//! assert!(check_queue_name("gpu large").is_err());
//! assert!(check_queue_name("").is_err());
//! ```

use std::fmt;

/// The queue of a workflow declared without `queue = ".."`, and the only
/// queue an engine built without `.queues([..])` serves.
pub const DEFAULT_QUEUE: &str = "default";

/// The longest queue name, in bytes.
pub const MAX_QUEUE_NAME_BYTES: usize = 100;

/// Why a queue name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueNameError {
    /// The name as written.
    pub name: String,
}

impl fmt::Display for QueueNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid queue name {:?}: a queue name is 1 to {MAX_QUEUE_NAME_BYTES} letters, digits, `-`, `_` or `.`, e.g. \"billing\"",
            self.name
        )
    }
}

impl std::error::Error for QueueNameError {}

/// Checks that `name` follows the grammar of the module.
///
/// # Errors
///
/// A [`QueueNameError`] naming the refused name.
pub fn check_queue_name(name: &str) -> Result<(), QueueNameError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_QUEUE_NAME_BYTES
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(QueueNameError {
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_letters_digits_and_separators_only() {
        for name in ["default", "gpu", "billing-eu.2", "a_b", &"q".repeat(100)] {
            assert_eq!(check_queue_name(name), Ok(()), "{name}");
        }
        for name in ["", "gpu large", "gpu/large", "é", &"q".repeat(101)] {
            assert!(check_queue_name(name).is_err(), "{name}");
        }
        assert!(
            check_queue_name("a b")
                .unwrap_err()
                .to_string()
                .contains("e.g. \"billing\"")
        );
    }
}
