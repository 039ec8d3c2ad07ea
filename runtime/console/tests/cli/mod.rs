//! What the CLI tests share: the fixture workflows a worker engine in the
//! test process runs, the `durable` binary run as a process with the
//! arguments that say where the API is, and waiting for a run.

use std::process::Stdio;
use std::time::{Duration, Instant};

use durable::prelude::*;
// The workflow `cli.event` below makes a type `Event`, which shadows the
// prelude's trait: bring the trait in for `Paid::fields()`.
use durable::Event as _;
use durable::{EngineBuilder, RunId, RunStatus};
use serde_json::Value;

mod follow;
mod scenarios;
pub(crate) use follow::watch_follows_the_stream;
pub(crate) use scenarios::{operate, trigger_and_wait};

/// The input of `cli.order`; unknown fields are refused.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrderInput {
    pub(crate) order_id: String,
}

/// One step, then completes with a receipt.
#[workflow(name = "cli.order")]
pub(crate) async fn order(ctx: Ctx, input: OrderInput) -> Result<String, Error> {
    let order_id = input.order_id.clone();
    ctx.run("charge", async || {
        Ok::<_, StepError>(format!("receipt-{order_id}"))
    })
    .await
}

/// Fails for good in its one step, with `reason`.
#[workflow(name = "cli.fail")]
pub(crate) async fn fail(ctx: Ctx, reason: String) -> Result<(), Error> {
    ctx.run("boom", async || Err::<(), _>(StepError::permanent(&reason)))
        .await
}

/// Suspends until the signal `approve`, for an hour at most.
#[workflow(name = "cli.wait")]
pub(crate) async fn wait(ctx: Ctx, label: String) -> Result<String, Error> {
    let approved: Option<bool> = ctx.listen("approval", "approve").timeout("1h").await?;
    Ok(format!("{label}: {approved:?}"))
}

/// In the queue `billing`, which the tests' workers do not serve: its runs
/// stay pending.
#[workflow(name = "cli.billing", queue = "billing")]
pub(crate) async fn billing(ctx: Ctx, label: String) -> Result<String, Error> {
    ctx.run("bill", async || Ok::<_, StepError>(label.clone()))
        .await
}

/// The typed event `cli.paid`: its schema is in the catalog.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, durable::Event)]
#[event(name = "cli.paid")]
pub(crate) struct Paid {
    pub(crate) order: u32,
    pub(crate) cents: u64,
}

/// Suspends until the event `cli.paid` for `order`; answers its cents.
#[workflow(name = "cli.event")]
pub(crate) async fn event(ctx: Ctx, order: u32) -> Result<u64, Error> {
    let paid = ctx
        .wait_for::<Paid>("paid")
        .matching_field(Paid::fields().order, order)
        .timeout("1h")
        .await?;
    Ok(paid.map_or(0, |paid| paid.cents))
}

/// `builder` with the fixture workflows.
pub(crate) fn register(builder: EngineBuilder) -> EngineBuilder {
    builder
        .register(Order)
        .register(Fail)
        .register(Wait)
        .register(Event)
        .register(Billing)
}

/// The `durable` binary with the arguments that say where the API is.
#[derive(Debug, Clone)]
pub(crate) struct Cli {
    target: Vec<String>,
}

/// What one run of the binary did.
#[derive(Debug)]
pub(crate) struct Out {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Out {
    /// Stdout as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("stdout is not JSON ({error}): {self:?}"))
    }

    /// Checks the exit code; answers `self` for more checks.
    pub(crate) fn code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "{self:?}");
        self
    }
}

impl Cli {
    /// The CLI on a serving console.
    pub(crate) fn api(url: &str, token: &str) -> Self {
        Cli {
            target: vec!["--api".into(), url.into(), "--token".into(), token.into()],
        }
    }

    /// The CLI with `args` as its target options (none: it has no target).
    pub(crate) fn with_args(args: &[&str]) -> Self {
        Cli {
            target: args.iter().map(|arg| (*arg).to_owned()).collect(),
        }
    }

    /// The CLI on a database of its own opening.
    pub(crate) fn database(db: &durable_tests::TestDb) -> Self {
        let target = match db {
            durable_tests::TestDb::Sqlite { path, .. } => {
                vec![
                    "--database-url".into(),
                    format!("sqlite://{}", path.display()),
                ]
            }
            durable_tests::TestDb::Postgres { url, schema } => vec![
                "--database-url".into(),
                url.clone(),
                "--schema".into(),
                schema.clone(),
            ],
        };
        Cli { target }
    }

    /// The process for `args`, with none of the CLI's variables from the
    /// environment the tests run in.
    pub(crate) fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_durable"));
        command.args(args).args(&self.target);
        for var in [
            "DURABLE_DATABASE_URL",
            "DURABLE_POSTGRES_SCHEMA",
            "DURABLE_API",
            "DURABLE_TOKEN",
        ] {
            command.env_remove(var);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Runs `durable ARGS` to its end (30 s at most).
    pub(crate) async fn run(&self, args: &[&str]) -> Out {
        let child = self
            .command(args)
            .spawn()
            .expect("the durable binary starts");
        finish(child, args).await
    }
}

/// Waits (30 s at most) for `child`, started with `args`, to end.
pub(crate) async fn finish(child: tokio::process::Child, args: &[&str]) -> Out {
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("durable {args:?} did not end in 30 s"))
        .expect("the durable binary ran");
    Out {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Waits (10 s at most) until the run has `status`, as its engine reads it.
pub(crate) async fn wait_for(engine: &Engine, id: RunId, status: RunStatus) {
    let started = Instant::now();
    loop {
        let now = engine.run(id).status().await.expect("status");
        if now == status {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "run {id} stayed {now}, expected {status}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// How many runs and events the database holds, to check that a refusal
/// wrote nothing.
pub(crate) async fn rows(engine: &Engine) -> (u64, usize) {
    let runs = engine.count_runs().await.expect("count_runs");
    let events = engine
        .list_events(&durable::EventFilter::new())
        .await
        .expect("list_events");
    (
        runs.iter().map(|count| count.count).sum(),
        events.events.len(),
    )
}
