//! Events and signals: waits with filters and timeouts, typed payloads,
//! sends from inside a run exactly once, the race between a send and a wait
//! in both orders, and signals buffered for one run.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use durable::StepStatus;
use durable::prelude::*;
use durable_tests::wait_for_status;

const START_MS: i64 = 1_700_000_000_000;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Scan {
    order_id: String,
    location: String,
}

#[workflow]
async fn await_scan(ctx: Ctx, order_id: String) -> Result<Option<String>, Error> {
    let scan: Option<Scan> = ctx
        .wait_for_event("scanned", "shipment.scanned")
        .matching(json!({ "order_id": order_id }))
        .timeout("7d")
        .await?;
    Ok(scan.map(|scan| scan.location))
}

#[tokio::test]
async fn a_matching_event_resumes_every_waiter_and_others_wait_on() {
    let db = test_db!();
    let engine = db.builder().register(AwaitScan).start().await.unwrap();
    let first = AwaitScan::trigger(&engine, "o-1".into()).await.unwrap();
    let second = AwaitScan::trigger(&engine, "o-1".into()).await.unwrap();
    let other = AwaitScan::trigger(&engine, "o-2".into()).await.unwrap();
    for run in [&first, &second, &other] {
        wait_for_status(run, RunStatus::Suspended).await;
    }
    durable_tests::wait_for_idle(&engine).await;
    let sent = engine
        .send_event(
            "shipment.scanned",
            json!({ "order_id": "o-1", "location": "Leeds", "extra": true }),
        )
        .await
        .unwrap();
    assert_eq!(sent.woken.len(), 2);
    assert_eq!(first.result().await.unwrap().as_deref(), Some("Leeds"));
    assert_eq!(second.result().await.unwrap().as_deref(), Some("Leeds"));
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(other.status().await.unwrap(), RunStatus::Suspended);
}

#[tokio::test]
async fn a_wait_times_out_with_none_and_never_early() {
    let db = test_db!();
    let (engine, clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(AwaitScan))
        .await;
    let run = AwaitScan::trigger(&engine, "o-9".into()).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    clock.advance(Duration::from_secs(7 * 86_400 - 1));
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(run.status().await.unwrap(), RunStatus::Suspended);
    clock.advance(Duration::from_secs(1));
    assert_eq!(run.result().await.unwrap(), None);
    // A late event does not change a wait that timed out.
    let sent = engine
        .send_event(
            "shipment.scanned",
            json!({ "order_id": "o-9", "location": "x" }),
        )
        .await
        .unwrap();
    assert!(sent.woken.is_empty());
}

#[workflow]
async fn wrong_payload(ctx: Ctx) -> Result<String, Error> {
    match ctx.wait_for_event::<Scan>("typed", "typed.event").await {
        Err(error) => Ok(error.to_string()),
        Ok(_) => Ok("fitted".into()),
    }
}

#[tokio::test]
async fn a_payload_that_does_not_fit_is_an_error_naming_the_event() {
    let db = test_db!();
    let engine = db.builder().register(WrongPayload).start().await.unwrap();
    let run = WrongPayload::trigger(&engine).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    engine
        .send_event("typed.event", json!({ "order_id": 5 }))
        .await
        .unwrap();
    let message = run.result().await.unwrap();
    assert!(
        message.contains("the payload of event `typed.event` for step `typed`"),
        "{message}"
    );
}

#[tokio::test]
async fn invalid_events_are_refused_and_write_nothing() {
    let db = test_db!();
    let engine = db.builder().register(AwaitScan).start().await.unwrap();
    let error = engine
        .send_event_json("shipment.scanned", "{not json")
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidEvent(_)), "{error}");
    let error = engine.send_event("", json!({})).await.unwrap_err();
    assert!(matches!(error, Error::InvalidEvent(_)), "{error}");
    assert_eq!(db.count("SELECT COUNT(*) FROM wf_event").await, 0);
    engine
        .send_event_json("shipment.scanned", r#"{"order_id":"o-1"}"#)
        .await
        .unwrap();
    assert_eq!(db.count("SELECT COUNT(*) FROM wf_event").await, 1);
}

#[workflow]
async fn empty_sender(ctx: Ctx) -> Result<String, Error> {
    match ctx.send_event("announce", "", json!({})).await {
        Err(Error::InvalidEvent(message)) => Ok(message),
        other => Ok(format!("not refused: {other:?}")),
    }
}

#[tokio::test]
async fn a_run_cannot_send_an_event_without_a_name_either() {
    let db = test_db!();
    let engine = db.builder().register(EmptySender).start().await.unwrap();
    let run = EmptySender::trigger(&engine).await.unwrap();
    let from_run = run.result().await.unwrap();
    let Err(Error::InvalidEvent(from_engine)) = engine.send_event("", json!({})).await else {
        panic!("the engine sent an event without a name");
    };
    assert_eq!(from_run, from_engine);
    assert_eq!(db.count("SELECT COUNT(*) FROM wf_event").await, 0);
    assert!(run.steps().await.unwrap().is_empty(), "a step was recorded");
}

static SENDS: AtomicU32 = AtomicU32::new(0);

#[workflow]
async fn notifier(ctx: Ctx) -> Result<i64, Error> {
    SENDS.fetch_add(1, Ordering::SeqCst);
    let id = ctx
        .send_event("announce", "order.ready", json!({ "order_id": "o-5" }))
        .await?;
    // Suspend after sending, so the run replays the send.
    ctx.sleep("after", "1h").await?;
    Ok(id)
}

#[tokio::test]
async fn an_event_sent_from_a_run_is_sent_exactly_once_across_replays() {
    let db = test_db!();
    let (engine, clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(Notifier))
        .await;
    let run = Notifier::trigger(&engine).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    clock.advance(Duration::from_secs(3600));
    let id = run.result().await.unwrap();
    assert_eq!(
        SENDS.load(Ordering::SeqCst),
        2,
        "the body ran twice (once before the sleep, once after)"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM wf_event WHERE name = 'order.ready'")
            .await,
        1
    );
    assert_eq!(db.count("SELECT MAX(id) FROM wf_event").await, id);
}

#[workflow]
async fn late_waiter(ctx: Ctx, lookback: bool, timeout_ms: u64) -> Result<Option<u32>, Error> {
    // A step first, so the event can be sent before the wait is registered.
    ctx.sleep("pause", "50ms").await?;
    let wait = ctx
        .wait_for_event::<u32>("value", "race.value")
        .timeout(Duration::from_millis(timeout_ms));
    if lookback {
        wait.lookback("1m").await
    } else {
        wait.await
    }
}

#[tokio::test]
async fn the_race_of_a_send_and_a_wait_in_both_orders() {
    let db = test_db!();
    // Many runs; each gets its event either before or after its wait exists.
    let engine = db
        .builder()
        .keep_in_memory_below("10ms")
        .register(LateWaiter)
        .start()
        .await
        .unwrap();

    // Event after the wait is registered: every run resumes, with or without
    // lookback. Their waits outlast any start-up of the 20 runs on a loaded
    // machine: a wait that timed out before the send would prove nothing.
    let runs: Vec<_> =
        futures_all((0..20).map(|i| LateWaiter::trigger(&engine, i % 2 == 0, 60_000))).await;
    let runs: Vec<_> = runs.into_iter().map(Result::unwrap).collect();
    for run in &runs {
        wait_for_status(run, RunStatus::Suspended).await;
    }
    // All are past their pause and waiting (the sleep step completed).
    for run in &runs {
        loop {
            let steps = run.steps().await.unwrap();
            if steps
                .iter()
                .any(|s| s.name == "value" && s.status == StepStatus::Waiting)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    engine.send_event("race.value", 7).await.unwrap();
    for run in &runs {
        assert_eq!(
            run.result().await.unwrap(),
            Some(7),
            "an event sent after the wait was lost"
        );
    }

    // Event before the wait: only the lookback catches it; the others time out.
    let early_lookback = LateWaiter::trigger(&engine, true, 500).await.unwrap();
    let early_plain = LateWaiter::trigger(&engine, false, 500).await.unwrap();
    engine.send_event("race.value", 8).await.unwrap();
    assert_eq!(
        early_lookback.result().await.unwrap(),
        Some(7),
        "the oldest event in the window matches"
    );
    assert_eq!(early_plain.result().await.unwrap(), None);
}

async fn futures_all<F: Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut out = Vec::new();
    for future in futures {
        out.push(future.await);
    }
    out
}

#[workflow]
async fn interleaved(ctx: Ctx, index: u32) -> Result<bool, Error> {
    let got: Option<u32> = ctx
        .wait_for_event("value", "interleave")
        .matching(json!({ "index": index }))
        .timeout("10s")
        .await?
        .map(|data: serde_json::Value| data["index"].as_u64().unwrap_or(0) as u32);
    Ok(got == Some(index))
}

#[tokio::test]
async fn sends_interleaved_with_waits_never_lose_a_wake_up() {
    let db = test_db!();
    let engine = db.builder().register(Interleaved).start().await.unwrap();
    let mut runs = Vec::new();
    for index in 0..100u32 {
        let run = Interleaved::trigger(&engine, index).await.unwrap();
        runs.push((index, run));
        // Send for earlier runs at varying distances behind the triggers.
        if index >= 3 && index % 2 == 1 {
            for back in [index - 3, index - 2] {
                let run = &runs[back as usize].1;
                // Only once the wait exists: an event before it would (rightly) be missed.
                loop {
                    let steps = run.steps().await.unwrap();
                    if steps.iter().any(|s| s.status == StepStatus::Waiting) {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                engine
                    .send_event("interleave", json!({ "index": back }))
                    .await
                    .unwrap();
            }
        }
    }
    for (index, run) in &runs[98..] {
        wait_for_status(run, RunStatus::Suspended).await;
        engine
            .send_event("interleave", json!({ "index": index }))
            .await
            .unwrap();
    }
    for (index, run) in runs {
        assert!(run.result().await.unwrap(), "run {index} missed its event");
    }
}

#[workflow]
async fn listener(ctx: Ctx) -> Result<Vec<String>, Error> {
    let first: Option<String> = ctx.listen("first", "approve").await?;
    let second: Option<String> = ctx.listen("second", "approve").timeout("1h").await?;
    Ok([first, second].into_iter().flatten().collect())
}

#[tokio::test]
async fn signals_go_to_one_run_in_order_and_wait_for_it_to_listen() {
    let db = test_db!();
    let (engine, _clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(Listener))
        .await;
    let run = Listener::trigger(&engine).await.unwrap();
    let other = Listener::trigger(&engine).await.unwrap();
    // Sent before the run listens: kept for it.
    engine.signal(run.id(), "approve", "alice").await.unwrap();
    engine.signal(run.id(), "approve", "bob").await.unwrap();
    assert_eq!(run.result().await.unwrap(), ["alice", "bob"]);
    wait_for_status(&other, RunStatus::Suspended).await;
    assert_eq!(
        other.status().await.unwrap(),
        RunStatus::Suspended,
        "signals for one run reach no other"
    );
    let finished = engine
        .signal(run.id(), "approve", "late")
        .await
        .unwrap_err();
    assert!(
        matches!(
            finished,
            Error::InvalidTransition {
                action: "signal",
                ..
            }
        ),
        "{finished}"
    );
}

#[tokio::test]
async fn a_run_found_by_id_alone_is_signalled_inspected_and_cancelled_as_json() {
    let db = test_db!();
    let (engine, _clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(Listener))
        .await;
    let first = Listener::trigger(&engine).await.unwrap().id();
    let second = Listener::trigger(&engine).await.unwrap().id();
    // Only the ids from here on: no output type is named.
    let run = engine.run(first);
    run.signal("approve", "alice").await.unwrap();
    run.signal("approve", "bob").await.unwrap();
    assert_eq!(run.result().await.unwrap(), json!(["alice", "bob"]));
    assert_eq!(run.info().await.unwrap().workflow, "listener");
    let steps: Vec<String> = run
        .steps()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(steps, ["first", "second"]);
    assert!(run.logs().await.unwrap().is_empty());

    let other = engine.run(second);
    wait_for_status(&other, RunStatus::Suspended).await;
    other.cancel().await.unwrap();
    assert_eq!(other.status().await.unwrap(), RunStatus::Cancelled);
    assert!(matches!(
        other.result().await.unwrap_err(),
        Error::RunCancelled { .. }
    ));
    assert!(matches!(
        other.retry().await.unwrap_err(),
        Error::InvalidTransition {
            action: "retry",
            ..
        }
    ));
    let unknown = engine.run("00000000-0000-7000-8000-000000000000".parse().unwrap());
    assert!(matches!(
        unknown.info().await.unwrap_err(),
        Error::RunNotFound(_)
    ));
}

#[tokio::test]
async fn a_registered_wait_survives_its_worker_and_takes_a_later_event() {
    let db = test_db!();
    let engine = db.builder().register(AwaitScan).start().await.unwrap();
    let run = AwaitScan::trigger(&engine, "o-3".into()).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    let id = run.id();
    engine.shutdown().await;
    drop((engine, run));

    let engine = db.builder().register(AwaitScan).start().await.unwrap();
    let sent = engine
        .send_event(
            "shipment.scanned",
            json!({ "order_id": "o-3", "location": "York" }),
        )
        .await
        .unwrap();
    assert_eq!(sent.woken, [id]);
    let run = engine.run_handle::<Option<String>>(id);
    assert_eq!(run.result().await.unwrap().as_deref(), Some("York"));
}

/// Waits (in real time, up to 10 s) until the run's wait `index` is its
/// last step and is waiting.
async fn waits_at<O: serde::de::DeserializeOwned>(run: &RunHandle<O>, index: usize) {
    let started = std::time::Instant::now();
    loop {
        let steps = run.steps().await.unwrap();
        if steps.len() == index + 1 && steps[index].status == StepStatus::Waiting {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the run is not at wait {index}: {steps:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[workflow]
async fn next_payments(ctx: Ctx, count: u32) -> Result<Vec<Option<u32>>, Error> {
    let mut payments = Vec::new();
    for index in 0..count {
        payments.push(
            ctx.wait_for_event(("payment", index), "payment.received")
                .lookback("1h")
                .timeout("1m")
                .await?,
        );
    }
    Ok(payments)
}

/// A loop of lookback waits for "the next payment" gets each event once: an
/// event a wait of the run took is not offered to its later waits. Another
/// run still sees every event of its window.
#[tokio::test]
async fn sequential_lookback_waits_of_a_run_take_each_event_once() {
    let db = test_db!();
    let (engine, clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(NextPayments))
        .await;
    engine.send_event("payment.received", 1).await.unwrap();
    clock.advance(Duration::from_millis(10));
    engine.send_event("payment.received", 2).await.unwrap();
    clock.advance(Duration::from_millis(10));
    let run = NextPayments::trigger(&engine, 3).await.unwrap();
    // Two waits are satisfied from the window; the third waits for a new one.
    waits_at(&run, 2).await;
    engine.send_event("payment.received", 3).await.unwrap();
    assert_eq!(
        run.result().await.unwrap(),
        [Some(1), Some(2), Some(3)],
        "each payment once, in order"
    );
    let other = NextPayments::trigger(&engine, 4).await.unwrap();
    waits_at(&other, 3).await;
    clock.advance(Duration::from_secs(61));
    assert_eq!(
        other.result().await.unwrap(),
        [Some(1), Some(2), Some(3), None],
        "another run sees the events the first took"
    );
}

#[workflow]
async fn waits_for_approval(ctx: Ctx) -> Result<Option<u32>, Error> {
    ctx.wait_for_event("approval", "approval.given").await
}

/// A run that ended while it waited takes no later event: its waiting step
/// stays `waiting`, with no output.
#[tokio::test]
async fn an_event_after_a_run_ended_does_not_complete_its_wait() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(WaitsForApproval)
        .start()
        .await
        .unwrap();
    let run = WaitsForApproval::trigger(&engine).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    run.cancel().await.unwrap();
    let sent = engine.send_event("approval.given", 1).await.unwrap();
    assert!(sent.woken.is_empty(), "woke {:?}", sent.woken);
    let steps = run.steps().await.unwrap();
    assert_eq!(steps[0].status, StepStatus::Waiting);
    assert_eq!(steps[0].output, None);
    assert_eq!(run.status().await.unwrap(), RunStatus::Cancelled);
}

#[workflow]
async fn keyed_waiter(ctx: Ctx, order: u32) -> Result<u32, Error> {
    let got: Option<serde_json::Value> = ctx
        .wait_for_event("paid", "keyed.paid")
        .matching(json!({ "order": order }))
        .lookback("1h")
        .timeout("30s")
        .await?;
    Ok(got.and_then(|data| data["attempt"].as_u64()).unwrap_or(0) as u32)
}

/// Sends of one name run concurrently, each racing the wait it is for
/// (registered before, during or after the send, with a lookback so that
/// either order must meet), and two sends race for one waiter: every wait
/// gets its own event, and an event counts a run as woken only if it woke it.
#[tokio::test]
async fn concurrent_sends_of_one_name_each_meet_their_racing_wait_once() {
    let db = test_db!();
    let engine = db.builder().register(KeyedWaiter).start().await.unwrap();
    const RUNS: u32 = 120;
    let mut runs = Vec::new();
    for order in 0..RUNS {
        runs.push(KeyedWaiter::trigger(&engine, order).await.unwrap());
    }
    let sends = (0..RUNS).map(|order| {
        let engine = engine.clone();
        tokio::spawn(async move {
            let mut woken = Vec::new();
            // Two events for one waiter, sent at once: one of them wakes it.
            let (first, second) = tokio::join!(
                engine.send_event("keyed.paid", json!({ "order": order, "attempt": 1 })),
                engine.send_event("keyed.paid", json!({ "order": order, "attempt": 2 })),
            );
            woken.extend(first.unwrap().woken);
            woken.extend(second.unwrap().woken);
            woken
        })
    });
    let mut woken = Vec::new();
    for send in futures_all(sends.collect::<Vec<_>>().into_iter()).await {
        woken.extend(send.unwrap());
    }
    for (order, run) in runs.iter().enumerate() {
        let attempt = run.result().await.unwrap();
        assert!(attempt == 1 || attempt == 2, "run {order} got {attempt}");
        let counted = woken.iter().filter(|id| **id == run.id()).count();
        assert!(counted <= 1, "run {order} counted as woken {counted} times");
    }
}
