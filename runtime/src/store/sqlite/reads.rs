//! Reads: one run, its children, its logs, what cron needs, and the
//! operator's lists, counts, series, run detail and events. They run on the
//! reader connections, beside the writer (WAL).

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::info::RunInfo;
use crate::model::sync::BoxFuture;
use crate::store::rows::{RunRow, parse_run_id, run_info};
use crate::store::{LogLine, ReadStore};

impl ReadStore for SqliteStore {
    fn last_cron_fire(&self, workflow: String) -> BoxFuture<'_, Result<Option<i64>, Error>> {
        let result = self.readers.read(|connection| {
            connection
                .prepare_cached(
                    "SELECT MAX(CAST(substr(idempotency_key, 6) AS INTEGER)) FROM wf_instance \
                     WHERE workflow = ?1 AND idempotency_key LIKE 'cron:%'",
                )?
                .query_row(params![workflow], |row| row.get::<_, Option<i64>>(0))
        });
        Box::pin(std::future::ready(result))
    }

    fn unfinished_runs(&self, workflow: String) -> BoxFuture<'_, Result<Vec<RunId>, Error>> {
        let rows = self.readers.read(|connection| {
            connection
                .prepare_cached(
                    "SELECT id FROM wf_instance WHERE workflow = ?1 \
                     AND status IN ('pending', 'running', 'suspended')",
                )?
                .query_map(params![workflow], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        });
        let result = rows.and_then(|ids| ids.iter().map(|id| parse_run_id(id)).collect());
        Box::pin(std::future::ready(result))
    }

    fn load_logs(&self, run_id: RunId) -> BoxFuture<'_, Result<Vec<LogLine>, Error>> {
        let result = self.readers.read(|connection| {
            connection
                .prepare_cached(
                    "SELECT key, level, message, fields, created_at FROM wf_log \
                     WHERE instance_id = ?1 ORDER BY id",
                )?
                .query_map(params![run_id.to_string()], |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()
        });
        Box::pin(std::future::ready(result.and_then(|rows| {
            rows.into_iter().map(crate::store::rows::log_line).collect()
        })))
    }

    fn child_runs(&self, run_id: RunId) -> BoxFuture<'_, Result<Vec<RunId>, Error>> {
        let rows = self.readers.read(|connection| {
            connection
                .prepare_cached(
                    "SELECT id FROM wf_instance WHERE parent_id = ?1 ORDER BY created_at, id",
                )?
                .query_map(params![run_id.to_string()], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        });
        let result = rows.and_then(|ids| ids.iter().map(|id| parse_run_id(id)).collect());
        Box::pin(std::future::ready(result))
    }

    fn get_run(&self, run_id: RunId) -> BoxFuture<'_, Result<Option<RunInfo>, Error>> {
        let row: Result<Option<RunRow>, Error> = self.readers.read(|connection| {
            connection
                .prepare_cached(
                    "SELECT id, workflow, status, input, output, error, idempotency_key, \
                     created_at, finished_at, deadline_at, executions, parent_id, started_at \
                     FROM wf_instance WHERE id = ?1",
                )?
                .query_row(params![run_id.to_string()], |row| RunRow::try_from(row))
                .optional()
        });
        let result = row.and_then(|row| row.map(run_info).transpose());
        Box::pin(std::future::ready(result))
    }
}
