//! Reads: one run, its children, its logs, what cron needs, and the
//! operator's lists, counts, series, run detail and events. They run on the
//! reader connections, beside the writer (WAL).

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::SqliteStore;
use super::steps::STEP_COLUMNS;
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::info::RunInfo;
use crate::model::listing::{
    EventFilter, EventPage, MinuteCounts, RunDetail, RunFilter, RunPage, StatusCount, UnservedRuns,
};
use crate::model::sync::BoxFuture;
use crate::store::catalog::{WORKER_COLUMNS, WorkerRow, worker_info};
use crate::store::listing::{
    EVENT_COLUMNS, EventRow, RunCondition, RunListQuery, SeriesRow, event_infos, event_page,
    run_detail, run_page, series, series_bounds, status_count,
};
use crate::store::rows::{LogRow, RunRow, StepRow, log_line, parse_run_ids, run_info, run_infos};
use crate::store::unserved::{VersionCountRow, unfinished_counts_sql, unserved_runs};
use crate::store::{LogLine, ReadStore};

/// The columns of a [`RunRow`], in its order.
const RUN_COLUMNS: &str = "id, workflow, status, input, output, error, idempotency_key, \
    created_at, finished_at, deadline_at, executions, parent_id, started_at, version, event_id, \
    json_array(paused_at, forked_from, forked_from_step, queue)";

/// The `ready_at` of the pending run due longest (see
/// [`ReadStore::oldest_due_pending`]): one step along the `wf_instance_ready`
/// index, whose condition the query repeats so that SQLite uses it.
const OLDEST_DUE_PENDING_SQL: &str = "SELECT ready_at FROM wf_instance \
     WHERE status IN ('pending', 'suspended') AND status = 'pending' AND ready_at <= ?1 \
     ORDER BY ready_at LIMIT 1";

/// The newest-first order of the run lists, which their indexes end in.
const NEWEST_FIRST: &str = "ORDER BY created_at DESC, id DESC";

/// The query of one page of [`RunFilter`]'s runs, `limit + 1` long, and its
/// parameters (the filter's `unserved` left out: see [`list_runs_sql`]).
#[cfg(test)]
pub(super) fn list_runs_query(filter: &RunFilter) -> (String, Vec<Value>) {
    list_runs_sql(&RunListQuery::of(filter))
}

/// The query of one page of runs and its parameters: [`RunListQuery`] in
/// SQLite's dialect (with at least one branch).
///
/// Each filter it narrows by has an index ending in `(created_at, id)`
/// (see migration 2), so the page is read in order from the cursor on,
/// however many runs there are.
pub(super) fn list_runs_sql(query: &RunListQuery) -> (String, Vec<Value>) {
    let fetch = Value::Integer(query.fetch);
    let mut params = Vec::new();
    let mut branches = Vec::with_capacity(query.branches.len());
    for conditions in &query.branches {
        // A branch of an unserved list (a workflow, a not-finished status
        // and a version) names the index of its workflow and status, read
        // newest first with the version as a filter (an index holding the
        // version would cost every run's status change): the statistics
        // must not send it to the status index, which holds every
        // workflow's runs of the status.
        let table = if conditions
            .iter()
            .any(|condition| matches!(condition, RunCondition::Version(_)))
        {
            "wf_instance INDEXED BY wf_instance_list"
        } else {
            "wf_instance"
        };
        let conditions: Vec<&str> = conditions
            .iter()
            .map(|condition| condition_sql(condition, &mut params))
            .collect();
        params.push(fetch.clone());
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        branches.push(format!(
            "SELECT {RUN_COLUMNS} FROM {table} {filter} {NEWEST_FIRST} LIMIT ?"
        ));
    }
    if let [branch] = branches.as_mut_slice() {
        return (std::mem::take(branch), params);
    }
    params.push(fetch);
    let parts: Vec<String> = branches
        .iter()
        .map(|branch| format!("SELECT * FROM ({branch})"))
        .collect();
    let sql = format!(
        "SELECT * FROM ({}) {NEWEST_FIRST} LIMIT ?",
        parts.join(" UNION ALL ")
    );
    (sql, params)
}

/// One condition of a run list in SQLite's dialect, its values added to
/// `params`.
fn condition_sql(condition: &RunCondition, params: &mut Vec<Value>) -> &'static str {
    match condition {
        RunCondition::Status(status) => {
            params.push(Value::Text(status.as_str().to_owned()));
            "status = ?"
        }
        RunCondition::Workflow(workflow) => {
            params.push(Value::Text(workflow.clone()));
            "workflow = ?"
        }
        RunCondition::Parent(parent) => {
            params.push(Value::Text(parent.to_string()));
            "parent_id = ?"
        }
        RunCondition::CreatedFrom(at) => {
            params.push(Value::Integer(*at));
            "created_at >= ?"
        }
        RunCondition::CreatedUntil(at) => {
            params.push(Value::Integer(*at));
            "created_at < ?"
        }
        RunCondition::FinishedFrom(at) => {
            params.push(Value::Integer(*at));
            "finished_at >= ?"
        }
        RunCondition::FinishedUntil(at) => {
            params.push(Value::Integer(*at));
            "finished_at < ?"
        }
        RunCondition::Before(cursor) => {
            // The bound on created_at alone lets the index seek to the
            // cursor; the rest skips the runs of its millisecond at or
            // after it.
            let at = Value::Integer(cursor.created_at);
            params.extend([at.clone(), at, Value::Text(cursor.id.to_string())]);
            "created_at <= ? AND (created_at < ? OR id < ?)"
        }
        RunCondition::Text(text) => {
            // SQLite's LIKE folds ASCII case, and the search is case
            // sensitive: instr finds the text as it is, wildcards included.
            params.extend(std::iter::repeat_n(Value::Text(text.clone()), 3));
            "(instr(input, ?) > 0 OR instr(output, ?) > 0 OR instr(error, ?) > 0)"
        }
        RunCondition::Version(Some(version)) => {
            params.push(Value::Text(version.clone()));
            "version = ?"
        }
        RunCondition::Version(None) => "version IS NULL",
        RunCondition::Queue(queue) => {
            params.push(Value::Text(queue.clone()));
            "queue = ?"
        }
        // A run that ended keeps its mark, but is no longer paused.
        RunCondition::Paused => {
            "paused_at IS NOT NULL AND status IN ('pending', 'running', 'suspended')"
        }
    }
}

/// The not-finished runs per workflow and version: the not-finished
/// statuses' ranges of `wf_instance_status_created` and each of those
/// runs' row for its version (O(runs not finished), an operator's read),
/// the few groups sorted. Named: with statistics the planner would rather
/// scan `wf_instance_list` whole (in workflow order), finished runs too.
pub(super) fn unserved_counts_sql() -> String {
    unfinished_counts_sql("wf_instance INDEXED BY wf_instance_status_created")
}

/// The groups of runs no worker whose heartbeat is at or after
/// `live_since` serves, read in one snapshot with the workers.
fn unserved_groups(connection: &Connection, live_since: i64) -> rusqlite::Result<UnservedRows> {
    let tx = connection.unchecked_transaction()?;
    let workers = tx
        .prepare_cached(&format!(
            "SELECT {WORKER_COLUMNS} FROM wf_worker WHERE heartbeat_at >= ?1"
        ))?
        .query_map(params![live_since], |row| WorkerRow::try_from(row))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let counts = tx
        .prepare_cached(&unserved_counts_sql())?
        .query_map([], |row| VersionCountRow::try_from(row))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((workers, counts))
}

/// The live workers' rows and the not-finished runs' counts.
type UnservedRows = (Vec<WorkerRow>, Vec<VersionCountRow>);

/// [`ReadStore::unserved_runs`] on the reader connections.
fn read_unserved(store: &SqliteStore, live_since: i64) -> Result<Vec<UnservedRuns>, Error> {
    let (workers, counts) = store
        .readers
        .read(|connection| unserved_groups(connection, live_since))?;
    let workers = workers
        .into_iter()
        .map(worker_info)
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(unserved_runs(counts, &workers))
}

fn run_rows(
    connection: &Connection,
    sql: &str,
    values: impl rusqlite::Params,
) -> rusqlite::Result<Vec<RunRow>> {
    connection
        .prepare_cached(sql)?
        .query_map(values, |row| RunRow::try_from(row))?
        .collect()
}

/// What [`ReadStore::run_detail`] reads, in one snapshot.
type DetailRows = (RunRow, Vec<StepRow>, Vec<RunRow>);

fn detail_rows(connection: &Connection, run_id: RunId) -> rusqlite::Result<Option<DetailRows>> {
    let tx = connection.unchecked_transaction()?;
    let id = run_id.to_string();
    let run = tx
        .prepare_cached(&format!(
            "SELECT {RUN_COLUMNS} FROM wf_instance WHERE id = ?1"
        ))?
        .query_row(params![id], |row| RunRow::try_from(row))
        .optional()?;
    let Some(run) = run else {
        return Ok(None);
    };
    let steps = tx
        .prepare_cached(&format!(
            "SELECT {STEP_COLUMNS} FROM wf_step WHERE instance_id = ?1 ORDER BY seq, name"
        ))?
        .query_map(params![id], |row| StepRow::try_from(row))?
        .collect::<rusqlite::Result<_>>()?;
    let children = run_rows(
        &tx,
        &format!(
            "SELECT {RUN_COLUMNS} FROM wf_instance WHERE parent_id = ?1 ORDER BY created_at, id"
        ),
        params![id],
    )?;
    Ok(Some((run, steps, children)))
}

/// A settlement: the event's id and the run whose waiting step it settled.
type Woke = (i64, String);

/// A page of events, `limit + 1` long, and the (event, run) pairs of the
/// steps they settled, oldest settlement first: one query for the page.
fn event_rows(
    connection: &Connection,
    filter: &EventFilter,
) -> rusqlite::Result<(Vec<EventRow>, Vec<Woke>)> {
    let tx = connection.unchecked_transaction()?;
    let fetch = i64::try_from(filter.limit).unwrap_or(i64::MAX) + 1;
    // Only the conditions that apply: `?1 IS NULL OR id < ?1` would keep
    // the `before` keyset from seeking.
    let mut conditions = Vec::new();
    let mut values = Vec::new();
    if let Some(name) = &filter.name {
        conditions.push("name = ?");
        values.push(Value::Text(name.clone()));
    }
    if let Some(before) = filter.before {
        conditions.push("id < ?");
        values.push(Value::Integer(before));
    }
    values.push(Value::Integer(fetch));
    let filtered = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let events: Vec<EventRow> = tx
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM wf_event {filtered} ORDER BY id DESC LIMIT ?"
        ))?
        .query_map(params_from_iter(values), |row| EventRow::try_from(row))?
        .collect::<rusqlite::Result<_>>()?;
    let ids: Vec<i64> = events.iter().map(|event| event.0).collect();
    let ids = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
    let woke = tx
        .prepare_cached(
            "SELECT settled_by_event, instance_id FROM wf_step \
             WHERE settled_by_event IS NOT NULL \
             AND settled_by_event IN (SELECT value FROM json_each(?1)) \
             ORDER BY settled_by_event, ended_at, instance_id",
        )?
        .query_map(params![ids], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok((events, woke))
}

/// The per-minute counts of runs first started, completed, and failed or
/// timed out in `[from, until)` (whole minutes), by the started and
/// finished indexes (`+status` keeps the planner off the status index,
/// which would read every finished run).
pub(super) const SERIES_SQL: &str = "\
    SELECT started_at - started_at % 60000, 'started', COUNT(*) FROM wf_instance \
      WHERE started_at >= ?1 AND started_at < ?2 GROUP BY 1 \
    UNION ALL \
    SELECT finished_at - finished_at % 60000, \
      CASE WHEN status = 'completed' THEN 'completed' ELSE 'failed' END, COUNT(*) FROM wf_instance \
      WHERE finished_at >= ?1 AND finished_at < ?2 \
      AND +status IN ('completed', 'failed', 'timed_out') GROUP BY 1, 2";

impl ReadStore for SqliteStore {
    fn list_runs(
        &self,
        filter: RunFilter,
        live_since: i64,
    ) -> BoxFuture<'_, Result<RunPage, Error>> {
        let result = filter.validate().and_then(|()| {
            let query = if filter.unserved {
                RunListQuery::unserved(&filter, &read_unserved(self, live_since)?)
            } else {
                RunListQuery::of(&filter)
            };
            if query.branches.is_empty() {
                return Ok(run_page(Vec::new(), filter.limit));
            }
            let (sql, values) = list_runs_sql(&query);
            let rows = self
                .readers
                .read(|connection| run_rows(connection, &sql, params_from_iter(values)))?;
            Ok(run_page(run_infos(rows)?, filter.limit))
        });
        Box::pin(std::future::ready(result))
    }

    fn count_runs(&self) -> BoxFuture<'_, Result<Vec<StatusCount>, Error>> {
        let rows = self.readers.read(|connection| {
            connection
                .prepare_cached(
                    "SELECT workflow, status, COUNT(*) FROM wf_instance \
                     GROUP BY workflow, status ORDER BY workflow, status",
                )?
                .query_map([], |row| <(String, String, i64)>::try_from(row))?
                .collect::<rusqlite::Result<Vec<_>>>()
        });
        let result = rows.and_then(|rows| rows.into_iter().map(status_count).collect());
        Box::pin(std::future::ready(result))
    }

    fn unserved_runs(&self, live_since: i64) -> BoxFuture<'_, Result<Vec<UnservedRuns>, Error>> {
        Box::pin(std::future::ready(read_unserved(self, live_since)))
    }

    fn oldest_due_pending(&self, now: i64) -> BoxFuture<'_, Result<Option<i64>, Error>> {
        let result = self.readers.read(|connection| {
            connection
                .prepare_cached(OLDEST_DUE_PENDING_SQL)?
                .query_row(params![now], |row| row.get(0))
                .optional()
        });
        Box::pin(std::future::ready(result))
    }

    fn run_series(&self, from: i64, until: i64) -> BoxFuture<'_, Result<Vec<MinuteCounts>, Error>> {
        let Some((first, end)) = series_bounds(from, until) else {
            return Box::pin(std::future::ready(Ok(Vec::new())));
        };
        let rows = self.readers.read(|connection| {
            connection
                .prepare_cached(SERIES_SQL)?
                .query_map(params![first, end], |row| SeriesRow::try_from(row))?
                .collect::<rusqlite::Result<Vec<_>>>()
        });
        let result = rows.and_then(|rows| series(from, until, rows));
        Box::pin(std::future::ready(result))
    }

    fn run_detail(&self, run_id: RunId) -> BoxFuture<'_, Result<Option<RunDetail>, Error>> {
        let rows = self
            .readers
            .read(|connection| detail_rows(connection, run_id));
        let result = rows.and_then(|rows| {
            rows.map(|(run, steps, children)| run_detail(run, steps, children))
                .transpose()
        });
        Box::pin(std::future::ready(result))
    }

    fn list_events(&self, filter: EventFilter) -> BoxFuture<'_, Result<EventPage, Error>> {
        let result = filter.validate().and_then(|()| {
            let (events, woke) = self
                .readers
                .read(|connection| event_rows(connection, &filter))?;
            Ok(event_page(event_infos(events, woke)?, filter.limit))
        });
        Box::pin(std::future::ready(result))
    }

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
        let result = rows.and_then(|ids| parse_run_ids(&ids));
        Box::pin(std::future::ready(result))
    }

    fn load_logs(&self, run_id: RunId) -> BoxFuture<'_, Result<Vec<LogLine>, Error>> {
        let result = self.readers.read(|connection| {
            connection
                .prepare_cached(
                    "SELECT key, level, message, fields, created_at FROM wf_log \
                     WHERE instance_id = ?1 ORDER BY id",
                )?
                .query_map(params![run_id.to_string()], |row| LogRow::try_from(row))?
                .collect::<Result<Vec<_>, _>>()
        });
        Box::pin(std::future::ready(
            result.and_then(|rows| rows.into_iter().map(log_line).collect()),
        ))
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
        let result = rows.and_then(|ids| parse_run_ids(&ids));
        Box::pin(std::future::ready(result))
    }

    fn get_run(&self, run_id: RunId) -> BoxFuture<'_, Result<Option<RunInfo>, Error>> {
        let row: Result<Option<RunRow>, Error> = self.readers.read(|connection| {
            connection
                .prepare_cached(
                    "SELECT id, workflow, status, input, output, error, idempotency_key, \
                     created_at, finished_at, deadline_at, executions, parent_id, started_at, \
                     version, event_id, json_array(paused_at, forked_from, forked_from_step, queue) \
                     FROM wf_instance WHERE id = ?1",
                )?
                .query_row(params![run_id.to_string()], |row| RunRow::try_from(row))
                .optional()
        });
        let result = row.and_then(|row| row.map(run_info).transpose());
        Box::pin(std::future::ready(result))
    }
}
