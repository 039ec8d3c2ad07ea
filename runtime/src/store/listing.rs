//! What both backends' list queries share: the conditions of a run list
//! (which each backend writes in its dialect), the LIKE pattern of a text
//! search, the cut of a page fetched one entry long, and the zero-filled
//! per-minute series.

use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::info::RunInfo;
use crate::model::listing::{
    EventInfo, EventPage, MinuteCounts, RunCursor, RunDetail, RunFilter, RunPage, StatusCount,
    UnservedRuns,
};
use crate::model::status::RunStatus;
use crate::store::rows::{
    RunRow, StepRow, decode_error, parse_json, parse_run_id, parse_run_ids, parse_run_status,
    run_info, run_infos, step_record,
};

/// A minute, in ms.
pub(crate) const MINUTE_MS: i64 = 60_000;

#[cfg(feature = "postgres")]
/// The `LIKE` pattern that finds `text` anywhere, with `\` as the escape
/// character (write `LIKE ? ESCAPE '\'`): `%`, `_` and `\` in the text
/// match themselves.
pub(crate) fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// One condition of a run list, with the values it binds: the same on
/// every backend, written by each in its dialect (placeholders, casts, the
/// text search).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RunCondition {
    /// In this status.
    Status(RunStatus),
    /// Of this workflow.
    Workflow(String),
    /// A child of this run.
    Parent(RunId),
    /// Created at or after this time.
    CreatedFrom(i64),
    /// Created before this time.
    CreatedUntil(i64),
    /// Finished at or after this time.
    FinishedFrom(i64),
    /// Finished before this time.
    FinishedUntil(i64),
    /// Older than the cursor's run in the newest-first order: created
    /// before it, or in its millisecond with a smaller id.
    Before(RunCursor),
    /// The text in the input, output or error, as it is: case sensitive,
    /// wildcards matching themselves.
    Text(String),
    /// Pinned to this version (`None`: not pinned yet).
    Version(Option<String>),
    /// Paused now: not ended, with a pause mark.
    Paused,
    /// Waiting (or having waited) in this queue.
    Queue(String),
}

/// The statement of one page of a run list, without its SQL: branches, each
/// read newest first with its conditions, merged newest first when there
/// are several, `fetch` (the page size and one) of them.
///
/// Several statuses (and no status and no parent: all of them) are one
/// branch per status, each read by an index ending in `(created_at, id)`
/// and merged: an `IN` list would read every run of those statuses and sort
/// them, and an index by creation time alone (or by workflow alone) would
/// cost every write of a run. A parent's index serves its children without
/// a status.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RunListQuery {
    /// The conditions of each branch, a branch's status first.
    pub(crate) branches: Vec<Vec<RunCondition>>,
    /// How many runs the statement reads: one more than the page.
    pub(crate) fetch: i64,
}

impl RunListQuery {
    /// The statement of `filter`'s page (whose `unserved` it leaves to
    /// [`RunListQuery::unserved`]).
    pub(crate) fn of(filter: &RunFilter) -> Self {
        let mut shared = Vec::new();
        if let Some(workflow) = &filter.workflow {
            shared.push(RunCondition::Workflow(workflow.clone()));
        }
        shared.extend(Self::narrowing(filter));
        let statuses = match filter.statuses.as_slice() {
            [] if filter.parent.is_none() => RunStatus::ALL.as_slice(),
            statuses => statuses,
        };
        let branches = if statuses.is_empty() {
            vec![shared]
        } else {
            statuses
                .iter()
                .map(|status| {
                    let mut conditions = Vec::with_capacity(shared.len() + 1);
                    conditions.push(RunCondition::Status(*status));
                    conditions.extend(shared.iter().cloned());
                    conditions
                })
                .collect()
        };
        RunListQuery {
            branches,
            fetch: Self::fetch(filter),
        }
    }

    /// The statement of the page of `filter` with `unserved` set, where
    /// `groups` are the runs no live worker serves: one branch per group
    /// (of the filter's workflow, if it names one) and per not-finished
    /// status the filter keeps, each read newest first along
    /// `wf_instance_list` (workflow, status, then creation), the version a
    /// filter on the runs of that range: it never reads a finished run, and
    /// stops at the page's end. No branch at all when no group or no status
    /// is left: the page is empty.
    pub(crate) fn unserved(filter: &RunFilter, groups: &[UnservedRuns]) -> Self {
        let shared = Self::narrowing(filter);
        let statuses: Vec<RunStatus> = crate::store::unserved::UNFINISHED
            .into_iter()
            .filter(|status| filter.statuses.is_empty() || filter.statuses.contains(status))
            .collect();
        let mut branches = Vec::new();
        let groups = groups.iter().filter(|group| {
            filter
                .workflow
                .as_ref()
                .is_none_or(|workflow| *workflow == group.workflow)
        });
        for group in groups {
            for status in &statuses {
                let mut conditions = vec![
                    RunCondition::Status(*status),
                    RunCondition::Workflow(group.workflow.clone()),
                    RunCondition::Version(group.version.clone()),
                    RunCondition::Queue(group.queue.clone()),
                ];
                conditions.extend(shared.iter().cloned());
                branches.push(conditions);
            }
        }
        RunListQuery {
            branches,
            fetch: Self::fetch(filter),
        }
    }

    /// How many runs a page of `filter` reads: one more than the page.
    fn fetch(filter: &RunFilter) -> i64 {
        i64::try_from(filter.limit)
            .unwrap_or(i64::MAX)
            .saturating_add(1)
    }

    /// The conditions of `filter` besides its workflow and statuses.
    fn narrowing(filter: &RunFilter) -> Vec<RunCondition> {
        let mut shared = Vec::new();
        if let Some(parent) = filter.parent {
            shared.push(RunCondition::Parent(parent));
        }
        let times = [
            filter.created_from.map(RunCondition::CreatedFrom),
            filter.created_until.map(RunCondition::CreatedUntil),
            filter.finished_from.map(RunCondition::FinishedFrom),
            filter.finished_until.map(RunCondition::FinishedUntil),
            filter.after.map(RunCondition::Before),
            filter.text.clone().map(RunCondition::Text),
            filter.paused.then_some(RunCondition::Paused),
            filter.queue.clone().map(RunCondition::Queue),
        ];
        shared.extend(times.into_iter().flatten());
        shared
    }
}

/// The page of `limit` runs out of `runs`, fetched `limit + 1` long so that
/// a following page shows without another query.
pub(crate) fn run_page(mut runs: Vec<RunInfo>, limit: usize) -> RunPage {
    let more = runs.len() > limit;
    runs.truncate(limit);
    let next = if more {
        runs.last().map(RunCursor::after)
    } else {
        None
    };
    RunPage { runs, next }
}

/// The page of `limit` events out of `events`, fetched `limit + 1` long.
pub(crate) fn event_page(mut events: Vec<EventInfo>, limit: usize) -> EventPage {
    let more = events.len() > limit;
    events.truncate(limit);
    let next = if more {
        events.last().map(|event| event.id)
    } else {
        None
    };
    EventPage { events, next }
}

/// A stored event: id, name, data, target run, created at, the runs it
/// started, its trigger errors and the runs it cancelled (JSON arrays, or
/// NULL for none).
pub(crate) type EventRow = (
    i64,
    String,
    String,
    Option<String>,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The columns of an [`EventRow`] (PostgreSQL reads its JSONB ones as text).
#[cfg(feature = "sqlite")]
pub(crate) const EVENT_COLUMNS: &str =
    "id, name, data, target_run, created_at, started_runs, trigger_errors, cancelled_runs";

/// The events of a page with the runs each woke, from the (event, run)
/// pairs of its settlements in the order they settled, each run once.
pub(crate) fn event_infos(
    events: Vec<EventRow>,
    woke: Vec<(i64, String)>,
) -> Result<Vec<EventInfo>, Error> {
    let mut infos = events
        .into_iter()
        .map(
            |(id, name, data, target, created_at, started, errors, cancelled)| {
                Ok(EventInfo {
                    id,
                    name,
                    data: parse_json(&data)?,
                    target_run: target.as_deref().map(parse_run_id).transpose()?,
                    created_at,
                    woke: Vec::new(),
                    started: stored_runs(started.as_deref(), "started")?,
                    cancelled: stored_runs(cancelled.as_deref(), "cancelled")?,
                    trigger_errors: errors
                        .as_deref()
                        .map(serde_json::from_str)
                        .transpose()
                        .map_err(|error| decode_error(format!("stored trigger errors: {error}")))?
                        .unwrap_or_default(),
                })
            },
        )
        .collect::<Result<Vec<_>, Error>>()?;
    for (event, run) in woke {
        let run = parse_run_id(&run)?;
        if let Some(info) = infos.iter_mut().find(|info| info.id == event)
            && !info.woke.contains(&run)
        {
            info.woke.push(run);
        }
    }
    Ok(infos)
}

/// The runs an event's `started_runs` or `cancelled_runs` column names
/// (`what`, for the error), none for NULL.
fn stored_runs(column: Option<&str>, what: &str) -> Result<Vec<RunId>, Error> {
    let ids: Vec<String> = column
        .map(parse_json)
        .transpose()?
        .map(serde_json::from_value)
        .transpose()
        .map_err(|error| decode_error(format!("stored {what} runs: {error}")))?
        .unwrap_or_default();
    parse_run_ids(&ids)
}

/// One run in full, from its row, its step rows and its children's rows.
pub(crate) fn run_detail(
    run: RunRow,
    steps: Vec<StepRow>,
    children: Vec<RunRow>,
) -> Result<RunDetail, Error> {
    Ok(RunDetail {
        run: run_info(run)?,
        steps: steps
            .into_iter()
            .map(|row| step_record(row).map(|step| step.to_info()))
            .collect::<Result<_, Error>>()?,
        children: run_infos(children)?,
    })
}

/// The start of the minute holding `at`.
pub(crate) fn minute_of(at: i64) -> i64 {
    at.div_euclid(MINUTE_MS) * MINUTE_MS
}

/// Which count of a minute a stored row adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeriesColumn {
    /// A run first started by a worker.
    Started,
    /// A run completed.
    Completed,
    /// A run failed or timed out.
    Failed,
}

/// The whole minutes the series of `[from, until)` reads, from the start of
/// the one holding `from` to the end of the one holding `until - 1`; `None`
/// for an empty range.
pub(crate) fn series_bounds(from: i64, until: i64) -> Option<(i64, i64)> {
    (until > from).then(|| (minute_of(from), minute_of(until - 1) + MINUTE_MS))
}

/// A row of the series query, `(minute start, column label, count)`, with
/// the label `started`, `completed` or `failed` as both backends' queries
/// write it.
pub(crate) type SeriesRow = (i64, String, i64);

/// The series of `[from, until)` from the rows of the series query.
pub(crate) fn series(
    from: i64,
    until: i64,
    rows: Vec<SeriesRow>,
) -> Result<Vec<MinuteCounts>, Error> {
    let rows = rows
        .into_iter()
        .map(series_row)
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(minute_series(from, until, rows))
}

/// Reads one [`SeriesRow`].
fn series_row((minute, label, count): SeriesRow) -> Result<(i64, SeriesColumn, u64), Error> {
    let column = match label.as_str() {
        "started" => SeriesColumn::Started,
        "completed" => SeriesColumn::Completed,
        "failed" => SeriesColumn::Failed,
        other => return Err(decode_error(format!("unknown series column `{other}`"))),
    };
    Ok((minute, column, u64::try_from(count).unwrap_or(0)))
}

/// A row of the count query, `(workflow, status, count)`.
pub(crate) fn status_count(
    (workflow, status, count): (String, String, i64),
) -> Result<StatusCount, Error> {
    Ok(StatusCount {
        workflow,
        status: parse_run_status(&status)?,
        count: u64::try_from(count).unwrap_or(0),
    })
}

/// One entry per minute from the one holding `from` to the one holding
/// `until - 1`, adding up `rows` of (minute start, column, count); minutes
/// without rows are zeros.
pub(crate) fn minute_series(
    from: i64,
    until: i64,
    rows: impl IntoIterator<Item = (i64, SeriesColumn, u64)>,
) -> Vec<MinuteCounts> {
    let first = minute_of(from);
    let last = minute_of(until.saturating_sub(1));
    let minutes = usize::try_from((last - first) / MINUTE_MS + 1).unwrap_or(0);
    let mut series: Vec<MinuteCounts> = (0..minutes)
        .map(|index| MinuteCounts {
            minute: first + MINUTE_MS * index as i64,
            started: 0,
            completed: 0,
            failed: 0,
        })
        .collect();
    for (minute, column, count) in rows {
        let Ok(index) = usize::try_from((minute_of(minute) - first) / MINUTE_MS) else {
            continue;
        };
        let Some(entry) = series.get_mut(index) else {
            continue;
        };
        match column {
            SeriesColumn::Started => entry.started += count,
            SeriesColumn::Completed => entry.completed += count,
            SeriesColumn::Failed => entry.failed += count,
        }
    }
    series
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::listing::DEFAULT_PAGE;

    #[cfg(feature = "postgres")]
    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("abc"), "%abc%");
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }

    #[test]
    fn a_run_list_reads_a_branch_per_status_unless_a_parent_serves_it() {
        let every = RunListQuery::of(&RunFilter::new());
        assert_eq!(every.branches.len(), RunStatus::ALL.len());
        assert_eq!(every.branches[0], [RunCondition::Status(RunStatus::ALL[0])]);
        assert_eq!(every.fetch, DEFAULT_PAGE as i64 + 1);
        let parent = RunId::new();
        let children = RunListQuery::of(&RunFilter::new().parent(parent));
        assert_eq!(children.branches, [vec![RunCondition::Parent(parent)]]);
        let cursor = RunCursor {
            created_at: 5,
            id: RunId::new(),
        };
        let one = RunListQuery::of(
            &RunFilter::new()
                .statuses([RunStatus::Failed])
                .workflow("w")
                .after(cursor)
                .limit(10)
                .unwrap(),
        );
        assert_eq!(
            one.branches,
            [vec![
                RunCondition::Status(RunStatus::Failed),
                RunCondition::Workflow("w".into()),
                RunCondition::Before(cursor),
            ]]
        );
        assert_eq!(one.fetch, 11);
    }

    #[test]
    fn an_unserved_list_reads_a_branch_per_group_and_unfinished_status() {
        let groups = [
            UnservedRuns {
                workflow: "charge".into(),
                version: Some("v1".into()),
                queue: "default".into(),
                runs: 3,
            },
            UnservedRuns {
                workflow: "refund".into(),
                version: None,
                queue: "default".into(),
                runs: 1,
            },
        ];
        let every = RunListQuery::unserved(&RunFilter::new().unserved(), &groups);
        assert_eq!(every.branches.len(), 6);
        assert_eq!(
            every.branches[0],
            [
                RunCondition::Status(RunStatus::Pending),
                RunCondition::Workflow("charge".into()),
                RunCondition::Version(Some("v1".into())),
                RunCondition::Queue("default".into()),
            ]
        );
        assert_eq!(
            every.branches[5][2],
            RunCondition::Version(None),
            "{every:?}"
        );
        let narrowed = RunFilter::new()
            .unserved()
            .workflow("refund")
            .statuses([RunStatus::Suspended, RunStatus::Failed]);
        let one = RunListQuery::unserved(&narrowed, &groups);
        assert_eq!(one.branches.len(), 1);
        assert_eq!(
            one.branches[0][0],
            RunCondition::Status(RunStatus::Suspended)
        );
        let finished = RunFilter::new().statuses([RunStatus::Completed]);
        assert!(
            RunListQuery::unserved(&finished, &groups)
                .branches
                .is_empty()
        );
        assert!(
            RunListQuery::unserved(&RunFilter::new(), &[])
                .branches
                .is_empty()
        );
    }

    #[test]
    fn a_series_has_every_minute_and_adds_rows_to_theirs() {
        let from = 10 * MINUTE_MS + 5;
        let until = 13 * MINUTE_MS;
        let series = minute_series(
            from,
            until,
            [
                (10 * MINUTE_MS, SeriesColumn::Started, 2),
                (12 * MINUTE_MS, SeriesColumn::Failed, 1),
                (12 * MINUTE_MS, SeriesColumn::Completed, 4),
                (20 * MINUTE_MS, SeriesColumn::Completed, 9),
            ],
        );
        let minutes: Vec<i64> = series.iter().map(|m| m.minute / MINUTE_MS).collect();
        assert_eq!(minutes, [10, 11, 12]);
        assert_eq!((series[0].started, series[1].started), (2, 0));
        assert_eq!((series[2].completed, series[2].failed), (4, 1));
    }
}
