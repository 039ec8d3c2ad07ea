//! The catalog on PostgreSQL: the versions each engine serves and its
//! worker row, written by the writer at start, on each heartbeat and at
//! shutdown, and read on the pool. Many engines share the tables, so a
//! start leaves the other workers' rows alone.

use sqlx::PgConnection;

use super::PostgresStore;
use crate::model::catalog::{WorkerInfo, WorkerRecord, WorkflowRef, WorkflowVersion};
use crate::model::error::Error;
use crate::model::event::EventTypeInfo;
use crate::model::sync::BoxFuture;
use crate::store::CatalogStore;
use crate::store::catalog::{
    EventTypeRow, LATEST_VERSION, VERSIONS_ORDER, VersionValues, WorkerRow, WorkflowRow,
    event_type_info, queues_json, worker_info, workflow_version, workflows_json,
};
use crate::store::ops::{Applied, WriteOp, WriteOut};
use crate::store::rows::unexpected;

/// SQLite's `WORKFLOW_COLUMNS` (in `store::catalog`) with the JSONB columns read as text.
const WORKFLOW_COLUMNS: &str = "name, fingerprint, input_schema::text, output_schema::text, \
    manifest::text, timeout_ms, cron, timezone, first_seen, last_seen, on_event::text, queue, \
    flow_control::text";

/// SQLite's `EVENT_TYPE_COLUMNS` (in `store::catalog`) with the JSONB column read as text.
const EVENT_TYPE_COLUMNS: &str = "name, fingerprint, schema::text, first_seen, last_seen";

/// SQLite's `WORKER_COLUMNS` (in `store::catalog`) with the JSONB column read as text.
pub(super) const WORKER_COLUMNS: &str =
    "id, host, pid, started_at, heartbeat_at, workflows::text, queues::text";

impl CatalogStore for PostgresStore {
    crate::store::catalog::queued_catalog_writes!();

    fn list_workflows(&self) -> BoxFuture<'_, Result<Vec<WorkflowVersion>, Error>> {
        Box::pin(async move {
            let sql = format!("SELECT {WORKFLOW_COLUMNS} FROM wf_workflow {VERSIONS_ORDER}");
            let rows: Vec<WorkflowRow> = sqlx::query_as(&sql).fetch_all(&self.pool).await?;
            rows.into_iter().map(workflow_version).collect()
        })
    }

    fn workflow_versions(
        &self,
        name: String,
    ) -> BoxFuture<'_, Result<Vec<WorkflowVersion>, Error>> {
        Box::pin(async move {
            let sql = format!(
                "SELECT {WORKFLOW_COLUMNS} FROM wf_workflow WHERE name = $1 {VERSIONS_ORDER}"
            );
            let rows: Vec<WorkflowRow> = sqlx::query_as(&sql)
                .bind(&name)
                .fetch_all(&self.pool)
                .await?;
            rows.into_iter().map(workflow_version).collect()
        })
    }

    fn list_workers(&self) -> BoxFuture<'_, Result<Vec<WorkerInfo>, Error>> {
        Box::pin(async move {
            let sql =
                format!("SELECT {WORKER_COLUMNS} FROM wf_worker ORDER BY started_at DESC, id");
            let rows: Vec<WorkerRow> = sqlx::query_as(&sql).fetch_all(&self.pool).await?;
            rows.into_iter().map(worker_info).collect()
        })
    }

    fn list_event_types(&self) -> BoxFuture<'_, Result<Vec<EventTypeInfo>, Error>> {
        Box::pin(async move {
            let sql = format!("SELECT {EVENT_TYPE_COLUMNS} FROM wf_event_type {VERSIONS_ORDER}");
            let rows: Vec<EventTypeRow> = sqlx::query_as(&sql).fetch_all(&self.pool).await?;
            rows.into_iter().map(event_type_info).collect()
        })
    }

    fn event_type(&self, name: String) -> BoxFuture<'_, Result<Option<EventTypeInfo>, Error>> {
        Box::pin(async move {
            let sql = format!(
                "SELECT {EVENT_TYPE_COLUMNS} FROM wf_event_type WHERE name = $1 {VERSIONS_ORDER} LIMIT 1"
            );
            let row: Option<EventTypeRow> = sqlx::query_as(&sql)
                .bind(&name)
                .fetch_optional(&self.pool)
                .await?;
            row.map(event_type_info).transpose()
        })
    }

    fn triggered_workflows(&self) -> BoxFuture<'_, Result<Vec<WorkflowVersion>, Error>> {
        Box::pin(async move {
            let sql = format!(
                "SELECT {WORKFLOW_COLUMNS} FROM wf_workflow AS w \
                 WHERE on_event <> '[]'::jsonb AND {LATEST_VERSION} ORDER BY name"
            );
            let rows: Vec<WorkflowRow> = sqlx::query_as(&sql).fetch_all(&self.pool).await?;
            rows.into_iter().map(workflow_version).collect()
        })
    }
}

/// Records a starting engine's versions and its worker row.
pub(super) async fn record_worker(connection: &mut PgConnection, record: &WorkerRecord) -> Applied {
    for version in &record.versions {
        let values = VersionValues::of(version);
        sqlx::query(
            "INSERT INTO wf_workflow (name, fingerprint, input_schema, output_schema, manifest, \
               timeout_ms, cron, timezone, first_seen, last_seen, on_event, queue, flow_control) \
             VALUES ($1, $2, $3::jsonb, $4::jsonb, $5::jsonb, $6, $7, $8, $9, $9, $10::jsonb, $11, \
               $12::jsonb) \
             ON CONFLICT (name, fingerprint) DO UPDATE SET manifest = excluded.manifest, \
               timeout_ms = excluded.timeout_ms, cron = excluded.cron, \
               timezone = excluded.timezone, on_event = excluded.on_event, \
               queue = excluded.queue, flow_control = excluded.flow_control, \
               last_seen = GREATEST(wf_workflow.last_seen, excluded.last_seen)",
        )
        .bind(&version.name)
        .bind(&version.fingerprint)
        .bind(&values.input_schema)
        .bind(&values.output_schema)
        .bind(&values.manifest)
        .bind(values.timeout_ms)
        .bind(&version.cron)
        .bind(&version.timezone)
        .bind(version.last_seen)
        .bind(&values.on_event)
        .bind(&version.queue)
        .bind(&values.flow_control)
        .execute(&mut *connection)
        .await?;
    }
    for event in &record.event_types {
        sqlx::query(
            "INSERT INTO wf_event_type (name, fingerprint, schema, first_seen, last_seen) \
             VALUES ($1, $2, $3::jsonb, $4, $4) \
             ON CONFLICT (name, fingerprint) DO UPDATE SET \
               last_seen = GREATEST(wf_event_type.last_seen, excluded.last_seen)",
        )
        .bind(&event.name)
        .bind(&event.fingerprint)
        .bind(event.schema.to_string())
        .bind(event.last_seen)
        .execute(&mut *connection)
        .await?;
    }
    let worker = &record.worker;
    sqlx::query(
        "INSERT INTO wf_worker (id, host, pid, started_at, heartbeat_at, workflows, queues) \
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb) \
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, \
           workflows = excluded.workflows, queues = excluded.queues",
    )
    .bind(&worker.id)
    .bind(&worker.host)
    .bind(i64::from(worker.pid))
    .bind(worker.started_at)
    .bind(worker.heartbeat_at)
    .bind(workflows_json(&worker.workflows))
    .bind(queues_json(&worker.queues))
    .execute(&mut *connection)
    .await?;
    Ok(Ok(WriteOut::Done))
}

/// Moves a worker's heartbeat and its versions' `last_seen` to `now`, and
/// removes the other workers silent since before `gone_before`; answers
/// how many worker rows it moved (0 or 1).
pub(super) async fn heartbeat(
    connection: &mut PgConnection,
    worker: &str,
    workflows: &[WorkflowRef],
    (now, gone_before): (i64, i64),
) -> Applied {
    sqlx::query("DELETE FROM wf_worker WHERE heartbeat_at < $2 AND id <> $1")
        .bind(worker)
        .bind(gone_before)
        .execute(&mut *connection)
        .await?;
    let moved =
        sqlx::query("UPDATE wf_worker SET heartbeat_at = GREATEST(heartbeat_at, $2) WHERE id = $1")
            .bind(worker)
            .bind(now)
            .execute(&mut *connection)
            .await?
            .rows_affected();
    if moved > 0 && !workflows.is_empty() {
        let names: Vec<&str> = workflows.iter().map(|w| w.name.as_str()).collect();
        let fingerprints: Vec<&str> = workflows.iter().map(|w| w.fingerprint.as_str()).collect();
        sqlx::query(
            "UPDATE wf_workflow SET last_seen = GREATEST(last_seen, $3) \
             WHERE (name, fingerprint) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
        )
        .bind(&names)
        .bind(&fingerprints)
        .bind(now)
        .execute(&mut *connection)
        .await?;
    }
    Ok(Ok(WriteOut::Count(moved)))
}

/// Removes a stopping worker's row.
pub(super) async fn remove_worker(connection: &mut PgConnection, worker: &str) -> Applied {
    sqlx::query("DELETE FROM wf_worker WHERE id = $1")
        .bind(worker)
        .execute(&mut *connection)
        .await?;
    Ok(Ok(WriteOut::Done))
}

/// Applies a catalog write (the writer's dispatch for these ops).
pub(super) async fn apply(connection: &mut PgConnection, op: &WriteOp) -> Applied {
    match op {
        WriteOp::RecordWorker(record) => record_worker(connection, record).await,
        WriteOp::Heartbeat {
            worker,
            workflows,
            now,
            gone_before,
        } => heartbeat(connection, worker, workflows, (*now, *gone_before)).await,
        WriteOp::RemoveWorker(worker) => remove_worker(connection, worker).await,
        _ => Err(unexpected()),
    }
}
