//! Concurrency limits and priorities: at most the limit of runs of a
//! workflow (or of one key value) execute at once across every engine on
//! the database, the rest wait in trigger order and take a freed slot at
//! once; a sleeping run holds no slot; and among due runs a higher priority
//! is claimed first, equal ones in trigger order.
//!
//! The step bodies record when they enter and leave in a shared log; a
//! step runs inside its run's claim, so two intervals of one key that
//! overlap are two runs of the key executing at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use durable::prelude::*;
use durable::{Engine, EngineBuilder, TriggerOptions};
use durable_tests::{TestDb, wait_for_status};

/// One step body's stay: the test and key it is of, when it entered and
/// when it left.
struct Stay {
    test: String,
    key: String,
    entered: Instant,
    left: Instant,
}

/// Every stay recorded by the bodies of this file's workflows.
static STAYS: Mutex<Vec<Stay>> = Mutex::new(Vec::new());

/// The stays of `test`, by key, each key's in the order they entered.
fn stays_of(test: &str) -> HashMap<String, Vec<(Instant, Instant)>> {
    let mut by_key: HashMap<String, Vec<(Instant, Instant)>> = HashMap::new();
    for stay in STAYS
        .lock()
        .unwrap()
        .iter()
        .filter(|stay| stay.test == test)
    {
        by_key
            .entry(stay.key.clone())
            .or_default()
            .push((stay.entered, stay.left));
    }
    for stays in by_key.values_mut() {
        stays.sort();
    }
    by_key
}

/// The most stays of `intervals` that overlap at one instant.
fn most_at_once(intervals: &[(Instant, Instant)]) -> usize {
    let mut edges: Vec<(Instant, i32)> = intervals
        .iter()
        .flat_map(|(entered, left)| [(*entered, 1), (*left, -1)])
        .collect();
    // A stay that leaves at the instant another enters does not overlap it.
    edges.sort_by_key(|(at, change)| (*at, *change));
    let mut now = 0i32;
    let mut most = 0i32;
    for (_, change) in edges {
        now += change;
        most = most.max(now);
    }
    usize::try_from(most).unwrap_or(0)
}

/// Stays `ms` in a step, recorded under `test` and `key`.
async fn stay(ctx: &Ctx, test: &str, key: &str, ms: u64) -> Result<(), Error> {
    ctx.run("work", async || {
        let entered = Instant::now();
        tokio::time::sleep(Duration::from_millis(ms)).await;
        STAYS.lock().unwrap().push(Stay {
            test: test.to_owned(),
            key: key.to_owned(),
            entered,
            left: Instant::now(),
        });
        Ok::<_, Error>(())
    })
    .await
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Customer {
    id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Order {
    test: String,
    customer: Customer,
    ms: u64,
}

#[workflow(concurrency(limit = 1, key = "customer.id"))]
async fn per_customer(ctx: Ctx, order: Order) -> Result<(), Error> {
    stay(&ctx, &order.test, &order.customer.id, order.ms).await
}

#[workflow(concurrency = 2)]
async fn two_at_once(ctx: Ctx, test: String, ms: u64) -> Result<(), Error> {
    stay(&ctx, &test, "all", ms).await
}

/// The engines of a test: on PostgreSQL `workers` engines on the one
/// database, each executing up to 20 runs; on SQLite, whose file one engine
/// owns, one engine executing up to `20 * workers`.
async fn engines(
    db: &TestDb,
    workers: usize,
    configure: impl Fn(EngineBuilder) -> EngineBuilder,
) -> Vec<Engine> {
    let (count, concurrency) = match db {
        TestDb::Postgres { .. } => (workers, 20),
        TestDb::Sqlite { .. } => (1, 20 * workers),
    };
    let mut engines = Vec::new();
    for _ in 0..count {
        engines.push(
            configure(db.builder().concurrency(concurrency))
                .start()
                .await
                .expect("the engine starts"),
        );
    }
    engines
}

#[tokio::test]
async fn runs_of_one_key_never_overlap_and_keys_run_side_by_side() {
    let db = test_db!();
    let test = test_name!();
    let engines = engines(&db, 3, |builder| builder.register(PerCustomer)).await;
    const RUNS: usize = 200;
    const KEYS: usize = 10;
    const MS: u64 = 50;
    let started = Instant::now();
    let mut runs = Vec::new();
    for i in 0..RUNS {
        let order = Order {
            test: test.to_owned(),
            customer: Customer {
                id: format!("c-{}", i % KEYS),
            },
            ms: MS,
        };
        // Triggered through every engine in turn.
        runs.push(
            PerCustomer::trigger(&engines[i % engines.len()], order)
                .await
                .unwrap(),
        );
    }
    for run in &runs {
        run.result().await.unwrap();
    }
    let took = started.elapsed();
    let by_key = stays_of(test);
    assert_eq!(by_key.len(), KEYS);
    for (key, stays) in &by_key {
        assert_eq!(stays.len(), RUNS / KEYS, "key {key}");
        assert_eq!(
            most_at_once(stays),
            1,
            "two runs of key {key} executed at once"
        );
    }
    let all: Vec<(Instant, Instant)> = by_key.values().flatten().copied().collect();
    assert!(
        most_at_once(&all) > 1,
        "the runs of different keys never executed side by side"
    );
    // One key's runs one after another take 20 * 50 ms = 1 s; all 200 runs
    // one after another would take 10 s.
    let serialized = Duration::from_millis(MS * RUNS as u64);
    assert!(
        took < serialized / 2,
        "200 runs of 10 keys took {took:?}, as if serialized ({serialized:?})"
    );
    for engine in &engines {
        engine.shutdown().await;
    }
}

#[tokio::test]
async fn a_workflow_wide_limit_runs_that_many_at_once() {
    let db = test_db!();
    let test = test_name!();
    let engines = engines(&db, 2, |builder| builder.register(TwoAtOnce)).await;
    let mut runs = Vec::new();
    for i in 0..12 {
        runs.push(
            TwoAtOnce::trigger(&engines[i % engines.len()], test.to_owned(), 40)
                .await
                .unwrap(),
        );
    }
    for run in &runs {
        run.result().await.unwrap();
    }
    let stays = stays_of(test).remove("all").unwrap_or_default();
    assert_eq!(stays.len(), 12);
    assert_eq!(
        most_at_once(&stays),
        2,
        "a limit of 2 ran other than 2 at once"
    );
    for engine in &engines {
        engine.shutdown().await;
    }
}

/// Set to let the blocking runs of a test end.
static RELEASE_PRIORITY: AtomicBool = AtomicBool::new(false);
static RELEASE_SLOT: AtomicBool = AtomicBool::new(false);

/// The order in which the runs of the priority test started.
static STARTED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Waits until `flag` is set.
async fn until(flag: &AtomicBool) {
    while !flag.load(Ordering::Acquire) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[workflow]
async fn ordered(ctx: Ctx, label: String) -> Result<(), Error> {
    ctx.run("start", async || {
        if label == "blocker" {
            until(&RELEASE_PRIORITY).await;
        } else {
            STARTED.lock().unwrap().push(label.clone());
        }
        Ok::<_, Error>(())
    })
    .await
}

#[tokio::test]
async fn higher_priorities_are_claimed_first_and_equal_ones_in_trigger_order() {
    let db = test_db!();
    let engine = db
        .builder()
        .concurrency(1)
        .register(Ordered)
        .start()
        .await
        .unwrap();
    // The one slot is taken: the runs below wait for a claim.
    let blocker = Ordered::trigger(&engine, "blocker".into()).await.unwrap();
    wait_for_status(&blocker, RunStatus::Running).await;
    let mut runs = Vec::new();
    for (label, priority) in [
        ("low", -1),
        ("first-default", 0),
        ("first-high", 5),
        ("second-default", 0),
        ("second-high", 5),
        ("highest", 9),
    ] {
        runs.push(
            Ordered::trigger_with(
                &engine,
                label.into(),
                TriggerOptions::new().priority(priority),
            )
            .await
            .unwrap(),
        );
    }
    RELEASE_PRIORITY.store(true, Ordering::Release);
    blocker.result().await.unwrap();
    for run in &runs {
        run.result().await.unwrap();
    }
    assert_eq!(
        *STARTED.lock().unwrap(),
        [
            "highest",
            "first-high",
            "second-high",
            "first-default",
            "second-default",
            "low"
        ]
    );
    engine.shutdown().await;
}

/// When each `slot_holder` run left its step.
static LEFT: Mutex<Vec<(String, Instant)>> = Mutex::new(Vec::new());
static ENTERED: Mutex<Vec<(String, Instant)>> = Mutex::new(Vec::new());

#[workflow(concurrency = 1)]
async fn slot_holder(ctx: Ctx, label: String, test: String) -> Result<(), Error> {
    ctx.run("hold", async || {
        ENTERED
            .lock()
            .unwrap()
            .push((format!("{test}/{label}"), Instant::now()));
        if label == "first" {
            until(&RELEASE_SLOT).await;
        }
        LEFT.lock()
            .unwrap()
            .push((format!("{test}/{label}"), Instant::now()));
        Ok::<_, Error>(())
    })
    .await
}

fn at(log: &Mutex<Vec<(String, Instant)>>, name: &str) -> Instant {
    log.lock()
        .unwrap()
        .iter()
        .find(|(logged, _)| logged == name)
        .map(|(_, at)| *at)
        .unwrap_or_else(|| panic!("{name} was not recorded"))
}

#[tokio::test]
async fn a_freed_slot_is_taken_at_once_not_at_a_poll() {
    let db = test_db!();
    let test = test_name!();
    // On PostgreSQL two engines: the next run may be claimed by the engine
    // that did not run the first, told by the first's finish notification.
    // Their fallback poll is 1 s, SQLite's dispatcher has none: a next run
    // that starts well within 1 s was woken by the slot freed.
    let engines = engines(&db, 2, |builder| builder.register(SlotHolder)).await;
    let first = SlotHolder::trigger(&engines[0], "first".into(), test.into())
        .await
        .unwrap();
    wait_for_status(&first, RunStatus::Running).await;
    let next = SlotHolder::trigger(&engines[engines.len() - 1], "next".into(), test.into())
        .await
        .unwrap();
    // Well past a poll: the next run waits for the slot, pending.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(next.status().await.unwrap(), RunStatus::Pending);
    RELEASE_SLOT.store(true, Ordering::Release);
    first.result().await.unwrap();
    next.result().await.unwrap();
    let freed = at(&LEFT, &format!("{test}/first"));
    let taken = at(&ENTERED, &format!("{test}/next"));
    assert!(
        taken.duration_since(freed) < Duration::from_millis(500),
        "the next run started {:?} after the slot freed",
        taken.duration_since(freed)
    );
    for engine in &engines {
        engine.shutdown().await;
    }
}

#[workflow(concurrency = 1)]
async fn sleeps_in_its_slot(ctx: Ctx, nap: bool) -> Result<bool, Error> {
    if nap {
        ctx.sleep("nap", "1h").await?;
    }
    Ok(nap)
}

#[tokio::test]
async fn a_sleeping_run_holds_no_slot() {
    let db = test_db!();
    let engine = db
        .builder()
        .keep_in_memory_below("10ms")
        .register(SleepsInItsSlot)
        .start()
        .await
        .unwrap();
    let napping = SleepsInItsSlot::trigger(&engine, true).await.unwrap();
    wait_for_status(&napping, RunStatus::Suspended).await;
    // The limit is 1 and the napping run is not finished, yet it executes
    // nothing: another run takes the slot.
    let awake = SleepsInItsSlot::trigger(&engine, false).await.unwrap();
    assert!(!awake.result().await.unwrap());
    assert_eq!(napping.status().await.unwrap(), RunStatus::Suspended);
    engine.shutdown().await;
}

static RELEASE_NAPPER: AtomicBool = AtomicBool::new(false);
static RELEASE_BUSY: AtomicBool = AtomicBool::new(false);

/// The run labelled `first` works until released, then sleeps an hour
/// (suspended: its slot is free); the others only work.
#[workflow(concurrency = 1)]
async fn naps_after_work(ctx: Ctx, label: String, test: String) -> Result<(), Error> {
    ctx.run("work", async || {
        ENTERED
            .lock()
            .unwrap()
            .push((format!("{test}/{label}"), Instant::now()));
        if label == "first" {
            until(&RELEASE_NAPPER).await;
            LEFT.lock()
                .unwrap()
                .push((format!("{test}/{label}"), Instant::now()));
        }
        Ok::<_, Error>(())
    })
    .await?;
    if label == "first" {
        ctx.sleep("nap", "1h").await?;
    }
    Ok(())
}

/// Keeps its engine's one slot until released.
#[workflow]
async fn keeps_busy(ctx: Ctx) -> Result<(), Error> {
    ctx.run("busy", async || {
        until(&RELEASE_BUSY).await;
        Ok::<_, Error>(())
    })
    .await
}

/// A run that suspends frees its group's slot for the other engines too:
/// the one that ran it is kept busy, and another engine takes the next run
/// of the group at once, told by the suspension, not at its next poll.
/// (A SQLite file has one engine: `a_sleeping_run_holds_no_slot`.)
#[tokio::test]
async fn a_run_that_suspends_frees_its_slot_for_another_engine_at_once() {
    let db = test_db!();
    if let TestDb::Sqlite { .. } = db {
        return;
    }
    let test = test_name!();
    let first_engine = db
        .builder()
        .concurrency(1)
        .keep_in_memory_below("10ms")
        .register(NapsAfterWork)
        .register(KeepsBusy)
        .start()
        .await
        .unwrap();
    let first = NapsAfterWork::trigger(&first_engine, "first".into(), test.into())
        .await
        .unwrap();
    wait_for_status(&first, RunStatus::Running).await;
    let other_engine = db
        .builder()
        .keep_in_memory_below("10ms")
        .register(NapsAfterWork)
        .start()
        .await
        .unwrap();
    let next = NapsAfterWork::trigger(&other_engine, "next".into(), test.into())
        .await
        .unwrap();
    // Served by the first engine alone, ahead of `next` there: once the
    // first run suspends, this is what its engine claims.
    let busy = KeepsBusy::trigger_with(&first_engine, TriggerOptions::new().priority(10))
        .await
        .unwrap();
    // Well past a poll: the next run waits for the slot, pending.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(next.status().await.unwrap(), RunStatus::Pending);
    RELEASE_NAPPER.store(true, Ordering::Release);
    wait_for_status(&first, RunStatus::Suspended).await;
    next.result().await.unwrap();
    let freed = at(&LEFT, &format!("{test}/first"));
    let taken = at(&ENTERED, &format!("{test}/next"));
    assert!(
        taken.duration_since(freed) < Duration::from_millis(500),
        "the next run started {:?} after the slot freed",
        taken.duration_since(freed)
    );
    RELEASE_BUSY.store(true, Ordering::Release);
    busy.result().await.unwrap();
    first.cancel().await.unwrap();
    other_engine.shutdown().await;
    first_engine.shutdown().await;
}

#[workflow]
async fn unlimited_stay(ctx: Ctx, test: String, key: String, ms: u64) -> Result<(), Error> {
    stay(&ctx, &test, &key, ms).await
}

/// Engines that serve a limited workflow beside unlimited ones (which their
/// claims take in one statement while no limited run is due) still hold
/// the limit, across engines, while runs of both kinds come and go.
#[tokio::test]
async fn limits_hold_on_engines_that_serve_unlimited_workflows_too() {
    let db = test_db!();
    let test = test_name!();
    let engines = engines(&db, 2, |builder| {
        builder.register(PerCustomer).register(UnlimitedStay)
    })
    .await;
    let mut limited = Vec::new();
    let mut free = Vec::new();
    for i in 0..60 {
        let engine = &engines[i % engines.len()];
        let order = Order {
            test: test.to_owned(),
            customer: Customer {
                id: format!("c-{}", i % 3),
            },
            ms: 20,
        };
        limited.push(PerCustomer::trigger(engine, order).await.unwrap());
        free.push(
            UnlimitedStay::trigger(engine, test.into(), format!("free-{i}"), 20)
                .await
                .unwrap(),
        );
    }
    for run in limited.iter().chain(&free) {
        run.result().await.unwrap();
    }
    let by_key = stays_of(test);
    for key in ["c-0", "c-1", "c-2"] {
        let stays = &by_key[key];
        assert_eq!(stays.len(), 20, "key {key}");
        assert_eq!(
            most_at_once(stays),
            1,
            "two runs of key {key} executed at once"
        );
    }
    assert_eq!(by_key.len(), 3 + 60);
    for engine in &engines {
        engine.shutdown().await;
    }
}
