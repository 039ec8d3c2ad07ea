//! The storage of the catalog: the workflow versions engines serve
//! (`wf_workflow`) and the engines themselves (`wf_worker`), and the rows
//! both backends read them as.

use serde::{Deserialize, Serialize};

use crate::model::catalog::{
    CancelOnInfo, CatalogStep, ConcurrencyInfo, DebounceInfo, ThrottleInfo, WorkerInfo,
    WorkerRecord, WorkflowRef, WorkflowVersion,
};
use crate::model::error::Error;
use crate::model::event::EventTypeInfo;
use crate::model::sync::BoxFuture;

/// The catalog: what engines record of themselves, and what any process
/// with the database reads of it.
pub(crate) trait CatalogStore: Send + Sync + 'static {
    /// Records a starting engine: each version it serves (new versions
    /// added with `first_seen`, known ones get a new `last_seen`) and its
    /// worker row, in one transaction. On SQLite, whose file belongs to one
    /// engine at a time, the rows of earlier workers are removed with it:
    /// they are gone.
    fn record_worker(&self, record: WorkerRecord) -> BoxFuture<'_, Result<(), Error>>;

    /// Moves the worker's heartbeat, and the `last_seen` of the versions it
    /// serves, to `now`, and removes every other worker whose heartbeat is
    /// older than `gone_before` (crashed: a worker that stops removes its
    /// own row). Returns whether the worker's row was there (it is not
    /// after someone removed it; the engine then records itself again).
    fn heartbeat_worker(
        &self,
        worker: String,
        workflows: Vec<WorkflowRef>,
        now: i64,
        gone_before: i64,
    ) -> BoxFuture<'_, Result<bool, Error>>;

    /// Removes a stopping engine's worker row; its versions stay.
    fn remove_worker(&self, worker: String) -> BoxFuture<'_, Result<(), Error>>;

    /// Every version of every workflow, by name, the most recently seen
    /// version of each first.
    fn list_workflows(&self) -> BoxFuture<'_, Result<Vec<WorkflowVersion>, Error>>;

    /// The versions of one workflow, the most recently seen first (empty
    /// for a name never recorded).
    fn workflow_versions(&self, name: String)
    -> BoxFuture<'_, Result<Vec<WorkflowVersion>, Error>>;

    /// Every recorded worker, the most recently started first.
    fn list_workers(&self) -> BoxFuture<'_, Result<Vec<WorkerInfo>, Error>>;

    /// Every recorded schema of every typed event, by name, the most
    /// recently seen of each first.
    fn list_event_types(&self) -> BoxFuture<'_, Result<Vec<EventTypeInfo>, Error>>;

    /// The most recently seen schema of the typed event `name`, or `None`
    /// for a name no engine recorded as typed.
    fn event_type(&self, name: String) -> BoxFuture<'_, Result<Option<EventTypeInfo>, Error>>;

    /// The workflows events start: the most recently seen version of each
    /// workflow, where that version has `on_event` triggers (a workflow
    /// whose latest version dropped them is left out).
    fn triggered_workflows(&self) -> BoxFuture<'_, Result<Vec<WorkflowVersion>, Error>>;
}

/// The condition that a `wf_workflow` row `w` is the most recently seen
/// version of its workflow, in the order of [`VERSIONS_ORDER`] (both
/// dialects).
pub(crate) const LATEST_VERSION: &str = "NOT EXISTS (SELECT 1 FROM wf_workflow AS n \
    WHERE n.name = w.name AND (n.last_seen > w.last_seen OR (n.last_seen = w.last_seen \
    AND (n.first_seen > w.first_seen OR (n.first_seen = w.first_seen \
    AND n.fingerprint < w.fingerprint)))))";

/// The columns of `wf_event_type` that make an [`EventTypeInfo`], in the
/// order of [`EventTypeRow`]. (PostgreSQL reads its JSONB column as text.)
#[cfg(feature = "sqlite")]
pub(crate) const EVENT_TYPE_COLUMNS: &str = "name, fingerprint, schema, first_seen, last_seen";

/// A row of `wf_event_type` as both backends read it (JSON as text).
pub(crate) type EventTypeRow = (String, String, String, i64, i64);

/// An event type from its row.
pub(crate) fn event_type_info(row: EventTypeRow) -> Result<EventTypeInfo, Error> {
    let (name, fingerprint, schema, first_seen, last_seen) = row;
    Ok(EventTypeInfo {
        schema: json("event schema", &schema)?,
        name,
        fingerprint,
        first_seen,
        last_seen,
    })
}

/// The columns of `wf_workflow` that make a [`WorkflowVersion`], in the
/// order of [`WorkflowRow`]. (PostgreSQL reads its JSONB columns as text.)
#[cfg(feature = "sqlite")]
pub(crate) const WORKFLOW_COLUMNS: &str = "name, fingerprint, input_schema, output_schema, \
    manifest, timeout_ms, cron, timezone, first_seen, last_seen, on_event, queue, flow_control";

/// The order of the version lists: by name, the most recently seen first.
pub(crate) const VERSIONS_ORDER: &str =
    "ORDER BY name, last_seen DESC, first_seen DESC, fingerprint";

/// The columns of `wf_worker` that make a [`WorkerInfo`], in the order of
/// [`WorkerRow`]. (PostgreSQL reads its JSONB column as text.)
#[cfg(feature = "sqlite")]
pub(crate) const WORKER_COLUMNS: &str =
    "id, host, pid, started_at, heartbeat_at, workflows, queues";

/// A row of `wf_workflow` as both backends read it (JSON as text).
pub(crate) type WorkflowRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    i64,
    i64,
    String,
    String,
    String,
);

/// A row of `wf_worker` as both backends read it (JSON as text).
pub(crate) type WorkerRow = (String, String, i64, i64, i64, String, String);

fn json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|error| {
        Error::Database(format!("the catalog's {what} is not valid: {error}").into())
    })
}

/// A version from its row.
pub(crate) fn workflow_version(row: WorkflowRow) -> Result<WorkflowVersion, Error> {
    let (
        name,
        fingerprint,
        input,
        output,
        manifest,
        timeout,
        cron,
        timezone,
        first,
        last,
        on_event,
        queue,
        flow_control,
    ) = row;
    let steps: Vec<CatalogStep> = json("manifest", &manifest)?;
    let flow: FlowControlColumn = json("flow control", &flow_control)?;
    Ok(WorkflowVersion {
        input_schema: json("input schema", &input)?,
        output_schema: output
            .map(|output| json("output schema", &output))
            .transpose()?,
        steps,
        timeout_ms: timeout.and_then(|ms| u64::try_from(ms).ok()),
        cron,
        timezone,
        on_event: json("event triggers", &on_event)?,
        first_seen: first,
        last_seen: last,
        name,
        fingerprint,
        queue,
        concurrency: flow.concurrency,
        debounce: flow.debounce,
        throttle: flow.throttle,
        cancel_on: flow.cancel_on,
    })
}

/// The `flow_control` column of `wf_workflow`: a version's concurrency
/// limit, debounce, throttle and `cancel_on`, one JSON object whose members
/// are left out when not declared (`{}` for a version recorded before the
/// column, which reads as none of them).
#[derive(Debug, Default, Serialize, Deserialize)]
struct FlowControlColumn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    concurrency: Option<ConcurrencyInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    debounce: Option<DebounceInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    throttle: Option<ThrottleInfo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    cancel_on: Vec<CancelOnInfo>,
}

impl FlowControlColumn {
    /// The column's JSON for `version`.
    fn json_of(version: &WorkflowVersion) -> String {
        let column = FlowControlColumn {
            concurrency: version.concurrency.clone(),
            debounce: version.debounce.clone(),
            throttle: version.throttle.clone(),
            cancel_on: version.cancel_on.clone(),
        };
        serde_json::to_string(&column).unwrap_or_else(|_| "{}".into())
    }
}

/// A worker from its row.
pub(crate) fn worker_info(row: WorkerRow) -> Result<WorkerInfo, Error> {
    let (id, host, pid, started_at, heartbeat_at, workflows, queues) = row;
    Ok(WorkerInfo {
        workflows: json("worker's workflows", &workflows)?,
        queues: json("worker's queues", &queues)?,
        pid: u32::try_from(pid).unwrap_or_default(),
        id,
        host,
        started_at,
        heartbeat_at,
    })
}

/// A version's values as both backends write them: JSON as text, the
/// timeout as a signed integer.
pub(crate) struct VersionValues {
    pub(crate) input_schema: String,
    pub(crate) output_schema: Option<String>,
    pub(crate) manifest: String,
    pub(crate) timeout_ms: Option<i64>,
    /// The `on_event` triggers, a JSON array.
    pub(crate) on_event: String,
    /// The flow control, a JSON object (see `FlowControlColumn`).
    pub(crate) flow_control: String,
}

impl VersionValues {
    pub(crate) fn of(version: &WorkflowVersion) -> VersionValues {
        VersionValues {
            input_schema: version.input_schema.to_string(),
            output_schema: version.output_schema.as_ref().map(ToString::to_string),
            manifest: serde_json::to_string(&version.steps).unwrap_or_else(|_| "[]".into()),
            timeout_ms: version.timeout_ms.and_then(|ms| i64::try_from(ms).ok()),
            on_event: serde_json::to_string(&version.on_event).unwrap_or_else(|_| "[]".into()),
            flow_control: FlowControlColumn::json_of(version),
        }
    }
}

/// The worker's `queues` column: the queues it serves as a JSON array.
pub(crate) fn queues_json(queues: &[String]) -> String {
    serde_json::to_string(queues).unwrap_or_else(|_| "[]".into())
}

/// The worker's `workflows` column: its versions' keys as a JSON array.
pub(crate) fn workflows_json(workflows: &[WorkflowRef]) -> String {
    serde_json::to_string(workflows).unwrap_or_else(|_| "[]".into())
}

/// The [`CatalogStore`] methods that are one queued write, for a backend
/// with `async fn write(&self, WriteOp) -> Result<WriteOut, Error>`: every
/// backend answers them the same way.
macro_rules! queued_catalog_writes {
    () => {
        fn record_worker(
            &self,
            record: $crate::model::catalog::WorkerRecord,
        ) -> BoxFuture<'_, Result<(), Error>> {
            Box::pin(async move {
                self.write(WriteOp::RecordWorker(record)).await?;
                Ok(())
            })
        }

        fn heartbeat_worker(
            &self,
            worker: String,
            workflows: Vec<$crate::model::catalog::WorkflowRef>,
            now: i64,
            gone_before: i64,
        ) -> BoxFuture<'_, Result<bool, Error>> {
            Box::pin(async move {
                match self
                    .write(WriteOp::Heartbeat {
                        worker,
                        workflows,
                        now,
                        gone_before,
                    })
                    .await?
                {
                    WriteOut::Count(count) => Ok(count > 0),
                    _ => Err(unexpected()),
                }
            })
        }

        fn remove_worker(&self, worker: String) -> BoxFuture<'_, Result<(), Error>> {
            Box::pin(async move {
                self.write(WriteOp::RemoveWorker(worker)).await?;
                Ok(())
            })
        }
    };
}

pub(crate) use queued_catalog_writes;
