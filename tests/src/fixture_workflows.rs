//! The workflows of the upgrade fixture (`tests/fixtures/landed-release.sqlite`):
//! the `write_fixture` binary runs them with the release that writes the file,
//! and `tests/upgrade.rs` opens the file with them registered. Their names and
//! steps must stay as they are: the fixture's unfinished runs replay against
//! the journal the release wrote.
//!
//! Every step body returns [`process_token`], so a step's output says which
//! process ran the body: the generator's for the steps before the fixture was
//! written, the test's for those after.

use std::path::PathBuf;
use std::sync::OnceLock;

use durable::prelude::*;
use durable::{LogLevel, RunId};

/// The event the `fixture-waiting` run waits for.
pub const GO_EVENT: &str = "fixture.go";

/// The time on the generator's `ManualClock`, standing still while it runs:
/// fixed, so the file's times are, and long past on any machine that opens
/// the fixture.
pub const WRITTEN_AT_MS: i64 = 1_700_000_000_000;

/// How long the `fixture-sleeping` run sleeps: longer than the engine's
/// default `keep_in_memory_below` (1 s), so it is suspended in the file, and
/// over since `WRITTEN_AT_MS` + 2 s by the time a test opens it.
pub const NAP: &str = "2s";

/// The SQLite fixture's file name.
pub const SQLITE_FIXTURE: &str = "landed-release.sqlite";

/// The SQLite fixture's manifest: which run is which.
pub const SQLITE_MANIFEST: &str = "landed-release.json";

/// The PostgreSQL fixture's file name: SQL statements that create a schema
/// named [`SCHEMA_PLACEHOLDER`] and fill it.
pub const POSTGRES_FIXTURE: &str = "landed-release-postgres.sql";

/// The PostgreSQL fixture's manifest.
pub const POSTGRES_MANIFEST: &str = "landed-release-postgres.json";

/// What stands for the schema's name in [`POSTGRES_FIXTURE`].
pub const SCHEMA_PLACEHOLDER: &str = "__durable_fixture_schema__";

/// The directory of the committed fixtures.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The fixture database, as committed.
pub fn fixture_path() -> PathBuf {
    fixtures_dir().join(SQLITE_FIXTURE)
}

/// The manifest written beside the fixture: which run is which.
pub fn manifest_path() -> PathBuf {
    fixtures_dir().join(SQLITE_MANIFEST)
}

/// A token unique to this process, the same for every call in it.
pub fn process_token() -> String {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN
        .get_or_init(|| durable::Uuid::new_v4().to_string())
        .clone()
}

/// What the generator wrote into the fixture, for the test to find its runs.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// The generator's [`process_token`]: the output of every step body it ran.
    pub written_by: String,
    /// The `fixture-completed` run, finished.
    pub completed: RunId,
    /// The `fixture-failed` run, failed at its second step.
    pub failed: RunId,
    /// The `fixture-sleeping` run, suspended in its sleep.
    pub sleeping: RunId,
    /// The `fixture-waiting` run, suspended waiting for [`GO_EVENT`].
    pub waiting: RunId,
}

/// The output of `fixture-completed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shipped {
    /// The order, from the input.
    pub order: String,
    /// The output of the `reserve` step.
    pub items: u32,
    /// The value recorded by `ctx.uuid("request-id")`.
    pub request_id: durable::Uuid,
    /// The output of the `charge` step: the process that ran it.
    pub charged_by: String,
    /// The output of the `ship` step.
    pub label: String,
}

/// Several completed steps, a recorded value, a log line and a progress
/// line; finishes in the generator.
#[workflow(name = "fixture-completed")]
pub async fn fixture_completed(ctx: Ctx, order: String) -> Result<Shipped, Error> {
    let items: u32 = ctx.run("reserve", async || Ok::<_, StepError>(3)).await?;
    ctx.log(LogLevel::Info, "reserved", json!({ "items": items }));
    let request_id = ctx.uuid("request-id").await?;
    let charged_by: String = ctx
        .run("charge", async || Ok::<_, StepError>(process_token()))
        .await?;
    ctx.progress("charged");
    let label: String = ctx
        .run("ship", async || {
            Ok::<_, StepError>(format!("{order}: {items} items"))
        })
        .await?;
    Ok(Shipped {
        order,
        items,
        request_id,
        charged_by,
        label,
    })
}

/// A completed step, then one failing permanently: fails in the generator.
#[workflow(name = "fixture-failed")]
pub async fn fixture_failed(ctx: Ctx) -> Result<(), Error> {
    let _prepared_by: String = ctx
        .run("prepare", async || Ok::<_, StepError>(process_token()))
        .await?;
    ctx.log(LogLevel::Warn, "charging a doubtful card", ());
    ctx.step("charge")
        .retry(Retry::none())
        .run(async || Err::<(), _>(StepError::permanent("card declined")))
        .await
}

/// The outputs of the steps either side of a suspension: which process ran
/// each body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BeforeAndAfter {
    /// The output of the step before the suspension.
    pub before: String,
    /// The output of the step after it.
    pub after: String,
    /// The event's data, for `fixture-waiting`.
    pub event: Option<String>,
}

/// A step, a log line, then a durable sleep of [`NAP`]: the generator
/// leaves it suspended in the sleep.
#[workflow(name = "fixture-sleeping")]
pub async fn fixture_sleeping(ctx: Ctx) -> Result<BeforeAndAfter, Error> {
    let before: String = ctx
        .run("before", async || Ok::<_, StepError>(process_token()))
        .await?;
    ctx.log(LogLevel::Info, "going to sleep", ());
    ctx.sleep("nap", NAP).await?;
    let after: String = ctx
        .run("after", async || Ok::<_, StepError>(process_token()))
        .await?;
    Ok(BeforeAndAfter {
        before,
        after,
        event: None,
    })
}

/// A step, then a wait for [`GO_EVENT`] without a timeout: the generator
/// leaves it suspended in the wait.
#[workflow(name = "fixture-waiting")]
pub async fn fixture_waiting(ctx: Ctx) -> Result<BeforeAndAfter, Error> {
    let before: String = ctx
        .run("before", async || Ok::<_, StepError>(process_token()))
        .await?;
    let event: Option<String> = ctx.wait_for_event("go", GO_EVENT).await?;
    let after: String = ctx
        .run("after", async || Ok::<_, StepError>(process_token()))
        .await?;
    Ok(BeforeAndAfter {
        before,
        after,
        event,
    })
}

/// An engine builder with the fixture's workflows registered.
pub fn register_all(builder: durable::EngineBuilder) -> durable::EngineBuilder {
    builder
        .register(FixtureCompleted)
        .register(FixtureFailed)
        .register(FixtureSleeping)
        .register(FixtureWaiting)
}
