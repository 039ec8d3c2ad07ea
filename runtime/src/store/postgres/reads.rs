//! Reads on PostgreSQL: one run, its children, logs, cron's last fire, the
//! unfinished runs of a workflow, and the operator's lists, counts, series
//! and run details.

use super::PostgresStore;
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::info::RunInfo;
use crate::model::sync::BoxFuture;
use crate::store::rows::{RunRow, parse_run_id, run_info};
use crate::store::{LogLine, ReadStore};

impl ReadStore for PostgresStore {
    fn last_cron_fire(&self, workflow: String) -> BoxFuture<'_, Result<Option<i64>, Error>> {
        Box::pin(async move {
            let last: Option<i64> = sqlx::query_scalar(
                "SELECT MAX(substr(idempotency_key, 6)::bigint) FROM wf_instance \
                 WHERE workflow = $1 AND idempotency_key LIKE 'cron:%'",
            )
            .bind(&workflow)
            .fetch_one(&self.pool)
            .await?;
            Ok(last)
        })
    }

    fn unfinished_runs(&self, workflow: String) -> BoxFuture<'_, Result<Vec<RunId>, Error>> {
        Box::pin(async move {
            let ids: Vec<String> = sqlx::query_scalar(
                "SELECT id::text FROM wf_instance WHERE workflow = $1 \
                 AND status IN ('pending', 'running', 'suspended')",
            )
            .bind(&workflow)
            .fetch_all(&self.pool)
            .await?;
            ids.iter().map(|id| parse_run_id(id)).collect()
        })
    }

    fn load_logs(&self, run_id: RunId) -> BoxFuture<'_, Result<Vec<LogLine>, Error>> {
        Box::pin(async move {
            let rows: Vec<(String, String, String, Option<String>, i64)> = sqlx::query_as(
                "SELECT key, level, message, fields::text, created_at FROM wf_log \
                 WHERE instance_id = $1::uuid ORDER BY id",
            )
            .bind(run_id.to_string())
            .fetch_all(&self.pool)
            .await?;
            rows.into_iter().map(crate::store::rows::log_line).collect()
        })
    }

    fn child_runs(&self, run_id: RunId) -> BoxFuture<'_, Result<Vec<RunId>, Error>> {
        Box::pin(async move {
            let ids: Vec<String> = sqlx::query_scalar(
                "SELECT id::text FROM wf_instance WHERE parent_id = $1::uuid \
                 ORDER BY created_at, id",
            )
            .bind(run_id.to_string())
            .fetch_all(&self.pool)
            .await?;
            ids.iter().map(|id| parse_run_id(id)).collect()
        })
    }

    fn get_run(&self, run_id: RunId) -> BoxFuture<'_, Result<Option<RunInfo>, Error>> {
        Box::pin(async move {
            let row: Option<RunRow> = sqlx::query_as(
                "SELECT id::text, workflow, status, input::text, output::text, error, \
                 idempotency_key, created_at, finished_at, deadline_at, executions::bigint, \
                 parent_id::text, started_at FROM wf_instance WHERE id = $1::uuid",
            )
            .bind(run_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
            row.map(run_info).transpose()
        })
    }
}
