//! Fan-out: map, for_each, batch and parallel, their concurrency limits and
//! error modes, branch scopes, and replay after a suspension.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use durable::prelude::*;
use durable::{FanOut, StepStatus, branch};
use durable_tests::wait_for_status;

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static MAX_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

#[workflow]
async fn square_all(ctx: Ctx, numbers: Vec<u64>, concurrency: usize) -> Result<Vec<u64>, Error> {
    ctx.map(
        "square",
        numbers,
        FanOut::new().concurrency(concurrency),
        async |ctx, n| {
            ctx.run("compute", async || {
                let now = IN_FLIGHT.fetch_add(1, Ordering::SeqCst) + 1;
                MAX_IN_FLIGHT.fetch_max(now, Ordering::SeqCst);
                // Later items finish first, so completion order differs from input order.
                tokio::time::sleep(Duration::from_millis(20 - n)).await;
                IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, StepError>(n * n)
            })
            .await
        },
    )
    .await
}

#[tokio::test]
async fn map_keeps_input_order_respects_its_limit_and_scopes_each_branch() {
    let db = test_db!();
    let engine = db.builder().register(SquareAll).start().await.unwrap();
    let run = SquareAll::trigger(&engine, (1..=12).collect(), 4)
        .await
        .unwrap();
    let squares = run.result().await.unwrap();
    assert_eq!(squares, (1..=12u64).map(|n| n * n).collect::<Vec<_>>());
    assert_eq!(
        MAX_IN_FLIGHT.load(Ordering::SeqCst),
        4,
        "the limit held and was used"
    );
    let names: Vec<String> = run
        .steps()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert!(
        names.contains(&"square[0]/compute".to_string())
            && names.contains(&"square[11]/compute".to_string())
    );
    assert_eq!(names.len(), 12);
}

static STARTED: AtomicU32 = AtomicU32::new(0);
static FINISHED: AtomicU32 = AtomicU32::new(0);

#[workflow]
async fn check_all(ctx: Ctx, settle: bool) -> Result<Vec<String>, Error> {
    let check = async |ctx: Ctx, n: u32| {
        ctx.step("check")
            .retry(Retry::none())
            .run(async || {
                STARTED.fetch_add(1, Ordering::SeqCst);
                if n == 2 {
                    return Err(StepError::permanent(format!("item {n} is bad")));
                }
                if n > 0 {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                FINISHED.fetch_add(1, Ordering::SeqCst);
                Ok(n)
            })
            .await
    };
    let items = vec![0u32, 1, 2, 3];
    if settle {
        let outcomes = ctx
            .map("settled", items, FanOut::new().all_settled(), check)
            .await;
        Ok(outcomes
            .into_iter()
            .map(|o| o.map(|n| n.to_string()).unwrap_or_else(|e| e.to_string()))
            .collect())
    } else {
        let numbers = ctx.map("fast", items, FanOut::new(), check).await?;
        Ok(numbers.into_iter().map(|n| n.to_string()).collect())
    }
}

#[tokio::test]
async fn fail_fast_cancels_unfinished_branches_and_all_settled_returns_every_outcome() {
    let db = test_db!();
    let engine = db.builder().register(CheckAll).start().await.unwrap();
    let run = CheckAll::trigger(&engine, false).await.unwrap();
    let error = run.result().await.unwrap_err().to_string();
    assert!(
        error.contains("step `fast[2]/check` failed after 1 attempt(s): item 2 is bad"),
        "{error}"
    );
    assert_eq!(STARTED.load(Ordering::SeqCst), 4);
    assert_eq!(
        FINISHED.load(Ordering::SeqCst),
        1,
        "branches 1 and 3 were cancelled mid-body"
    );

    let run = CheckAll::trigger(&engine, true).await.unwrap();
    let outcomes = run.result().await.unwrap();
    assert_eq!(outcomes[..2], ["0", "1"]);
    assert!(outcomes[2].contains("item 2 is bad"), "{outcomes:?}");
    assert_eq!(outcomes[3], "3");
}

static BRANCH_BODY_RUNS: AtomicU32 = AtomicU32::new(0);
static BATCHES_SEEN: Mutex<Vec<Vec<u32>>> = Mutex::new(Vec::new());

#[workflow]
async fn mixed(ctx: Ctx) -> Result<(u32, Vec<u32>, Vec<String>), Error> {
    // Each branch runs a step, then sleeps long enough to suspend the run.
    ctx.for_each("warm", [1u32, 2, 3], FanOut::new(), async |ctx, n| {
        ctx.run("once", async || {
            Ok::<_, StepError>(BRANCH_BODY_RUNS.fetch_add(n, Ordering::SeqCst))
        })
        .await?;
        ctx.sleep("nap", "1h").await
    })
    .await?;
    let sums = ctx
        .batch(
            "sum",
            (1..=7).collect::<Vec<u32>>(),
            3,
            FanOut::new().concurrency(1),
            async |ctx, chunk| {
                BATCHES_SEEN.lock().unwrap().push(chunk.clone());
                ctx.run("add", async || {
                    Ok::<_, StepError>(chunk.iter().sum::<u32>())
                })
                .await
            },
        )
        .await?;
    let words = ctx
        .parallel(
            "words",
            FanOut::new(),
            vec![
                branch(async |ctx: Ctx| {
                    ctx.run("word", async || Ok::<_, StepError>("left".to_string()))
                        .await
                }),
                branch(async |ctx: Ctx| {
                    ctx.run("word", async || Ok::<_, StepError>("right".to_string()))
                        .await
                }),
            ],
        )
        .await?;
    Ok((BRANCH_BODY_RUNS.load(Ordering::SeqCst), sums, words))
}

#[tokio::test]
async fn branches_suspend_and_replay_without_repeating_their_steps() {
    let db = test_db!();
    let (engine, clock) = db
        .start_on_manual_clock(1_700_000_000_000, |builder| builder.register(Mixed))
        .await;
    let run = Mixed::trigger(&engine).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    let sleeping = run
        .steps()
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.status == StepStatus::Sleeping)
        .count();
    assert_eq!(
        sleeping, 3,
        "every branch reached its sleep before the run suspended"
    );
    clock.advance(Duration::from_secs(3600));
    let (runs, sums, words) = run.result().await.unwrap();
    assert_eq!(runs, 6, "each branch's step ran once (1 + 2 + 3)");
    assert_eq!(sums, [6, 15, 7]);
    assert_eq!(
        BATCHES_SEEN.lock().unwrap()[..3],
        [vec![1, 2, 3], vec![4, 5, 6], vec![7]]
    );
    assert_eq!(words, ["left", "right"]);
}

#[workflow]
async fn early_sleeper(ctx: Ctx) -> Result<u32, Error> {
    // Branch 0 suspends at once; the others first write a step result.
    let slept = ctx
        .for_each("nap", [0u32, 1, 2], FanOut::new(), async |ctx, n| {
            if n > 0 {
                ctx.run("work", async || Ok::<_, StepError>(n)).await?;
            }
            ctx.sleep("nap", "1h").await
        })
        .await;
    slept.map(|_| 3)
}

#[tokio::test]
async fn a_run_does_not_suspend_while_a_branch_write_is_in_flight() {
    let db = test_db!();
    let (engine, clock) = db
        .start_on_manual_clock(1_700_000_000_000, |builder| builder.register(EarlySleeper))
        .await;
    let run = EarlySleeper::trigger(&engine).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    let steps = run.steps().await.unwrap();
    let sleeping = steps
        .iter()
        .filter(|s| s.status == StepStatus::Sleeping)
        .count();
    assert_eq!(
        sleeping, 3,
        "the branches whose writes were in flight went on to their sleeps: {steps:?}"
    );
    clock.advance(Duration::from_secs(3600));
    assert_eq!(run.result().await.unwrap(), 3);
}

#[workflow]
async fn joined(ctx: Ctx) -> Result<u32, Error> {
    let (a, b) = futures_join(
        ctx.run("a", async || {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok::<_, StepError>(1u32)
        }),
        ctx.run("b", async || {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok::<_, StepError>(2u32)
        }),
    )
    .await;
    Ok(a? + b?)
}

async fn futures_join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    tokio::join!(a, b)
}

#[tokio::test]
async fn steps_joined_with_join_run_concurrently() {
    let db = test_db!();
    let engine = db.builder().register(Joined).start().await.unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        Joined::trigger(&engine)
            .await
            .unwrap()
            .result()
            .await
            .unwrap(),
        3
    );
    // Two 200 ms steps: one after the other would take 400 ms.
    assert!(
        started.elapsed() < Duration::from_millis(390),
        "took {:?}",
        started.elapsed()
    );
}

#[workflow]
async fn nap_beside_a_wait(ctx: Ctx) -> Result<u32, Error> {
    // Branch 0 sleeps in memory, then writes a step; branch 1 waits for an
    // event that has not come.
    let done = ctx
        .for_each("side", [0u32, 1], FanOut::new(), async |ctx, n| {
            if n == 0 {
                ctx.sleep("nap", "50ms").await?;
                ctx.run("after-nap", async || Ok::<_, StepError>(())).await
            } else {
                let _: Option<u32> = ctx.wait_for_event("go", "side.go").await?;
                Ok(())
            }
        })
        .await;
    done.map(|_| 2)
}

#[tokio::test]
async fn a_branch_waiting_in_memory_keeps_its_run_from_suspending() {
    let db = test_db!();
    let (engine, clock) = db
        .start_on_manual_clock(1_700_000_000_000, |builder| {
            builder
                .keep_in_memory_below("100ms")
                .register(NapBesideAWait)
        })
        .await;
    let run = NapBesideAWait::trigger(&engine).await.unwrap();
    let steps_named = async |name: &str| {
        run.steps()
            .await
            .unwrap()
            .into_iter()
            .filter(|step| step.name == name)
            .count()
    };
    while steps_named("side[1]/go").await == 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // The other branch's wait does not suspend the run while the nap, in
    // memory, is about to end: the step after it runs on time.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(run.status().await.unwrap(), RunStatus::Running);
    clock.advance(Duration::from_millis(50));
    wait_for_status(&run, RunStatus::Suspended).await;
    assert_eq!(steps_named("side[0]/after-nap").await, 1);
    engine.send_event("side.go", 7u32).await.unwrap();
    assert_eq!(run.result().await.unwrap(), 2);
}
