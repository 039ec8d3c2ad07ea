//! Early claims and concurrency slots: a sleeping run is claimed just before
//! its wake time (a wait is not), and runs waiting in memory or for their
//! writes lend their slot while the limit still holds.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use durable::StepStatus;
use durable::prelude::*;
use durable_tests::wait_for_status;

use super::durable_sleep::Sleepy;

const START_MS: i64 = 1_700_000_000_000;

#[workflow]
async fn timed_nap(ctx: Ctx) -> Result<i64, Error> {
    ctx.sleep("nap", "1s").await?;
    let after = ctx.now("after").await?;
    Ok(after
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64)
}

#[tokio::test]
async fn a_sleeping_run_is_claimed_just_before_its_wake_time_and_wakes_on_time() {
    let db = test_db!();
    let (engine, clock) = db
        .start_on_manual_clock(START_MS, |builder| {
            builder.keep_in_memory_below("100ms").register(TimedNap)
        })
        .await;
    let run = TimedNap::trigger(&engine).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    // 50 ms before the wake time: within `keep_in_memory_below` of it, so a
    // worker claims the run and waits out the rest in memory.
    clock.advance(Duration::from_millis(950));
    wait_for_status(&run, RunStatus::Running).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let steps = run.steps().await.unwrap();
    assert_eq!(
        steps.len(),
        1,
        "the step after the sleep ran early: {steps:?}"
    );
    assert_eq!(steps[0].status, StepStatus::Sleeping);
    clock.advance(Duration::from_millis(50));
    assert_eq!(run.result().await.unwrap(), START_MS + 1000);
    assert_eq!(run.info().await.unwrap().executions, 2);
}

#[workflow]
async fn awaits_never(ctx: Ctx) -> Result<bool, Error> {
    let event: Option<u32> = ctx
        .wait_for_event("never", "never.sent")
        .timeout("1s")
        .await?;
    Ok(event.is_none())
}

#[tokio::test]
async fn a_wait_is_not_claimed_before_its_timeout() {
    let db = test_db!();
    let (engine, clock) = db
        .start_on_manual_clock(START_MS, |builder| {
            builder.keep_in_memory_below("100ms").register(AwaitsNever)
        })
        .await;
    let run = AwaitsNever::trigger(&engine).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    // Claimed early, the wait would only suspend again, in a loop until
    // its timeout: it stays suspended instead.
    clock.advance(Duration::from_millis(950));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(run.status().await.unwrap(), RunStatus::Suspended);
    assert_eq!(run.info().await.unwrap().executions, 1);
    clock.advance(Duration::from_millis(50));
    assert!(run.result().await.unwrap(), "the wait timed out");
    assert_eq!(run.info().await.unwrap().executions, 2);
}

static BLOCKER_GATE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(0);
static BLOCKER_ENTERED: AtomicBool = AtomicBool::new(false);
static NAPPER_WOKE: AtomicBool = AtomicBool::new(false);

#[workflow]
async fn short_napper(ctx: Ctx) -> Result<(), Error> {
    ctx.sleep("nap", "50ms").await?;
    NAPPER_WOKE.store(true, Ordering::SeqCst);
    ctx.run("after", async || Ok::<_, StepError>(())).await
}

#[workflow]
async fn blocker(ctx: Ctx, wait: bool) -> Result<(), Error> {
    ctx.run("blocked", async || {
        if wait {
            BLOCKER_ENTERED.store(true, Ordering::SeqCst);
            BLOCKER_GATE.acquire().await.unwrap().forget();
        }
        Ok::<_, StepError>(())
    })
    .await
}

#[tokio::test]
async fn a_run_waiting_in_memory_lends_its_slot_and_takes_it_back_within_the_limit() {
    let db = test_db!();
    NAPPER_WOKE.store(false, Ordering::SeqCst);
    let (engine, clock) = db
        .start_on_manual_clock(START_MS, |builder| {
            builder
                .concurrency(1)
                .keep_in_memory_below("100ms")
                .register(ShortNapper)
                .register(Blocker)
        })
        .await;
    let napper = ShortNapper::trigger(&engine).await.unwrap();
    while napper.steps().await.unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // The napper waits in memory with the clock standing still; the one
    // slot is free for another run meanwhile.
    let quick = Blocker::trigger(&engine, false).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), quick.result())
        .await
        .expect("a run waiting in memory held the only slot")
        .unwrap();
    assert_eq!(napper.status().await.unwrap(), RunStatus::Running);
    // While another run holds the slot, the napper's timer ends but it does
    // not go on: it waits for the slot.
    let blocked = Blocker::trigger(&engine, true).await.unwrap();
    while !BLOCKER_ENTERED.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    clock.advance(Duration::from_millis(50));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !NAPPER_WOKE.load(Ordering::SeqCst),
        "two runs executed at once with a concurrency of 1"
    );
    BLOCKER_GATE.add_permits(1);
    blocked.result().await.unwrap();
    napper.result().await.unwrap();
    assert!(NAPPER_WOKE.load(Ordering::SeqCst));
}

#[tokio::test]
async fn runs_lending_their_slots_fill_memory_only_up_to_16_per_slot() {
    let db = test_db!();
    let (engine, clock) = db
        .start_on_manual_clock(START_MS, |builder| {
            builder
                .concurrency(1)
                .keep_in_memory_below("1s")
                .register(Sleepy)
        })
        .await;
    let mut runs = Vec::new();
    for _ in 0..40 {
        runs.push(Sleepy::trigger(&engine, 500).await.unwrap());
    }
    // With the clock standing still, each run sleeps in memory and lends
    // the one slot to the next; the engine stops claiming at 16 (17 while
    // the claim of the 17th is in flight as the 16th run takes the slot).
    let started = std::time::Instant::now();
    while engine.active_run_count() < 16 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "only {} runs in memory",
            engine.active_run_count()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for _ in 0..50 {
        let in_memory = engine.active_run_count();
        assert!(in_memory <= 17, "{in_memory} runs in memory");
        tokio::time::sleep(Duration::from_millis(4)).await;
    }
    // Each time the sleepers wake and end, the next ones are claimed.
    let ticking = tokio::spawn(async move {
        loop {
            clock.advance(Duration::from_millis(500));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    for run in runs {
        tokio::time::timeout(Duration::from_secs(10), run.result())
            .await
            .expect("a run was left behind once the first ones ended")
            .unwrap();
    }
    ticking.abort();
}

/// The step bodies of `taking_turns` runs, in the order they ran.
static TURNS: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Step bodies of `taking_turns` runs executing now, and the most at once.
static TURNS_INSIDE: AtomicU32 = AtomicU32::new(0);
static TURNS_MOST_INSIDE: AtomicU32 = AtomicU32::new(0);

#[workflow]
async fn taking_turns(ctx: Ctx, who: String, steps: u32) -> Result<(), Error> {
    for step in 0..steps {
        ctx.run(("turn", step), async || {
            let inside = TURNS_INSIDE.fetch_add(1, Ordering::SeqCst) + 1;
            TURNS_MOST_INSIDE.fetch_max(inside, Ordering::SeqCst);
            TURNS.lock().unwrap().push(format!("{who}{step}"));
            tokio::task::yield_now().await;
            TURNS_INSIDE.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, StepError>(())
        })
        .await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_run_waiting_for_its_writes_lends_its_slot_and_bodies_stay_within_the_limit() {
    let db = test_db!();
    let engine = db
        .builder()
        .concurrency(1)
        .register(TakingTurns)
        .start()
        .await
        .unwrap();
    // The first run takes the only slot as it is created; the second waits
    // to be claimed.
    let long = TakingTurns::trigger(&engine, "long".into(), 50)
        .await
        .unwrap();
    let short = TakingTurns::trigger(&engine, "short".into(), 1)
        .await
        .unwrap();
    short.result().await.unwrap();
    long.result().await.unwrap();
    let turns = TURNS.lock().unwrap().clone();
    let position = |turn: &str| turns.iter().position(|t| t == turn).unwrap();
    // Each of the long run's step results is written while its body waits:
    // the slot goes to the short run meanwhile.
    assert!(
        position("short0") < position("long49"),
        "the short run waited for all 50 steps of the long one: {turns:?}"
    );
    assert_eq!(
        TURNS_MOST_INSIDE.load(Ordering::SeqCst),
        1,
        "two step bodies ran at once with a concurrency of 1"
    );
}
