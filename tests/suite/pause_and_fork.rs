//! Operations on runs: pausing (a paused run takes no claim and starts no
//! step, a running one stops at its next step boundary, its deadline still
//! applies), resuming (it goes on where it stopped; a sleep that ended
//! meanwhile fires at once), and forking an ended run from a step (the
//! steps before it replayed, it and later ones run again).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use durable::prelude::*;
use durable::{ChangeKind, ForkOptions, ForkOrigin};
use durable_tests::{wait_for_idle, wait_for_status};

// ------------------------------------------------- a paused pending run

static PENDING_STEPS: AtomicU32 = AtomicU32::new(0);

#[workflow]
async fn paused_before_it_starts(ctx: Ctx) -> Result<u32, Error> {
    ctx.run("count", async || {
        Ok::<_, StepError>(PENDING_STEPS.fetch_add(1, Ordering::SeqCst) + 1)
    })
    .await
}

#[tokio::test]
async fn a_paused_pending_run_is_not_claimed_until_resumed() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(PausedBeforeItStarts)
        .start()
        .await
        .unwrap();
    let options = TriggerOptions::new().delay("200ms").unwrap();
    let run = PausedBeforeItStarts::trigger_with(&engine, options)
        .await
        .unwrap();
    run.pause().await.unwrap();
    let info = run.info().await.unwrap();
    assert_eq!(info.status, RunStatus::Pending);
    assert!(info.paused_at.is_some());
    // Long past its start time: a claim would have taken it by now.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let info = run.info().await.unwrap();
    assert_eq!((info.status, info.executions), (RunStatus::Pending, 0));
    assert!(run.steps().await.unwrap().is_empty());
    assert_eq!(PENDING_STEPS.load(Ordering::SeqCst), 0);

    run.resume().await.unwrap();
    assert_eq!(run.info().await.unwrap().paused_at, None);
    assert_eq!(run.result().await.unwrap(), 1);
    assert_eq!(PENDING_STEPS.load(Ordering::SeqCst), 1);
}

// ------------------------------------------------- a running run

static MIDWAY_ENTERED: AtomicBool = AtomicBool::new(false);
static MIDWAY_RELEASE: AtomicBool = AtomicBool::new(false);
static MIDWAY_FIRST: AtomicU32 = AtomicU32::new(0);
static MIDWAY_SECOND: AtomicU32 = AtomicU32::new(0);

#[workflow]
async fn paused_midway(ctx: Ctx) -> Result<(u32, u32), Error> {
    let first: u32 = ctx
        .run("first", async || {
            MIDWAY_ENTERED.store(true, Ordering::SeqCst);
            while !MIDWAY_RELEASE.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Ok::<_, StepError>(MIDWAY_FIRST.fetch_add(1, Ordering::SeqCst) + 1)
        })
        .await?;
    let second: u32 = ctx
        .run("second", async || {
            Ok::<_, StepError>(MIDWAY_SECOND.fetch_add(1, Ordering::SeqCst) + 1)
        })
        .await?;
    Ok((first, second))
}

#[tokio::test]
async fn pausing_a_running_run_stops_it_before_its_next_step() {
    let db = test_db!();
    let engine = db.builder().register(PausedMidway).start().await.unwrap();
    let run = PausedMidway::trigger(&engine).await.unwrap();
    let started = Instant::now();
    while !MIDWAY_ENTERED.load(Ordering::SeqCst) {
        assert!(started.elapsed() < Duration::from_secs(10), "never started");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // The run is inside its first step's body now.
    run.pause().await.unwrap();
    assert_eq!(run.status().await.unwrap(), RunStatus::Running);
    MIDWAY_RELEASE.store(true, Ordering::SeqCst);
    // It finishes the step it is in, records it, and stops there.
    wait_for_status(&run, RunStatus::Suspended).await;
    wait_for_idle(&engine).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(run.status().await.unwrap(), RunStatus::Suspended);
    assert_eq!(MIDWAY_SECOND.load(Ordering::SeqCst), 0, "no further step");
    let steps = run.steps().await.unwrap();
    let recorded: Vec<_> = steps
        .iter()
        .map(|step| (step.name.as_str(), step.status))
        .collect();
    assert_eq!(recorded, [("first", StepStatus::Completed)]);
    assert!(run.info().await.unwrap().paused_at.is_some());

    run.resume().await.unwrap();
    assert_eq!(run.result().await.unwrap(), (1, 1));
    assert_eq!(
        MIDWAY_FIRST.load(Ordering::SeqCst),
        1,
        "replayed, not rerun"
    );
    assert_eq!(MIDWAY_SECOND.load(Ordering::SeqCst), 1);
}

static REMOTE_ENTERED: AtomicBool = AtomicBool::new(false);
static REMOTE_RELEASE: AtomicBool = AtomicBool::new(false);
static REMOTE_SECOND: AtomicU32 = AtomicU32::new(0);

#[workflow]
async fn paused_elsewhere(ctx: Ctx) -> Result<u32, Error> {
    ctx.run("first", async || {
        REMOTE_ENTERED.store(true, Ordering::SeqCst);
        while !REMOTE_RELEASE.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok::<_, StepError>(())
    })
    .await?;
    ctx.run("second", async || {
        Ok::<_, StepError>(REMOTE_SECOND.fetch_add(1, Ordering::SeqCst) + 1)
    })
    .await
}

/// On a database shared by processes (PostgreSQL), a pause made by another
/// engine reaches the worker executing the run through its lease renewal.
/// (A SQLite file has one engine: nothing to test there.)
#[tokio::test]
async fn a_pause_from_another_engine_stops_the_run_at_its_next_step() {
    let db = test_db!();
    if !matches!(db, durable_tests::TestDb::Postgres { .. }) {
        return;
    }
    let worker = db
        .builder()
        .lease("600ms")
        .register(PausedElsewhere)
        .start()
        .await
        .unwrap();
    let operator = db.builder().client().await.unwrap();
    let run = PausedElsewhere::trigger(&worker).await.unwrap();
    let started = Instant::now();
    while !REMOTE_ENTERED.load(Ordering::SeqCst) {
        assert!(started.elapsed() < Duration::from_secs(10), "never started");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    operator.run(run.id()).pause().await.unwrap();
    // Two renewals (every 200 ms) tell the worker.
    tokio::time::sleep(Duration::from_millis(500)).await;
    REMOTE_RELEASE.store(true, Ordering::SeqCst);
    wait_for_status(&run, RunStatus::Suspended).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(REMOTE_SECOND.load(Ordering::SeqCst), 0, "no further step");
    operator.run(run.id()).resume().await.unwrap();
    assert_eq!(run.result().await.unwrap(), 1);
}

// ------------------------------------------------- a sleep during the pause

static NAPPED: AtomicU32 = AtomicU32::new(0);

#[workflow]
async fn paused_asleep(ctx: Ctx) -> Result<u32, Error> {
    ctx.sleep("nap", "2s").await?;
    ctx.run("after", async || {
        Ok::<_, StepError>(NAPPED.fetch_add(1, Ordering::SeqCst) + 1)
    })
    .await
}

#[tokio::test]
async fn a_sleep_that_ended_during_the_pause_fires_on_resume() {
    let db = test_db!();
    let engine = db.builder().register(PausedAsleep).start().await.unwrap();
    let run = PausedAsleep::trigger(&engine).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    run.pause().await.unwrap();
    // The sleep ends while the run is paused: nothing wakes it.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(run.status().await.unwrap(), RunStatus::Suspended);
    assert_eq!(NAPPED.load(Ordering::SeqCst), 0);
    let resumed = Instant::now();
    run.resume().await.unwrap();
    assert_eq!(run.result().await.unwrap(), 1);
    // At once, not after another sleep of 2 s.
    assert!(
        resumed.elapsed() < Duration::from_millis(1_500),
        "took {:?}",
        resumed.elapsed()
    );
}

// ------------------------------------------------- refusals and deadlines

#[workflow]
async fn quick(_ctx: Ctx) -> Result<u32, Error> {
    Ok(7)
}

#[tokio::test]
async fn pause_and_resume_of_a_finished_run_are_refused() {
    let db = test_db!();
    let engine = db.builder().register(Quick).start().await.unwrap();
    let run = Quick::trigger(&engine).await.unwrap();
    assert_eq!(run.result().await.unwrap(), 7);
    match run.pause().await {
        Err(Error::InvalidTransition {
            action: "pause",
            status: RunStatus::Completed,
            ..
        }) => {}
        other => panic!("expected an invalid transition, got {other:?}"),
    }
    match run.resume().await {
        Err(Error::InvalidTransition {
            action: "resume",
            status: RunStatus::Completed,
            ..
        }) => {}
        other => panic!("expected an invalid transition, got {other:?}"),
    }
    let unknown = engine.run(RunId(durable::Uuid::now_v7()));
    assert!(matches!(unknown.pause().await, Err(Error::RunNotFound(_))));
}

#[workflow(timeout = "300ms")]
async fn paused_past_its_deadline(ctx: Ctx) -> Result<Option<bool>, Error> {
    // A signal nobody sends: only the deadline ends the wait.
    ctx.listen("gate", "open").await
}

#[tokio::test]
async fn a_paused_run_still_times_out() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(PausedPastItsDeadline)
        .start()
        .await
        .unwrap();
    let run = PausedPastItsDeadline::trigger(&engine).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    run.pause().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Past its deadline, paused: no claim times it out, maintenance does.
    assert_eq!(run.status().await.unwrap(), RunStatus::Suspended);
    let report = engine.run_maintenance().await.unwrap();
    assert_eq!(report.timed_out, 1);
    assert!(matches!(run.result().await, Err(Error::RunTimedOut { .. })));
    assert_eq!(run.info().await.unwrap().paused_at, None);
}

// ------------------------------------------------- fork

static FORK_FIRST: AtomicU32 = AtomicU32::new(0);
static FORK_SECOND: AtomicU32 = AtomicU32::new(0);
static FORK_THIRD: AtomicU32 = AtomicU32::new(0);

#[workflow]
async fn forkable(ctx: Ctx, input: u32) -> Result<(u32, u32, u32), Error> {
    let first: u32 = ctx
        .run("first", async || {
            Ok::<_, StepError>(FORK_FIRST.fetch_add(1, Ordering::SeqCst) + 100)
        })
        .await?;
    let second: u32 = ctx
        .run("second", async || {
            FORK_SECOND.fetch_add(1, Ordering::SeqCst);
            Ok::<_, StepError>(first + input)
        })
        .await?;
    let third: u32 = ctx
        .run("third", async || {
            FORK_THIRD.fetch_add(1, Ordering::SeqCst);
            Ok::<_, StepError>(second * 2)
        })
        .await?;
    Ok((first, second, third))
}

#[tokio::test]
async fn a_fork_from_a_middle_step_reruns_only_it_and_later_steps() {
    let db = test_db!();
    let engine = db.builder().register(Forkable).start().await.unwrap();
    let source = Forkable::trigger(&engine, 1).await.unwrap();
    assert_eq!(source.result().await.unwrap(), (100, 101, 202));
    let calls =
        || [&FORK_FIRST, &FORK_SECOND, &FORK_THIRD].map(|calls| calls.load(Ordering::SeqCst));
    assert_eq!(calls(), [1, 1, 1]);

    // From "second", with another input: "first" is replayed with its
    // recorded output (100), "second" and "third" run again.
    let options = ForkOptions::from_step("second").input(5).unwrap();
    let fork = source.fork(options).await.unwrap();
    assert_ne!(fork.id(), source.id());
    assert_eq!(fork.result().await.unwrap(), (100, 105, 210));
    assert_eq!(calls(), [1, 2, 2]);
    let info = fork.info().await.unwrap();
    assert_eq!(info.input, json!(5));
    assert_eq!(
        info.forked_from,
        Some(ForkOrigin {
            run: source.id(),
            step: "second".into()
        })
    );
    // The source is as it was.
    assert_eq!(source.info().await.unwrap().forked_from, None);
    assert_eq!(source.result().await.unwrap(), (100, 101, 202));

    // From "third", with the source's input, through the engine by id.
    let again = engine
        .fork(source.id(), ForkOptions::from_step("third"))
        .await
        .unwrap();
    let output: serde_json::Value = engine.run(again).result().await.unwrap();
    assert_eq!(output, json!([100, 101, 202]));
    assert_eq!(calls(), [1, 2, 3]);
}

#[tokio::test]
async fn fork_is_refused_for_a_run_not_ended_a_step_not_reached_and_a_bad_input() {
    let db = test_db!();
    let engine = db.builder().register(Forkable).start().await.unwrap();
    let done = Forkable::trigger(&engine, 1).await.unwrap();
    done.result().await.unwrap();
    match done.fork(ForkOptions::from_step("fourth")).await {
        Err(Error::StepNotInJournal { step, run_id }) => {
            assert_eq!((step.as_str(), run_id), ("fourth", done.id()));
        }
        other => panic!("expected a step not in the journal, got {other:?}"),
    }
    let bad = ForkOptions::from_step("second").input("five").unwrap();
    assert!(matches!(
        done.fork(bad).await,
        Err(Error::InvalidInput { .. })
    ));
    let later = TriggerOptions::new().delay("1h").unwrap();
    let pending = Forkable::trigger_with(&engine, 1, later).await.unwrap();
    match pending.fork(ForkOptions::from_step("first")).await {
        Err(Error::InvalidTransition {
            action: "fork",
            status: RunStatus::Pending,
            ..
        }) => {}
        other => panic!("expected an invalid transition, got {other:?}"),
    }
    let unknown = engine.run(RunId(durable::Uuid::now_v7()));
    assert!(matches!(
        unknown.fork(ForkOptions::from_step("first")).await,
        Err(Error::RunNotFound(_))
    ));
}

static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);
static FLAKY_FAILS: AtomicBool = AtomicBool::new(true);

#[workflow]
async fn flaky(ctx: Ctx) -> Result<u32, Error> {
    let prepared: u32 = ctx
        .run("prepare", async || {
            Ok::<_, StepError>(FLAKY_CALLS.fetch_add(1, Ordering::SeqCst) + 1)
        })
        .await?;
    ctx.step("charge")
        .retry(Retry::none())
        .run(async || {
            if FLAKY_FAILS.load(Ordering::SeqCst) {
                Err(StepError::permanent("card declined"))
            } else {
                Ok(prepared * 10)
            }
        })
        .await
}

#[tokio::test]
async fn a_failed_run_forked_from_its_failed_step_completes() {
    let db = test_db!();
    let engine = db.builder().register(Flaky).start().await.unwrap();
    let failed = Flaky::trigger(&engine).await.unwrap();
    assert!(failed.result().await.is_err());
    FLAKY_FAILS.store(false, Ordering::SeqCst);
    let fork = failed.fork(ForkOptions::from_step("charge")).await.unwrap();
    assert_eq!(fork.result().await.unwrap(), 10);
    assert_eq!(
        FLAKY_CALLS.load(Ordering::SeqCst),
        1,
        "prepare was replayed"
    );
    // The source stays failed.
    assert_eq!(failed.status().await.unwrap(), RunStatus::Failed);
}

#[tokio::test]
async fn pause_and_resume_are_told_by_the_change_feed() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(PausedBeforeItStarts)
        .start()
        .await
        .unwrap();
    let later = TriggerOptions::new().delay("1h").unwrap();
    let run = PausedBeforeItStarts::trigger_with(&engine, later)
        .await
        .unwrap();
    let mut changes = engine.changes();
    run.pause().await.unwrap();
    run.resume().await.unwrap();
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        let change = tokio::time::timeout(Duration::from_secs(10), changes.recv())
            .await
            .expect("a change within 10 s")
            .expect("the feed is open");
        if change.run_id == run.id() {
            assert_eq!(&*change.workflow, "paused-before-it-starts");
            kinds.push(change.kind);
        }
    }
    assert_eq!(kinds, [ChangeKind::Paused, ChangeKind::Resumed]);
}

static SAGA_RESERVED: AtomicU32 = AtomicU32::new(0);
static SAGA_UNDONE: AtomicU32 = AtomicU32::new(0);
static SAGA_FAILS: AtomicBool = AtomicBool::new(true);

#[workflow]
async fn forked_saga(ctx: Ctx) -> Result<u32, Error> {
    let slot: u32 = ctx
        .step("reserve")
        .compensate(|_: u32| async move {
            SAGA_UNDONE.fetch_add(1, Ordering::SeqCst);
            Ok::<_, StepError>(())
        })
        .run(async || Ok::<_, StepError>(SAGA_RESERVED.fetch_add(1, Ordering::SeqCst) + 1))
        .await?;
    ctx.step("pay")
        .retry(Retry::none())
        .run(async || {
            if SAGA_FAILS.load(Ordering::SeqCst) {
                Err(StepError::permanent("declined"))
            } else {
                Ok(slot)
            }
        })
        .await
}

/// A step that was undone by its compensation is not replayed as done by
/// a fork: it runs again, as after a retry.
#[tokio::test]
async fn a_fork_runs_again_a_step_its_source_compensated() {
    let db = test_db!();
    let engine = db.builder().register(ForkedSaga).start().await.unwrap();
    let failed = ForkedSaga::trigger(&engine).await.unwrap();
    assert!(failed.result().await.is_err());
    assert_eq!(SAGA_UNDONE.load(Ordering::SeqCst), 1, "compensated");
    SAGA_FAILS.store(false, Ordering::SeqCst);
    let fork = failed.fork(ForkOptions::from_step("pay")).await.unwrap();
    assert_eq!(fork.result().await.unwrap(), 2, "reserved again");
    assert_eq!(SAGA_RESERVED.load(Ordering::SeqCst), 2);
    let names: Vec<String> = fork
        .steps()
        .await
        .unwrap()
        .into_iter()
        .map(|step| step.name)
        .collect();
    assert_eq!(names, ["reserve", "pay"]);
}
