//! Debounce and throttle, decided when a run is triggered: triggers of one
//! key within the period join one run, which starts after the last of them
//! with its input (bounded by `max_wait`); a trigger after the run started
//! makes the next run; engines on one PostgreSQL database join one run; a
//! throttle starts at most `limit` runs of a key per period, other keys
//! not held back; `cancel_on` follows a joined run's new input, and holds
//! a throttled run waiting its turn. Time is a manual clock, so the start
//! times are exact.

use std::time::Duration;

use durable::prelude::*;
use durable::{Engine, ManualClock, RunId};
use durable_tests::TestDb;

const START_MS: i64 = 1_700_000_000_000;

#[workflow(debounce(period = "5s", key = "user_id"))]
async fn reindex(ctx: Ctx, user_id: String, n: u32) -> Result<u32, Error> {
    let _ = (ctx, user_id);
    Ok(n)
}

#[workflow(debounce(period = "5s", key = "user_id", max_wait = "12s"))]
async fn reindex_bounded(ctx: Ctx, user_id: String, n: u32) -> Result<u32, Error> {
    let _ = (ctx, user_id);
    Ok(n)
}

#[workflow(throttle(limit = 2, period = "1s", key = "user_id"))]
async fn notify(ctx: Ctx, user_id: String, n: u32) -> Result<u32, Error> {
    let _ = (ctx, user_id);
    Ok(n)
}

/// Engines on `db` sharing one manual clock at [`START_MS`]: `count` on
/// PostgreSQL, one on SQLite (whose file one engine owns).
async fn engines(db: &TestDb, count: usize) -> (Vec<Engine>, ManualClock) {
    let clock = ManualClock::new(START_MS);
    let count = match db {
        TestDb::Postgres { .. } => count,
        TestDb::Sqlite { .. } => 1,
    };
    let mut engines = Vec::new();
    for _ in 0..count {
        let builder = db
            .builder()
            .clock(clock.clone())
            .register(Reindex)
            .register(ReindexBounded)
            .register(Notify);
        engines.push(builder.start().await.expect("the engine starts"));
    }
    (engines, clock)
}

/// Gives the engines time to claim what is due, then says that `run` has not
/// started: nothing polls, so a run not claimed by now was not due.
async fn assert_not_started(engine: &Engine, run: RunId, when: &str) {
    tokio::time::sleep(Duration::from_millis(150)).await;
    let info = engine.run_handle::<u32>(run).info().await.unwrap();
    assert_eq!(info.status, RunStatus::Pending, "{when}");
    assert_eq!(info.executions, 0, "{when}");
}

/// When `run` started (ms), once it completed.
async fn started_at(engine: &Engine, run: RunId) -> i64 {
    let handle = engine.run_handle::<u32>(run);
    handle.result().await.unwrap();
    handle.info().await.unwrap().started_at.expect("it started")
}

#[tokio::test]
async fn five_triggers_of_one_key_make_one_run_with_the_fifth_input() {
    let db = test_db!();
    let (engines, clock) = engines(&db, 1).await;
    let engine = &engines[0];
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(Reindex::trigger(engine, "u1".into(), n).await.unwrap().id());
        if n < 4 {
            clock.advance(Duration::from_millis(1_000));
        }
    }
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "all joined one run: {ids:?}"
    );
    // The last trigger was at 4 s: the run starts at 9 s, not before.
    clock.set(START_MS + 8_999);
    assert_not_started(engine, ids[0], "before the period after the last trigger").await;
    clock.set(START_MS + 9_000);
    let run = engine.run_handle::<u32>(ids[0]);
    assert_eq!(run.result().await.unwrap(), 4, "the fifth trigger's input");
    assert_eq!(started_at(engine, ids[0]).await, START_MS + 9_000);
}

#[tokio::test]
async fn two_keys_make_two_runs() {
    let db = test_db!();
    let (engines, clock) = engines(&db, 1).await;
    let engine = &engines[0];
    let a1 = Reindex::trigger(engine, "a".into(), 1).await.unwrap();
    let b1 = Reindex::trigger(engine, "b".into(), 10).await.unwrap();
    let a2 = Reindex::trigger(engine, "a".into(), 2).await.unwrap();
    let b2 = Reindex::trigger(engine, "b".into(), 20).await.unwrap();
    assert_eq!(a1.id(), a2.id());
    assert_eq!(b1.id(), b2.id());
    assert_ne!(a1.id(), b1.id());
    clock.advance(Duration::from_millis(5_000));
    assert_eq!(a1.result().await.unwrap(), 2);
    assert_eq!(b1.result().await.unwrap(), 20);
}

#[tokio::test]
async fn max_wait_bounds_a_stream_of_triggers() {
    let db = test_db!();
    let (engines, clock) = engines(&db, 1).await;
    let engine = &engines[0];
    let mut ids = Vec::new();
    // Every 3 s, within the period: without max_wait it would never start.
    for (n, at) in [0, 3_000, 6_000, 9_000, 11_000].into_iter().enumerate() {
        clock.set(START_MS + at);
        let n = u32::try_from(n).unwrap();
        ids.push(
            ReindexBounded::trigger(engine, "u".into(), n)
                .await
                .unwrap()
                .id(),
        );
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    clock.set(START_MS + 11_999);
    assert_not_started(engine, ids[0], "before max_wait").await;
    // 12 s after the first trigger, though the last came 1 s ago.
    clock.set(START_MS + 12_000);
    assert_eq!(started_at(engine, ids[0]).await, START_MS + 12_000);
    let run = engine.run_handle::<u32>(ids[0]);
    assert_eq!(run.result().await.unwrap(), 4);
}

#[tokio::test]
async fn a_trigger_after_the_run_started_makes_the_next_run() {
    let db = test_db!();
    let (engines, clock) = engines(&db, 1).await;
    let engine = &engines[0];
    let first = Reindex::trigger(engine, "u".into(), 1).await.unwrap();
    clock.advance(Duration::from_millis(5_000));
    assert_eq!(first.result().await.unwrap(), 1);
    let second = Reindex::trigger(engine, "u".into(), 2).await.unwrap();
    assert_ne!(second.id(), first.id());
    assert_not_started(engine, second.id(), "the next run waits its own period").await;
    clock.advance(Duration::from_millis(5_000));
    assert_eq!(second.result().await.unwrap(), 2);
    // The first run kept its input.
    assert_eq!(
        first.info().await.unwrap().input,
        serde_json::json!({"user_id": "u", "n": 1})
    );
}

#[tokio::test]
async fn engines_triggering_one_key_at_once_join_one_run() {
    let db = test_db!();
    let (engines, clock) = engines(&db, 2).await;
    let mut triggers = tokio::task::JoinSet::new();
    for n in 0..40u32 {
        let engine = engines[n as usize % engines.len()].clone();
        triggers.spawn(async move {
            Reindex::trigger(&engine, "same".into(), n)
                .await
                .unwrap()
                .id()
        });
    }
    let ids = triggers.join_all().await;
    assert!(ids.iter().all(|id| *id == ids[0]), "one run: {ids:?}");
    // By name too (the console's trigger): it joins the same run.
    let by_name = engines[0]
        .trigger_json("reindex", serde_json::json!({"user_id": "same", "n": 99}))
        .await
        .unwrap();
    assert_eq!(by_name.id(), ids[0]);
    clock.advance(Duration::from_millis(5_000));
    assert_eq!(by_name.result().await.unwrap(), serde_json::json!(99));
    let count = db
        .count("SELECT COUNT(*) FROM wf_instance WHERE workflow = 'reindex'")
        .await;
    assert_eq!(count, 1);
}

#[tokio::test]
async fn a_throttle_starts_two_runs_of_a_key_per_second_and_holds_no_other_key_back() {
    let db = test_db!();
    let (engines, clock) = engines(&db, 2).await;
    let mut a = Vec::new();
    for n in 0..6u32 {
        let engine = &engines[n as usize % engines.len()];
        a.push(Notify::trigger(engine, "a".into(), n).await.unwrap().id());
    }
    let mut b = Vec::new();
    for n in 0..2u32 {
        b.push(
            Notify::trigger(&engines[0], "b".into(), n)
                .await
                .unwrap()
                .id(),
        );
    }
    let engine = &engines[0];
    for window in 0..3usize {
        if window > 0 {
            assert_not_started(engine, a[window * 2], "a run of the next window").await;
            clock.advance(Duration::from_millis(1_000));
        }
        let at = START_MS + i64::try_from(window).unwrap() * 1_000;
        for run in &a[window * 2..window * 2 + 2] {
            assert_eq!(started_at(engine, *run).await, at, "window {window}");
        }
        if window == 0 {
            for run in &b {
                assert_eq!(
                    started_at(engine, *run).await,
                    START_MS,
                    "b is not held back"
                );
            }
        }
    }
}

/// A `Workflow` written by hand, which the macro did not check: both a
/// debounce and a throttle.
struct Both;

impl durable::Workflow for Both {
    const NAME: &'static str = "both";
    const TIMEOUT_MS: Option<u64> = None;
    const STEPS: &'static [durable::StepManifest] = &[];
    const DEBOUNCE: Option<durable::Debounce> = Some(durable::Debounce {
        period_ms: 1_000,
        max_wait_ms: None,
        key: None,
    });
    const THROTTLE: Option<durable::Throttle> = Some(durable::Throttle {
        limit: 1,
        period_ms: 1_000,
        key: None,
    });
    type Input = ();
    type Output = ();
    type Error = Error;

    async fn run(ctx: Ctx, input: ()) -> Result<(), Error> {
        let _ = (ctx, input);
        Ok(())
    }
}

#[tokio::test]
async fn an_engine_refuses_a_workflow_both_debounced_and_throttled() {
    let db = test_db!();
    let refused = db.builder().register(Both).start().await;
    let Err(Error::Config(message)) = refused else {
        panic!("expected a configuration error");
    };
    assert!(message.contains("workflow `both`"), "{message}");
    assert!(message.contains("keep one"), "{message}");
}

#[workflow(
    name = "debounced-and-cancelled",
    debounce(period = "5s", key = "user_id"),
    cancel_on(event = "order.voided", match = "order_id")
)]
async fn debounced_and_cancelled(
    ctx: Ctx,
    user_id: String,
    order_id: String,
) -> Result<String, Error> {
    let _ = (ctx, user_id);
    Ok(order_id)
}

#[tokio::test]
async fn a_joined_debounced_run_is_cancelled_by_the_joining_triggers_value_only() {
    let db = test_db!();
    let clock = ManualClock::new(START_MS);
    let engine = db
        .builder()
        .clock(clock.clone())
        .register(DebouncedAndCancelled)
        .start()
        .await
        .unwrap();
    let first = DebouncedAndCancelled::trigger(&engine, "u-1".into(), "o-1".into())
        .await
        .unwrap();
    clock.advance(Duration::from_millis(1_000));
    let second = DebouncedAndCancelled::trigger(&engine, "u-1".into(), "o-2".into())
        .await
        .unwrap();
    assert_eq!(second.id(), first.id(), "the second trigger joined");
    // The run now has the second trigger's input: the first order's event
    // no longer cancels it.
    let old = engine
        .send_event("order.voided", json!({ "order_id": "o-1" }))
        .await
        .unwrap();
    assert!(old.cancelled.is_empty());
    assert_not_started(&engine, first.id(), "within the period").await;
    let new = engine
        .send_event("order.voided", json!({ "order_id": "o-2" }))
        .await
        .unwrap();
    assert_eq!(new.cancelled, [first.id()]);
    assert_eq!(first.status().await.unwrap(), RunStatus::Cancelled);
    // Past the period, it stays cancelled: nothing starts it.
    clock.advance(Duration::from_millis(5_000));
    assert!(matches!(
        first.result().await,
        Err(Error::RunCancelled { .. })
    ));
    engine.shutdown().await;
}

#[workflow(
    name = "throttled-and-cancelled",
    throttle(limit = 1, period = "1h", key = "user_id"),
    cancel_on(event = "user.deleted", match = "user_id")
)]
async fn throttled_and_cancelled(ctx: Ctx, user_id: String, n: u32) -> Result<String, Error> {
    let _ = (ctx, n);
    Ok(user_id)
}

#[tokio::test]
async fn a_throttled_run_waiting_its_turn_is_cancelled_by_its_event() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(ThrottledAndCancelled)
        .start()
        .await
        .unwrap();
    let first = ThrottledAndCancelled::trigger(&engine, "u-1".into(), 1)
        .await
        .unwrap();
    // The second waits an hour for its turn: its cancel_on rows hold it.
    let second = ThrottledAndCancelled::trigger(&engine, "u-1".into(), 2)
        .await
        .unwrap();
    assert_eq!(first.result().await.unwrap(), "u-1");
    let sent = engine
        .send_event("user.deleted", json!({ "user_id": "u-1" }))
        .await
        .unwrap();
    assert_eq!(sent.cancelled, [second.id()]);
    assert_eq!(second.status().await.unwrap(), RunStatus::Cancelled);
    engine.shutdown().await;
}
