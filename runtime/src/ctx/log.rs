//! Logs and progress from inside a run: lines in `wf_log` that land once,
//! not again when the run replays.
//!
//! Each line's key is its position in its scope (`#0`, `#1`, ..., or
//! `charge-all[3]#0` in a fan-out branch); a replay reaches the same
//! positions, and the store ignores a key it already has.

use serde::Serialize;

use super::Ctx;
use crate::model::log::{LogLevel, LogLine};

impl Ctx {
    /// Writes a structured log line to `wf_log`, once: a replay of the run
    /// does not write it again. Not waited for.
    ///
    /// ```no_run
    /// # use durable::prelude::*;
    /// # use durable::LogLevel;
    /// # async fn f(ctx: Ctx) {
    /// ctx.log(LogLevel::Info, "charged", json!({ "cents": 4200 }));
    /// # }
    /// ```
    pub fn log(&self, level: LogLevel, message: impl Into<String>, fields: impl Serialize) {
        let fields = serde_json::to_value(fields)
            .ok()
            .filter(|value| !value.is_null())
            .map(|value| value.to_string());
        let key = self.next_log_key();
        let line = LogLine {
            key,
            level,
            message: message.into(),
            fields,
            created_at: self.run.env.clock.now_ms(),
        };
        self.run.env.store.append_log(self.run.lease, line);
    }

    /// Records a milestone of the run (a `progress` line in `wf_log`), once.
    pub fn progress(&self, message: impl Into<String>) {
        self.log(LogLevel::Progress, message, ());
    }

    /// The key of the next log line in this context's scope.
    fn next_log_key(&self) -> String {
        let scope = self.scope.as_deref().unwrap_or("").to_owned();
        let mut state = self.run.state();
        let counter = state.log_counters.entry(scope.clone()).or_default();
        let key = format!("{scope}#{counter}");
        *counter += 1;
        key
    }
}
