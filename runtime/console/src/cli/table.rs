//! Human output: tables with aligned columns, and the API's fields (times,
//! previews, durations) as short text.

use serde_json::Value;

/// `rows` under `headers`, each column as wide as its widest cell, two
/// spaces apart, no trailing spaces.
///
/// ```text
/// ID    STATUS
/// 0190  completed
/// ```
pub(crate) fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers
        .iter()
        .map(|header| header.chars().count())
        .collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = headers.iter().map(|header| (*header).to_owned()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        let mut line = String::new();
        for (index, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if index > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            let pad = width.saturating_sub(cell.chars().count());
            line.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A time in ms since the epoch as a UTC date (`2026-12-02 16:55:14`), or
/// `-` when absent.
pub(crate) fn time(value: &Value) -> String {
    value
        .as_i64()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|at| at.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

/// The time between two ms fields (`1.2s`, `340ms`, `3m05s`), or `-`.
pub(crate) fn elapsed(from: &Value, to: &Value) -> String {
    match (from.as_i64(), to.as_i64()) {
        (Some(from), Some(to)) if to >= from => duration_ms(to - from),
        _ => "-".into(),
    }
}

/// `ms` as a short duration.
pub(crate) fn duration_ms(ms: i64) -> String {
    if ms < 1_000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1_000.0)
    } else if ms < 3_600_000 {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1_000)
    } else {
        format!("{}h{:02}m", ms / 3_600_000, (ms % 3_600_000) / 60_000)
    }
}

/// A field as text: a string as it is, `-` for null or absent, other JSON
/// compactly.
pub(crate) fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A value as the API previews it (`{"truncated", "bytes", "value" |
/// "preview"}`), as one line of at most `width` characters; `-` for none.
pub(crate) fn preview(value: &Value, width: usize) -> String {
    let whole = match value {
        Value::Null => return "-".into(),
        Value::Object(map) if map.contains_key("truncated") => match map.get("value") {
            Some(inner) => compact(inner),
            None => format!(
                "{}… ({} bytes)",
                text(map.get("preview").unwrap_or(&Value::Null)),
                map.get("bytes").and_then(Value::as_u64).unwrap_or(0)
            ),
        },
        other => compact(other),
    };
    clip(&whole.replace(['\n', '\r'], " "), width)
}

/// A value as one line: a string as it is, other JSON compactly.
fn compact(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `text` cut to `width` characters, with `…` when cut.
pub(crate) fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_align_on_their_widest_cell() {
        let out = render(
            &["ID", "STATUS"],
            &[
                vec!["a".into(), "completed".into()],
                vec!["bbbb".into(), "-".into()],
            ],
        );
        assert_eq!(out, "ID    STATUS\na     completed\nbbbb  -\n");
    }

    #[test]
    fn fields_read_as_short_text() {
        assert_eq!(time(&json!(0)), "1970-01-01 00:00:00");
        assert_eq!(time(&Value::Null), "-");
        assert_eq!(elapsed(&json!(1_000), &json!(2_500)), "1.5s");
        assert_eq!(elapsed(&json!(1_000), &Value::Null), "-");
        assert_eq!(duration_ms(250), "250ms");
        assert_eq!(duration_ms(185_000), "3m05s");
        assert_eq!(duration_ms(7_500_000), "2h05m");
        let small = json!({"truncated": false, "bytes": 7, "value": {"a": 1}});
        assert_eq!(preview(&small, 40), r#"{"a":1}"#);
        let large = json!({"truncated": true, "bytes": 5000, "preview": "xxxx"});
        assert_eq!(preview(&large, 40), "xxxx… (5000 bytes)");
        assert_eq!(preview(&json!("line\nbreak"), 6), "line …");
        assert_eq!(preview(&Value::Null, 6), "-");
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}
