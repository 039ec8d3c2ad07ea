//! What the macro knows about a workflow before it runs: its step manifest,
//! its flow control (concurrency, debounce, throttle), and what an
//! on-failure hook receives.

use serde::Serialize;

/// What an on-failure hook receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Failure {
    /// The error the run failed with.
    pub error: String,
    /// The steps the run had completed, in the order they were reached.
    pub completed_steps: Vec<String>,
}

pub use durable_grammar::StepKind;

/// One step as the macro saw it in the source: enough for a console to draw
/// the expected graph before any run exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StepManifest {
    /// The step's name (for a keyed step, its base name).
    pub name: &'static str,
    /// The step's kind.
    pub kind: StepKind,
    /// Whether the name is keyed, `("name", key)`, so one entry stands for
    /// many steps at run time.
    pub keyed: bool,
    /// Options written at the call site, as `(option, literal text)`, e.g.
    /// `("timeout", "30s")` or `("duration", "5m")`.
    pub options: &'static [(&'static str, &'static str)],
    /// For a step inside a fan-out branch, the fan-out's name: at run time the
    /// step is recorded as `<parent>[<branch>]/<name>`.
    pub parent: Option<&'static str>,
    /// The source line of the call.
    pub line: u32,
}

/// One `on_event` of `#[workflow(on_event = "order.*")]`: an event
/// pattern that starts a run of the workflow, and the optional JSON the
/// event's data must contain (the macro checked both at compile time). See
/// [`Workflow::ON_EVENT`](crate::Workflow::ON_EVENT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EventTrigger {
    /// The event name or pattern (see the README's "Started by an event").
    pub event: &'static str,
    /// The containment filter on the data, as JSON text (an object).
    pub filter: Option<&'static str>,
}

/// `#[workflow(concurrency = 2)]` or `#[workflow(concurrency(limit = 1, key
/// = "customer.id"))]`: at most `limit` runs of the workflow, or of one
/// value of `key` (a path of fields in the input's JSON), execute at once,
/// across every engine on the database. See
/// [`Workflow::CONCURRENCY`](crate::Workflow::CONCURRENCY) and the README's
/// "Concurrency limits and priority".
///
/// ```
/// use durable::Concurrency;
/// let per_customer = Concurrency { limit: 1, key: Some("customer.id") };
/// assert_eq!(per_customer.limit, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Concurrency {
    /// How many runs (of one key value, with a key) execute at once; at
    /// least 1.
    pub limit: u32,
    /// The path of the field in the input whose value groups runs, its
    /// names joined by dots (`"customer.id"`); `None` limits the workflow
    /// as a whole.
    pub key: Option<&'static str>,
}

/// `#[workflow(debounce(period = "5s", key = "user_id", max_wait = "1m"))]`:
/// the triggers of one key (a path of fields in the input's JSON, or the
/// whole workflow without one) that come within `period` of each other
/// collapse into one run, which starts `period` after the last of them with
/// the last one's input; `max_wait` bounds how long a stream of triggers
/// can hold it back from the first. Each trigger returns the id of the run
/// it joined. Decided as the run is triggered, across every engine on the
/// database. See [`Workflow::DEBOUNCE`](crate::Workflow::DEBOUNCE) and the
/// README's "Debounce and throttle".
///
/// ```
/// use durable::Debounce;
/// let per_user = Debounce { period_ms: 5_000, max_wait_ms: Some(60_000), key: Some("user_id") };
/// assert_eq!(per_user.period_ms, 5_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Debounce {
    /// How long after a trigger the run starts, unless another trigger of
    /// its key comes first (ms); at least 1.
    pub period_ms: u64,
    /// The longest a run waits from its first trigger (ms), at least
    /// `period_ms`; `None`: a steady stream of triggers can hold it back
    /// for as long as it lasts.
    pub max_wait_ms: Option<u64>,
    /// The path of the field in the input whose value groups triggers, its
    /// names joined by dots; `None` groups every trigger of the workflow.
    pub key: Option<&'static str>,
}

/// `#[workflow(throttle(limit = 10, period = "1m", key = "user_id"))]`: at
/// most `limit` runs of one key (a path of fields in the input's JSON, or
/// the whole workflow without one) are scheduled to start within any
/// `period`; the others are scheduled for the first moment that keeps the
/// limit, in trigger order. Decided as the run is triggered, across every
/// engine on the database. See
/// [`Workflow::THROTTLE`](crate::Workflow::THROTTLE) and the README's
/// "Debounce and throttle".
///
/// ```
/// use durable::Throttle;
/// let per_user = Throttle { limit: 10, period_ms: 60_000, key: Some("user_id") };
/// assert_eq!(per_user.limit, 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Throttle {
    /// How many runs of one key start within one period; at least 1.
    pub limit: u32,
    /// The length of the sliding window (ms); at least 1.
    pub period_ms: u64,
    /// The path of the field in the input whose value groups runs, its
    /// names joined by dots; `None` throttles the workflow as a whole.
    pub key: Option<&'static str>,
}

/// One `cancel_on` of `#[workflow(cancel_on(event = "order.cancelled", match
/// = "order_id"))]`: an event whose arrival cancels the workflow's
/// unfinished runs (with their children, as a cancel does). With `matching`
/// only the runs whose input holds, at that path, the value the event's
/// data holds at the same path (compared as JSON values); without it every
/// unfinished run of the workflow. See
/// [`Workflow::CANCEL_ON`](crate::Workflow::CANCEL_ON) and the README's
/// "Cancelled by an event".
///
/// ```
/// use durable::CancelOn;
/// let on_cancel = CancelOn { event: "order.cancelled", matching: Some("order_id") };
/// assert_eq!(on_cancel.matching, Some("order_id"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CancelOn {
    /// The event's exact name (no wildcard).
    pub event: &'static str,
    /// The path of the field, in the event's data and in the run's input,
    /// whose values must be equal, its names joined by dots (`"order.id"`);
    /// `None` cancels every unfinished run of the workflow.
    pub matching: Option<&'static str>,
}
