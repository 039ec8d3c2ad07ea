//! What the user types that the CLI reads before sending anything: JSON
//! given inline, as `@FILE` or as `-` (stdin), and durations. A mistake
//! here is a usage error, and nothing is sent.

use std::io::Read;
use std::time::Duration;

use durable::IntoDuration;
use serde_json::Value;

use super::client::CliError;

/// The JSON of `--input` or `--data` (`what` names the option): inline
/// JSON, `@FILE` for a file's, `-` for stdin's; `null` when absent.
pub(crate) fn json_arg(what: &str, given: Option<&str>) -> Result<Value, CliError> {
    let Some(given) = given else {
        return Ok(Value::Null);
    };
    let (text, source) = if let Some(path) = given.strip_prefix('@') {
        let text = std::fs::read_to_string(path)
            .map_err(|error| CliError::Usage(format!("{what}: cannot read {path}: {error}")))?;
        (text, format!(" in {path}"))
    } else if given == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|error| CliError::Usage(format!("{what}: cannot read stdin: {error}")))?;
        (text, " from stdin".to_owned())
    } else {
        (given.to_owned(), String::new())
    };
    serde_json::from_str(&text).map_err(|error| {
        CliError::Usage(format!(
            "{what}: not JSON{source} ({error}); give JSON, @FILE or - for stdin (a string needs its quotes: '\"text\"')"
        ))
    })
}

/// A polling interval such as `200ms` or `2s`, at least 10 ms.
pub(crate) fn interval(text: &str) -> Result<Duration, CliError> {
    let duration = text
        .into_duration()
        .map_err(|error| CliError::Usage(format!("--interval {text:?}: {error}")))?;
    if duration < Duration::from_millis(10) {
        return Err(CliError::Usage(format!(
            "--interval {text:?}: at least 10ms"
        )));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Exit;

    #[test]
    fn json_comes_inline_or_from_a_file() {
        assert_eq!(json_arg("--data", None).unwrap(), Value::Null);
        assert_eq!(
            json_arg("--data", Some(r#"{"a":1}"#)).unwrap(),
            serde_json::json!({"a": 1})
        );
        let path =
            std::env::temp_dir().join(format!("durable-cli-{}.json", durable::Uuid::new_v4()));
        std::fs::write(&path, "[1, 2]").unwrap();
        let arg = format!("@{}", path.display());
        assert_eq!(
            json_arg("--input", Some(&arg)).unwrap(),
            serde_json::json!([1, 2])
        );
        std::fs::write(&path, "[1,").unwrap();
        let error = json_arg("--input", Some(&arg)).unwrap_err();
        assert!(error.to_string().contains("not JSON in"), "{error}");
        std::fs::remove_file(&path).unwrap();
        let missing = json_arg("--input", Some(&arg)).unwrap_err();
        assert!(missing.to_string().contains("cannot read"), "{missing}");
        let bare = json_arg("--data", Some("hello")).unwrap_err();
        assert_eq!(bare.exit(), Exit::Usage);
        assert!(bare.to_string().contains("--data: not JSON"), "{bare}");
    }

    #[test]
    fn intervals_are_durations() {
        assert_eq!(interval("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(interval("2s").unwrap(), Duration::from_secs(2));
        assert!(interval("1ms").is_err());
        assert!(interval("soon").is_err());
    }
}
