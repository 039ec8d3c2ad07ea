//! The conformance cases of the read side ([`ReadStore`]): lists, keyset
//! pages, counts, the per-minute series, one run in full and the event list,
//! each on a fresh store whose data is written through the store's own
//! write methods.

use std::collections::HashSet;
use std::sync::Arc;

use uuid::Uuid;

use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::info::{RunInfo, StepInfo};
use crate::model::listing::{
    EventFilter, EventInfo, MinuteCounts, RunCursor, RunFilter, StatusCount,
};
use crate::model::status::{RunStatus, StepStatus};
use crate::model::workflow::StepKind;
use crate::store::listing::MINUTE_MS;
use crate::store::{
    ClaimAtCreate, ClaimRequest, CreateOutcome, Lease, NewEvent, NewRun, RunOutcome, StepRecord,
    Store, Wait,
};

const NOW: i64 = 1_700_000_000_000;

/// A run of `workflow` created at `created_at`, left `pending`.
fn run_at(workflow: &str, input: &str, created_at: i64) -> NewRun {
    NewRun {
        id: RunId(Uuid::now_v7()),
        workflow: workflow.into(),
        input: input.into(),
        idempotency_key: None,
        now: created_at,
        ready_at: created_at,
        deadline_at: None,
        parent_id: None,
        claimed_by: None,
    }
}

/// The run claimed as it is created (`running`, started at its creation),
/// so a case can drive one run without a claim picking up the others.
fn claimed(run: NewRun) -> NewRun {
    NewRun {
        claimed_by: Some(ClaimAtCreate {
            owner: "reads".into(),
            lease_expires_at: Some(run.now + 3_600_000),
        }),
        ..run
    }
}

async fn create(store: &dyn Store, run: NewRun) -> RunId {
    assert_eq!(
        store.create_run(run.clone()).await.unwrap(),
        CreateOutcome::Created(run.id)
    );
    run.id
}

/// Creates `run` claimed, and returns the creator's lease on it.
async fn create_claimed(store: &dyn Store, run: NewRun) -> Lease {
    let run_id = create(store, claimed(run)).await;
    Lease {
        run_id,
        token: ClaimAtCreate::TOKEN,
    }
}

async fn finish(store: &dyn Store, lease: Lease, outcome: RunOutcome, now: i64) {
    store
        .finish_run(lease, outcome, Vec::new(), now)
        .await
        .unwrap();
}

fn record(name: &str, seq: i64, status: StepStatus, updated_at: i64) -> StepRecord {
    StepRecord {
        name: name.into(),
        seq,
        kind: StepKind::Run,
        status,
        input: None,
        output: None,
        error: None,
        attempts: 1,
        wake_at: None,
        updated_at,
        started_at: None,
        ended_at: None,
    }
}

fn waiting(name: &str, kind: StepKind, updated_at: i64) -> StepRecord {
    StepRecord {
        kind,
        ..record(name, 0, StepStatus::Waiting, updated_at)
    }
}

fn event(name: &str, data: &str, target: Option<RunId>, now: i64) -> NewEvent {
    NewEvent {
        name: name.into(),
        data: data.into(),
        target,
        now,
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("valid JSON")
}

fn ids(runs: &[RunInfo]) -> Vec<RunId> {
    runs.iter().map(|run| run.id).collect()
}

/// The ids of the runs `filter` lists, on one page of 200.
async fn listed(store: &dyn Store, filter: RunFilter) -> Vec<RunId> {
    let page = store.list_runs(filter.limit(200).unwrap()).await.unwrap();
    assert_eq!(page.next, None, "everything fits one page");
    ids(&page.runs)
}

/// The runs of the filter cases, one per status, newest last.
struct Fixture {
    pending: RunId,
    completed: RunId,
    failed: RunId,
    suspended: RunId,
    cancelled: RunId,
    timed_out: RunId,
    running: RunId,
}

/// Writes the runs of [`Fixture`]: `orders` and `mail` runs created a second
/// apart from [`NOW`], finished 4 s after their creation (or not at all).
async fn fixture(store: &dyn Store) -> Fixture {
    let plain = r#"{"note":"plain"}"#;
    let pending = create(store, run_at("orders", plain, NOW)).await;
    let completed = create_claimed(store, run_at("orders", plain, NOW + 1_000)).await;
    finish(
        store,
        completed,
        RunOutcome::Completed(r#"{"code":"50%_x"}"#.into()),
        NOW + 5_000,
    )
    .await;
    let failed = create_claimed(store, run_at("mail", r#"{"note":"50ab_x"}"#, NOW + 2_000)).await;
    finish(
        store,
        failed,
        RunOutcome::Failed("boom 50%ax".into()),
        NOW + 6_000,
    )
    .await;
    let suspended =
        create_claimed(store, run_at("mail", r#"{"note":"needle"}"#, NOW + 3_000)).await;
    store
        .suspend_run(suspended, Some(NOW + 60_000), Vec::new(), NOW + 3_500)
        .await
        .unwrap();
    let cancelled = create_claimed(store, run_at("orders", plain, NOW + 4_000)).await;
    store
        .cancel_run(cancelled.run_id, NOW + 7_000)
        .await
        .unwrap();
    let timed_out = create_claimed(store, run_at("mail", plain, NOW + 5_000)).await;
    finish(store, timed_out, RunOutcome::TimedOut, NOW + 8_000).await;
    let running = create_claimed(store, run_at("orders", plain, NOW + 6_000)).await;
    Fixture {
        pending,
        completed: completed.run_id,
        failed: failed.run_id,
        suspended: suspended.run_id,
        cancelled: cancelled.run_id,
        timed_out: timed_out.run_id,
        running: running.run_id,
    }
}

/// With no filter every run is listed, newest first, each as stored.
pub(super) async fn runs_are_listed_newest_first(store: &dyn Store) {
    let empty = store.list_runs(RunFilter::new()).await.unwrap();
    assert!(empty.runs.is_empty() && empty.next.is_none());
    let f = fixture(store).await;
    let page = store.list_runs(RunFilter::new()).await.unwrap();
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
pub(super) async fn run_filters_narrow_the_list(store: &dyn Store) {
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
pub(super) async fn runs_are_found_by_text(store: &dyn Store) {
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
pub(super) async fn runs_are_listed_by_parent(store: &dyn Store) {
    let parent = create_claimed(store, run_at("flow", "{}", NOW)).await;
    let other = create_claimed(store, run_at("flow", "{}", NOW)).await;
    let mut children = Vec::new();
    for (seq, (lease, at)) in [(parent, NOW + 100), (other, NOW + 150), (parent, NOW + 200)]
        .into_iter()
        .enumerate()
    {
        let child = NewRun {
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
        .list_runs(RunFilter::new().parent(parent.run_id))
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
        let page = store.list_runs(filter.clone()).await.unwrap();
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
pub(super) async fn pages_walk_every_run_once(store: &dyn Store) {
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
    let page = store.list_runs(past).await.unwrap();
    assert!(page.runs.is_empty() && page.next.is_none());
}

/// A page holds 1 to 200 entries: other sizes are refused.
pub(super) async fn page_sizes_outside_1_to_200_are_refused(store: &dyn Store) {
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
        let result = store.list_runs(runs).await;
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
        .list_runs(RunFilter::new().limit(1).unwrap())
        .await
        .unwrap();
    assert_eq!((one.runs.len(), one.next.is_some()), (1, true));
    let most = store
        .list_runs(RunFilter::new().limit(200).unwrap())
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

/// Counts are per workflow and status, by workflow then status (as text),
/// without the pairs that have no run.
pub(super) async fn runs_are_counted_by_workflow_and_status(store: &dyn Store) {
    assert!(store.count_runs().await.unwrap().is_empty());
    fixture(store).await;
    create(store, run_at("orders", "{}", NOW + 9_000)).await;
    let count = |workflow: &str, status, count| StatusCount {
        workflow: workflow.into(),
        status,
        count,
    };
    assert_eq!(
        store.count_runs().await.unwrap(),
        [
            count("mail", RunStatus::Failed, 1),
            count("mail", RunStatus::Suspended, 1),
            count("mail", RunStatus::TimedOut, 1),
            count("orders", RunStatus::Cancelled, 1),
            count("orders", RunStatus::Completed, 1),
            count("orders", RunStatus::Pending, 2),
            count("orders", RunStatus::Running, 1),
        ]
    );
}

fn claim_flow(now: i64) -> ClaimRequest {
    ClaimRequest {
        owner: "reads".into(),
        now,
        limit: 10,
        workflows: Arc::from(r#"["flow"]"#),
        lease_expires_at: Some(now + 3_600_000),
    }
}

/// The series counts each minute's first starts, completions and failures
/// (timeouts included), with zeros for a minute without any; a run started
/// again later counts once, a cancelled one not at all.
pub(super) async fn the_series_counts_each_minute(store: &dyn Store) {
    let base = (NOW / MINUTE_MS + 1) * MINUTE_MS;
    let minute = |index: i64| base + index * MINUTE_MS;
    // Started in minute 0, completed in minute 1.
    let a = create_claimed(store, run_at("a", "{}", minute(0) + 1_000)).await;
    finish(
        store,
        a,
        RunOutcome::Completed("1".into()),
        minute(1) + 1_000,
    )
    .await;
    // Started in minute 0, released, started again in minute 1, failed in
    // minute 2.
    create(store, run_at("flow", "{}", minute(0) + 2_000)).await;
    let first = store
        .claim_ready(claim_flow(minute(0) + 5_000))
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    store
        .release_run(first[0].lease, minute(0) + 6_000)
        .await
        .unwrap();
    let again = store
        .claim_ready(claim_flow(minute(1) + 5_000))
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    finish(
        store,
        again[0].lease,
        RunOutcome::Failed("no".into()),
        minute(2) + 5_000,
    )
    .await;
    // Started and timed out in minute 2.
    let c = create_claimed(store, run_at("c", "{}", minute(2) + 10_000)).await;
    finish(store, c, RunOutcome::TimedOut, minute(2) + 30_000).await;
    // Never started.
    create(store, run_at("idle", "{}", minute(0) + 3_000)).await;
    // Started in minute 0, cancelled in minute 1.
    let e = create_claimed(store, run_at("e", "{}", minute(0) + 10_000)).await;
    store
        .cancel_run(e.run_id, minute(1) + 10_000)
        .await
        .unwrap();
    // Before and after the series.
    let g = create_claimed(store, run_at("g", "{}", minute(-1) + 1_000)).await;
    finish(
        store,
        g,
        RunOutcome::Completed("1".into()),
        minute(-1) + 2_000,
    )
    .await;
    let h = create_claimed(store, run_at("h", "{}", minute(4) + 1_000)).await;
    finish(
        store,
        h,
        RunOutcome::Failed("late".into()),
        minute(4) + 2_000,
    )
    .await;

    let counts = |index: i64, started, completed, failed| MinuteCounts {
        minute: minute(index),
        started,
        completed,
        failed,
    };
    assert_eq!(
        store.run_series(minute(0), minute(4)).await.unwrap(),
        [
            counts(0, 3, 0, 0),
            counts(1, 0, 1, 0),
            counts(2, 1, 0, 2),
            counts(3, 0, 0, 0),
        ]
    );
    // The minute holding `from` is counted whole, up to the one holding
    // `until - 1`.
    assert_eq!(
        store
            .run_series(minute(0) + 30_000, minute(1))
            .await
            .unwrap(),
        [counts(0, 3, 0, 0)]
    );
    assert_eq!(
        store.run_series(minute(3), minute(5) - 1).await.unwrap(),
        [counts(3, 0, 0, 0), counts(4, 1, 0, 1)]
    );
    assert_eq!(
        store.run_series(minute(10), minute(12)).await.unwrap(),
        [counts(10, 0, 0, 0), counts(11, 0, 0, 0)]
    );
}

fn times(step: &StepInfo) -> (Option<i64>, Option<i64>) {
    (step.started_at, step.ended_at)
}

/// A run in full: its steps in seq order, each with its start (kept from
/// its first write, or the start its record carried) and its end (once
/// completed or failed) and attempts; its children oldest first; `None` for
/// an unknown run.
pub(super) async fn run_detail_has_steps_and_children(store: &dyn Store) {
    let lease = create_claimed(store, run_at("flow", r#"{"n":1}"#, NOW)).await;
    let save = |step: StepRecord| store.save_step(lease, step);
    let detail = || async { store.run_detail(lease.run_id).await.unwrap().unwrap() };

    let fresh = detail().await;
    assert_eq!(fresh.run.id, lease.run_id);
    assert_eq!(fresh.run.status, RunStatus::Running);
    assert!(fresh.steps.is_empty() && fresh.children.is_empty());

    // `a`: running, then completed; the completion's start does not replace
    // the first write's.
    save(record("a", 0, StepStatus::Running, NOW + 10))
        .await
        .unwrap();
    let running = detail().await;
    assert_eq!(running.steps.len(), 1);
    assert_eq!(running.steps[0].status, StepStatus::Running);
    assert_eq!(times(&running.steps[0]), (Some(NOW + 10), None));
    save(StepRecord {
        output: Some("1".into()),
        started_at: Some(NOW + 15),
        ..record("a", 0, StepStatus::Completed, NOW + 20)
    })
    .await
    .unwrap();
    // `c` (reached after `b` but written first): its record names its start;
    // it fails twice, waits for a retry, then fails for good.
    save(StepRecord {
        started_at: Some(NOW + 5),
        ..record("c", 2, StepStatus::Running, NOW + 30)
    })
    .await
    .unwrap();
    save(StepRecord {
        attempts: 2,
        error: Some("e2".into()),
        wake_at: Some(NOW + 45),
        ..record("c", 2, StepStatus::Pending, NOW + 40)
    })
    .await
    .unwrap();
    let retrying = detail().await;
    assert_eq!(retrying.steps[1].name, "c");
    assert_eq!(times(&retrying.steps[1]), (Some(NOW + 5), None));
    save(StepRecord {
        attempts: 3,
        error: Some("e3".into()),
        ..record("c", 2, StepStatus::Failed, NOW + 50)
    })
    .await
    .unwrap();
    // `b`: completed at its first write.
    save(StepRecord {
        output: Some(r#"{"b":true}"#.into()),
        ..record("b", 1, StepStatus::Completed, NOW + 60)
    })
    .await
    .unwrap();

    let mut kids = Vec::new();
    for (seq, at) in [(3_i64, NOW + 100), (4, NOW + 200)] {
        let child = NewRun {
            parent_id: Some(lease.run_id),
            ..run_at("flow", r#"{"child":true}"#, at)
        };
        let step = StepRecord {
            kind: StepKind::StartChild,
            input: Some(format!("\"{}\"", child.id)),
            ..record(&format!("start/{seq}"), seq, StepStatus::Waiting, at)
        };
        store
            .start_child(lease, step, child.clone(), false)
            .await
            .unwrap();
        kids.push(child.id);
    }

    let full = detail().await;
    let names: Vec<&str> = full.steps.iter().map(|step| step.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "start/3", "start/4"]);
    let seqs: Vec<i64> = full.steps.iter().map(|step| step.seq).collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4]);
    let (a, b, c) = (&full.steps[0], &full.steps[1], &full.steps[2]);
    assert_eq!(
        (a.status, a.output.clone(), a.attempts),
        (StepStatus::Completed, Some(json("1")), 1)
    );
    assert_eq!(times(a), (Some(NOW + 10), Some(NOW + 20)));
    assert_eq!(
        (b.status, b.output.clone()),
        (StepStatus::Completed, Some(json(r#"{"b":true}"#)))
    );
    assert_eq!(times(b), (Some(NOW + 60), Some(NOW + 60)));
    assert_eq!(
        (c.status, c.error.as_deref(), c.attempts),
        (StepStatus::Failed, Some("e3"), 3)
    );
    assert_eq!(times(c), (Some(NOW + 5), Some(NOW + 50)));
    assert_eq!(ids(&full.children), kids, "children oldest first");
    assert!(full.children.iter().all(
        |child| child.parent == Some(lease.run_id) && child.input == json(r#"{"child":true}"#)
    ));
    assert_eq!(full.run.parent, None);
    assert_eq!(full.run.input, json(r#"{"n":1}"#));

    // The journal carries the same times.
    let journal = store.load_journal(lease.run_id).await.unwrap();
    let mut journal_times: Vec<_> = journal
        .iter()
        .map(|step| (step.name.clone(), step.started_at, step.ended_at))
        .collect();
    journal_times.sort();
    let mut detail_times: Vec<_> = full
        .steps
        .iter()
        .map(|step| (step.name.clone(), step.started_at, step.ended_at))
        .collect();
    detail_times.sort();
    assert_eq!(journal_times, detail_times);

    // A child in full names its parent and has nothing of its own yet.
    let child = store.run_detail(kids[0]).await.unwrap().unwrap();
    assert_eq!(child.run.parent, Some(lease.run_id));
    assert!(child.steps.is_empty() && child.children.is_empty());

    finish(store, lease, RunOutcome::Completed("9".into()), NOW + 300).await;
    let done = detail().await;
    assert_eq!(
        (done.run.status, done.run.finished_at),
        (RunStatus::Completed, Some(NOW + 300))
    );
    assert_eq!(done.steps.len(), 5);

    assert!(
        store
            .run_detail(RunId(Uuid::now_v7()))
            .await
            .unwrap()
            .is_none()
    );
}

fn event_ids(events: &[EventInfo]) -> Vec<i64> {
    events.iter().map(|event| event.id).collect()
}

/// Events and signals are listed newest first, pages following `before`,
/// optionally by name; each names the runs whose waiting steps it settled
/// (by a send, or taken by a lookback later), none for one that settled
/// nothing.
pub(super) async fn events_are_listed_with_the_runs_they_woke(store: &dyn Store) {
    let empty = store.list_events(EventFilter::new()).await.unwrap();
    assert!(empty.events.is_empty() && empty.next.is_none());

    let paid = |lookback_from| Wait::Event {
        name: "paid".into(),
        filter: None,
        lookback_from,
    };
    let mut waiters = Vec::new();
    for _ in 0..2 {
        let lease = create_claimed(store, run_at("shop", "{}", NOW)).await;
        let step = waiting("w", StepKind::WaitForEvent, NOW + 1);
        assert_eq!(
            store.register_wait(lease, step, paid(None)).await.unwrap(),
            None
        );
        store
            .suspend_run(lease, None, Vec::new(), NOW + 2)
            .await
            .unwrap();
        waiters.push(lease.run_id);
    }
    let listener = create_claimed(store, run_at("shop", "{}", NOW)).await;
    let listen = waiting("l", StepKind::Listen, NOW + 1);
    let signal = Wait::Signal { name: "go".into() };
    assert_eq!(
        store.register_wait(listener, listen, signal).await.unwrap(),
        None
    );

    let first = store
        .send_event(event("paid", r#"{"n":1}"#, None, NOW + 10), None)
        .await
        .unwrap();
    let mut woken = first.woken.clone();
    woken.sort();
    let mut expected = waiters.clone();
    expected.sort();
    assert_eq!(woken, expected);
    let nobody = store
        .send_event(event("other", "2", None, NOW + 20), None)
        .await
        .unwrap();
    assert!(nobody.woken.is_empty());
    let go = store
        .send_event(
            event("go", r#""now""#, Some(listener.run_id), NOW + 30),
            None,
        )
        .await
        .unwrap();
    assert_eq!(go.woken, [listener.run_id]);
    // A later wait's lookback takes the first event too.
    let late = create_claimed(store, run_at("shop", "{}", NOW + 35)).await;
    let taken = store
        .register_wait(
            late,
            waiting("w", StepKind::WaitForEvent, NOW + 40),
            paid(Some(NOW)),
        )
        .await
        .unwrap();
    assert!(taken.is_some(), "the lookback found the first event");
    let last = store
        .send_event(event("paid", r#"{"n":4}"#, None, NOW + 50), None)
        .await
        .unwrap();
    assert!(last.woken.is_empty(), "every wait was settled already");

    let page = store.list_events(EventFilter::new()).await.unwrap();
    assert_eq!(page.next, None);
    assert_eq!(
        event_ids(&page.events),
        [last.id, go.id, nobody.id, first.id]
    );
    let [e4, e3, e2, e1] = &page.events[..] else {
        panic!("four events: {:?}", page.events)
    };
    assert_eq!(
        (e4.name.as_str(), &e4.data, e4.target_run, e4.created_at),
        ("paid", &json(r#"{"n":4}"#), None, NOW + 50)
    );
    assert!(e4.woke.is_empty());
    assert_eq!(
        (e3.name.as_str(), &e3.data, e3.target_run, e3.created_at),
        ("go", &json(r#""now""#), Some(listener.run_id), NOW + 30)
    );
    assert_eq!(e3.woke, [listener.run_id]);
    assert_eq!((e2.name.as_str(), e2.woke.as_slice()), ("other", &[][..]));
    assert_eq!(e1.created_at, NOW + 10);
    assert_eq!(e1.woke.len(), 3, "{:?}", e1.woke);
    assert_eq!(e1.woke[2], late.run_id, "the lookback took it last");
    let mut by_send = e1.woke[..2].to_vec();
    by_send.sort();
    assert_eq!(by_send, expected);

    // The settled steps carry their end.
    for run_id in &waiters {
        let detail = store.run_detail(*run_id).await.unwrap().unwrap();
        assert_eq!(detail.steps[0].status, StepStatus::Completed);
        assert_eq!(detail.steps[0].ended_at, Some(NOW + 10));
    }

    // Pages by `before`.
    let two = EventFilter::new().limit(2).unwrap();
    let page = store.list_events(two.clone()).await.unwrap();
    assert_eq!(
        (event_ids(&page.events), page.next),
        (vec![last.id, go.id], Some(go.id))
    );
    let page = store.list_events(two.before(go.id)).await.unwrap();
    assert_eq!(
        (event_ids(&page.events), page.next),
        (vec![nobody.id, first.id], None)
    );
    let three = EventFilter::new().limit(3).unwrap();
    let page = store.list_events(three.clone()).await.unwrap();
    assert_eq!(page.next, Some(nobody.id));
    let page = store.list_events(three.before(nobody.id)).await.unwrap();
    assert_eq!((event_ids(&page.events), page.next), (vec![first.id], None));
    assert_eq!(page.events[0].woke.len(), 3, "woke on a later page too");

    // By name.
    let named = EventFilter::new().name("paid").limit(1).unwrap();
    let page = store.list_events(named.clone()).await.unwrap();
    assert_eq!(
        (event_ids(&page.events), page.next),
        (vec![last.id], Some(last.id))
    );
    let page = store.list_events(named.before(last.id)).await.unwrap();
    assert_eq!((event_ids(&page.events), page.next), (vec![first.id], None));
    let page = store
        .list_events(EventFilter::new().name("nothing"))
        .await
        .unwrap();
    assert!(page.events.is_empty());
}
