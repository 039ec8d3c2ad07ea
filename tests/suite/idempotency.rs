//! Idempotency keys: one run per key even under concurrent triggers, a
//! conflict for other input, and no slot kept by a trigger that finds its run.

use std::time::Duration;

use durable::prelude::*;

use super::durable_sleep::Sleepy;

#[tokio::test]
async fn an_idempotency_key_returns_the_same_run_even_under_100_concurrent_triggers() {
    let db = test_db!();
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
    let db = test_db!();
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
