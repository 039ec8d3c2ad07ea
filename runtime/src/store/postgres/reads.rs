//! Reads on PostgreSQL: one run, its children, logs, cron's last fire, the
//! unfinished runs of a workflow, and the operator's lists, counts, series
//! and run details.
//!
//! The lists read newest first by keyset, each by an index of migration 3:
//! by status `wf_instance_status_created`, by workflow and status
//! `wf_instance_list`, by parent `wf_instance_parent`, and lists of several
//! statuses or none as one branch per status; the series' finished runs by
//! `wf_instance_finished`; events by their primary key, the runs they woke
//! by `wf_step_settled_by_event`. Each filter adds its condition to the
//! statement only when set, so each combination is planned for itself.

use sqlx::{Postgres, QueryBuilder};

use super::PostgresStore;
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::info::RunInfo;
use crate::model::listing::{
    EventFilter, EventPage, MinuteCounts, RunDetail, RunFilter, RunPage, StatusCount, UnservedRuns,
};
use crate::model::sync::BoxFuture;
use crate::store::catalog::{WorkerRow, worker_info};
use crate::store::listing::{
    EventRow, MINUTE_MS, RunCondition, RunListQuery, SeriesRow, event_infos, event_page,
    like_pattern, run_detail, run_page, series, series_bounds, status_count,
};
use crate::store::rows::{LogRow, RunRow, StepRow, log_line, parse_run_ids, run_info, run_infos};
use crate::store::unserved::{VersionCountRow, unfinished_counts_sql, unserved_runs};
use crate::store::{LogLine, ReadStore};

/// The columns of a [`RunRow`].
/// The `ready_at` of the pending run due longest (see
/// [`ReadStore::oldest_due_pending`]): one step along the `wf_instance_ready`
/// index.
const OLDEST_DUE_PENDING_SQL: &str = "SELECT ready_at FROM wf_instance \
     WHERE status IN ('pending', 'suspended') AND status = 'pending' AND ready_at <= $1 \
     ORDER BY ready_at LIMIT 1";

const RUN_COLUMNS: &str = "id::text, workflow, status, input::text, output::text, error, \
    idempotency_key, created_at, finished_at, deadline_at, executions::bigint, \
    parent_id::text, started_at, version, event_id, \
    json_build_array(paused_at, forked_from, forked_from_step, queue)::text";

/// The columns [`RUN_COLUMNS`] reads, as they are: the branches of a
/// merged list select these, and the merge casts them once.
const BRANCH_COLUMNS: &str = "id, workflow, status, input, output, error, idempotency_key, \
    created_at, finished_at, deadline_at, executions, parent_id, started_at, version, event_id, \
    paused_at, forked_from, forked_from_step, queue";

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
            parse_run_ids(&ids)
        })
    }

    fn load_logs(&self, run_id: RunId) -> BoxFuture<'_, Result<Vec<LogLine>, Error>> {
        Box::pin(async move {
            let rows: Vec<LogRow> = sqlx::query_as(
                "SELECT key, level, message, fields::text, created_at FROM wf_log \
                 WHERE instance_id = $1::uuid ORDER BY id",
            )
            .bind(run_id.to_string())
            .fetch_all(&self.pool)
            .await?;
            rows.into_iter().map(log_line).collect()
        })
    }

    fn child_runs(&self, run_id: RunId) -> BoxFuture<'_, Result<Vec<RunId>, Error>> {
        Box::pin(async move {
            let ids: Vec<String> = sqlx::query_scalar(
                "SELECT id::text FROM wf_instance WHERE parent_id = $1::uuid \
                 ORDER BY wf_instance.created_at, wf_instance.id",
            )
            .bind(run_id.to_string())
            .fetch_all(&self.pool)
            .await?;
            parse_run_ids(&ids)
        })
    }

    fn get_run(&self, run_id: RunId) -> BoxFuture<'_, Result<Option<RunInfo>, Error>> {
        Box::pin(async move { run_row(&self.pool, run_id).await?.map(run_info).transpose() })
    }

    fn list_runs(
        &self,
        filter: RunFilter,
        live_since: i64,
    ) -> BoxFuture<'_, Result<RunPage, Error>> {
        Box::pin(async move {
            filter.validate()?;
            let list = if filter.unserved {
                RunListQuery::unserved(&filter, &self.read_unserved(live_since).await?)
            } else {
                RunListQuery::of(&filter)
            };
            if list.branches.is_empty() {
                return Ok(run_page(Vec::new(), filter.limit));
            }
            let mut query = list_query("", &list);
            let rows: Vec<RunRow> = query.build_query_as().fetch_all(&self.pool).await?;
            Ok(run_page(run_infos(rows)?, filter.limit))
        })
    }

    fn unserved_runs(&self, live_since: i64) -> BoxFuture<'_, Result<Vec<UnservedRuns>, Error>> {
        Box::pin(self.read_unserved(live_since))
    }

    fn count_runs(&self) -> BoxFuture<'_, Result<Vec<StatusCount>, Error>> {
        Box::pin(async move {
            // Ordered by the bytes of the text, whatever the database's
            // collation, as on every backend.
            let rows: Vec<(String, String, i64)> = sqlx::query_as(
                "SELECT workflow, status, COUNT(*) FROM wf_instance GROUP BY workflow, status \
                 ORDER BY workflow COLLATE \"C\", status COLLATE \"C\"",
            )
            .fetch_all(&self.pool)
            .await?;
            rows.into_iter().map(status_count).collect()
        })
    }

    fn oldest_due_pending(&self, now: i64) -> BoxFuture<'_, Result<Option<i64>, Error>> {
        Box::pin(async move {
            let oldest: Option<i64> = sqlx::query_scalar(OLDEST_DUE_PENDING_SQL)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
            Ok(oldest)
        })
    }

    fn run_series(&self, from: i64, until: i64) -> BoxFuture<'_, Result<Vec<MinuteCounts>, Error>> {
        Box::pin(async move {
            let Some((start, end)) = series_bounds(from, until) else {
                return Ok(Vec::new());
            };
            let rows: Vec<SeriesRow> = sqlx::query_as(
                "SELECT started_at - ((started_at % $3) + $3) % $3, 'started', COUNT(*) \
                 FROM wf_instance WHERE started_at >= $1 AND started_at < $2 GROUP BY 1 \
                 UNION ALL \
                 SELECT finished_at - ((finished_at % $3) + $3) % $3, \
                   CASE WHEN status = 'completed' THEN 'completed' ELSE 'failed' END, COUNT(*) \
                 FROM wf_instance WHERE finished_at >= $1 AND finished_at < $2 \
                   AND status IN ('completed', 'failed', 'timed_out') GROUP BY 1, 2",
            )
            .bind(start)
            .bind(end)
            .bind(MINUTE_MS)
            .fetch_all(&self.pool)
            .await?;
            series(from, until, rows)
        })
    }

    fn run_detail(&self, run_id: RunId) -> BoxFuture<'_, Result<Option<RunDetail>, Error>> {
        Box::pin(async move {
            // One snapshot for the run, its steps and its children: read
            // apart, a run that ends in between would show as completed
            // without the step that travelled with its finish.
            let mut snapshot = self
                .pool
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?;
            let Some(run) = run_row(&mut *snapshot, run_id).await? else {
                return Ok(None);
            };
            let steps: Vec<StepRow> = sqlx::query_as(
                "SELECT name, seq, kind, status, input::text, output::text, error, \
                 attempts::bigint, wake_at, updated_at, started_at, ended_at, \
                 attempt_log::text FROM wf_step WHERE instance_id = $1::uuid \
                 ORDER BY seq, name",
            )
            .bind(run_id.to_string())
            .fetch_all(&mut *snapshot)
            .await?;
            let children: Vec<RunRow> = sqlx::query_as(&format!(
                "SELECT {RUN_COLUMNS} FROM wf_instance WHERE parent_id = $1::uuid \
                 ORDER BY wf_instance.created_at, wf_instance.id"
            ))
            .bind(run_id.to_string())
            .fetch_all(&mut *snapshot)
            .await?;
            snapshot.commit().await?;
            run_detail(run, steps, children).map(Some)
        })
    }

    fn list_events(&self, filter: EventFilter) -> BoxFuture<'_, Result<EventPage, Error>> {
        Box::pin(async move {
            filter.validate()?;
            let mut query = QueryBuilder::<Postgres>::new(
                "SELECT id, name, data::text, target_run::text, created_at, started_runs::text, \
                 trigger_errors::text, cancelled_runs::text FROM wf_event WHERE TRUE",
            );
            if let Some(name) = &filter.name {
                query.push(" AND name = ").push_bind(name.clone());
            }
            if let Some(before) = filter.before {
                query.push(" AND id < ").push_bind(before);
            }
            query
                .push(" ORDER BY id DESC LIMIT ")
                .push_bind(i64::try_from(filter.limit + 1).unwrap_or(i64::MAX));
            let rows: Vec<EventRow> = query.build_query_as().fetch_all(&self.pool).await?;
            // The runs each event of the page woke, for the whole page at once.
            let ids: Vec<i64> = rows.iter().map(|row| row.0).collect();
            let settled: Vec<(i64, String)> = sqlx::query_as(
                "SELECT settled_by_event, instance_id::text FROM wf_step \
                 WHERE settled_by_event = ANY($1::bigint[]) \
                 ORDER BY settled_by_event, ended_at, instance_id",
            )
            .bind(&ids)
            .fetch_all(&self.pool)
            .await?;
            let events = event_infos(rows, settled)?;
            Ok(event_page(events, filter.limit))
        })
    }
}

impl PostgresStore {
    /// [`ReadStore::unserved_runs`]: the live workers' rows and the
    /// not-finished runs' counts in one snapshot, the counts from the
    /// not-finished statuses' ranges of an index by status (or a scan, as
    /// the planner finds cheaper) and those runs' versions.
    async fn read_unserved(&self, live_since: i64) -> Result<Vec<UnservedRuns>, Error> {
        let mut snapshot = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let workers: Vec<WorkerRow> = sqlx::query_as(&format!(
            "SELECT {} FROM wf_worker WHERE heartbeat_at >= $1",
            super::catalog::WORKER_COLUMNS
        ))
        .bind(live_since)
        .fetch_all(&mut *snapshot)
        .await?;
        let counts: Vec<VersionCountRow> = sqlx::query_as(&unfinished_counts_sql("wf_instance"))
            .fetch_all(&mut *snapshot)
            .await?;
        snapshot.commit().await?;
        let workers = workers
            .into_iter()
            .map(worker_info)
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(unserved_runs(counts, &workers))
    }
}

/// A run's row, or `None`.
async fn run_row(
    connection: impl sqlx::PgExecutor<'_>,
    run_id: RunId,
) -> Result<Option<RunRow>, Error> {
    let row: Option<RunRow> = sqlx::query_as(&format!(
        "SELECT {RUN_COLUMNS} FROM wf_instance WHERE id = $1::uuid"
    ))
    .bind(run_id.to_string())
    .fetch_optional(connection)
    .await?;
    Ok(row)
}

/// The statement of [`ReadStore::list_runs`] for `filter`, after `prefix`
/// (the plan tests put `EXPLAIN` there): [`RunListQuery`] in PostgreSQL's
/// dialect, one parenthesised branch each, merged by a `UNION ALL` whose
/// newest-first order the planner reads as a Merge Append.
#[cfg(test)]
pub(super) fn runs_query(prefix: &str, filter: &RunFilter) -> QueryBuilder<'static, Postgres> {
    list_query(prefix, &RunListQuery::of(filter))
}

/// The statement of a page of runs (with at least one branch), after
/// `prefix`: see [`runs_query`].
pub(super) fn list_query(prefix: &str, list: &RunListQuery) -> QueryBuilder<'static, Postgres> {
    let mut query = QueryBuilder::<Postgres>::new(prefix);
    if let [conditions] = list.branches.as_slice() {
        push_branch(&mut query, RUN_COLUMNS, conditions, list.fetch);
        return query;
    }
    query.push(format!("SELECT {RUN_COLUMNS} FROM ("));
    for (index, conditions) in list.branches.iter().enumerate() {
        if index > 0 {
            query.push(" UNION ALL ");
        }
        query.push("(");
        push_branch(&mut query, BRANCH_COLUMNS, conditions, list.fetch);
        query.push(")");
    }
    query
        .push(") AS branches ORDER BY branches.created_at DESC, branches.id DESC LIMIT ")
        .push_bind(list.fetch);
    query
}

/// One branch of [`runs_query`]: `columns` of the runs that meet
/// `conditions`, newest first, `fetch` of them.
fn push_branch(
    query: &mut QueryBuilder<'static, Postgres>,
    columns: &str,
    conditions: &[RunCondition],
    fetch: i64,
) {
    query.push(format!("SELECT {columns} FROM wf_instance WHERE TRUE"));
    for condition in conditions {
        push_condition(query, condition);
    }
    // Qualified: a bare `id` would name the output column (its text), and
    // sorting by that is not the index's order.
    query
        .push(" ORDER BY wf_instance.created_at DESC, wf_instance.id DESC LIMIT ")
        .push_bind(fetch);
}

/// One condition of a run list in PostgreSQL's dialect, after ` AND `.
fn push_condition(query: &mut QueryBuilder<'static, Postgres>, condition: &RunCondition) {
    match condition {
        RunCondition::Status(status) => {
            query.push(" AND status = ").push_bind(status.as_str());
        }
        RunCondition::Workflow(workflow) => {
            query.push(" AND workflow = ").push_bind(workflow.clone());
        }
        RunCondition::Parent(parent) => {
            query
                .push(" AND parent_id = ")
                .push_bind(parent.to_string())
                .push("::uuid");
        }
        RunCondition::CreatedFrom(at) => {
            query.push(" AND created_at >= ").push_bind(*at);
        }
        RunCondition::CreatedUntil(at) => {
            query.push(" AND created_at < ").push_bind(*at);
        }
        RunCondition::FinishedFrom(at) => {
            query.push(" AND finished_at >= ").push_bind(*at);
        }
        RunCondition::FinishedUntil(at) => {
            query.push(" AND finished_at < ").push_bind(*at);
        }
        RunCondition::Before(cursor) => {
            // A row comparison, which the index on `(…, created_at, id)`
            // seeks to.
            query
                .push(" AND (created_at, id) < (")
                .push_bind(cursor.created_at)
                .push(", ")
                .push_bind(cursor.id.to_string())
                .push("::uuid)");
        }
        RunCondition::Text(text) => {
            let pattern = like_pattern(text);
            query.push(" AND (input::text LIKE ");
            query.push_bind(pattern.clone());
            query.push(" ESCAPE '\\' OR output::text LIKE ");
            query.push_bind(pattern.clone());
            query.push(" ESCAPE '\\' OR error LIKE ");
            query.push_bind(pattern);
            query.push(" ESCAPE '\\')");
        }
        RunCondition::Version(Some(version)) => {
            query.push(" AND version = ").push_bind(version.clone());
        }
        RunCondition::Version(None) => {
            query.push(" AND version IS NULL");
        }
        RunCondition::Queue(queue) => {
            query.push(" AND queue = ").push_bind(queue.clone());
        }
        // A run that ended keeps its mark, but is no longer paused.
        RunCondition::Paused => {
            query.push(
                " AND paused_at IS NOT NULL AND status IN ('pending', 'running', 'suspended')",
            );
        }
    }
}
