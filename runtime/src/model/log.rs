//! Log lines a run writes (`wf_log`) and their levels.

use serde::{Deserialize, Serialize};

/// The level of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Detail for debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the run handled.
    Warn,
    /// Something that went wrong.
    Error,
    /// A milestone of the run ([`Ctx::progress`](crate::Ctx::progress)).
    Progress,
}

impl LogLevel {
    /// The text stored in `wf_log.level`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::Progress => "progress",
        }
    }
}

impl LogLevel {
    /// Reads the text stored in `wf_log.level`.
    ///
    /// ```
    /// use durable::LogLevel;
    /// assert_eq!(LogLevel::parse("warn"), Some(LogLevel::Warn));
    /// assert_eq!(LogLevel::parse("loud"), None);
    /// ```
    pub fn parse(text: &str) -> Option<Self> {
        [
            LogLevel::Debug,
            LogLevel::Info,
            LogLevel::Warn,
            LogLevel::Error,
            LogLevel::Progress,
        ]
        .into_iter()
        .find(|level| level.as_str() == text)
    }
}

impl std::fmt::Display for LogLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A log line written by a run (`wf_log`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    /// Its position in the run (`<scope>#<n>`): a replay writes the same key,
    /// which the store ignores, so a line lands once.
    pub key: String,
    /// The level.
    pub level: LogLevel,
    /// The message.
    pub message: String,
    /// Structured fields, as JSON text.
    pub fields: Option<String>,
    /// When it was written (ms).
    pub created_at: i64,
}
