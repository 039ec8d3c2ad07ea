//! Conformance cases of the runs no live worker serves
//! ([`ReadStore::unserved_runs`], and [`ReadStore::list_runs`] with
//! `unserved`): counted per workflow and pinned version, by the live
//! workers' catalog rows, and listed newest first with the list's paging.
//!
//! [`ReadStore::unserved_runs`]: crate::store::ReadStore::unserved_runs
//! [`ReadStore::list_runs`]: crate::store::ReadStore::list_runs

use super::helpers::{NOW, create, create_claimed, finish, ids, run_at};
use crate::model::catalog::WorkerRecord;
use crate::model::ids::RunId;
use crate::model::listing::{RunFilter, UnservedRuns};
use crate::model::status::RunStatus;
use crate::store::unserved::worker_serving;
use crate::store::{NewRun, RunOutcome, Store};

/// A run of `workflow` pinned to `version`, created at `at`.
fn pinned(workflow: &str, version: Option<&str>, at: i64) -> NewRun {
    NewRun {
        version: version.map(Into::into),
        ..run_at(workflow, "{}", at)
    }
}

/// The record of a worker `id` whose heartbeat is `at`, serving
/// `(workflow, fingerprint, version)`s.
fn worker(id: &str, at: i64, serves: &[(&str, &str, Option<&str>)]) -> WorkerRecord {
    WorkerRecord {
        worker: worker_serving(id, at, serves),
        versions: Vec::new(),
        event_types: Vec::new(),
    }
}

fn group(workflow: &str, version: Option<&str>, runs: u64) -> UnservedRuns {
    UnservedRuns {
        workflow: workflow.into(),
        version: version.map(Into::into),
        queue: "default".into(),
        runs,
    }
}

/// The ids of every page of `filter`'s unserved runs, two at a time.
async fn every_page(store: &dyn Store, filter: RunFilter, live_since: i64) -> Vec<RunId> {
    let mut filter = filter.unserved().limit(2).unwrap();
    let mut all = Vec::new();
    loop {
        let page = store.list_runs(filter.clone(), live_since).await.unwrap();
        assert!(page.runs.len() <= 2);
        all.extend(ids(&page.runs));
        match page.next {
            Some(next) => filter = filter.after(next),
            None => return all,
        }
    }
}

/// Runs pinned to a version no live worker serves are counted per
/// workflow and version and listed, newest first, page by page; a run not
/// pinned yet counts only when no live worker serves its workflow; a
/// worker whose heartbeat is older than `live_since` serves nothing, and
/// an older worker row without versions serves its fingerprints; finished
/// runs never count.
pub(crate) async fn runs_no_live_worker_serves_are_counted_and_listed(store: &dyn Store) {
    let v1_pending = create(store, pinned("charge", Some("v1"), NOW)).await;
    let v1_running = create_claimed(store, pinned("charge", Some("v1"), NOW + 1_000)).await;
    let v1_suspended = create_claimed(store, pinned("charge", Some("v1"), NOW + 2_000)).await;
    store
        .suspend_run(v1_suspended, Some(NOW + 60_000), Vec::new(), NOW + 2_500)
        .await
        .unwrap();
    let v1_done = create_claimed(store, pinned("charge", Some("v1"), NOW + 3_000)).await;
    finish(
        store,
        v1_done,
        RunOutcome::Completed("1".into()),
        NOW + 3_500,
    )
    .await;
    let v2 = create(store, pinned("charge", Some("v2"), NOW + 4_000)).await;
    let unpinned = create(store, pinned("charge", None, NOW + 5_000)).await;
    let refund = create(store, pinned("refund", None, NOW + 6_000)).await;
    let mail = create(store, pinned("mail", Some("abcd"), NOW + 7_000)).await;
    let (v1_running, v1_suspended) = (v1_running.run_id, v1_suspended.run_id);

    // No worker at all: every run in flight waits, the finished one not.
    let live_since = NOW + 5_000;
    assert_eq!(
        store.unserved_runs(live_since).await.unwrap(),
        [
            group("charge", None, 1),
            group("charge", Some("v1"), 3),
            group("charge", Some("v2"), 1),
            group("mail", Some("abcd"), 1),
            group("refund", None, 1),
        ]
    );
    assert_eq!(
        every_page(store, RunFilter::new(), live_since).await,
        [
            mail,
            refund,
            unpinned,
            v2,
            v1_suspended,
            v1_running,
            v1_pending
        ]
    );

    // A live worker of v1 and of refund: charge's unpinned run is served
    // by it too, v2 and mail are not.
    let old = worker(
        "w-old",
        NOW + 6_000,
        &[
            ("charge", "1111", Some("v1")),
            ("refund", "2222", Some("v1")),
        ],
    );
    store.record_worker(old).await.unwrap();
    assert_eq!(
        store.unserved_runs(live_since).await.unwrap(),
        [
            group("charge", Some("v2"), 1),
            group("mail", Some("abcd"), 1)
        ]
    );
    assert_eq!(
        every_page(store, RunFilter::new(), live_since).await,
        [mail, v2]
    );

    // That worker falls silent (stale by `live_since`); one of v2, and
    // of mail in an older row without versions, beats.
    let new = worker(
        "w-new",
        NOW + 10_000,
        &[("charge", "3333", Some("v2")), ("mail", "abcd", None)],
    );
    store.record_worker(new).await.unwrap();
    let live_since = NOW + 7_000;
    assert_eq!(
        store.unserved_runs(live_since).await.unwrap(),
        [group("charge", Some("v1"), 3), group("refund", None, 1)]
    );
    assert_eq!(
        every_page(store, RunFilter::new(), live_since).await,
        [refund, v1_suspended, v1_running, v1_pending]
    );
    assert_eq!(
        every_page(store, RunFilter::new().workflow("charge"), live_since).await,
        [v1_suspended, v1_running, v1_pending]
    );
    let suspended = RunFilter::new().statuses([RunStatus::Suspended, RunStatus::Failed]);
    assert_eq!(
        every_page(store, suspended, live_since).await,
        [v1_suspended]
    );
    let finished = RunFilter::new().statuses([RunStatus::Completed]);
    assert_eq!(every_page(store, finished, live_since).await, []);
    let elsewhere = RunFilter::new().workflow("mail");
    assert_eq!(every_page(store, elsewhere, live_since).await, []);

    // A worker of v1 starts again and the one of v2 stops: v1's runs are
    // served, v2's and mail's wait again, and refund's still does.
    let again = worker("w-again", NOW + 12_000, &[("charge", "1111", Some("v1"))]);
    store.record_worker(again).await.unwrap();
    store.remove_worker("w-new".into()).await.unwrap();
    assert_eq!(
        store.unserved_runs(live_since).await.unwrap(),
        [
            group("charge", Some("v2"), 1),
            group("mail", Some("abcd"), 1),
            group("refund", None, 1),
        ]
    );
    assert_eq!(
        every_page(store, RunFilter::new(), live_since).await,
        [mail, refund, v2]
    );
}
