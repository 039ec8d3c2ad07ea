//! The bench's W7: W1 and C1 on tables that already hold 1,000,000 finished
//! runs and 100,000 suspended ones, written straight into the runs table as
//! L1's are.

use std::time::Duration;

use anyhow::Context as _;
use durable::EngineBuilder;

use crate::l1::{Database, loaded_runs, p50_p99};
use crate::w1::closed_loop;

/// The finished runs in the tables before W7 runs.
pub(crate) const W7_FINISHED: usize = 1_000_000;

/// The suspended runs in the tables before W7 runs, due in a day or two.
pub(crate) const W7_SUSPENDED: usize = 100_000;

/// The finished runs' statuses, in percent.
const FINISHED: &[(&str, u32)] = &[
    ("completed", 88),
    ("failed", 7),
    ("timed_out", 1),
    ("cancelled", 4),
];

/// The finished runs' workflows: W1's own first, so that its index ranges
/// hold most of them.
const FINISHED_WORKFLOWS: &[&str] = &["bench-three-steps", "checkout", "send-email", "charge-card"];

/// What W7 measured.
pub(crate) struct W7Figures {
    /// W1's runs per second, p50 and p99 latency in ms.
    pub(crate) w1: (f64, f64, f64),
    /// C1's p50 and p99 latency in ms.
    pub(crate) c1: (f64, f64),
    /// How long writing the runs took.
    pub(crate) load: Duration,
}

/// Loads W7's runs into `database` (fresh), then runs W1 and C1 on an
/// engine from `builder`, as `bench.rs` runs them on empty tables.
pub(crate) async fn workload_w7(
    database: &Database,
    builder: impl Fn() -> EngineBuilder,
) -> anyhow::Result<W7Figures> {
    let runs = loaded_runs(W7_FINISHED, FINISHED, FINISHED_WORKFLOWS, 7).chain(loaded_runs(
        W7_SUSPENDED,
        &[("suspended", 100)],
        &["bench-three-steps"],
        8,
    ));
    let (engine, load) = database
        .load_then_start(builder, runs)
        .await
        .context("W7 load")?;
    closed_loop(&engine, 200, 64).await.context("W7 warm-up")?;
    let (elapsed, mut latencies) = closed_loop(&engine, 2_000, 64).await.context("W7 W1")?;
    let (p50, p99) = p50_p99(&mut latencies);
    let w1 = (2_000.0 / elapsed.as_secs_f64(), p50, p99);
    closed_loop(&engine, 50, 1).await.context("W7 C1 warm-up")?;
    let (_, mut latencies) = closed_loop(&engine, 500, 1).await.context("W7 C1")?;
    let c1 = p50_p99(&mut latencies);
    engine.shutdown().await;
    Ok(W7Figures { w1, c1, load })
}
