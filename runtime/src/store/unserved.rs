//! What both backends share to find the runs no live worker can take: the
//! not-finished statuses, which versions the live workers serve, and which
//! counted groups of runs none of them does.
//!
//! A run is taken only by an engine that registers its version (see
//! [`Served`](crate::store::Served)): one pinned to a version is served by
//! a worker whose catalog row lists that version, one not pinned yet by any
//! worker that serves its workflow. The workers' rows are few (one per
//! engine), so they are read whole and matched here; the runs are counted
//! per workflow and version in the store.
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

/// The count of the not-finished runs per workflow and version, read from
/// `table` (SQLite names the status index there): the not-finished
/// statuses' ranges of the index by status, and each of those runs'
/// version, so O(runs not finished); the groups, few, are then sorted.
pub(crate) fn unfinished_counts_sql(table: &str) -> String {
    format!(
        "SELECT workflow, version, COUNT(*) FROM {table} \
         WHERE status IN ('pending', 'running', 'suspended') GROUP BY workflow, version"
    )
}

/// The workflows and versions the live workers serve.
#[derive(Debug, Default)]
pub(crate) struct LiveServed {
    /// `(workflow, version)` of every version served.
    versions: BTreeSet<(String, String)>,
    /// Every workflow at least one version of which is served.
    names: BTreeSet<String>,
}

impl LiveServed {
    /// What `workers` (the live ones) serve.
    pub(crate) fn of(workers: &[WorkerInfo]) -> Self {
        let mut served = LiveServed::default();
        for served_ref in workers.iter().flat_map(|worker| &worker.workflows) {
            served.names.insert(served_ref.name.clone());
            served
                .versions
                .insert((served_ref.name.clone(), served_ref.pinned_as().to_owned()));
        }
        served
    }

    /// Whether a live worker would take a run of `workflow` pinned to
    /// `version` (`None`: not pinned yet, so any version of it would do).
    pub(crate) fn serves(&self, workflow: &str, version: Option<&str>) -> bool {
        match version {
            None => self.names.contains(workflow),
            Some(version) => self
                .versions
                .contains(&(workflow.to_owned(), version.to_owned())),
        }
    }
}

/// A row of the count of not-finished runs: workflow, version, how many.
pub(crate) type VersionCountRow = (String, Option<String>, i64);

/// The groups of `rows` that no live worker of `workers` serves, by
/// workflow then version (a version not pinned first), the same on every
/// backend whatever its collation or its order of NULLs.
pub(crate) fn unserved_runs(
    rows: Vec<VersionCountRow>,
    workers: &[WorkerInfo],
) -> Vec<UnservedRuns> {
    let served = LiveServed::of(workers);
    let mut unserved: Vec<UnservedRuns> = rows
        .into_iter()
        .filter(|(workflow, version, _)| !served.serves(workflow, version.as_deref()))
        .map(|(workflow, version, runs)| UnservedRuns {
            workflow,
            version,
            runs: u64::try_from(runs).unwrap_or(0),
        })
        .filter(|group| group.runs > 0)
        .collect();
    unserved.sort_by(|a, b| (&a.workflow, &a.version).cmp(&(&b.workflow, &b.version)));
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
        let rows = vec![
            ("ship".to_owned(), Some("cccc".to_owned()), 4),
            ("charge".to_owned(), Some("v1".to_owned()), 3),
            ("charge".to_owned(), Some("v2".to_owned()), 9),
            ("charge".to_owned(), None, 5),
            ("ship".to_owned(), Some("bbbb".to_owned()), 2),
            ("refund".to_owned(), None, 1),
        ];
        let unserved = unserved_runs(rows, &workers);
        let groups: Vec<(&str, Option<&str>, u64)> = unserved
            .iter()
            .map(|g| (g.workflow.as_str(), g.version.as_deref(), g.runs))
            .collect();
        assert_eq!(
            groups,
            [
                ("charge", Some("v1"), 3),
                ("refund", None, 1),
                ("ship", Some("cccc"), 4),
            ]
        );
        assert_eq!(unserved_runs(Vec::new(), &[]), []);
    }
}
