//! The change feed across processes on PostgreSQL: what one engine commits
//! reaches the feed of another engine (here a client) on the same database,
//! in order, marked remote; an engine's own notes are not told twice; an
//! engine whose listening connection was lost tells its receivers, and
//! hears the others again once it listens anew.
//!
//! Needs `DURABLE_TEST_POSTGRES_URL`; skips with a notice without it.

use std::time::Duration;

use durable::prelude::*;
use durable::{ChangeKind, ChangesError};
use durable_tests::{TestDb, statuses, until_ended, until_relayed};
use sqlx::Connection;

#[workflow(name = "pg-changes.two-steps")]
async fn two_steps(ctx: Ctx, label: String) -> Result<String, Error> {
    let a: String = ctx
        .run("first", async || Ok::<_, StepError>(format!("{label}-a")))
        .await?;
    ctx.progress("between the steps");
    ctx.run("second", async || Ok::<_, StepError>(format!("{a}-b")))
        .await
}

#[tokio::test]
async fn a_worker_s_run_reaches_another_engine_s_feed_in_order() {
    let Some(db) = TestDb::postgres("pg_changes_order") else {
        return;
    };
    let worker = db.builder().register(TwoSteps).start().await.unwrap();
    let client = db.builder().client().await.unwrap();
    let mut theirs = client.changes();
    let mut own = worker.changes();
    // Each engine's first receiver asked the other to relay.
    until_relayed(&mut theirs).await;
    until_relayed(&mut own).await;
    let run = TwoSteps::trigger(&worker, "x".into()).await.unwrap();
    assert_eq!(run.result().await.unwrap(), "x-a-b");

    let told = until_ended(&mut theirs, run.id()).await;
    assert!(told.iter().all(|change| change.remote), "{told:?}");
    assert!(
        told.iter()
            .all(|change| &*change.workflow == "pg-changes.two-steps")
    );
    assert!(told.windows(2).all(|pair| pair[0].seq < pair[1].seq));
    // The client hears the statuses the worker's own feed tells, in order.
    let mine = until_ended(&mut own, run.id()).await;
    assert!(mine.iter().all(|change| !change.remote), "{mine:?}");
    assert_eq!(statuses(&told), statuses(&mine));
    assert_eq!(statuses(&told).last(), Some(&RunStatus::Completed));
    assert!(statuses(&told).contains(&RunStatus::Running));
    // Steps and the log line come as activity, before the run's end.
    let activity = told
        .iter()
        .position(|change| change.kind == ChangeKind::Activity)
        .expect("the steps' activity");
    assert!(activity < told.len() - 1);

    // The client's own write reaches the worker. The worker's notes of the
    // first run were sent before it (the client heard them), so had the
    // worker not skipped its own notes, their echo would come first.
    let second = client
        .trigger_json("pg-changes.two-steps", serde_json::json!("y"))
        .await
        .unwrap();
    loop {
        let change = tokio::time::timeout(Duration::from_secs(10), own.recv())
            .await
            .expect("a change within 10 s")
            .expect("the feed is open");
        assert!(
            !(change.remote && change.run_id == run.id()),
            "the worker's own change came back: {change:?}"
        );
        if change.remote && change.run_id == second.id() {
            assert_eq!(
                change.kind,
                ChangeKind::Status {
                    status: RunStatus::Pending,
                    execution: None
                }
            );
            break;
        }
    }
    worker.shutdown().await;
    client.shutdown().await;
}

#[tokio::test]
async fn a_lost_listener_is_told_and_listens_again() {
    let Some(db) = TestDb::postgres("pg_changes_relisten") else {
        return;
    };
    let TestDb::Postgres { url, schema } = &db else {
        unreachable!("a PostgreSQL database")
    };
    let worker = db.builder().register(TwoSteps).start().await.unwrap();
    // Named after the test's schema, so that only this engine's listener
    // is stopped, whatever other tests run on the server.
    let separator = if url.contains('?') { '&' } else { '?' };
    let client = Engine::builder()
        .postgres(format!("{url}{separator}application_name={schema}"))
        .postgres_schema(schema)
        .client()
        .await
        .unwrap();
    let mut theirs = client.changes();
    until_relayed(&mut theirs).await;

    // The listening connection says what it is, as an operator sees it.
    let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
    let stopped: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(format!("{schema} listener"))
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(stopped, [true], "one listener, stopped");

    // Its receivers hear that they may have missed changes...
    loop {
        match tokio::time::timeout(Duration::from_secs(10), theirs.recv())
            .await
            .expect("told of the lost connection within 10 s")
        {
            Err(ChangesError::Interrupted) => break,
            Ok(change) => assert!(change.remote, "{change:?}"),
            Err(other) => panic!("{other:?}"),
        }
    }
    // ...and, listening again, what the worker commits later.
    let run = TwoSteps::trigger(&worker, "after".into()).await.unwrap();
    assert_eq!(run.result().await.unwrap(), "after-a-b");
    let told = until_ended(&mut theirs, run.id()).await;
    assert!(told.iter().all(|change| change.remote), "{told:?}");
    assert_eq!(statuses(&told).last(), Some(&RunStatus::Completed));
    // The new connection has the name again.
    let listening: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1")
            .bind(format!("{schema} listener"))
            .fetch_one(&mut admin)
            .await
            .unwrap();
    assert_eq!(listening, 1);
    worker.shutdown().await;
    client.shutdown().await;
}

#[tokio::test]
async fn an_engine_sends_its_changes_only_while_another_process_wants_them() {
    let Some(db) = TestDb::postgres("pg_changes_wanted") else {
        return;
    };
    let TestDb::Postgres { url, schema } = &db else {
        unreachable!("a PostgreSQL database")
    };
    let mut notes = sqlx::postgres::PgListener::connect(url).await.unwrap();
    notes.listen("durable_changes").await.unwrap();
    // Notes about this test's schema (other tests share the server).
    let ours = |payload: &str| payload.contains(schema.as_str());
    let worker = db.builder().register(TwoSteps).start().await.unwrap();

    // Nobody outside the worker follows its changes: it sends none.
    let quiet = TwoSteps::trigger(&worker, "quiet".into()).await.unwrap();
    quiet.result().await.unwrap();
    let heard = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            let note = notes.recv().await.unwrap();
            if ours(note.payload()) {
                return note.payload().to_owned();
            }
        }
    })
    .await;
    assert!(heard.is_err(), "a note nobody wanted: {heard:?}");

    // A client follows them: the worker relays from then on.
    let client = db.builder().client().await.unwrap();
    let mut theirs = client.changes();
    until_relayed(&mut theirs).await;
    let run = TwoSteps::trigger(&worker, "heard".into()).await.unwrap();
    let told = until_ended(&mut theirs, run.id()).await;
    assert_eq!(statuses(&told).last(), Some(&RunStatus::Completed));
    let heard = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if ours(notes.recv().await.unwrap().payload()) {
                return;
            }
        }
    })
    .await;
    assert!(
        heard.is_ok(),
        "the worker's notes once a client wanted them"
    );
    worker.shutdown().await;
    client.shutdown().await;
}
