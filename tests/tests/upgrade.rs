//! Upgrade in place: a SQLite database written by the landed release
//! (`tests/fixtures/landed-release.sqlite`, see `tests/fixtures/README.md`),
//! and a PostgreSQL schema of that release loaded from its dump
//! (`tests/fixtures/landed-release-postgres.sql`), open with this checkout's
//! engine, their finished runs read back as they were, and their suspended
//! runs go on from where they stopped, without running any step body again.

use std::time::Duration;

use durable::StepStatus;
use durable::prelude::*;
use durable_tests::fixture_workflows::{
    BeforeAndAfter, GO_EVENT, Manifest, POSTGRES_FIXTURE, POSTGRES_MANIFEST, SCHEMA_PLACEHOLDER,
    Shipped, WRITTEN_AT_MS, fixture_path, fixtures_dir, manifest_path, process_token, register_all,
};
use durable_tests::{Scratch, postgres_url, unique_schema, wait_for_status};

/// How long a resumed run may take on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(10);

fn manifest(path: std::path::PathBuf) -> Manifest {
    let text = std::fs::read_to_string(path).expect("read the fixture's manifest");
    serde_json::from_str(&text).expect("parse the fixture's manifest")
}

/// A copy of the fixture in a scratch directory: the committed file stays
/// as the release wrote it.
fn copy_of_fixture(scratch: &Scratch) -> std::path::PathBuf {
    let path = scratch.join("landed-release.sqlite");
    std::fs::copy(fixture_path(), &path).expect("copy the fixture");
    path
}

/// Each step as (name, status, attempts, output).
async fn steps_of<O: serde::de::DeserializeOwned>(
    run: &RunHandle<O>,
) -> Vec<(String, StepStatus, u32, Option<serde_json::Value>)> {
    run.steps()
        .await
        .expect("steps")
        .into_iter()
        .map(|step| (step.name, step.status, step.attempts, step.output))
        .collect()
}

/// Each log line as (level, message).
async fn logs_of<O: serde::de::DeserializeOwned>(run: &RunHandle<O>) -> Vec<(String, String)> {
    run.logs()
        .await
        .expect("logs")
        .into_iter()
        .map(|line| (line.level.as_str().to_owned(), line.message))
        .collect()
}

fn step(
    name: &str,
    status: StepStatus,
    output: Option<serde_json::Value>,
) -> (String, StepStatus, u32, Option<serde_json::Value>) {
    (name.to_owned(), status, 1, output)
}

#[tokio::test]
async fn a_database_of_the_landed_release_opens_and_its_runs_go_on() {
    let scratch = Scratch::new("upgrade");
    let database = copy_of_fixture(&scratch);
    the_landed_runs_go_on(manifest(manifest_path()), || {
        durable::Engine::builder().sqlite_file(&database)
    })
    .await;
}

/// The same on PostgreSQL: the landed release's schema and rows, loaded into
/// a fresh schema, are migrated by this engine as it opens.
#[tokio::test]
async fn a_postgres_schema_of_the_landed_release_opens_and_its_runs_go_on() {
    use sqlx::Connection;
    let Some(url) = postgres_url() else { return };
    let schema = unique_schema("upgrade");
    let dump = std::fs::read_to_string(fixtures_dir().join(POSTGRES_FIXTURE))
        .expect("read the PostgreSQL fixture");
    let mut connection = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(&dump.replace(SCHEMA_PLACEHOLDER, &schema))
        .execute(&mut connection)
        .await
        .expect("the fixture loads");
    // pg_dump's statements empty the session's search path.
    connection.close().await.unwrap();
    let mut connection = sqlx::PgConnection::connect(&url).await.unwrap();
    assert_eq!(
        migrations(&mut connection, &schema).await,
        [1, 2],
        "the fixture is of the landed schema"
    );
    the_landed_runs_go_on(manifest(fixtures_dir().join(POSTGRES_MANIFEST)), || {
        durable::Engine::builder()
            .postgres(&url)
            .postgres_schema(&schema)
    })
    .await;
    let upgraded = migrations(&mut connection, &schema).await;
    assert!(
        upgraded.starts_with(&[1, 2]),
        "the migrations went on from the landed ones: {upgraded:?}"
    );
}

/// The schema's applied migrations, in order.
async fn migrations(connection: &mut sqlx::PgConnection, schema: &str) -> Vec<i64> {
    let sql = format!("SELECT version FROM {schema}.wf_migration ORDER BY version");
    sqlx::query_scalar(&sql)
        .fetch_all(connection)
        .await
        .expect("read the applied migrations")
}

/// Opens the landed release's runs (named by `manifest`) with engines from
/// `builder`: the finished ones read back, the suspended ones go on, and the
/// upgraded database opens again.
async fn the_landed_runs_go_on(manifest: Manifest, builder: impl Fn() -> durable::EngineBuilder) {
    let written_by = manifest.written_by.clone();
    let here = process_token();
    assert_ne!(written_by, here);
    let engine = register_all(builder())
        .start()
        .await
        .expect("the landed release's database opens");

    // The completed run reads back with its output, steps and logs.
    let completed = engine.run_handle::<Shipped>(manifest.completed);
    let shipped = completed
        .result()
        .await
        .expect("the completed run's output");
    assert_eq!(
        shipped,
        Shipped {
            order: "order-7".into(),
            items: 3,
            request_id: shipped.request_id,
            charged_by: written_by.clone(),
            label: "order-7: 3 items".into(),
        }
    );
    // Steps written before the store kept step times get them from their
    // rows: started when written, ended then if they completed or failed.
    let detail = engine.run_detail(manifest.completed).await.unwrap();
    assert!(
        detail.steps.iter().all(|step| {
            (step.started_at, step.ended_at) == (Some(WRITTEN_AT_MS), Some(WRITTEN_AT_MS))
        }),
        "{:?}",
        detail.steps
    );
    let info = completed.info().await.unwrap();
    assert_eq!(
        (info.workflow.as_str(), info.status, info.executions),
        ("fixture-completed", RunStatus::Completed, 1)
    );
    assert_eq!(info.input, json!("order-7"));
    assert_eq!(info.created_at, WRITTEN_AT_MS);
    assert_eq!(
        steps_of(&completed).await,
        [
            step("reserve", StepStatus::Completed, Some(json!(3))),
            step(
                "request-id",
                StepStatus::Completed,
                Some(json!(shipped.request_id))
            ),
            step("charge", StepStatus::Completed, Some(json!(written_by))),
            step(
                "ship",
                StepStatus::Completed,
                Some(json!("order-7: 3 items"))
            ),
        ]
    );
    assert_eq!(
        logs_of(&completed).await,
        [
            ("info".to_owned(), "reserved".to_owned()),
            ("progress".to_owned(), "charged".to_owned()),
        ]
    );

    // The failed run reads back with its error and the step that failed.
    let failed = engine.run_handle::<()>(manifest.failed);
    let error = failed.result().await.unwrap_err().to_string();
    assert!(error.contains("card declined"), "{error}");
    assert_eq!(failed.status().await.unwrap(), RunStatus::Failed);
    let steps = failed.steps().await.unwrap();
    assert_eq!(
        steps
            .iter()
            .map(|step| (step.name.as_str(), step.status, step.attempts))
            .collect::<Vec<_>>(),
        [
            ("prepare", StepStatus::Completed, 1),
            ("charge", StepStatus::Failed, 1)
        ]
    );
    assert_eq!(steps[0].output, Some(json!(written_by)));
    let step_error = steps[1].error.as_deref().unwrap_or_default();
    assert!(step_error.contains("card declined"), "{step_error}");
    // Written before attempt times were kept: no attempt log, not an error.
    assert!(steps.iter().all(|step| step.attempt_log.is_empty()));
    let detail = engine.run_detail(manifest.failed).await.unwrap();
    assert!(detail.steps.iter().all(|step| step.attempt_log.is_empty()));
    assert_eq!(
        logs_of(&failed).await,
        [("warn".to_owned(), "charging a doubtful card".to_owned())]
    );

    // The sleep ended long ago: the run wakes and finishes here, from the
    // step after the sleep.
    let sleeping = engine.run_handle::<BeforeAndAfter>(manifest.sleeping);
    let woke = tokio::time::timeout(PATIENCE, sleeping.result())
        .await
        .expect("the sleeping run resumed")
        .expect("the sleeping run's output");
    assert_eq!(
        woke,
        BeforeAndAfter {
            before: written_by.clone(),
            after: here.clone(),
            event: None,
        }
    );
    assert_eq!(
        steps_of(&sleeping).await,
        [
            step("before", StepStatus::Completed, Some(json!(written_by))),
            (
                "nap".to_owned(),
                StepStatus::Completed,
                0,
                Some(json!(null))
            ),
            step("after", StepStatus::Completed, Some(json!(here))),
        ]
    );
    assert_eq!(
        logs_of(&sleeping).await,
        [("info".to_owned(), "going to sleep".to_owned())],
        "the log line before the sleep landed again"
    );

    // The waiting run waits on until its event comes.
    let waiting = engine.run_handle::<BeforeAndAfter>(manifest.waiting);
    wait_for_status(&waiting, RunStatus::Suspended).await;
    engine.send_event(GO_EVENT, "go").await.unwrap();
    let went = tokio::time::timeout(PATIENCE, waiting.result())
        .await
        .expect("the waiting run resumed")
        .expect("the waiting run's output");
    assert_eq!(
        went,
        BeforeAndAfter {
            before: written_by.clone(),
            after: here.clone(),
            event: Some("go".into()),
        }
    );
    let steps = steps_of(&waiting).await;
    assert_eq!(
        steps[0],
        step("before", StepStatus::Completed, Some(json!(written_by)))
    );
    assert_eq!(
        (steps[1].0.as_str(), steps[1].1),
        ("go", StepStatus::Completed)
    );
    assert_eq!(
        steps[2],
        step("after", StepStatus::Completed, Some(json!(here)))
    );
    engine.shutdown().await;
    drop(engine);

    // The upgraded file opens again, with every run as this engine left it.
    let engine = register_all(builder())
        .start()
        .await
        .expect("the upgraded database opens again");
    for (id, status) in [
        (manifest.completed, RunStatus::Completed),
        (manifest.failed, RunStatus::Failed),
        (manifest.sleeping, RunStatus::Completed),
        (manifest.waiting, RunStatus::Completed),
    ] {
        let run = engine.run_handle::<serde_json::Value>(id);
        assert_eq!(run.status().await.unwrap(), status, "run {id}");
    }
    assert_eq!(
        engine
            .run_handle::<Shipped>(manifest.completed)
            .result()
            .await
            .unwrap(),
        shipped
    );
    engine.shutdown().await;
}

#[test]
fn the_fixture_is_one_small_file() {
    let size = std::fs::metadata(fixture_path())
        .expect("the fixture is committed")
        .len();
    assert!(size < 200 * 1024, "the fixture is {size} bytes");
    for suffix in ["-wal", "-shm"] {
        let mut side = fixture_path().into_os_string();
        side.push(suffix);
        assert!(
            !std::path::Path::new(&side).exists(),
            "{} is beside the fixture",
            side.display()
        );
    }
}
