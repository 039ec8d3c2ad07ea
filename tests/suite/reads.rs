//! The read side through the engine: runs listed by filter and cursor,
//! counts and the per-minute series, one run in full with its steps' start
//! and end times, and events with the runs they woke.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use durable::prelude::*;
use durable::{EventFilter, RunFilter, StepStatus};
use durable_tests::wait_for_status;

#[workflow(name = "reads.timed")]
async fn timed(ctx: Ctx) -> Result<u32, Error> {
    let slow: u32 = ctx
        .run("slow", async || {
            tokio::time::sleep(Duration::from_millis(30)).await;
            Ok::<_, StepError>(1)
        })
        .await?;
    let quick: u32 = ctx.run("quick", async || Ok::<_, StepError>(2)).await?;
    Ok(slow + quick)
}

#[workflow(name = "reads.order")]
async fn order(ctx: Ctx, label: String, fail: bool) -> Result<String, Error> {
    ctx.run("work", async || {
        if fail {
            Err(StepError::permanent(format!("declined {label}")))
        } else {
            Ok(format!("done {label}"))
        }
    })
    .await
}

#[workflow(name = "reads.waiter")]
async fn waiter(ctx: Ctx, order: u32) -> Result<u32, Error> {
    let paid: serde_json::Value = ctx
        .wait_for_event("paid", "reads.paid")
        .matching(json!({ "order": order }))
        .timeout("1h")
        .await?
        .unwrap_or_default();
    Ok(paid["cents"].as_u64().unwrap_or(0) as u32)
}

#[workflow(name = "reads.napper")]
async fn napper(ctx: Ctx) -> Result<u32, Error> {
    ctx.sleep("nap", Duration::from_millis(50)).await?;
    ctx.run("after", async || Ok::<_, StepError>(7)).await
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn a_run_in_full_shows_its_steps_with_start_and_end_times() {
    let db = test_db!();
    let engine = db.builder().register(Timed).start().await.unwrap();
    let run = Timed::trigger(&engine).await.unwrap();
    assert_eq!(run.result().await.unwrap(), 3);
    let detail = engine.run_detail(run.id()).await.unwrap();
    assert_eq!(detail.run.id, run.id());
    assert_eq!(detail.run.status, RunStatus::Completed);
    assert!(detail.children.is_empty());
    let names: Vec<&str> = detail.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["slow", "quick"]);
    let slow = &detail.steps[0];
    assert_eq!((slow.status, slow.attempts), (StepStatus::Completed, 1));
    let (started, ended) = (slow.started_at.unwrap(), slow.ended_at.unwrap());
    // The start is the body's start, not the time its result was written.
    assert!(
        ended - started >= 25,
        "slow step took {} ms",
        ended - started
    );
    let quick = &detail.steps[1];
    assert!(quick.started_at.unwrap() >= ended);
    let unknown = durable::RunId(durable::Uuid::now_v7());
    assert!(matches!(
        engine.run_detail(unknown).await,
        Err(Error::RunNotFound(id)) if id == unknown
    ));
}

#[tokio::test]
async fn a_sleep_that_is_over_shows_completed_in_the_run_in_full() {
    let db = test_db!();
    let engine = db.builder().register(Napper).start().await.unwrap();
    let run = Napper::trigger(&engine).await.unwrap();
    assert_eq!(run.result().await.unwrap(), 7);
    let detail = engine.run_detail(run.id()).await.unwrap();
    let nap = &detail.steps[0];
    assert_eq!(nap.name, "nap");
    assert_eq!(nap.status, StepStatus::Completed, "{nap:?}");
    assert_eq!(nap.ended_at, nap.wake_at, "a sleep ends at its wake time");
    assert!(nap.ended_at.unwrap() >= nap.started_at.unwrap() + 50);
    // The run's steps read through its handle agree.
    let steps = run.steps().await.unwrap();
    assert_eq!(steps[0].status, StepStatus::Completed);
    assert_eq!(steps[0].ended_at, nap.ended_at);
}

#[tokio::test]
async fn a_run_in_full_is_read_at_one_moment() {
    // The last step's result travels with the run's finish: a detail read
    // in pieces could show the run completed without that step.
    let db = test_db!();
    let engine = db.builder().register(Order).start().await.unwrap();
    for index in 0..30 {
        let run = Order::trigger(&engine, format!("o-{index}"), false)
            .await
            .unwrap();
        loop {
            let detail = engine.run_detail(run.id()).await.unwrap();
            if detail.run.status == RunStatus::Completed {
                assert_eq!(detail.steps.len(), 1, "run {index}: {detail:?}");
                assert_eq!(detail.steps[0].status, StepStatus::Completed);
                break;
            }
            // SQLite answers reads at once: let the engine's tasks run.
            tokio::task::yield_now().await;
        }
    }
}

#[tokio::test]
async fn runs_list_newest_first_by_filter_and_page_by_cursor() {
    let db = test_db!();
    let engine = db.builder().register(Order).start().await.unwrap();
    let from = now_ms();
    let mut ids = Vec::new();
    for index in 0..7 {
        let run = Order::trigger(&engine, format!("o-{index}"), index % 3 == 0)
            .await
            .unwrap();
        let _ = run.result().await;
        ids.push(run.id());
    }
    // Walk every run in pages of three: each exactly once, newest first.
    let mut filter = RunFilter::new().workflow("reads.order").limit(3).unwrap();
    let mut seen = Vec::new();
    loop {
        let page = engine.list_runs(&filter).await.unwrap();
        assert!(page.runs.len() <= 3);
        seen.extend(page.runs.iter().map(|run| run.id));
        match page.next {
            Some(next) => filter = filter.after(next),
            None => break,
        }
    }
    let newest_first: Vec<_> = ids.iter().rev().copied().collect();
    assert_eq!(seen, newest_first);

    let failed = engine
        .list_runs(&RunFilter::new().statuses([RunStatus::Failed]))
        .await
        .unwrap();
    let failed: HashSet<_> = failed.runs.iter().map(|run| run.id).collect();
    assert_eq!(failed, HashSet::from([ids[0], ids[3], ids[6]]));

    let found = engine
        .list_runs(&RunFilter::new().text("declined o-3"))
        .await
        .unwrap();
    assert_eq!(
        found.runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        [ids[3]]
    );

    let counts = engine.count_runs().await.unwrap();
    let count = |status| {
        counts
            .iter()
            .find(|c| c.workflow == "reads.order" && c.status == status)
            .map_or(0, |c| c.count)
    };
    assert_eq!(
        (count(RunStatus::Completed), count(RunStatus::Failed)),
        (4, 3)
    );

    let series = engine
        .run_series(from - 60_000, now_ms() + 60_000)
        .await
        .unwrap();
    let total = |pick: fn(&durable::MinuteCounts) -> u64| series.iter().map(pick).sum::<u64>();
    assert_eq!(total(|m| m.started), 7);
    assert_eq!(total(|m| m.completed), 4);
    assert_eq!(total(|m| m.failed), 3);

    for limit in [0, 201] {
        let error = RunFilter::new().limit(limit).unwrap_err();
        assert!(matches!(error, Error::InvalidFilter(_)), "{error}");
    }
    let mut too_big = RunFilter::new();
    too_big.limit = 500;
    assert!(matches!(
        engine.list_runs(&too_big).await,
        Err(Error::InvalidFilter(_))
    ));
    assert!(matches!(
        engine.run_series(from, from).await,
        Err(Error::InvalidFilter(_))
    ));
}

#[tokio::test]
async fn events_list_newest_first_with_the_runs_they_woke() {
    let db = test_db!();
    let engine = db.builder().register(Waiter).start().await.unwrap();
    let first = Waiter::trigger(&engine, 1).await.unwrap();
    let second = Waiter::trigger(&engine, 2).await.unwrap();
    wait_for_status(&first, RunStatus::Suspended).await;
    wait_for_status(&second, RunStatus::Suspended).await;
    let nobody = engine
        .send_event("reads.paid", json!({ "order": 99, "cents": 1 }))
        .await
        .unwrap();
    let paid = engine
        .send_event("reads.paid", json!({ "order": 2, "cents": 700 }))
        .await
        .unwrap();
    assert_eq!(second.result().await.unwrap(), 700);

    let page = engine
        .list_events(&EventFilter::new().name("reads.paid"))
        .await
        .unwrap();
    let listed: Vec<_> = page.events.iter().map(|e| (e.id, e.woke.clone())).collect();
    assert_eq!(
        listed,
        [(paid.id, vec![second.id()]), (nobody.id, Vec::new())]
    );
    assert_eq!(page.events[0].data, json!({ "order": 2, "cents": 700 }));
    assert_eq!(first.status().await.unwrap(), RunStatus::Suspended);

    let one = engine
        .list_events(&EventFilter::new().name("reads.paid").limit(1).unwrap())
        .await
        .unwrap();
    assert_eq!(one.events.len(), 1);
    let rest = engine
        .list_events(
            &EventFilter::new()
                .name("reads.paid")
                .before(one.next.unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(
        rest.events.iter().map(|e| e.id).collect::<Vec<_>>(),
        [nobody.id]
    );
    assert_eq!(rest.next, None);
}
