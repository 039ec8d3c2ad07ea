//! The catalog on SQLite: the versions an engine serves and its worker row,
//! written by the writer at start, on each heartbeat and at shutdown, and
//! read on the reader connections.

use rusqlite::{Connection, params};

use super::SqliteStore;
use crate::model::catalog::{WorkerInfo, WorkerRecord, WorkflowRef, WorkflowVersion};
use crate::model::error::Error;
use crate::model::event::EventTypeInfo;
use crate::model::sync::BoxFuture;
use crate::store::CatalogStore;
use crate::store::catalog::{
    EVENT_TYPE_COLUMNS, EventTypeRow, LATEST_VERSION, VERSIONS_ORDER, VersionValues,
    WORKER_COLUMNS, WORKFLOW_COLUMNS, WorkerRow, WorkflowRow, event_type_info, queues_json,
    worker_info, workflow_version, workflows_json,
};
use crate::store::ops::{Applied, WriteOp, WriteOut};
use crate::store::rows::unexpected;

impl CatalogStore for SqliteStore {
    crate::store::catalog::queued_catalog_writes!();

    fn list_workflows(&self) -> BoxFuture<'_, Result<Vec<WorkflowVersion>, Error>> {
        let sql = format!("SELECT {WORKFLOW_COLUMNS} FROM wf_workflow {VERSIONS_ORDER}");
        Box::pin(std::future::ready(self.workflow_rows(&sql, [])))
    }

    fn workflow_versions(
        &self,
        name: String,
    ) -> BoxFuture<'_, Result<Vec<WorkflowVersion>, Error>> {
        let sql =
            format!("SELECT {WORKFLOW_COLUMNS} FROM wf_workflow WHERE name = ?1 {VERSIONS_ORDER}");
        Box::pin(std::future::ready(self.workflow_rows(&sql, [&name])))
    }

    fn list_workers(&self) -> BoxFuture<'_, Result<Vec<WorkerInfo>, Error>> {
        let sql = format!("SELECT {WORKER_COLUMNS} FROM wf_worker ORDER BY started_at DESC, id");
        let rows = self.readers.read(|connection| {
            connection
                .prepare_cached(&sql)?
                .query_map([], |row| WorkerRow::try_from(row))?
                .collect::<rusqlite::Result<Vec<_>>>()
        });
        let result = rows.and_then(|rows| rows.into_iter().map(worker_info).collect());
        Box::pin(std::future::ready(result))
    }

    fn list_event_types(&self) -> BoxFuture<'_, Result<Vec<EventTypeInfo>, Error>> {
        let sql = format!("SELECT {EVENT_TYPE_COLUMNS} FROM wf_event_type {VERSIONS_ORDER}");
        let rows = self.readers.read(|connection| {
            connection
                .prepare_cached(&sql)?
                .query_map([], |row| EventTypeRow::try_from(row))?
                .collect::<rusqlite::Result<Vec<_>>>()
        });
        let result = rows.and_then(|rows| rows.into_iter().map(event_type_info).collect());
        Box::pin(std::future::ready(result))
    }

    fn event_type(&self, name: String) -> BoxFuture<'_, Result<Option<EventTypeInfo>, Error>> {
        let sql = format!(
            "SELECT {EVENT_TYPE_COLUMNS} FROM wf_event_type WHERE name = ?1 {VERSIONS_ORDER} LIMIT 1"
        );
        let rows = self.readers.read(|connection| {
            connection
                .prepare_cached(&sql)?
                .query_map([&name], |row| EventTypeRow::try_from(row))?
                .collect::<rusqlite::Result<Vec<_>>>()
        });
        let result = rows.and_then(|rows| rows.into_iter().next().map(event_type_info).transpose());
        Box::pin(std::future::ready(result))
    }

    fn triggered_workflows(&self) -> BoxFuture<'_, Result<Vec<WorkflowVersion>, Error>> {
        let sql = format!(
            "SELECT {WORKFLOW_COLUMNS} FROM wf_workflow AS w \
             WHERE on_event <> '[]' AND {LATEST_VERSION} ORDER BY name"
        );
        Box::pin(std::future::ready(self.workflow_rows(&sql, [])))
    }
}

impl SqliteStore {
    /// The workflow versions the catalog statement `sql` (selecting
    /// [`WORKFLOW_COLUMNS`]) reads with `params`.
    fn workflow_rows(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<WorkflowVersion>, Error> {
        let rows = self.readers.read(|connection| {
            connection
                .prepare_cached(sql)?
                .query_map(params, |row| WorkflowRow::try_from(row))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.into_iter().map(workflow_version).collect()
    }
}

/// Records a starting engine's versions and worker row. Workers recorded
/// before it are removed: the file lock lets one engine at a time use the
/// file, so they stopped (or died) before this one started.
pub(super) fn record_worker(connection: &Connection, record: &WorkerRecord) -> Applied {
    let mut upsert = connection.prepare_cached(
        "INSERT INTO wf_workflow (name, fingerprint, input_schema, output_schema, manifest, \
           timeout_ms, cron, timezone, first_seen, last_seen, on_event, queue, flow_control) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11, ?12) \
         ON CONFLICT (name, fingerprint) DO UPDATE SET manifest = excluded.manifest, \
           timeout_ms = excluded.timeout_ms, cron = excluded.cron, \
           timezone = excluded.timezone, on_event = excluded.on_event, \
           queue = excluded.queue, flow_control = excluded.flow_control, \
           last_seen = MAX(last_seen, excluded.last_seen)",
    )?;
    for version in &record.versions {
        let values = VersionValues::of(version);
        upsert.execute(params![
            version.name,
            version.fingerprint,
            values.input_schema,
            values.output_schema,
            values.manifest,
            values.timeout_ms,
            version.cron,
            version.timezone,
            version.last_seen,
            values.on_event,
            version.queue,
            values.flow_control,
        ])?;
    }
    let mut event_type = connection.prepare_cached(
        "INSERT INTO wf_event_type (name, fingerprint, schema, first_seen, last_seen) \
         VALUES (?1, ?2, ?3, ?4, ?4) \
         ON CONFLICT (name, fingerprint) DO UPDATE SET \
           last_seen = MAX(last_seen, excluded.last_seen)",
    )?;
    for event in &record.event_types {
        event_type.execute(params![
            event.name,
            event.fingerprint,
            event.schema.to_string(),
            event.last_seen,
        ])?;
    }
    connection
        .prepare_cached("DELETE FROM wf_worker")?
        .execute([])?;
    let worker = &record.worker;
    connection
        .prepare_cached(
            "INSERT INTO wf_worker (id, host, pid, started_at, heartbeat_at, workflows, queues) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            worker.id,
            worker.host,
            worker.pid,
            worker.started_at,
            worker.heartbeat_at,
            workflows_json(&worker.workflows),
            queues_json(&worker.queues),
        ])?;
    Ok(Ok(WriteOut::Done))
}

/// Moves a worker's heartbeat and its versions' `last_seen` to `now`, and
/// removes the other workers silent since before `gone_before` (on SQLite
/// only a row that a later engine's start did not remove, see
/// `record_worker`); answers how many worker rows it moved (0 or 1).
pub(super) fn heartbeat(
    connection: &Connection,
    worker: &str,
    workflows: &[WorkflowRef],
    (now, gone_before): (i64, i64),
) -> Applied {
    connection
        .prepare_cached("DELETE FROM wf_worker WHERE heartbeat_at < ?2 AND id <> ?1")?
        .execute(params![worker, gone_before])?;
    let moved = connection
        .prepare_cached("UPDATE wf_worker SET heartbeat_at = MAX(heartbeat_at, ?2) WHERE id = ?1")?
        .execute(params![worker, now])?;
    if moved > 0 {
        let mut seen = connection.prepare_cached(
            "UPDATE wf_workflow SET last_seen = MAX(last_seen, ?3) \
             WHERE name = ?1 AND fingerprint = ?2",
        )?;
        for workflow in workflows {
            seen.execute(params![workflow.name, workflow.fingerprint, now])?;
        }
    }
    Ok(Ok(WriteOut::Count(moved as u64)))
}

/// Removes a stopping worker's row.
pub(super) fn remove_worker(connection: &Connection, worker: &str) -> Applied {
    connection
        .prepare_cached("DELETE FROM wf_worker WHERE id = ?1")?
        .execute([worker])?;
    Ok(Ok(WriteOut::Done))
}

/// Applies a catalog write (the writer's dispatch for these ops).
pub(super) fn apply(connection: &Connection, op: &WriteOp) -> Applied {
    match op {
        WriteOp::RecordWorker(record) => record_worker(connection, record),
        WriteOp::Heartbeat {
            worker,
            workflows,
            now,
            gone_before,
        } => heartbeat(connection, worker, workflows, (*now, *gone_before)),
        WriteOp::RemoveWorker(worker) => remove_worker(connection, worker),
        _ => Err(unexpected()),
    }
}
