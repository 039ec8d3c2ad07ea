//! What the conformance cases build their runs, steps and events from,
//! and the checks several of them share.

use uuid::Uuid;

use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::info::RunInfo;
use crate::model::status::StepStatus;
use crate::model::workflow::StepKind;
use crate::store::{
    ClaimAtCreate, ClaimRequest, CreateOutcome, Lease, NewEvent, NewRun, RunOutcome, StepRecord,
    Store,
};

/// The time the cases write at (ms since the epoch).
pub(super) const NOW: i64 = 1_700_000_000_000;

/// A pending run of `workflow` created at [`NOW`], due at `ready_at`.
pub(super) fn new_run(workflow: &str, input: &str, key: Option<&str>, ready_at: i64) -> NewRun {
    NewRun {
        cancel_on: Vec::new(),
        id: RunId(Uuid::now_v7()),
        workflow: workflow.into(),
        input: input.into(),
        idempotency_key: key.map(Into::into),
        now: NOW,
        ready_at,
        deadline_at: None,
        version: None,
        queue: Default::default(),
        parent_id: None,
        claimed_by: None,
        flow: None,
    }
}

/// A claim of up to `limit` `flow` runs at `now`, under a 10 s lease.
pub(super) fn claim_request(limit: usize, now: i64) -> ClaimRequest {
    ClaimRequest {
        owner: "conformance".into(),
        now,
        limit,
        workflows: r#"["flow"]"#.into(),
        lease_expires_at: Some(now + 10_000),
    }
}

/// A `run` step record written at [`NOW`], one attempt, naming no start.
pub(super) fn step(name: &str, seq: i64, status: StepStatus, output: Option<&str>) -> StepRecord {
    StepRecord {
        output: output.map(Into::into),
        ..record(name, seq, status, NOW)
    }
}

/// `step` as a store reads it back after writing it once: started when it
/// was written (it names no start), and ended then if it completed or failed.
pub(super) fn stored(step: &StepRecord) -> StepRecord {
    let ended = matches!(step.status, StepStatus::Completed | StepStatus::Failed);
    StepRecord {
        started_at: step.started_at.or(Some(step.updated_at)),
        ended_at: ended.then_some(step.updated_at),
        ..step.clone()
    }
}

/// Creates a `flow` run and claims it; returns the lease.
pub(super) async fn create_and_claim(store: &dyn Store) -> Lease {
    let run = new_run("flow", "{}", None, NOW);
    assert_eq!(
        store.create_run(run.clone()).await.unwrap(),
        CreateOutcome::Created(run.id)
    );
    let claimed = store.claim_ready(claim_request(1, NOW)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].lease.run_id, run.id);
    assert_eq!(claimed[0].executions, 1);
    claimed[0].lease
}

/// Whether a write was refused for a stale lease.
pub(super) fn is_lease_lost<T: std::fmt::Debug>(result: Result<T, Error>) -> bool {
    matches!(result, Err(Error::LeaseLost { .. }))
}

/// Polls every future together, so their writes share batches.
pub(super) async fn futures_join_all<T>(
    futures: impl Iterator<Item = impl std::future::Future<Output = T>>,
) -> Vec<T> {
    let mut futures: Vec<_> = futures.map(Box::pin).collect();
    let mut results: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, result) in futures.iter_mut().zip(results.iter_mut()) {
            if result.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *result = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results
        .into_iter()
        .map(|result| result.expect("every future finished"))
        .collect()
}

/// Parses JSON text: backends may store it in another layout (JSONB).
pub(super) fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("valid JSON")
}

/// A waiting step of `kind`, woken at `wake_at` if set.
pub(super) fn waiting(name: &str, kind: StepKind, wake_at: Option<i64>) -> StepRecord {
    StepRecord {
        kind,
        wake_at,
        ..step(name, 0, StepStatus::Waiting, None)
    }
}

/// An event (a signal with a `target`) sent at `now`.
pub(super) fn event(name: &str, data: &str, target: Option<RunId>, now: i64) -> NewEvent {
    NewEvent {
        name: name.into(),
        data: data.into(),
        target,
        now,
        starts: Vec::new(),
        trigger_errors: Vec::new(),
    }
}

/// A run of `workflow` created at `created_at`, left `pending`.
pub(super) fn run_at(workflow: &str, input: &str, created_at: i64) -> NewRun {
    NewRun {
        cancel_on: Vec::new(),
        id: RunId(Uuid::now_v7()),
        workflow: workflow.into(),
        input: input.into(),
        idempotency_key: None,
        now: created_at,
        ready_at: created_at,
        deadline_at: None,
        version: None,
        queue: Default::default(),
        parent_id: None,
        claimed_by: None,
        flow: None,
    }
}

/// The run claimed as it is created (`running`, started at its creation),
/// so a case can drive one run without a claim picking up the others.
pub(super) fn claimed(run: NewRun) -> NewRun {
    NewRun {
        claimed_by: Some(ClaimAtCreate {
            owner: "reads".into(),
            lease_expires_at: Some(run.now + 3_600_000),
            limit: None,
        }),
        ..run
    }
}

/// Creates `run` and returns its id.
pub(super) async fn create(store: &dyn Store, run: NewRun) -> RunId {
    assert_eq!(
        store.create_run(run.clone()).await.unwrap(),
        CreateOutcome::Created(run.id)
    );
    run.id
}

/// Creates `run` claimed, and returns the creator's lease on it.
pub(super) async fn create_claimed(store: &dyn Store, run: NewRun) -> Lease {
    let run_id = create(store, claimed(run)).await;
    Lease {
        run_id,
        token: ClaimAtCreate::TOKEN,
    }
}

/// Finishes the run `lease` holds with `outcome` at `now`, carrying no steps.
pub(super) async fn finish(store: &dyn Store, lease: Lease, outcome: RunOutcome, now: i64) {
    store
        .finish_run(lease, outcome, Vec::new(), now)
        .await
        .unwrap();
}

/// A `run` step record written at `updated_at`, one attempt, naming no start.
pub(super) fn record(name: &str, seq: i64, status: StepStatus, updated_at: i64) -> StepRecord {
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
        finished_attempt: None,
        attempt_log: Box::default(),
    }
}

/// The ids of `runs`, in their order.
pub(super) fn ids(runs: &[RunInfo]) -> Vec<RunId> {
    runs.iter().map(|run| run.id).collect()
}

/// The runs of the filter cases, one per status, newest last.
pub(super) struct Fixture {
    pub(super) pending: RunId,
    pub(super) completed: RunId,
    pub(super) failed: RunId,
    pub(super) suspended: RunId,
    pub(super) cancelled: RunId,
    pub(super) timed_out: RunId,
    pub(super) running: RunId,
}

/// Writes the runs of [`Fixture`]: `orders` and `mail` runs created a second
/// apart from [`NOW`], finished 4 s after their creation (or not at all).
pub(super) async fn fixture(store: &dyn Store) -> Fixture {
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
