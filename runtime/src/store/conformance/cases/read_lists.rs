//! Conformance cases of the run lists ([`ReadStore::list_runs`]): the
//! newest-first order, each filter, text search, children of a parent,
//! keyset pages and page sizes.
//!
//! [`ReadStore::list_runs`]: crate::store::ReadStore::list_runs

use std::collections::HashSet;

use uuid::Uuid;

use super::helpers::{
    NOW, create, create_claimed, event, finish, fixture, ids, json, record, run_at,
};
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::listing::{EventFilter, RunCursor, RunFilter};
use crate::model::status::{RunStatus, StepStatus};
use crate::model::workflow::StepKind;
use crate::store::{NewRun, RunOutcome, StepRecord, Store};

/// The `live_since` of lists that do not ask for unserved runs, which do
/// not read it.
const ANY_LIVE: i64 = 0;

/// The ids of the runs `filter` lists, on one page of 200.
async fn listed(store: &dyn Store, filter: RunFilter) -> Vec<RunId> {
    let page = store
        .list_runs(filter.limit(200).unwrap(), ANY_LIVE)
        .await
        .unwrap();
    assert_eq!(page.next, None, "everything fits one page");
    ids(&page.runs)
}

/// With no filter every run is listed, newest first, each as stored.
pub(crate) async fn runs_are_listed_newest_first(store: &dyn Store) {
    let empty = store.list_runs(RunFilter::new(), ANY_LIVE).await.unwrap();
    assert!(empty.runs.is_empty() && empty.next.is_none());
    let f = fixture(store).await;
    let page = store.list_runs(RunFilter::new(), ANY_LIVE).await.unwrap();
    assert_eq!(page.next, None);
    assert_eq!(
        ids(&page.runs),
        [
            f.running,
            f.timed_out,
            f.cancelled,
            f.suspended,
            f.failed,
            f.completed,
            f.pending
        ]
    );
    let statuses: Vec<RunStatus> = page.runs.iter().map(|run| run.status).collect();
    assert_eq!(
        statuses,
        [
            RunStatus::Running,
            RunStatus::TimedOut,
            RunStatus::Cancelled,
            RunStatus::Suspended,
            RunStatus::Failed,
            RunStatus::Completed,
            RunStatus::Pending
        ]
    );
    let completed = &page.runs[5];
    assert_eq!(completed.workflow, "orders");
    assert_eq!(completed.input, json(r#"{"note":"plain"}"#));
    assert_eq!(completed.output, Some(json(r#"{"code":"50%_x"}"#)));
    assert_eq!(
        (
            completed.created_at,
            completed.started_at,
            completed.finished_at
        ),
        (NOW + 1_000, Some(NOW + 1_000), Some(NOW + 5_000))
    );
    assert_eq!((completed.parent, completed.executions), (None, 1));
    let failed = &page.runs[4];
    assert_eq!(failed.error.as_deref(), Some("boom 50%ax"));
    let pending = &page.runs[6];
    assert_eq!(
        (pending.started_at, pending.finished_at, pending.executions),
        (None, None, 0)
    );
}

/// Each filter narrows the list to the runs it names, still newest first;
/// filters combine.
pub(crate) async fn run_filters_narrow_the_list(store: &dyn Store) {
    let f = fixture(store).await;
    let list = |filter| listed(store, filter);
    assert_eq!(
        list(RunFilter::new().workflow("mail")).await,
        [f.timed_out, f.suspended, f.failed]
    );
    assert!(list(RunFilter::new().workflow("nothing")).await.is_empty());
    assert_eq!(
        list(RunFilter::new().statuses([RunStatus::Failed])).await,
        [f.failed]
    );
    assert_eq!(
        list(RunFilter::new().statuses([RunStatus::Failed, RunStatus::TimedOut])).await,
        [f.timed_out, f.failed]
    );
    assert_eq!(
        list(RunFilter::new().statuses([
            RunStatus::Pending,
            RunStatus::Running,
            RunStatus::Suspended
        ]))
        .await,
        [f.running, f.suspended, f.pending]
    );
    assert_eq!(
        list(RunFilter::new().workflow("orders").statuses([
            RunStatus::Completed,
            RunStatus::Cancelled,
            RunStatus::Failed
        ]))
        .await,
        [f.cancelled, f.completed]
    );
    // Ranges hold their start and not their end.
    assert_eq!(
        list(RunFilter::new().created_between(NOW + 1_000, NOW + 4_000)).await,
        [f.suspended, f.failed, f.completed]
    );
    assert_eq!(
        list(RunFilter::new().finished_between(NOW + 5_000, NOW + 7_000)).await,
        [f.failed, f.completed]
    );
    let only_from = RunFilter {
        finished_from: Some(NOW + 7_000),
        ..RunFilter::new()
    };
    assert_eq!(list(only_from).await, [f.timed_out, f.cancelled]);
    let only_until = RunFilter {
        created_until: Some(NOW + 1_000),
        ..RunFilter::new()
    };
    assert_eq!(list(only_until).await, [f.pending]);
    assert_eq!(
        list(
            RunFilter::new()
                .workflow("mail")
                .created_between(NOW, NOW + 10_000)
                .finished_between(NOW, NOW + 10_000)
        )
        .await,
        [f.timed_out, f.failed]
    );
}

/// The text search finds the text in the input, the output or the error,
/// case sensitive, with `%` and `_` matching only themselves.
pub(crate) async fn runs_are_found_by_text(store: &dyn Store) {
    let f = fixture(store).await;
    let text = |text: &str| listed(store, RunFilter::new().text(text));
    assert_eq!(text("needle").await, [f.suspended], "in the input");
    assert_eq!(text("boom").await, [f.failed], "in the error");
    assert_eq!(text("code").await, [f.completed], "in the output");
    assert_eq!(
        text("50%_x").await,
        [f.completed],
        "not `50ab_x` nor `50%ax`: the wildcards are literal"
    );
    assert_eq!(text("_x").await, [f.failed, f.completed]);
    assert!(text("BOOM").await.is_empty(), "case sensitive");
    assert!(text("absent").await.is_empty());
    assert_eq!(
        listed(store, RunFilter::new().text("plain").workflow("mail")).await,
        [f.timed_out]
    );
}

/// A parent filter lists that run's children, newest first, and nothing
/// else.
pub(crate) async fn runs_are_listed_by_parent(store: &dyn Store) {
    let parent = create_claimed(store, run_at("flow", "{}", NOW)).await;
    let other = create_claimed(store, run_at("flow", "{}", NOW)).await;
    let mut children = Vec::new();
    for (seq, (lease, at)) in [(parent, NOW + 100), (other, NOW + 150), (parent, NOW + 200)]
        .into_iter()
        .enumerate()
    {
        let child = NewRun {
            queue: Default::default(),
            parent_id: Some(lease.run_id),
            ..run_at("flow", "{}", at)
        };
        let step = StepRecord {
            kind: StepKind::StartChild,
            input: Some(format!("\"{}\"", child.id)),
            ..record(&format!("start/{seq}"), seq as i64, StepStatus::Waiting, at)
        };
        store
            .start_child(lease, step, child.clone(), false)
            .await
            .unwrap();
        children.push(child.id);
    }
    let page = store
        .list_runs(RunFilter::new().parent(parent.run_id), ANY_LIVE)
        .await
        .unwrap();
    assert_eq!(ids(&page.runs), [children[2], children[0]]);
    assert!(
        page.runs
            .iter()
            .all(|run| run.parent == Some(parent.run_id))
    );
    assert_eq!(
        listed(store, RunFilter::new().parent(other.run_id)).await,
        [children[1]]
    );
    assert!(
        listed(store, RunFilter::new().parent(RunId(Uuid::now_v7())))
            .await
            .is_empty()
    );
}

/// Walks every page of `filter`, following `next` through its text form
/// (as it travels in a URL), and returns the runs with each page's size.
async fn walk(store: &dyn Store, filter: RunFilter) -> (Vec<RunId>, Vec<usize>) {
    let mut runs = Vec::new();
    let mut sizes = Vec::new();
    let mut filter = filter;
    loop {
        let page = store.list_runs(filter.clone(), ANY_LIVE).await.unwrap();
        sizes.push(page.runs.len());
        runs.extend(ids(&page.runs));
        let Some(next) = page.next else { break };
        assert_eq!(Some(next), page.runs.last().map(RunCursor::after));
        filter = filter.after(next.to_string().parse().unwrap());
        assert!(sizes.len() < 100, "the pages never end");
    }
    (runs, sizes)
}

/// Keyset pages walk every run exactly once, in order, over runs that share
/// their creation time (ordered by id then), with or without a filter; a
/// last page that is full says so.
pub(crate) async fn pages_walk_every_run_once(store: &dyn Store) {
    // Creation times out of step with the ids, four or so per millisecond.
    let mut all = Vec::new();
    for index in 0..23_i64 {
        let created_at = NOW + (index * 7) % 6;
        let run = run_at("flow", "{}", created_at);
        if index % 2 == 0 {
            let lease = create_claimed(store, run.clone()).await;
            finish(store, lease, RunOutcome::Completed("1".into()), NOW + 10).await;
        } else {
            create(store, run.clone()).await;
        }
        all.push((created_at, run.id, index % 2 == 0));
    }
    let mut newest_first = all.clone();
    newest_first.sort_by_key(|entry| std::cmp::Reverse((entry.0, entry.1)));
    let expected: Vec<RunId> = newest_first.iter().map(|entry| entry.1).collect();

    let (runs, sizes) = walk(store, RunFilter::new().limit(5).unwrap()).await;
    assert_eq!(sizes, [5, 5, 5, 5, 3]);
    assert_eq!(runs, expected);
    assert_eq!(runs.iter().collect::<HashSet<_>>().len(), 23);

    let (runs, sizes) = walk(store, RunFilter::new().limit(1).unwrap()).await;
    assert_eq!((runs, sizes.len()), (expected.clone(), 23));

    let completed: Vec<RunId> = newest_first
        .iter()
        .filter(|entry| entry.2)
        .map(|entry| entry.1)
        .collect();
    let filter = RunFilter::new()
        .statuses([RunStatus::Completed])
        .limit(4)
        .unwrap();
    let (runs, sizes) = walk(store, filter).await;
    assert_eq!(sizes, [4, 4, 4], "12 runs: the third page is the last");
    assert_eq!(runs, completed);

    // A cursor past the oldest run starts an empty last page.
    let oldest = newest_first.last().unwrap();
    let past = RunFilter::new().after(RunCursor {
        created_at: oldest.0,
        id: oldest.1,
    });
    let page = store.list_runs(past, ANY_LIVE).await.unwrap();
    assert!(page.runs.is_empty() && page.next.is_none());
}

/// A page holds 1 to 200 entries: other sizes are refused.
pub(crate) async fn page_sizes_outside_1_to_200_are_refused(store: &dyn Store) {
    for _ in 0..3 {
        create(store, run_at("flow", "{}", NOW)).await;
    }
    store
        .send_event(event("e", "1", None, NOW), None)
        .await
        .unwrap();
    store
        .send_event(event("e", "2", None, NOW), None)
        .await
        .unwrap();
    for limit in [0, 201, usize::MAX] {
        let runs = RunFilter {
            limit,
            ..RunFilter::new()
        };
        let result = store.list_runs(runs, ANY_LIVE).await;
        assert!(
            matches!(result, Err(Error::InvalidFilter(_))),
            "{limit}: {result:?}"
        );
        let events = EventFilter {
            limit,
            ..EventFilter::new()
        };
        let result = store.list_events(events).await;
        assert!(
            matches!(result, Err(Error::InvalidFilter(_))),
            "{limit}: {result:?}"
        );
    }
    let one = store
        .list_runs(RunFilter::new().limit(1).unwrap(), ANY_LIVE)
        .await
        .unwrap();
    assert_eq!((one.runs.len(), one.next.is_some()), (1, true));
    let most = store
        .list_runs(RunFilter::new().limit(200).unwrap(), ANY_LIVE)
        .await
        .unwrap();
    assert_eq!((most.runs.len(), most.next), (3, None));
    let one = store
        .list_events(EventFilter::new().limit(1).unwrap())
        .await
        .unwrap();
    assert_eq!((one.events.len(), one.next.is_some()), (1, true));
    let most = store
        .list_events(EventFilter::new().limit(200).unwrap())
        .await
        .unwrap();
    assert_eq!((most.events.len(), most.next), (2, None));
}
