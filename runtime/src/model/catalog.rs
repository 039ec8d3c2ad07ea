//! The catalog as readers see it: the workflow versions engines recorded in
//! `wf_workflow` (schemas, step manifest, timeout, cron, queue and flow
//! control) and the engines
//! themselves in `wf_worker`, so a process with only the database URL knows
//! what it may trigger and who serves it.

use serde::{Deserialize, Serialize};

use super::event::EventTypeInfo;
use super::workflow::{CancelOn, Concurrency, Debounce, StepManifest, Throttle};

/// One step of a workflow version's manifest, as the catalog stores it: the
/// owned form of the [`StepManifest`] the macro emits.
///
/// The kind is kept as text (`run`, `sleep`, `wait_for_event`, ...): a
/// catalog may hold versions recorded by a newer durable with kinds this one
/// does not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogStep {
    /// The step's name (for a keyed step, its base name).
    pub name: String,
    /// The step's kind, as [`StepKind::as_str`](crate::StepKind::as_str) writes it.
    pub kind: String,
    /// Whether the name is keyed: one entry stands for many steps at run time.
    pub keyed: bool,
    /// Options written at the call site, as `(option, literal text)`.
    pub options: Vec<(String, String)>,
    /// For a step inside a fan-out branch, the fan-out's name.
    pub parent: Option<String>,
    /// The source line of the call.
    pub line: u32,
}

impl From<&StepManifest> for CatalogStep {
    fn from(step: &StepManifest) -> Self {
        CatalogStep {
            name: step.name.to_owned(),
            kind: step.kind.as_str().to_owned(),
            keyed: step.keyed,
            options: step
                .options
                .iter()
                .map(|(option, value)| ((*option).to_owned(), (*value).to_owned()))
                .collect(),
            parent: step.parent.map(str::to_owned),
            line: step.line,
        }
    }
}

/// One version of a workflow in the catalog (a row of `wf_workflow`): what
/// an engine that registered it recorded at its start.
///
/// Two engines whose workflows of one name differ in their steps or schemas
/// record two versions, told apart by [`fingerprint`](Self::fingerprint).
/// The fingerprint says which journals a version can replay, so it leaves
/// out what does not change a journal: the timeout, cron, queue, event
/// triggers and flow control ([`concurrency`](Self::concurrency),
/// [`debounce`](Self::debounce), [`throttle`](Self::throttle),
/// [`cancel_on`](Self::cancel_on)) are recorded beside it, and an engine
/// that starts with a version of the same fingerprint but other options
/// records its options over the earlier ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowVersion {
    /// The workflow's name.
    pub name: String,
    /// The version's fingerprint: 16 hex digits of a SHA-256 over its
    /// steps (names, kinds, order) and schemas.
    pub fingerprint: String,
    /// The JSON Schema of the input.
    pub input_schema: serde_json::Value,
    /// The JSON Schema of the output, when the output type has one.
    pub output_schema: Option<serde_json::Value>,
    /// The steps the macro found in the body, in source order.
    pub steps: Vec<CatalogStep>,
    /// The workflow's timeout in milliseconds, if it has one.
    pub timeout_ms: Option<u64>,
    /// The cron expression that starts runs, if any.
    pub cron: Option<String>,
    /// The cron expression's time zone (IANA name), with `cron`.
    pub timezone: Option<String>,
    /// The event patterns that start runs of it (`#[workflow(on_event =
    /// ..)]`), each with its filter; empty for a workflow no event starts.
    /// The most recently seen version's are the ones events are matched
    /// against.
    #[serde(default)]
    pub on_event: Vec<EventTriggerInfo>,
    /// The queue its runs wait in (`#[workflow(queue = "..")]`,
    /// `"default"` when not declared): a process that knows the workflow
    /// only from the catalog triggers its runs into this queue.
    #[serde(default = "default_queue")]
    pub queue: String,
    /// Its concurrency limit (`#[workflow(concurrency = ..)]`), if it has
    /// one: a process that knows the workflow only from the catalog gives
    /// the runs it triggers their key by it, as an engine that registers it
    /// does.
    #[serde(default)]
    pub concurrency: Option<ConcurrencyInfo>,
    /// Its debounce (`#[workflow(debounce(..))]`), if it has one: a trigger
    /// from a process that knows the workflow only from the catalog joins
    /// the key's pending run too.
    #[serde(default)]
    pub debounce: Option<DebounceInfo>,
    /// Its throttle (`#[workflow(throttle(..))]`), if it has one, applied
    /// to every trigger as [`debounce`](Self::debounce) is.
    #[serde(default)]
    pub throttle: Option<ThrottleInfo>,
    /// The events that cancel its runs (`#[workflow(cancel_on(..))]`);
    /// empty for a workflow no event cancels. A run triggered by a process
    /// that knows the workflow only from the catalog is cancelled by them
    /// too.
    #[serde(default)]
    pub cancel_on: Vec<CancelOnInfo>,
    /// When an engine first recorded this version (ms since the epoch).
    pub first_seen: i64,
    /// When an engine serving this version last started or heartbeat.
    pub last_seen: i64,
}

/// An event trigger as the catalog records it (the owned form of
/// [`EventTrigger`](crate::model::workflow::EventTrigger)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventTriggerInfo {
    /// The event name or pattern, e.g. `order.*`.
    pub event: String,
    /// The JSON the event's data must contain, if any.
    pub filter: Option<serde_json::Value>,
}

/// A concurrency limit as the catalog records it (the owned form of
/// [`Concurrency`]).
///
/// ```
/// use durable::{Concurrency, ConcurrencyInfo};
/// let declared = Concurrency { limit: 1, key: Some("customer.id") };
/// let recorded = ConcurrencyInfo::from(&declared);
/// assert_eq!(recorded, ConcurrencyInfo { limit: 1, key: Some("customer.id".into()) });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConcurrencyInfo {
    /// How many runs (of one key value, with a key) execute at once.
    pub limit: u32,
    /// The path of the input's field whose value groups runs (field names
    /// joined by dots); `None` limits the workflow as a whole.
    pub key: Option<String>,
}

impl From<&Concurrency> for ConcurrencyInfo {
    fn from(concurrency: &Concurrency) -> Self {
        ConcurrencyInfo {
            limit: concurrency.limit,
            key: concurrency.key.map(str::to_owned),
        }
    }
}

/// A debounce as the catalog records it (the owned form of [`Debounce`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebounceInfo {
    /// How long after a trigger the run starts, unless another trigger of
    /// its key comes first (ms).
    pub period_ms: u64,
    /// The longest a run waits from its first trigger (ms), if bounded.
    pub max_wait_ms: Option<u64>,
    /// The path of the input's field whose value groups triggers; `None`
    /// groups every trigger of the workflow.
    pub key: Option<String>,
}

impl From<&Debounce> for DebounceInfo {
    fn from(debounce: &Debounce) -> Self {
        DebounceInfo {
            period_ms: debounce.period_ms,
            max_wait_ms: debounce.max_wait_ms,
            key: debounce.key.map(str::to_owned),
        }
    }
}

/// A throttle as the catalog records it (the owned form of [`Throttle`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThrottleInfo {
    /// How many runs of one key start within one period.
    pub limit: u32,
    /// The length of the sliding window (ms).
    pub period_ms: u64,
    /// The path of the input's field whose value groups runs; `None`
    /// throttles the workflow as a whole.
    pub key: Option<String>,
}

impl From<&Throttle> for ThrottleInfo {
    fn from(throttle: &Throttle) -> Self {
        ThrottleInfo {
            limit: throttle.limit,
            period_ms: throttle.period_ms,
            key: throttle.key.map(str::to_owned),
        }
    }
}

/// A `cancel_on` as the catalog records it (the owned form of
/// [`CancelOn`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelOnInfo {
    /// The event's exact name.
    pub event: String,
    /// The path of the field, in the event's data and in the run's input,
    /// whose values must be equal; `None` cancels every unfinished run.
    pub matching: Option<String>,
}

impl From<&CancelOn> for CancelOnInfo {
    fn from(cancel_on: &CancelOn) -> Self {
        CancelOnInfo {
            event: cancel_on.event.to_owned(),
            matching: cancel_on.matching.map(str::to_owned),
        }
    }
}

/// A workflow version by its key: name and fingerprint, and the version
/// the runs it starts are pinned to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WorkflowRef {
    /// The workflow's name.
    pub name: String,
    /// The version's fingerprint.
    pub fingerprint: String,
    /// The version runs are pinned to, as in
    /// [`RunInfo::version`](crate::RunInfo::version): `v2` for a workflow
    /// declared with `#[workflow(version = 2)]`, else the fingerprint.
    /// `None` in a worker row an older durable wrote, whose runs are
    /// pinned to the fingerprint (see [`pinned_as`](Self::pinned_as)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl WorkflowRef {
    /// The version a worker serving this runs: [`version`](Self::version),
    /// or the fingerprint where an older worker row did not say.
    ///
    /// ```
    /// use durable::WorkflowRef;
    /// let declared = WorkflowRef { name: "charge".into(), fingerprint: "9f2c".into(), version: Some("v2".into()) };
    /// assert_eq!(declared.pinned_as(), "v2");
    /// let older = WorkflowRef { version: None, ..declared };
    /// assert_eq!(older.pinned_as(), "9f2c");
    /// ```
    pub fn pinned_as(&self) -> &str {
        self.version.as_deref().unwrap_or(&self.fingerprint)
    }
}

/// An engine as it recorded itself in `wf_worker`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// The engine's id (also the owner of the runs it claims).
    pub id: String,
    /// The host it runs on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// When it started (ms since the epoch).
    pub started_at: i64,
    /// Its last heartbeat (ms since the epoch): a worker whose heartbeat is
    /// much older than its interval has stopped without saying so.
    pub heartbeat_at: i64,
    /// The workflow versions it serves.
    pub workflows: Vec<WorkflowRef>,
    /// The queues it claims runs from (`EngineBuilder::queues`), sorted;
    /// `["default"]` for a worker of an older durable.
    #[serde(default = "default_queues")]
    pub queues: Vec<String>,
}

/// The queue of a version recorded without one.
fn default_queue() -> String {
    durable_grammar::queue::DEFAULT_QUEUE.to_owned()
}

/// The queues of a worker recorded without them.
fn default_queues() -> Vec<String> {
    vec![default_queue()]
}

/// One version of a workflow with the engines that serve it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServedVersion {
    /// The version.
    pub version: WorkflowVersion,
    /// The recorded engines that serve it (none when every engine that
    /// served it stopped).
    pub workers: Vec<WorkerInfo>,
}

/// A workflow in the catalog: every recorded version, the most recently
/// seen first, each with its workers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowDetail {
    /// The workflow's name.
    pub name: String,
    /// Its versions, the most recently seen first.
    pub versions: Vec<ServedVersion>,
}

/// What an engine records of itself when it starts: the row of
/// `wf_worker`, and the versions it serves for `wf_workflow`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkerRecord {
    /// The worker's row (its `workflows` are the versions' keys).
    pub(crate) worker: WorkerInfo,
    /// The versions it serves (their `first_seen` and `last_seen` are the
    /// start time).
    pub(crate) versions: Vec<WorkflowVersion>,
    /// The typed events its workflows wait for or publish, for
    /// `wf_event_type` (their `first_seen` and `last_seen` are the start
    /// time).
    pub(crate) event_types: Vec<EventTypeInfo>,
}
