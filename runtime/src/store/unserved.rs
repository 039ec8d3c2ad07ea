//! What both backends share to find the runs no live worker can take: the
//! not-finished statuses, which versions the live workers serve, and which
//! counted groups of runs none of them does.
//!
//! A run is taken only by an engine that registers its version and serves
//! its queue (see [`Served`](crate::store::Served)): one pinned to a
//! version is served by a worker whose catalog row lists that version and
//! the run's queue, one not pinned yet by any worker that serves its
//! workflow and queue. The workers' rows are few (one per engine), so they
//! are read whole and matched here; the runs are counted per workflow,
//! version and queue in the store.
//!
//! No index of its own serves them: every run's status change would update
//! it, and this is an operator's read. The count reads the not-finished
//! statuses' ranges of the status index (`wf_instance_status_created`) and
//! each of those runs' `version`, so it costs O(runs not finished), never
//! the finished ones; a list reads each group's workflow and status newest
//! first along `wf_instance_list`, the version a filter on the way.

use std::collections::BTreeSet;

use crate::model::catalog::WorkerInfo;
use crate::model::listing::UnservedRuns;
use crate::model::status::RunStatus;

/// The statuses of a run that is not finished: a worker has it, or one
/// will take it.
pub(crate) const UNFINISHED: [RunStatus; 3] =
    [RunStatus::Pending, RunStatus::Running, RunStatus::Suspended];

/// The count of the not-finished runs per workflow, version and queue, read from
/// `table` (SQLite names the status index there): the not-finished
/// statuses' ranges of the index by status, and each of those runs'
/// version, so O(runs not finished); the groups, few, are then sorted.
pub(crate) fn unfinished_counts_sql(table: &str) -> String {
    format!(
        "SELECT workflow, version, queue, COUNT(*) FROM {table} \
         WHERE status IN ('pending', 'running', 'suspended') GROUP BY workflow, version, queue"
    )
}

/// The workflows, versions and queues the live workers serve, each
/// version with each queue of the worker that serves it.
#[derive(Debug, Default)]
pub(crate) struct LiveServed {
    /// `(workflow, version, queue)` of every version served.
    versions: BTreeSet<(String, String, String)>,
    /// `(workflow, queue)` of every workflow at least one version of which
    /// is served.
    names: BTreeSet<(String, String)>,
}

impl LiveServed {
    /// What `workers` (the live ones) serve.
    pub(crate) fn of(workers: &[WorkerInfo]) -> Self {
        let mut served = LiveServed::default();
        for worker in workers {
            for (served_ref, queue) in worker
                .workflows
                .iter()
                .flat_map(|served_ref| worker.queues.iter().map(move |queue| (served_ref, queue)))
            {
                let name = served_ref.name.clone();
                served.names.insert((name.clone(), queue.clone()));
                let version = served_ref.pinned_as().to_owned();
                served.versions.insert((name, version, queue.clone()));
            }
        }
        served
    }

    /// Whether a live worker would take a run of `workflow` pinned to
    /// `version` (`None`: not pinned yet, so any version of it would do)
    /// waiting in `queue`.
    pub(crate) fn serves(&self, workflow: &str, version: Option<&str>, queue: &str) -> bool {
        match version {
            None => self
                .names
                .contains(&(workflow.to_owned(), queue.to_owned())),
            Some(version) => {
                self.versions
                    .contains(&(workflow.to_owned(), version.to_owned(), queue.to_owned()))
            }
        }
    }
}

/// A row of the count of not-finished runs: workflow, version, queue, how
/// many.
pub(crate) type VersionCountRow = (String, Option<String>, String, i64);

/// The groups of `rows` that no live worker of `workers` serves, by
/// workflow, version (a version not pinned first), then queue, the same on every
/// backend whatever its collation or its order of NULLs.
pub(crate) fn unserved_runs(
    rows: Vec<VersionCountRow>,
    workers: &[WorkerInfo],
) -> Vec<UnservedRuns> {
    let served = LiveServed::of(workers);
    let mut unserved: Vec<UnservedRuns> = rows
        .into_iter()
        .filter(|(workflow, version, queue, _)| !served.serves(workflow, version.as_deref(), queue))
        .map(|(workflow, version, queue, runs)| UnservedRuns {
            workflow,
            version,
            queue,
            runs: u64::try_from(runs).unwrap_or(0),
        })
        .filter(|group| group.runs > 0)
        .collect();
    unserved.sort_by(|a, b| {
        (&a.workflow, &a.version, &a.queue).cmp(&(&b.workflow, &b.version, &b.queue))
    });
    unserved
}

/// A worker `id` whose heartbeat is `at`, serving `(workflow, fingerprint,
/// version)`s (a version `None` as an older durable's row has it): what the
/// tests of this file and the conformance suite record.
#[cfg(test)]
pub(crate) fn worker_serving(
    id: &str,
    at: i64,
    serves: &[(&str, &str, Option<&str>)],
) -> WorkerInfo {
    WorkerInfo {
        id: id.into(),
        host: "host".into(),
        pid: 7,
        started_at: at,
        heartbeat_at: at,
        workflows: serves
            .iter()
            .map(
                |(name, fingerprint, version)| crate::model::catalog::WorkflowRef {
                    name: (*name).into(),
                    fingerprint: (*fingerprint).into(),
                    version: version.map(Into::into),
                },
            )
            .collect(),
        queues: vec![durable_grammar::queue::DEFAULT_QUEUE.to_owned()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_is_served_by_its_version_or_for_unpinned_runs_by_its_workflow() {
        let workers = [
            worker_serving("a", 0, &[("charge", "aaaa", Some("v2"))]),
            // An older worker row without versions: its fingerprint is.
            worker_serving("b", 0, &[("ship", "bbbb", None)]),
        ];
        let row = |workflow: &str, version: Option<&str>, queue: &str, runs| {
            (
                workflow.to_owned(),
                version.map(str::to_owned),
                queue.to_owned(),
                runs,
            )
        };
        let rows = vec![
            row("ship", Some("cccc"), "default", 4),
            row("charge", Some("v1"), "default", 3),
            row("charge", Some("v2"), "default", 9),
            row("charge", None, "default", 5),
            row("ship", Some("bbbb"), "default", 2),
            row("refund", None, "default", 1),
            // Served versions, in a queue no worker serves.
            row("charge", Some("v2"), "gpu", 6),
            row("charge", None, "gpu", 2),
        ];
        let unserved = unserved_runs(rows, &workers);
        let groups: Vec<(&str, Option<&str>, &str, u64)> = unserved
            .iter()
            .map(|g| {
                (
                    g.workflow.as_str(),
                    g.version.as_deref(),
                    g.queue.as_str(),
                    g.runs,
                )
            })
            .collect();
        assert_eq!(
            groups,
            [
                ("charge", None, "gpu", 2),
                ("charge", Some("v1"), "default", 3),
                ("charge", Some("v2"), "gpu", 6),
                ("refund", None, "default", 1),
                ("ship", Some("cccc"), "default", 4),
            ]
        );
        assert_eq!(unserved_runs(Vec::new(), &[]), []);
    }
}
