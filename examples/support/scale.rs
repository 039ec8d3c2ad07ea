//! The bench's W5 (one fan-out over many items) and W6 (one run with a long
//! journal, crashed at its end and resumed): their workflows and what they
//! measure.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use durable::prelude::*;
use durable::{EngineBuilder, FanOut};

/// The items W5 maps over.
pub(crate) const W5_ITEMS: u32 = 10_000;

/// The branches W5 runs at once.
const W5_CONCURRENCY: usize = 100;

/// The sequential steps W6's run records before it is crashed.
pub(crate) const W6_STEPS: u32 = 10_000;

/// The steps of the run W6 runs first, on the same database.
const W6_WARM_UP: u32 = 1_000;

/// The steps at each end of W6's journal whose cost is compared.
const W6_WINDOW: usize = 1_000;

#[workflow(name = "bench-fan-out")]
async fn fan_out_items(ctx: Ctx, items: u32) -> Result<u64, Error> {
    let doubled: Vec<u64> = ctx
        .map(
            "double",
            0..items,
            FanOut::new().concurrency(W5_CONCURRENCY),
            async |ctx, item| {
                ctx.run("double", async || Ok::<_, StepError>(u64::from(item) * 2))
                    .await
            },
        )
        .await?;
    Ok(doubled.iter().sum())
}

/// When each of W6's steps began its body, in order (bodies run only once:
/// a replay answers them from the journal).
static W6_BEGUN: Mutex<Vec<Instant>> = Mutex::new(Vec::new());

/// Whether W6's last step may finish; until then it waits for ever, so the
/// run is still running, its `steps` recorded, when the engine is stopped.
static W6_RELEASED: AtomicBool = AtomicBool::new(false);

/// Told when W6's last step begins, that is when every step before it is
/// committed.
static W6_AT_END: tokio::sync::Notify = tokio::sync::Notify::const_new();

#[workflow(name = "bench-long-journal")]
async fn long_journal(ctx: Ctx, steps: u32) -> Result<u32, Error> {
    let mut total = 0;
    for i in 0..steps {
        total += ctx
            .run(("step", i), async || {
                W6_BEGUN.lock().expect("poisoned").push(Instant::now());
                Ok::<_, StepError>(1u32)
            })
            .await?;
    }
    total += ctx
        .run("last", async || {
            if !W6_RELEASED.load(Ordering::Acquire) {
                W6_AT_END.notify_one();
                std::future::pending::<()>().await;
            }
            Ok::<_, StepError>(1u32)
        })
        .await?;
    Ok(total)
}

/// Registers W5's and W6's workflows.
pub(crate) fn register(builder: EngineBuilder) -> EngineBuilder {
    builder.register(FanOutItems).register(LongJournal)
}

/// The process's peak resident memory since the last [`reset_peak_rss`], in
/// MiB (Linux's `VmHWM`), or 0 where unknown.
pub(crate) fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

/// The process's resident memory now, in MiB (`VmRSS`), or 0 where unknown.
pub(crate) fn resident_mib() -> f64 {
    status_mib("VmRSS:")
}

fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with(field))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Sets the peak resident memory back to the memory resident now (Linux
/// 4.0+: writing 5 to `clear_refs`), so that the peak read after a workload
/// is that workload's, not an earlier one's. Returns whether it could.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// What W5 measured.
pub(crate) struct FanOutFigures {
    /// Items mapped per second, trigger to result.
    pub(crate) items_per_s: f64,
    /// The peak resident memory while the run ran, MiB (0 where unknown).
    pub(crate) peak_mib: f64,
    /// The resident memory before the run, MiB.
    pub(crate) before_mib: f64,
}

/// W5: one run mapping over [`W5_ITEMS`] items, [`W5_CONCURRENCY`] at once,
/// each branch one step.
pub(crate) async fn workload_w5(builder: EngineBuilder) -> anyhow::Result<FanOutFigures> {
    let engine = register(builder).start().await?;
    FanOutItems::trigger(&engine, 100)
        .await?
        .result()
        .await
        .context("W5 warm-up")?;
    let before_mib = resident_mib();
    // Without the reset the peak would be an earlier workload's: unknown.
    let peak_known = reset_peak_rss();
    let started = Instant::now();
    let run = FanOutItems::trigger(&engine, W5_ITEMS).await?;
    let total = run.result().await?;
    let elapsed = started.elapsed();
    let peak_mib = if peak_known { peak_rss_mib() } else { 0.0 };
    let n = u64::from(W5_ITEMS);
    anyhow::ensure!(total == n * (n - 1), "W5 summed {total}");
    // Every branch's step is recorded: the figure counts durable steps.
    let branches = run
        .steps()
        .await?
        .iter()
        .filter(|step| step.name.ends_with("]/double"))
        .count();
    anyhow::ensure!(
        branches == W5_ITEMS as usize,
        "W5 recorded {branches} branch steps"
    );
    engine.shutdown().await;
    Ok(FanOutFigures {
        items_per_s: f64::from(W5_ITEMS) / elapsed.as_secs_f64(),
        peak_mib,
        before_mib,
    })
}

/// What W6 measured.
pub(crate) struct JournalFigures {
    /// The mean and the median cost of one of the first [`W6_WINDOW`]
    /// steps, ms (the median is the figure to compare: other processes'
    /// bursts on a shared machine move the mean).
    pub(crate) first_ms: (f64, f64),
    /// The same for the last [`W6_WINDOW`] steps.
    pub(crate) last_ms: (f64, f64),
    /// From starting a new engine on the crashed run's database to the
    /// run's result.
    pub(crate) resume: Duration,
}

/// W6: one run of [`W6_STEPS`] sequential steps, stopped while its last step
/// runs (the engine stops without the run finishing, which hands the run
/// back); then a new engine on the same database resumes it: it replays the
/// recorded steps and runs the last one.
pub(crate) async fn workload_w6(
    builder: impl Fn() -> EngineBuilder,
) -> anyhow::Result<JournalFigures> {
    W6_BEGUN.lock().expect("poisoned").clear();
    W6_RELEASED.store(false, Ordering::Release);
    let engine = register(builder()).start().await?;
    // On empty tables (a fresh SQLite file) the first thousand steps cost
    // about 30% less than every later thousand; a run before brings the
    // database to its steady state, so the windows differ only by the
    // journal's length.
    crate::ManySteps::trigger(&engine, W6_WARM_UP)
        .await?
        .result()
        .await
        .context("W6 warm-up")?;
    let run = LongJournal::trigger(&engine, W6_STEPS).await?;
    W6_AT_END.notified().await;
    let id = run.id();
    engine.shutdown().await;
    drop(run);
    drop(engine);
    let begun = std::mem::take(&mut *W6_BEGUN.lock().expect("poisoned"));
    anyhow::ensure!(
        begun.len() == W6_STEPS as usize,
        "W6 ran {} step bodies",
        begun.len()
    );
    // A step's cost: from its body's start to the next one's, which spans
    // its commit and the replay core's decision for the next step.
    let window_ms = |from: usize| {
        let mut costs: Vec<f64> = begun[from..=from + W6_WINDOW]
            .windows(2)
            .map(|pair| (pair[1] - pair[0]).as_secs_f64() * 1000.0)
            .collect();
        costs.sort_by(f64::total_cmp);
        let mean = costs.iter().sum::<f64>() / costs.len() as f64;
        (mean, costs[costs.len() / 2])
    };
    let (first_ms, last_ms) = (window_ms(0), window_ms(begun.len() - 1 - W6_WINDOW));

    W6_RELEASED.store(true, Ordering::Release);
    let started = Instant::now();
    let engine = register(builder()).start().await?;
    let total = engine.run_handle::<u32>(id).result().await?;
    let resume = started.elapsed();
    anyhow::ensure!(total == W6_STEPS + 1, "W6 resumed to {total}");
    let replayed = W6_BEGUN.lock().expect("poisoned").len();
    anyhow::ensure!(replayed == 0, "W6's resume re-ran {replayed} step bodies");
    engine.shutdown().await;
    Ok(JournalFigures {
        first_ms,
        last_ms,
        resume,
    })
}
