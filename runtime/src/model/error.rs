//! The one error type of durable, and the step error a step body returns.

use crate::model::ids::RunId;
use crate::model::status::RunStatus;

/// Everything that can go wrong when triggering, running or inspecting runs.
///
/// Errors that a workflow body can see come from steps
/// ([`Error::StepFailed`], [`Error::InvalidDuration`]); errors that mean the
/// run itself cannot go on (a non-deterministic replay, a duplicate step name,
/// a value that cannot be serialized, a lost lease) are never handed to the
/// workflow body: the engine ends the run with them, so user code cannot
/// swallow them by accident.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No workflow of this name is registered on the engine.
    #[error(
        "workflow `{name}` is not registered on this engine (registered: {registered}); add `.register(...)` for it to the engine builder"
    )]
    UnknownWorkflow {
        /// The name asked for, cut to its first 100 characters (and its
        /// length in bytes) when longer: the name may come from outside.
        name: String,
        /// The workflows the engine registers, sorted, comma-separated (the
        /// first 20, then how many more), or `none`.
        registered: String,
    },

    /// The input does not fit the workflow's input type. Nothing was written.
    #[error("invalid input for workflow `{workflow}`: {message}")]
    InvalidInput {
        /// The workflow's name.
        workflow: String,
        /// Which field is wrong and why, e.g. `order_id: missing field`.
        message: String,
    },

    /// A payload is larger than the engine's [`Limits`](crate::Limits) allow.
    /// Checked before anything is written.
    #[error("{what} is {size} bytes, over the limit of {limit} bytes (Limits::{limit_name})")]
    PayloadTooLarge {
        /// What was too large, e.g. `input of workflow "orders"`.
        what: String,
        /// Its size in bytes, serialized as JSON.
        size: usize,
        /// The limit in bytes.
        limit: usize,
        /// The name of the [`Limits`](crate::Limits) field that sets it.
        limit_name: &'static str,
    },

    /// An idempotency key was reused with a different input. Nothing was written.
    #[error(
        "idempotency key {:?} of workflow `{workflow}` already started run {run_id} with a different input",
        clip(.key)
    )]
    IdempotencyConflict {
        /// The workflow's name.
        workflow: String,
        /// The reused key (whole; the message shows its first 100
        /// characters).
        key: String,
        /// The run the key belongs to.
        run_id: RunId,
    },

    /// A duration string does not follow the grammar of [`durable_grammar`].
    #[error(transparent)]
    InvalidDuration(#[from] durable_grammar::DurationError),

    /// A queue name (`EngineBuilder::queues`, `ctx.invoke(..).queue(..)`,
    /// a run filter's queue) does not follow the grammar of
    /// [`durable_grammar::queue`]: 1 to 100 letters, digits, `-`, `_`, `.`.
    ///
    /// ```
    /// let error = durable::Error::from(durable_grammar::queue::check_queue_name("gpu large").unwrap_err());
    /// assert!(error.to_string().contains("invalid queue name \"gpu large\""));
    /// ```
    #[error(transparent)]
    InvalidQueue(#[from] durable_grammar::queue::QueueNameError),

    /// A step gave up: its body failed with a permanent error, or every attempt
    /// of its retry policy failed, or its last attempt timed out.
    #[error("step `{step}` failed after {attempts} attempt(s): {message}")]
    StepFailed {
        /// The step's name.
        step: String,
        /// How many attempts ran.
        attempts: u32,
        /// The last attempt's error.
        message: String,
    },

    /// The same step name was reached twice in one run (for example from a
    /// helper function the macro cannot see). The run fails with this error.
    #[error(
        "step name `{step}` was reached twice in run {run_id}; give each step its own name, or use the keyed form (\"{step}\", key) in loops"
    )]
    DuplicateStep {
        /// The run.
        run_id: RunId,
        /// The repeated name.
        step: String,
    },

    /// A replay reached a different step than the journal recorded at that
    /// point: the workflow's code changed under a run in flight. The run fails
    /// with this error instead of feeding an old result to a different step.
    #[error(
        "non-deterministic replay of run {run_id}: the code reached step `{found}` where the journal recorded step `{expected}`; deploy code that keeps the recorded steps in order, or start a new run"
    )]
    NonDeterminism {
        /// The run.
        run_id: RunId,
        /// The step the journal recorded at this position.
        expected: String,
        /// The step the code reached instead.
        found: String,
    },

    /// A value could not be serialized or deserialized. This is terminal: the
    /// run fails with it and it is never retried.
    #[error("cannot (de)serialize {what}: {message}")]
    Serialization {
        /// Which value, e.g. `output of step "charge"`.
        what: String,
        /// serde's message.
        message: String,
    },

    /// An event's (or signal's) data does not fit the type the waiting step
    /// asked for.
    #[error(
        "the payload of event `{event}` for step `{step}` does not fit the expected type: {message}"
    )]
    EventPayload {
        /// The waiting step.
        step: String,
        /// The event's name.
        event: String,
        /// serde's message.
        message: String,
    },

    /// An event to send is not valid: its name is empty or its data is not
    /// JSON. Nothing was written.
    #[error("invalid event: {0}")]
    InvalidEvent(String),

    /// A filter to list runs or events is not valid (a page size outside 1
    /// to 200, a cursor that is not one). Nothing was read.
    #[error("invalid filter: {0}")]
    InvalidFilter(String),

    /// A child run did not complete, so the step that waited for it failed.
    #[error("step `{step}`: run {run_id} ended {status}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    ChildFailed {
        /// The waiting step.
        step: String,
        /// The child (or awaited) run.
        run_id: RunId,
        /// How it ended: failed, cancelled or timed_out.
        status: RunStatus,
        /// Its error, if it failed.
        message: Option<String>,
    },

    /// The run was ended by `Ctx::abort`: it is cancelled with this reason,
    /// without compensations.
    #[error("the run was aborted: {0}")]
    Aborted(String),

    /// The run failed; `message` is the workflow's error or the error that
    /// ended it.
    #[error("run {run_id} failed: {message}")]
    RunFailed {
        /// The run.
        run_id: RunId,
        /// Why it failed.
        message: String,
    },

    /// The run was cancelled before it finished.
    #[error("run {run_id} was cancelled{}", reason_suffix(reason))]
    RunCancelled {
        /// The run.
        run_id: RunId,
        /// Why, when it is recorded: the event that cancelled it
        /// (`cancelled by event "order.cancelled" (id 42)`, see
        /// `#[workflow(cancel_on(..))]`) or the reason of `Ctx::abort`;
        /// empty for a cancel by an operator.
        reason: String,
    },

    /// The run passed its workflow timeout.
    #[error("run {run_id} timed out")]
    RunTimedOut {
        /// The run.
        run_id: RunId,
    },

    /// No run has this id.
    #[error("run {0} not found")]
    RunNotFound(RunId),

    /// The run is in a status that does not allow the requested change.
    #[error(
        "cannot {action} run {run_id}: it is {status}, and {action} needs a run that is {allowed}"
    )]
    InvalidTransition {
        /// The run.
        run_id: RunId,
        /// What was asked, e.g. `cancel`.
        action: &'static str,
        /// Its current status.
        status: RunStatus,
        /// The statuses that allow it, in words.
        allowed: &'static str,
    },

    /// A fork ([`Engine::fork`](crate::Engine::fork)) named a step that is
    /// not in the run's journal: the run never reached it.
    #[error("cannot fork run {run_id} from step {step:?}: no step of that name is in its journal")]
    StepNotInJournal {
        /// The run.
        run_id: RunId,
        /// The step named (its first 100 characters).
        step: String,
    },

    /// This worker's lease on the run was taken over (by a cancel, or by
    /// another worker after it expired). The write was refused, so nothing
    /// from the stale worker is committed (fencing).
    #[error("the lease on run {run_id} was lost; the write was refused")]
    LeaseLost {
        /// The run.
        run_id: RunId,
    },

    /// Another execution of the run recorded this step first (a stale
    /// execution raced a newer one). This execution stops without using its
    /// own result; the run replays with the recorded one.
    #[error("step `{step}` of run {run_id} was already recorded by another execution")]
    StepRecordedElsewhere {
        /// The run.
        run_id: RunId,
        /// The step.
        step: String,
    },

    /// The database failed. The source is the driver's error.
    #[error("database error: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),

    /// A connection to the PostgreSQL server could not be opened: refused,
    /// unreachable, or not answered within the connect timeout (the URL's
    /// `connect_timeout`, in seconds; 10 by default). Names the server, never
    /// the URL's password.
    ///
    /// ```text
    /// could not connect to PostgreSQL at 127.0.0.1:5432 to create schema app: error communicating with database: Connection refused (os error 111)
    /// ```
    #[error("could not connect to PostgreSQL at {host} to {action}: {reason}")]
    Connect {
        /// What the connection was for, e.g. `create schema app`.
        action: String,
        /// The server, as `host:port` (or the socket's path).
        host: String,
        /// Why: the driver's error, or that the server did not answer in time.
        reason: String,
    },

    /// The database file is locked by another engine. An embedded SQLite
    /// database belongs to one engine at a time; use PostgreSQL for many
    /// workers.
    ///
    /// The lock is on the file itself, not on the path it was named by: a
    /// symlink, a relative path or a hard link to a file in use is refused
    /// too.
    #[error(
        "the database {path} is in use by another durable engine (lock on {lock_path}); an embedded SQLite database serves one engine at a time"
    )]
    DatabaseInUse {
        /// The database file, as it was given.
        path: String,
        /// The file whose lock the other engine holds: on Unix the database
        /// file itself (its canonical path), elsewhere a `<file>.lock` side
        /// file beside the canonical path.
        lock_path: String,
    },

    /// The SQLite database file could not be created, opened or read: its
    /// directory does not exist, it is not a SQLite database, or the OS
    /// refused. Nothing was written.
    #[error("cannot {action} the SQLite database {path}: {source}")]
    DatabaseFile {
        /// The database file, as it was given.
        path: String,
        /// What was being done, e.g. `create` or `open`.
        action: &'static str,
        /// The OS's or SQLite's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The database was migrated by a newer durable: its schema version is
    /// past the last one this durable knows, so this durable refuses to run
    /// on it rather than misread it. Nothing was written.
    #[error(
        "the database's schema is at version {found}, but durable {durable} knows schema versions up to {supported}: a newer durable migrated it; run that newer durable on it"
    )]
    SchemaTooNew {
        /// The highest version recorded in the database's `wf_migration`.
        found: i64,
        /// The last schema version this durable applies.
        supported: i64,
        /// This durable's crate version.
        durable: &'static str,
    },

    /// A table durable needs exists but was not created by durable: it lacks
    /// columns durable uses. Nothing was written; keep durable's tables apart
    /// (another SQLite file, or `EngineBuilder::postgres_schema`).
    #[error(
        "the database already has a table `{table}` that durable did not create: it lacks the column(s) {missing}; give durable a database (or PostgreSQL schema) of its own"
    )]
    ForeignTable {
        /// The table, e.g. `wf_instance`.
        table: String,
        /// The columns durable needs that it lacks, comma-separated (the
        /// first few, and how many more).
        missing: String,
    },

    /// The engine's configuration is not valid.
    #[error("invalid engine configuration: {0}")]
    Config(String),

    /// The engine is a client that opened its database read-only (a SQLite
    /// file another engine holds, see `EngineBuilder::client`): it reads,
    /// and refuses every write. Nothing was written.
    #[error("the database is open read-only: {reason}")]
    ReadOnly {
        /// Why, e.g. that another engine holds the SQLite file, and what to
        /// do instead.
        reason: String,
    },

    /// The engine was shut down.
    #[error("the engine is shut down")]
    Shutdown,
}

/// How many characters of a string from outside (a workflow name, a key, an
/// event name) an error message repeats: a message that echoes a megabyte
/// of input hides what is wrong.
const ECHO_CHARS: usize = 100;

/// How many registered workflow names [`Error::UnknownWorkflow`] lists.
const LISTED_WORKFLOWS: usize = 20;

/// `text`, cut to its first 100 characters, with its length in bytes after
/// it when it was longer: `aaaa… (1048576 bytes)`.
pub(crate) fn clip(text: &str) -> String {
    clip_to(text, ECHO_CHARS)
}

/// [`clip`] with another length, for messages that carry more than a name.
pub(crate) fn clip_to(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((end, _)) => format!("{}… ({} bytes)", &text[..end], text.len()),
        None => text.to_owned(),
    }
}

impl Error {
    /// [`Error::UnknownWorkflow`] for `name`, listing `registered`.
    pub(crate) fn unknown_workflow<'a>(
        name: &str,
        registered: impl IntoIterator<Item = &'a str>,
    ) -> Error {
        let mut names: Vec<&str> = registered.into_iter().collect();
        names.sort_unstable();
        let mut listed: Vec<String> = names
            .iter()
            .take(LISTED_WORKFLOWS)
            .map(|name| clip(name))
            .collect();
        if names.len() > LISTED_WORKFLOWS {
            listed.push(format!("and {} more", names.len() - LISTED_WORKFLOWS));
        }
        Error::UnknownWorkflow {
            name: clip(name),
            registered: if listed.is_empty() {
                "none".to_owned()
            } else {
                listed.join(", ")
            },
        }
    }

    /// [`Error::ForeignTable`] for `table`, naming the first few of the
    /// `missing` columns: enough to recognise the table, short enough to read.
    pub(crate) fn foreign_table(table: &str, missing: &[&str]) -> Error {
        const NAMED: usize = 4;
        let mut named = missing[..missing.len().min(NAMED)].join(", ");
        if missing.len() > NAMED {
            named.push_str(&format!(" and {} more", missing.len() - NAMED));
        }
        Error::ForeignTable {
            table: table.to_owned(),
            missing: named,
        }
    }
}

#[cfg(feature = "sqlite")]
impl From<rusqlite::Error> for Error {
    fn from(error: rusqlite::Error) -> Self {
        Error::Database(Box::new(error))
    }
}

/// The error a step body returns: [`retryable`](StepError::retryable) errors
/// are retried by the step's [`Retry`](crate::Retry) policy, and
/// [`permanent`](StepError::permanent) ones fail the step at once.
///
/// Any `std::error::Error` converts into a retryable `StepError` with `?` or
/// `.into()`; wrap one in [`StepError::permanent`] to stop retrying.
///
/// ```
/// use durable::StepError;
///
/// fn check(amount: i64) -> Result<i64, StepError> {
///     if amount < 0 {
///         return Err(StepError::permanent("amount is negative"));
///     }
///     let parsed: i64 = "42".parse::<i64>()?; // retryable if it failed
///     Ok(amount + parsed)
/// }
/// assert!(check(-1).unwrap_err().is_permanent());
/// ```
#[derive(Debug)]
pub struct StepError {
    message: String,
    permanent: bool,
}

impl StepError {
    /// An error the retry policy may retry.
    pub fn retryable(error: impl std::fmt::Display) -> Self {
        StepError {
            message: error.to_string(),
            permanent: false,
        }
    }

    /// An error that fails the step at once, whatever the retry policy says.
    pub fn permanent(error: impl std::fmt::Display) -> Self {
        StepError {
            message: error.to_string(),
            permanent: true,
        }
    }

    /// Whether this error stops retrying.
    pub fn is_permanent(&self) -> bool {
        self.permanent
    }

    /// The error's message, as it is recorded in `wf_step.error`.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error> From<E> for StepError {
    fn from(error: E) -> Self {
        StepError::retryable(error)
    }
}

/// `": <reason>"` after a cancelled run's message, when it has a reason.
fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(": {reason}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_workflow_lists_twenty_registered_names_and_counts_the_rest() {
        let names: Vec<String> = (0..25).map(|i| format!("wf-{i:02}")).collect();
        let error = Error::unknown_workflow("nope", names.iter().map(String::as_str)).to_string();
        assert!(error.contains("(registered: wf-00, wf-01,"), "{error}");
        assert!(error.contains("wf-19, and 5 more)"), "{error}");
        assert!(!error.contains("wf-20"), "{error}");
        let none = Error::unknown_workflow("nope", []).to_string();
        assert!(none.contains("(registered: none)"), "{none}");
    }

    #[test]
    fn clip_cuts_at_a_character_and_names_the_length() {
        assert_eq!(clip("short"), "short");
        let long = "é".repeat(150);
        assert_eq!(clip(&long), format!("{}… (300 bytes)", "é".repeat(100)));
    }
}
