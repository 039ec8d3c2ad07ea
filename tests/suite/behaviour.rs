//! Behaviour of the whole engine on SQLite: retries, timeouts, cancel, retry,
//! durable sleep across restarts, input checks, idempotency, and the runtime
//! backstops against duplicate steps and non-deterministic replays.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use durable::prelude::*;
use durable::{Limits, StepStatus};
use durable_tests::wait_for_status;

const START_MS: i64 = 1_700_000_000_000;

// ---------------------------------------------------------------- retries

static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);

#[workflow]
async fn flaky(ctx: Ctx, failures: u32) -> Result<u32, Error> {
    ctx.step("flaky-call")
        .retry(Retry::fixed(3, "5ms"))
        .run_with_attempt(async |attempt| {
            FLAKY_CALLS.fetch_add(1, Ordering::SeqCst);
            if attempt <= failures {
                Err(StepError::retryable(format!("attempt {attempt} failed")))
            } else {
                Ok(attempt)
            }
        })
        .await
}

#[tokio::test]
async fn a_step_is_retried_until_it_succeeds_and_attempts_are_visible() {
    let Some(db) = crate::test_db(stringify!(
        a_step_is_retried_until_it_succeeds_and_attempts_are_visible
    )) else {
        return;
    };
    let engine = db.builder().register(Flaky).start().await.unwrap();
    let run = Flaky::trigger(&engine, 2).await.unwrap();
    assert_eq!(run.result().await.unwrap(), 3);
    let steps = run.steps().await.unwrap();
    assert_eq!(
        (steps[0].status, steps[0].attempts),
        (StepStatus::Completed, 3)
    );
}

#[tokio::test]
async fn retries_stop_at_the_policy_limit_with_the_last_error() {
    let Some(db) = crate::test_db(stringify!(
        retries_stop_at_the_policy_limit_with_the_last_error
    )) else {
        return;
    };
    let engine = db.builder().register(Flaky).start().await.unwrap();
    let run = Flaky::trigger(&engine, 10).await.unwrap();
    let error = run.result().await.unwrap_err().to_string();
    assert!(
        error.contains("step `flaky-call` failed after 3 attempt(s): attempt 3 failed"),
        "{error}"
    );
    let steps = run.steps().await.unwrap();
    assert_eq!(
        (steps[0].status, steps[0].attempts),
        (StepStatus::Failed, 3)
    );
    assert_eq!(run.status().await.unwrap(), RunStatus::Failed);
}

static NO_RETRY_CALLS: AtomicU32 = AtomicU32::new(0);

#[workflow]
async fn no_retry(ctx: Ctx, permanent: bool) -> Result<(), Error> {
    let policy = if permanent {
        Retry::fixed(5, "1ms")
    } else {
        Retry::none()
    };
    ctx.step("once")
        .retry(policy)
        .run(async || {
            NO_RETRY_CALLS.fetch_add(1, Ordering::SeqCst);
            if permanent {
                Err::<(), _>(StepError::permanent("card declined"))
            } else {
                Err(StepError::retryable("flaky"))
            }
        })
        .await
}

#[tokio::test]
async fn permanent_errors_and_zero_retries_run_the_body_once() {
    let Some(db) = crate::test_db(stringify!(
        permanent_errors_and_zero_retries_run_the_body_once
    )) else {
        return;
    };
    let engine = db.builder().register(NoRetry).start().await.unwrap();
    for permanent in [true, false] {
        let before = NO_RETRY_CALLS.load(Ordering::SeqCst);
        let run = NoRetry::trigger(&engine, permanent).await.unwrap();
        assert!(run.result().await.is_err());
        assert_eq!(
            NO_RETRY_CALLS.load(Ordering::SeqCst) - before,
            1,
            "permanent={permanent}"
        );
        assert_eq!(run.steps().await.unwrap()[0].attempts, 1);
    }
}

#[workflow]
async fn slow_retry(ctx: Ctx) -> Result<u32, Error> {
    ctx.step("slow")
        .retry(Retry::fixed(2, "1h").jitter(0.0))
        .run_with_attempt(async |attempt| {
            if attempt == 1 {
                Err(StepError::retryable("not yet"))
            } else {
                Ok(attempt)
            }
        })
        .await
}

#[tokio::test]
async fn a_long_backoff_suspends_the_run_and_never_retries_early() {
    let Some(db) = crate::test_db(stringify!(
        a_long_backoff_suspends_the_run_and_never_retries_early
    )) else {
        return;
    };
    let (engine, clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(SlowRetry))
        .await;
    let run = SlowRetry::trigger(&engine).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    durable_tests::wait_for_idle(&engine).await;
    let step = &run.steps().await.unwrap()[0];
    assert_eq!((step.status, step.attempts), (StepStatus::Pending, 1));
    assert_eq!(step.wake_at, Some(START_MS + 3_600_000));

    clock.advance(Duration::from_secs(3599));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        run.status().await.unwrap(),
        RunStatus::Suspended,
        "retried early"
    );

    clock.advance(Duration::from_secs(1));
    assert_eq!(run.result().await.unwrap(), 2);
}

// ---------------------------------------------------------------- when results are written

/// The engine the `sees_earlier_results` workflow reads its own steps from.
static ENGINE_OF_SEES_EARLIER_RESULTS: Mutex<Option<Engine>> = Mutex::new(None);

/// Its second step's body returns the steps of its run the store has
/// recorded completed by the time the body runs.
#[workflow]
async fn sees_earlier_results(ctx: Ctx) -> Result<Vec<String>, Error> {
    ctx.run("first", async || Ok::<_, StepError>(1)).await?;
    ctx.now("stamp").await?;
    let run_id = ctx.run_id();
    ctx.run("second", move || async move {
        let engine = ENGINE_OF_SEES_EARLIER_RESULTS.lock().unwrap().clone();
        let engine = engine.ok_or_else(|| StepError::permanent("no engine"))?;
        let steps = engine
            .run_handle::<Vec<String>>(run_id)
            .steps()
            .await
            .map_err(|error| StepError::permanent(error.to_string()))?;
        Ok::<_, StepError>(
            steps
                .into_iter()
                .filter(|step| step.status == StepStatus::Completed)
                .map(|step| step.name)
                .collect(),
        )
    })
    .await
}

#[tokio::test]
async fn a_step_body_runs_after_the_results_before_it_are_committed_and_the_last_goes_with_the_finish()
 {
    let Some(db) = crate::test_db(stringify!(
        a_step_body_runs_after_the_results_before_it_are_committed_and_the_last_goes_with_the_finish
    )) else {
        return;
    };
    let engine = db
        .builder()
        .register(SeesEarlierResults)
        .start()
        .await
        .unwrap();
    *ENGINE_OF_SEES_EARLIER_RESULTS.lock().unwrap() = Some(engine.clone());
    let run = SeesEarlierResults::trigger(&engine).await.unwrap();
    // A completed step's result and a recorded value may wait to be written
    // with the run's next write, but never past the next step body.
    assert_eq!(run.result().await.unwrap(), ["first", "stamp"]);
    // The last result, not written before the run ended, went with its finish.
    let steps: Vec<(String, StepStatus)> = run
        .steps()
        .await
        .unwrap()
        .into_iter()
        .map(|step| (step.name, step.status))
        .collect();
    assert_eq!(
        steps,
        [
            ("first".to_owned(), StepStatus::Completed),
            ("stamp".to_owned(), StepStatus::Completed),
            ("second".to_owned(), StepStatus::Completed),
        ]
    );
    ENGINE_OF_SEES_EARLIER_RESULTS.lock().unwrap().take();
}

// ---------------------------------------------------------------- timeouts

#[workflow]
async fn hangs(ctx: Ctx) -> Result<(), Error> {
    ctx.step("hang")
        .retry(Retry::fixed(2, "1ms"))
        .timeout("30ms")
        .run(async || {
            std::future::pending::<()>().await;
            Ok::<(), StepError>(())
        })
        .await
}

#[tokio::test]
async fn a_step_timeout_fails_each_attempt() {
    let Some(db) = crate::test_db(stringify!(a_step_timeout_fails_each_attempt)) else {
        return;
    };
    let engine = db.builder().register(Hangs).start().await.unwrap();
    let run = Hangs::trigger(&engine).await.unwrap();
    let error = run.result().await.unwrap_err().to_string();
    assert!(
        error.contains("failed after 2 attempt(s): attempt 2 timed out after 30 ms"),
        "{error}"
    );
}

#[workflow(timeout = "1h")]
async fn overslept(ctx: Ctx) -> Result<(), Error> {
    ctx.sleep("nap", "2h").await
}

#[workflow(timeout = "50ms")]
async fn stuck(ctx: Ctx) -> Result<(), Error> {
    ctx.run("forever", async || {
        std::future::pending::<()>().await;
        Ok::<(), StepError>(())
    })
    .await
}

#[tokio::test]
async fn the_workflow_timeout_ends_suspended_and_running_runs() {
    let Some(db) = crate::test_db(stringify!(
        the_workflow_timeout_ends_suspended_and_running_runs
    )) else {
        return;
    };
    let (engine, clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(Overslept))
        .await;
    let run = Overslept::trigger(&engine).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    clock.advance(Duration::from_secs(3600));
    assert!(matches!(run.result().await, Err(Error::RunTimedOut { .. })));
    assert_eq!(run.status().await.unwrap(), RunStatus::TimedOut);
    engine.shutdown().await;

    let engine = db.builder().register(Stuck).start().await.unwrap();
    let run = Stuck::trigger(&engine).await.unwrap();
    assert!(matches!(run.result().await, Err(Error::RunTimedOut { .. })));
}

// ---------------------------------------------------------------- cancel

static CANCELLED_BODY_FINISHED: AtomicBool = AtomicBool::new(false);

#[workflow]
async fn cancellable(ctx: Ctx, block: bool) -> Result<(), Error> {
    if block {
        ctx.run("block", async || {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            CANCELLED_BODY_FINISHED.store(true, Ordering::SeqCst);
            Ok::<(), StepError>(())
        })
        .await?;
    }
    ctx.sleep("wait", "1h").await
}

#[tokio::test]
async fn cancel_stops_running_and_suspended_runs_but_not_finished_ones() {
    let Some(db) = crate::test_db(stringify!(
        cancel_stops_running_and_suspended_runs_but_not_finished_ones
    )) else {
        return;
    };
    let engine = db.builder().register(Cancellable).start().await.unwrap();

    let suspended = Cancellable::trigger(&engine, false).await.unwrap();
    wait_for_status(&suspended, RunStatus::Suspended).await;
    suspended.cancel().await.unwrap();
    assert!(matches!(
        suspended.result().await,
        Err(Error::RunCancelled { .. })
    ));

    let running = Cancellable::trigger(&engine, true).await.unwrap();
    wait_for_status(&running, RunStatus::Running).await;
    running.cancel().await.unwrap();
    assert_eq!(running.status().await.unwrap(), RunStatus::Cancelled);
    tokio::time::sleep(Duration::from_millis(20)).await;
    durable_tests::wait_for_idle(&engine).await;
    assert!(!CANCELLED_BODY_FINISHED.load(Ordering::SeqCst));

    match running.cancel().await {
        Err(Error::InvalidTransition {
            action: "cancel",
            status: RunStatus::Cancelled,
            ..
        }) => {}
        other => panic!("expected an invalid transition, got {other:?}"),
    }
}

// ---------------------------------------------------------------- retry

static RETRY_PREPARE_CALLS: AtomicU32 = AtomicU32::new(0);
static RETRY_SHOULD_FAIL: AtomicBool = AtomicBool::new(true);

#[workflow]
async fn retried(ctx: Ctx) -> Result<String, Error> {
    let prepared: u32 = ctx
        .run("prepare", async || {
            Ok::<_, StepError>(RETRY_PREPARE_CALLS.fetch_add(1, Ordering::SeqCst))
        })
        .await?;
    let shipped: String = ctx
        .step("ship")
        .retry(Retry::none())
        .run(async || {
            if RETRY_SHOULD_FAIL.load(Ordering::SeqCst) {
                Err(StepError::permanent("warehouse closed"))
            } else {
                Ok(format!("shipped after prepare #{prepared}"))
            }
        })
        .await?;
    Ok(shipped)
}

#[tokio::test]
async fn retry_resumes_a_failed_run_from_the_failed_step() {
    let Some(db) = crate::test_db(stringify!(retry_resumes_a_failed_run_from_the_failed_step))
    else {
        return;
    };
    let engine = db.builder().register(Retried).start().await.unwrap();
    let run = Retried::trigger(&engine).await.unwrap();
    let error = run.result().await.unwrap_err().to_string();
    assert!(error.contains("warehouse closed"), "{error}");
    assert!(run.retry().await.is_ok());
    // A retried run may fail again without changing what it recorded.
    RETRY_SHOULD_FAIL.store(false, Ordering::SeqCst);
    let result = run.result().await;
    let output = match result {
        Ok(output) => output,
        Err(_) => {
            run.retry().await.unwrap();
            run.result().await.unwrap()
        }
    };
    assert_eq!(output, "shipped after prepare #0");
    assert_eq!(
        RETRY_PREPARE_CALLS.load(Ordering::SeqCst),
        1,
        "the completed step did not run again"
    );
    assert!(matches!(
        run.retry().await,
        Err(Error::InvalidTransition {
            action: "retry",
            status: RunStatus::Completed,
            ..
        })
    ));
}

// ---------------------------------------------------------------- durable sleep

static BEFORE_SLEEP_CALLS: AtomicU32 = AtomicU32::new(0);
static FIRST_SEEN: Mutex<Option<(SystemTime, durable::Uuid)>> = Mutex::new(None);

#[workflow]
async fn sleeper(ctx: Ctx) -> Result<bool, Error> {
    ctx.run("before", async || {
        Ok::<_, StepError>(BEFORE_SLEEP_CALLS.fetch_add(1, Ordering::SeqCst))
    })
    .await?;
    let now = ctx.now("started-at").await?;
    let id = ctx.uuid("request-id").await?;
    FIRST_SEEN.lock().unwrap().get_or_insert((now, id));
    ctx.sleep("nap", "2h").await?;
    ctx.sleep_until("in-the-past", SystemTime::UNIX_EPOCH)
        .await?;
    let first = FIRST_SEEN.lock().unwrap().unwrap();
    Ok(first == (now, id))
}

#[tokio::test]
async fn a_durable_sleep_survives_a_restart_and_replays_recorded_values() {
    let Some(db) = crate::test_db(stringify!(
        a_durable_sleep_survives_a_restart_and_replays_recorded_values
    )) else {
        return;
    };
    let (engine, _clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(Sleeper))
        .await;
    let run = Sleeper::trigger(&engine).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    let id = run.id();
    engine.shutdown().await;
    drop(engine);

    // A new engine, two hours later, on the same file.
    let (engine, _clock) = db
        .start_on_manual_clock(START_MS + 2 * 3_600_000, |builder| {
            builder.register(Sleeper)
        })
        .await;
    let run = engine.run_handle::<bool>(id);
    assert!(
        run.result().await.unwrap(),
        "now() and uuid() replayed their recorded values"
    );
    assert_eq!(
        BEFORE_SLEEP_CALLS.load(Ordering::SeqCst),
        1,
        "the step before the sleep did not run again"
    );
    let steps = run.steps().await.unwrap();
    assert!(
        steps
            .iter()
            .all(|step| step.status == StepStatus::Completed),
        "{steps:?}"
    );
}

#[workflow]
async fn sleepy(ctx: Ctx, nap_ms: u64) -> Result<(), Error> {
    ctx.sleep("nap", nap_ms).await
}

#[tokio::test]
async fn sleeping_runs_hold_no_task_and_wake_exactly_at_their_deadline() {
    let Some(db) = crate::test_db(stringify!(
        sleeping_runs_hold_no_task_and_wake_exactly_at_their_deadline
    )) else {
        return;
    };
    let (engine, clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(Sleepy))
        .await;
    let mut runs = Vec::new();
    for i in 0..50u64 {
        runs.push(Sleepy::trigger(&engine, 60_000 + i * 1000).await.unwrap());
    }
    for run in &runs {
        wait_for_status(run, RunStatus::Suspended).await;
    }
    durable_tests::wait_for_idle(&engine).await;
    // Nothing polls: with the clock standing still, nothing wakes.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for run in &runs {
        assert_eq!(run.status().await.unwrap(), RunStatus::Suspended);
    }
    // Move to the 10th deadline: exactly the first ten wake.
    clock.advance(Duration::from_millis(60_000 + 9 * 1000));
    for run in &runs[..10] {
        run.result().await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    for run in &runs[10..] {
        assert_eq!(
            run.status().await.unwrap(),
            RunStatus::Suspended,
            "woke early"
        );
    }
    // A sleep shows completed once its wake time passed (its record is not
    // rewritten), and sleeping before.
    let status_of_sleep = async |run: &RunHandle<()>| run.steps().await.unwrap()[0].status;
    assert_eq!(status_of_sleep(&runs[9]).await, StepStatus::Completed);
    assert_eq!(status_of_sleep(&runs[10]).await, StepStatus::Sleeping);
}

#[tokio::test]
async fn a_real_sleep_wakes_within_milliseconds_of_its_deadline() {
    let Some(db) = crate::test_db(stringify!(
        a_real_sleep_wakes_within_milliseconds_of_its_deadline
    )) else {
        return;
    };
    let engine = db
        .builder()
        .keep_in_memory_below("10ms")
        .register(Sleepy)
        .start()
        .await
        .unwrap();
    let run = Sleepy::trigger(&engine, 300).await.unwrap();
    run.result().await.unwrap();
    let info = run.info().await.unwrap();
    let step = &run.steps().await.unwrap()[0];
    let wake_at = step.wake_at.unwrap();
    let finished = info.finished_at.unwrap();
    assert!(
        finished >= wake_at,
        "woke early: finished {finished}, deadline {wake_at}"
    );
    // A poll-based engine would be late by its poll interval; a timer is not.
    // The bound is loose for slow CI machines.
    assert!(
        finished - wake_at < 400,
        "woke {} ms late",
        finished - wake_at
    );
}

// ---------------------------------------------------------------- input checks

#[derive(Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
struct Address {
    city: String,
    zip: u32,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
struct Customer {
    name: String,
    address: Address,
}

#[workflow(name = "register-customer")]
async fn register_customer(ctx: Ctx, customer: Customer) -> Result<String, Error> {
    ctx.run("greet", async || {
        Ok::<_, StepError>(format!("{} of {}", customer.name, customer.address.city))
    })
    .await
}

#[tokio::test]
async fn json_input_is_checked_against_the_input_type_and_nothing_is_written_on_rejection() {
    let Some(db) = crate::test_db(stringify!(
        json_input_is_checked_against_the_input_type_and_nothing_is_written_on_rejection
    )) else {
        return;
    };
    let engine = db
        .builder()
        .limits(Limits {
            max_input_bytes: 200,
            ..Limits::default()
        })
        .register(RegisterCustomer)
        .start()
        .await
        .unwrap();

    let wrong_type = json!({ "name": "Ada", "address": { "city": "London", "zip": "N1" } });
    let error = engine
        .trigger_json("register-customer", wrong_type)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }));
    assert!(
        error
            .to_string()
            .contains("address.zip: invalid type: string \"N1\", expected u32"),
        "{error}"
    );

    let missing = json!({ "name": "Ada" });
    let error = engine
        .trigger_json("register-customer", missing)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("missing field `address`"), "{error}");

    let error = engine
        .trigger_json("no-such-workflow", json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::UnknownWorkflow { ref name, .. } if name == "no-such-workflow"),
        "{error}"
    );

    let huge = json!({ "name": "x".repeat(500), "address": { "city": "London", "zip": 1 } });
    let error = engine
        .trigger_json("register-customer", huge)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::PayloadTooLarge {
                limit_name: "max_input_bytes",
                limit: 200,
                ..
            }
        ),
        "{error}"
    );

    assert_eq!(
        db.count("SELECT COUNT(*) FROM wf_instance").await,
        0,
        "a rejected input wrote a row"
    );

    let good = json!({ "name": "Ada", "address": { "city": "London", "zip": 1 } });
    let run = engine
        .trigger_json("register-customer", good)
        .await
        .unwrap();
    assert_eq!(run.result().await.unwrap(), json!("Ada of London"));
    let schema = engine.input_schema("register-customer").unwrap();
    assert_eq!(schema["required"], json!(["name", "address"]));
}

#[derive(Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
struct StrictCustomer {
    name: String,
}

#[workflow(name = "register-strict-customer")]
async fn register_strict_customer(ctx: Ctx, customer: StrictCustomer) -> Result<String, Error> {
    let _ = ctx;
    Ok(customer.name)
}

#[tokio::test]
async fn input_errors_say_what_is_wrong_and_echo_no_more_than_a_few_words() {
    let Some(db) = crate::test_db(stringify!(
        input_errors_say_what_is_wrong_and_echo_no_more_than_a_few_words
    )) else {
        return;
    };
    let engine = db
        .builder()
        .register(RegisterCustomer)
        .register(RegisterStrictCustomer)
        .start()
        .await
        .unwrap();

    // A 1 MiB workflow name is cut, and the registered names are listed.
    let huge_name = "w".repeat(1 << 20);
    let error = engine
        .trigger_json(&huge_name, json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.len() < 500, "a {} byte message", error.len());
    assert!(error.contains("… (1048576 bytes)"), "{error}");
    assert!(
        error.contains("(registered: register-customer, register-strict-customer)"),
        "{error}"
    );
    let error = engine.input_schema("nope").unwrap_err().to_string();
    assert!(
        error.contains("workflow `nope` is not registered"),
        "{error}"
    );

    // An array where a struct goes says that an object was expected.
    let error = engine
        .trigger_json("register-customer", json!([]))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("expected a JSON object with the fields of struct Customer, found an array"),
        "{error}"
    );
    let nested = json!({ "name": "Ada", "address": ["London"] });
    let error = engine
        .trigger_json("register-customer", nested)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("address: expected a JSON object with the fields of struct Address"),
        "{error}"
    );

    // Unknown fields are dropped by default, and refused, by name, with
    // `#[serde(deny_unknown_fields)]` on the input type.
    let extra = json!({ "name": "Ada", "address": { "city": "London", "zip": 1 }, "colour": 1 });
    let run = engine
        .trigger_json("register-customer", extra)
        .await
        .unwrap();
    assert_eq!(run.result().await.unwrap(), json!("Ada of London"));
    assert_eq!(
        run.info().await.unwrap().input,
        json!({ "name": "Ada", "address": { "city": "London", "zip": 1 } }),
        "the unknown field is not stored"
    );
    let error = engine
        .trigger_json(
            "register-strict-customer",
            json!({ "name": "Ada", "colour": 1 }),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("unknown field `colour`, expected `name`"),
        "{error}"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM wf_instance").await, 1);
}

// ---------------------------------------------------------------- idempotency

#[tokio::test]
async fn an_idempotency_key_returns_the_same_run_even_under_100_concurrent_triggers() {
    let Some(db) = crate::test_db(stringify!(
        an_idempotency_key_returns_the_same_run_even_under_100_concurrent_triggers
    )) else {
        return;
    };
    let engine = db.builder().register(Sleepy).start().await.unwrap();
    let options = || TriggerOptions::new().idempotency_key("order-42");
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let engine = engine.clone();
            tokio::spawn(async move {
                Sleepy::trigger_with(&engine, 5, options())
                    .await
                    .map(|run| run.id())
            })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap().unwrap());
    }
    assert_eq!(ids.len(), 1, "one key made {} runs", ids.len());
    assert_eq!(db.count("SELECT COUNT(*) FROM wf_instance").await, 1);

    let error = Sleepy::trigger_with(&engine, 6, options())
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::IdempotencyConflict { ref key, .. } if key == "order-42"),
        "{error}"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM wf_instance").await, 1);
}

#[tokio::test]
async fn a_trigger_that_finds_its_run_already_there_leaves_the_engine_its_slots() {
    let Some(db) = crate::test_db(stringify!(
        a_trigger_that_finds_its_run_already_there_leaves_the_engine_its_slots
    )) else {
        return;
    };
    let engine = db
        .builder()
        .concurrency(1)
        .register(Sleepy)
        .start()
        .await
        .unwrap();
    let options = || TriggerOptions::new().idempotency_key("order-42");
    let first = Sleepy::trigger_with(&engine, 0, options()).await.unwrap();
    first.result().await.unwrap();
    // Each of these finds the finished run, after taking the one slot to
    // claim a new run at creation.
    for _ in 0..3 {
        let again = Sleepy::trigger_with(&engine, 0, options()).await.unwrap();
        assert_eq!(again.id(), first.id());
    }
    let other = Sleepy::trigger(&engine, 0).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), other.result())
        .await
        .expect("a trigger of an existing run kept the only slot")
        .unwrap();
}

// ---------------------------------------------------------------- backstops

async fn charge_twice(ctx: &Ctx) -> Result<(), Error> {
    // Invisible to the macro: the same name twice through a helper.
    for _ in 0..2 {
        ctx.run(String::from("charge"), async || Ok::<_, StepError>(()))
            .await?;
    }
    Ok(())
}

#[workflow]
async fn duplicate_at_run_time(ctx: Ctx) -> Result<(), Error> {
    charge_twice(&ctx).await
}

#[tokio::test]
async fn a_duplicate_step_name_at_run_time_fails_the_run_with_a_named_error() {
    let Some(db) = crate::test_db(stringify!(
        a_duplicate_step_name_at_run_time_fails_the_run_with_a_named_error
    )) else {
        return;
    };
    let engine = db
        .builder()
        .register(DuplicateAtRunTime)
        .start()
        .await
        .unwrap();
    let run = DuplicateAtRunTime::trigger(&engine).await.unwrap();
    let error = run.result().await.unwrap_err().to_string();
    assert!(
        error.contains("step name `charge` was reached twice"),
        "{error}"
    );
}

static V1_SHIPPED: AtomicU32 = AtomicU32::new(0);

#[workflow(name = "versioned")]
async fn versioned_v1(ctx: Ctx) -> Result<(), Error> {
    ctx.run("reserve", async || Ok::<_, StepError>(1)).await?;
    ctx.sleep("wait", "1h").await?;
    ctx.run("ship", async || {
        Ok::<_, StepError>(V1_SHIPPED.fetch_add(1, Ordering::SeqCst))
    })
    .await?;
    Ok(())
}

#[workflow(name = "versioned")]
async fn versioned_v2(ctx: Ctx) -> Result<(), Error> {
    ctx.run("reserve", async || Ok::<_, StepError>(1)).await?;
    ctx.run("charge", async || Ok::<_, StepError>(2)).await?;
    ctx.sleep("wait", "1h").await?;
    Ok(())
}

#[tokio::test]
async fn a_replay_that_reaches_other_steps_fails_with_a_named_non_determinism_error() {
    let Some(db) = crate::test_db(stringify!(
        a_replay_that_reaches_other_steps_fails_with_a_named_non_determinism_error
    )) else {
        return;
    };
    let (engine, clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(VersionedV1))
        .await;
    let run = VersionedV1::trigger(&engine).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    let id = run.id();
    engine.shutdown().await;
    drop(engine);

    // Deploy v2 under the same name while the run sleeps.
    clock.advance(Duration::from_secs(3600));
    let engine = db
        .builder()
        .clock(clock)
        .register(VersionedV2)
        .start()
        .await
        .unwrap();
    let error = engine
        .run_handle::<()>(id)
        .result()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("reached step `charge` where the journal recorded step `wait`"),
        "{error}"
    );
    assert_eq!(V1_SHIPPED.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_second_engine_on_the_same_file_is_refused() {
    let Some(db) = crate::test_db(stringify!(a_second_engine_on_the_same_file_is_refused)) else {
        return;
    };
    // One engine per embedded file; PostgreSQL is shared by design.
    if !matches!(db, durable_tests::TestDb::Sqlite { .. }) {
        return;
    }
    let _engine = db.builder().register(Sleepy).start().await.unwrap();
    let error = db.builder().register(Sleepy).start().await.unwrap_err();
    assert!(matches!(error, Error::DatabaseInUse { .. }), "{error}");
}

#[tokio::test]
async fn bad_engine_settings_are_refused() {
    let Some(db) = crate::test_db(stringify!(bad_engine_settings_are_refused)) else {
        return;
    };
    let error = db.builder().concurrency(0).start().await.unwrap_err();
    assert!(error.to_string().contains("concurrency must be at least 1"));
    let error = db
        .builder()
        .keep_in_memory_below("soon")
        .start()
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("invalid duration \"soon\""),
        "{error}"
    );
    let error = db
        .builder()
        .register(Sleepy)
        .register(Sleepy)
        .start()
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("two workflows are registered under the name `sleepy`"),
        "{error}"
    );
}

// ---------------------------------------------------------------- panics

static PANICS_LEFT: AtomicU32 = AtomicU32::new(1);

#[workflow]
async fn panicky(ctx: Ctx, in_body: bool) -> Result<u32, Error> {
    if in_body {
        panic!("the workflow itself broke");
    }
    ctx.step("fragile")
        .retry(Retry::fixed(2, "1ms"))
        .run_with_attempt(async |attempt| {
            if PANICS_LEFT.fetch_sub(1, Ordering::SeqCst) == 1 {
                panic!("attempt {attempt} broke");
            }
            Ok::<_, StepError>(attempt)
        })
        .await
}

#[tokio::test]
async fn panics_fail_the_attempt_or_the_run_and_never_leave_it_running() {
    let Some(db) = crate::test_db(stringify!(
        panics_fail_the_attempt_or_the_run_and_never_leave_it_running
    )) else {
        return;
    };
    let engine = db.builder().register(Panicky).start().await.unwrap();
    let run = Panicky::trigger(&engine, false).await.unwrap();
    assert_eq!(
        run.result().await.unwrap(),
        2,
        "the panicking attempt was retried"
    );

    let run = Panicky::trigger(&engine, true).await.unwrap();
    let error = run.result().await.unwrap_err().to_string();
    assert!(
        error.contains("the workflow body panicked: the workflow itself broke"),
        "{error}"
    );
    durable_tests::wait_for_idle(&engine).await;
}

// ---------------------------------------------------------------- early claims and slots

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
    let Some(db) = crate::test_db(stringify!(
        a_sleeping_run_is_claimed_just_before_its_wake_time_and_wakes_on_time
    )) else {
        return;
    };
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
    let Some(db) = crate::test_db(stringify!(a_wait_is_not_claimed_before_its_timeout)) else {
        return;
    };
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
    let Some(db) = crate::test_db(stringify!(
        a_run_waiting_in_memory_lends_its_slot_and_takes_it_back_within_the_limit
    )) else {
        return;
    };
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
    let Some(db) = crate::test_db(stringify!(
        runs_lending_their_slots_fill_memory_only_up_to_16_per_slot
    )) else {
        return;
    };
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
    let Some(db) = crate::test_db(stringify!(
        a_run_waiting_for_its_writes_lends_its_slot_and_bodies_stay_within_the_limit
    )) else {
        return;
    };
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

// ------------------------------------------------- steps of ended runs

#[workflow(timeout = "1h")]
async fn naps_long(ctx: Ctx) -> Result<(), Error> {
    ctx.sleep("nap", "2h").await
}

/// A run cancelled, or timed out, during a sleep leaves the sleep
/// `sleeping`: it does not show `completed` once its wake time passes,
/// since the run ended before it woke.
#[tokio::test]
async fn a_sleep_of_a_run_that_ended_before_it_woke_never_completes() {
    let Some(db) = crate::test_db(stringify!(
        a_sleep_of_a_run_that_ended_before_it_woke_never_completes
    )) else {
        return;
    };
    let (engine, clock) = db
        .start_on_manual_clock(START_MS, |builder| builder.register(NapsLong))
        .await;
    let cancelled = NapsLong::trigger(&engine).await.unwrap();
    let timed_out = NapsLong::trigger(&engine).await.unwrap();
    wait_for_status(&cancelled, RunStatus::Suspended).await;
    wait_for_status(&timed_out, RunStatus::Suspended).await;
    cancelled.cancel().await.unwrap();
    clock.advance(Duration::from_secs(3600));
    assert!(matches!(
        timed_out.result().await,
        Err(Error::RunTimedOut { .. })
    ));
    // Both past the sleep's wake time.
    clock.advance(Duration::from_secs(2 * 3600));
    for run in [&cancelled, &timed_out] {
        let steps = run.steps().await.unwrap();
        assert_eq!(steps[0].name, "nap");
        assert_eq!(
            steps[0].status,
            StepStatus::Sleeping,
            "the sleep of the {} run",
            run.status().await.unwrap()
        );
        assert_eq!(steps[0].output, None);
    }
}
