//! The read side's questions and answers: filters and keyset cursors for
//! listing runs and events, counts, a per-minute series, and one run in
//! full (its steps, parent and children).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::info::{RunInfo, StepInfo};
use crate::model::status::RunStatus;

/// The most runs or events one page holds.
pub const MAX_PAGE: usize = 200;

/// The page size when a filter names none.
pub const DEFAULT_PAGE: usize = 50;

/// Which runs to list, newest first (by creation time, then id).
///
/// Every field narrows the list; the default lists every run.
///
/// ```
/// use durable::{RunFilter, RunStatus};
/// let filter = RunFilter::new()
///     .workflow("charge-order")
///     .statuses([RunStatus::Failed, RunStatus::TimedOut])
///     .limit(20)
///     .unwrap();
/// assert_eq!(filter.limit, 20);
/// assert!(RunFilter::new().limit(201).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFilter {
    /// Only runs of this workflow.
    pub workflow: Option<String>,
    /// Only runs in one of these statuses (empty: any status).
    pub statuses: Vec<RunStatus>,
    /// Only runs created at or after this time (ms since the epoch).
    pub created_from: Option<i64>,
    /// Only runs created before this time (ms since the epoch).
    pub created_until: Option<i64>,
    /// Only runs finished at or after this time (ms since the epoch).
    pub finished_from: Option<i64>,
    /// Only runs finished before this time (ms since the epoch).
    pub finished_until: Option<i64>,
    /// Only the children of this run.
    pub parent: Option<RunId>,
    /// Only runs whose input, output or error contains this text (case
    /// sensitive).
    pub text: Option<String>,
    /// Only runs that no live worker can take: pending, running or
    /// suspended runs pinned to a version that no live worker serves (or,
    /// not pinned yet, of a workflow no live worker serves at all). See
    /// [`Engine::unserved_runs`](crate::Engine::unserved_runs) for what
    /// "live" means.
    pub unserved: bool,
    /// Only runs paused now (see [`RunInfo::paused_at`]): pending, running
    /// or suspended runs an operator paused and did not resume.
    pub paused: bool,
    /// Only runs waiting (or that waited) in this queue (see
    /// [`RunInfo::queue`]).
    pub queue: Option<String>,
    /// The page size, 1 to [`MAX_PAGE`] (default [`DEFAULT_PAGE`]).
    pub limit: usize,
    /// Where the page starts: the `next` of the previous page.
    pub after: Option<RunCursor>,
}

impl Default for RunFilter {
    fn default() -> Self {
        RunFilter {
            workflow: None,
            statuses: Vec::new(),
            created_from: None,
            created_until: None,
            finished_from: None,
            finished_until: None,
            parent: None,
            text: None,
            unserved: false,
            paused: false,
            queue: None,
            limit: DEFAULT_PAGE,
            after: None,
        }
    }
}

impl RunFilter {
    /// Every run, [`DEFAULT_PAGE`] at a time.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only runs of `workflow`.
    pub fn workflow(mut self, workflow: impl Into<String>) -> Self {
        self.workflow = Some(workflow.into());
        self
    }

    /// Only runs in one of `statuses`.
    pub fn statuses(mut self, statuses: impl IntoIterator<Item = RunStatus>) -> Self {
        self.statuses = statuses.into_iter().collect();
        self
    }

    /// Only runs created in `[from, until)` (ms since the epoch).
    pub fn created_between(mut self, from: i64, until: i64) -> Self {
        self.created_from = Some(from);
        self.created_until = Some(until);
        self
    }

    /// Only runs finished in `[from, until)` (ms since the epoch).
    pub fn finished_between(mut self, from: i64, until: i64) -> Self {
        self.finished_from = Some(from);
        self.finished_until = Some(until);
        self
    }

    /// Only the children of `parent`.
    pub fn parent(mut self, parent: RunId) -> Self {
        self.parent = Some(parent);
        self
    }

    /// Only runs whose input, output or error contains `text`.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Only runs waiting for a version no live worker serves (see
    /// [`RunFilter::unserved`](#structfield.unserved)).
    ///
    /// ```
    /// use durable::RunFilter;
    /// assert!(RunFilter::new().workflow("charge").unserved().unserved);
    /// ```
    pub fn unserved(mut self) -> Self {
        self.unserved = true;
        self
    }

    /// Only runs paused now (see [`RunFilter::paused`](#structfield.paused)).
    ///
    /// ```
    /// use durable::RunFilter;
    /// assert!(RunFilter::new().workflow("charge").paused().paused);
    /// ```
    pub fn paused(mut self) -> Self {
        self.paused = true;
        self
    }

    /// Only runs of the queue `queue` (see [`RunInfo::queue`]);
    /// [`Error::InvalidQueue`] for a name outside the queue grammar.
    ///
    /// ```
    /// use durable::RunFilter;
    /// let gpu = RunFilter::new().queue("gpu").unwrap();
    /// assert_eq!(gpu.queue.as_deref(), Some("gpu"));
    /// assert!(RunFilter::new().queue("no spaces").is_err());
    /// ```
    pub fn queue(mut self, queue: impl Into<String>) -> Result<Self, Error> {
        let queue = queue.into();
        durable_grammar::queue::check_queue_name(&queue)?;
        self.queue = Some(queue);
        Ok(self)
    }

    /// Pages of `limit` runs; [`Error::InvalidFilter`] outside 1 to
    /// [`MAX_PAGE`].
    pub fn limit(mut self, limit: usize) -> Result<Self, Error> {
        self.limit = limit;
        self.validate()?;
        Ok(self)
    }

    /// The page after the one that returned `cursor` as its `next`.
    pub fn after(mut self, cursor: RunCursor) -> Self {
        self.after = Some(cursor);
        self
    }

    /// Checks the page size; the stores call it before reading.
    pub fn validate(&self) -> Result<(), Error> {
        check_limit(self.limit)
    }
}

fn check_limit(limit: usize) -> Result<(), Error> {
    if (1..=MAX_PAGE).contains(&limit) {
        Ok(())
    } else {
        Err(Error::InvalidFilter(format!(
            "a page holds 1 to {MAX_PAGE} entries, not {limit}"
        )))
    }
}

/// Where a page of runs ends: the creation time and id of its last run.
/// Its text form (`<created_at>.<id>`) can travel in a URL.
///
/// ```
/// use durable::RunCursor;
/// let cursor: RunCursor = "1700000000000.0190e0a4-4c6e-7a3e-9d0b-5b1f3c2a1d00".parse().unwrap();
/// assert_eq!(cursor.created_at, 1_700_000_000_000);
/// assert_eq!(cursor.to_string().parse::<RunCursor>().unwrap(), cursor);
/// assert!("yesterday".parse::<RunCursor>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RunCursor {
    /// The last run's creation time (ms since the epoch).
    pub created_at: i64,
    /// The last run's id.
    pub id: RunId,
}

impl RunCursor {
    /// The cursor after `run`.
    pub fn after(run: &RunInfo) -> Self {
        RunCursor {
            created_at: run.created_at,
            id: run.id,
        }
    }
}

impl fmt::Display for RunCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.created_at, self.id)
    }
}

impl FromStr for RunCursor {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || Error::InvalidFilter(format!("`{text}` is not a run cursor"));
        let (at, id) = text.split_once('.').ok_or_else(invalid)?;
        Ok(RunCursor {
            created_at: at.parse().map_err(|_| invalid())?,
            id: id.parse().map_err(|_| invalid())?,
        })
    }
}

/// One page of runs, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct RunPage {
    /// The runs, newest first.
    pub runs: Vec<RunInfo>,
    /// The cursor of the next page, `None` on the last page.
    #[serde(serialize_with = "cursor_text")]
    pub next: Option<RunCursor>,
}

fn cursor_text<S: serde::Serializer>(
    cursor: &Option<RunCursor>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match cursor {
        Some(cursor) => serializer.collect_str(cursor),
        None => serializer.serialize_none(),
    }
}

/// How many runs of one workflow are in one status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusCount {
    /// The workflow.
    pub workflow: String,
    /// The status.
    pub status: RunStatus,
    /// How many runs.
    pub count: u64,
}

/// How many runs wait for a workflow version or a queue that no live
/// worker serves: pending, running or suspended runs of one workflow
/// pinned to one version in one queue, which no live worker both
/// registers and serves the queue of (see
/// [`Engine::unserved_runs`](crate::Engine::unserved_runs)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnservedRuns {
    /// The workflow.
    pub workflow: String,
    /// The version they are pinned to, as in
    /// [`RunInfo::version`](crate::RunInfo::version); `None` for runs not
    /// pinned yet, which any version would take, while no live worker
    /// serves the workflow at all.
    pub version: Option<String>,
    /// The queue they wait in (see [`RunInfo::queue`]): runs of a served
    /// version in a queue no live worker serves are unserved too.
    pub queue: String,
    /// How many runs.
    pub runs: u64,
}

/// What happened in one minute: runs started, completed and failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MinuteCounts {
    /// The minute's start (ms since the epoch, a multiple of 60,000).
    pub minute: i64,
    /// Runs first started by a worker in this minute.
    pub started: u64,
    /// Runs completed in this minute.
    pub completed: u64,
    /// Runs failed or timed out in this minute.
    pub failed: u64,
}

/// One run in full: the run, its steps in the order it reached them, its
/// parent and its children.
#[derive(Debug, Clone, Serialize)]
pub struct RunDetail {
    /// The run (its parent is `run.parent`).
    pub run: RunInfo,
    /// Its steps, in the order the run reached them, each with its start
    /// and end time and its attempts.
    pub steps: Vec<StepInfo>,
    /// The runs it started as children, oldest first.
    pub children: Vec<RunInfo>,
}

/// Which events to list, newest first.
///
/// ```
/// use durable::EventFilter;
/// let filter = EventFilter::new().name("payment.received").limit(10).unwrap();
/// assert_eq!(filter.name.as_deref(), Some("payment.received"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter {
    /// Only events of this name.
    pub name: Option<String>,
    /// The page size, 1 to [`MAX_PAGE`] (default [`DEFAULT_PAGE`]).
    pub limit: usize,
    /// Only events older than this id: the `next` of the previous page.
    pub before: Option<i64>,
}

impl Default for EventFilter {
    fn default() -> Self {
        EventFilter {
            name: None,
            limit: DEFAULT_PAGE,
            before: None,
        }
    }
}

impl EventFilter {
    /// Every event, [`DEFAULT_PAGE`] at a time.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only events named `name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Pages of `limit` events; [`Error::InvalidFilter`] outside 1 to
    /// [`MAX_PAGE`].
    pub fn limit(mut self, limit: usize) -> Result<Self, Error> {
        self.limit = limit;
        self.validate()?;
        Ok(self)
    }

    /// The page after the one whose `next` was `id`.
    pub fn before(mut self, id: i64) -> Self {
        self.before = Some(id);
        self
    }

    /// Checks the page size; the stores call it before reading.
    pub fn validate(&self) -> Result<(), Error> {
        check_limit(self.limit)
    }
}

/// An event or signal as stored, with the runs it woke, started and cancelled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventInfo {
    /// Its id, increasing in the order events were stored.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its data.
    pub data: serde_json::Value,
    /// For a signal, the run it was sent to.
    pub target_run: Option<RunId>,
    /// When it was stored (ms since the epoch).
    pub created_at: i64,
    /// The runs whose waiting steps it settled, oldest wake first.
    pub woke: Vec<RunId>,
    /// The runs it started (`#[workflow(on_event = ..)]`), one per workflow.
    pub started: Vec<RunId>,
    /// The runs it cancelled (`#[workflow(cancel_on(..))]`), with their
    /// descendants, in the transaction that stored it (as
    /// [`SentEvent::cancelled`](crate::SentEvent::cancelled) answered).
    pub cancelled: Vec<RunId>,
    /// The workflows it matched but could not start: its data does not fit
    /// their input.
    pub trigger_errors: Vec<crate::model::event::TriggerError>,
}

/// One page of events, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct EventPage {
    /// The events, newest first.
    pub events: Vec<EventInfo>,
    /// The `before` of the next page, `None` on the last page.
    pub next: Option<i64>,
}
