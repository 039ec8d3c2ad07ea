//! The parameters of SQLite's multi-row statements: a `VALUES` list of
//! placeholders, and optional columns as values to bind in it.

use rusqlite::types::Value;

/// `VALUES (?, ?), (?, ?)` for `rows` rows of `columns` parameters.
pub(super) fn values_list(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    format!("VALUES {}", vec![row; rows].join(", "))
}

/// An optional text column as a value to bind (`NULL` for `None`).
pub(super) fn optional_text(text: &Option<String>) -> Value {
    text.clone().map_or(Value::Null, Value::Text)
}

/// An optional integer column as a value to bind (`NULL` for `None`).
pub(super) fn optional_integer(number: Option<i64>) -> Value {
    number.map_or(Value::Null, Value::Integer)
}
