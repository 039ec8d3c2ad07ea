//! `GET /metrics` in the Prometheus (OpenMetrics) text format, through the
//! `prometheus-client` crate.
//!
//! Two kinds of figure, from two sources:
//! - counted from the engine's change feed ([`durable::Engine::changes`])
//!   since the console was built: runs started (first executions),
//!   completed, failed, timed out and cancelled, by workflow, and step
//!   latency (first attempt's start to the end) and attempts, by workflow,
//!   as histograms. They count what this console's engine commits: a
//!   console embedded in a worker counts that worker's runs; a standalone
//!   console, whose engine executes nothing, counts only the cancels and
//!   retries it makes itself. Counters start at zero with the console,
//!   as Prometheus expects of counters.
//! - read from the database at each scrape, so true of every worker on
//!   it: runs pending, running and suspended by workflow, the runs waiting
//!   for a version no live worker serves by workflow and version
//!   (`durable_runs_unserved`, `version=""` for runs not pinned yet), and
//!   the age of the oldest due pending run.

use std::sync::{Arc, Weak};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use durable::{ChangeKind, ChangesError, RunStatus, StepStatus};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::error::ApiError;
use crate::routes::AppState;

/// The label of every per-workflow figure.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkflowLabel {
    workflow: String,
}

/// The label of the unserved runs: the workflow and the pinned version.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    workflow: String,
    version: String,
}

type Histograms = Family<WorkflowLabel, Histogram, fn() -> Histogram>;

fn step_seconds() -> Histogram {
    // 1 ms to about 65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

fn step_attempts() -> Histogram {
    Histogram::new([1.0, 2.0, 3.0, 5.0, 10.0, 20.0])
}

/// The console's figures.
pub(crate) struct Metrics {
    registry: Registry,
    started: Family<WorkflowLabel, Counter>,
    completed: Family<WorkflowLabel, Counter>,
    failed: Family<WorkflowLabel, Counter>,
    timed_out: Family<WorkflowLabel, Counter>,
    cancelled: Family<WorkflowLabel, Counter>,
    step_seconds: Histograms,
    step_attempts: Histograms,
    missed: Counter,
    pending: Family<WorkflowLabel, Gauge>,
    running: Family<WorkflowLabel, Gauge>,
    suspended: Family<WorkflowLabel, Gauge>,
    unserved: Family<VersionLabel, Gauge>,
    oldest_pending: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl Metrics {
    /// The figures, registered, all zero.
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("durable");
        let metrics = Metrics {
            registry: Registry::default(),
            started: Family::default(),
            completed: Family::default(),
            failed: Family::default(),
            timed_out: Family::default(),
            cancelled: Family::default(),
            step_seconds: Family::new_with_constructor(step_seconds),
            step_attempts: Family::new_with_constructor(step_attempts),
            missed: Counter::default(),
            pending: Family::default(),
            running: Family::default(),
            suspended: Family::default(),
            unserved: Family::default(),
            oldest_pending: Gauge::default(),
        };
        let counted = " (counted from this console's engine since it started)";
        for (name, help, family) in [
            (
                "runs_started",
                "Runs a worker started for the first time",
                &metrics.started,
            ),
            ("runs_completed", "Runs that completed", &metrics.completed),
            ("runs_failed", "Runs that failed", &metrics.failed),
            (
                "runs_timed_out",
                "Runs that passed their timeout",
                &metrics.timed_out,
            ),
            (
                "runs_cancelled",
                "Runs that were cancelled",
                &metrics.cancelled,
            ),
        ] {
            registry.register(name, format!("{help}{counted}"), family.clone());
        }
        registry.register(
            "step_duration_seconds",
            format!("From a step's first attempt to its end{counted}"),
            metrics.step_seconds.clone(),
        );
        registry.register(
            "step_attempts",
            format!("Attempts a step took, at its end{counted}"),
            metrics.step_attempts.clone(),
        );
        registry.register(
            "console_feed_missed",
            "Changes the console's counters missed because it fell behind the engine",
            metrics.missed.clone(),
        );
        for (name, help, family) in [
            (
                "runs_pending",
                "Runs waiting for a worker, due or delayed (read at scrape)",
                &metrics.pending,
            ),
            (
                "runs_running",
                "Runs a worker holds (read at scrape)",
                &metrics.running,
            ),
            (
                "runs_suspended",
                "Runs waiting for a timer, an event or a child (read at scrape)",
                &metrics.suspended,
            ),
        ] {
            registry.register(name, help, family.clone());
        }
        registry.register(
            "runs_unserved",
            "Runs pending, running or suspended on a version that no live worker serves; version \"\" for runs not pinned yet, of a workflow no live worker serves (read at scrape)",
            metrics.unserved.clone(),
        );
        registry.register(
            "oldest_pending_run_age_seconds",
            "How long the pending run due longest has waited for a worker; 0 when none is due (read at scrape)",
            metrics.oldest_pending.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    /// Counts one change of the feed.
    fn count(&self, change: &durable::RunChange) {
        let label = WorkflowLabel {
            workflow: change.workflow.to_string(),
        };
        match &change.kind {
            ChangeKind::Status { status, execution } => {
                let family = match status {
                    RunStatus::Running if *execution == Some(1) => &self.started,
                    RunStatus::Completed => &self.completed,
                    RunStatus::Failed => &self.failed,
                    RunStatus::TimedOut => &self.timed_out,
                    RunStatus::Cancelled => &self.cancelled,
                    _ => return,
                };
                family.get_or_create(&label).inc();
            }
            ChangeKind::Step {
                status: StepStatus::Completed | StepStatus::Failed,
                attempts,
                duration_ms,
                ..
            } => {
                if let Some(ms) = duration_ms {
                    self.step_seconds
                        .get_or_create(&label)
                        .observe(*ms as f64 / 1000.0);
                }
                self.step_attempts
                    .get_or_create(&label)
                    .observe(f64::from(*attempts));
            }
            _ => {}
        }
    }
}

/// Counts the engine's changes into `metrics` until the engine stops or
/// the console (its last router) is gone.
pub(crate) fn follow(engine: &durable::Engine, metrics: &Arc<Metrics>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        // Without a runtime nothing can serve the router either.
        return;
    };
    let mut changes = engine.changes();
    let metrics: Weak<Metrics> = Arc::downgrade(metrics);
    runtime.spawn(async move {
        loop {
            let change = changes.recv().await;
            let Some(metrics) = metrics.upgrade() else {
                return;
            };
            match change {
                // Each process counts its own: summed over the processes,
                // another's counted here too would count twice.
                Ok(change) if change.remote => {}
                Ok(change) => metrics.count(&change),
                Err(ChangesError::Lagged { missed }) => {
                    metrics.missed.inc_by(missed);
                }
                // Only other processes' changes were missed: not counted.
                Err(ChangesError::Interrupted) => {}
                Err(ChangesError::Closed) => return,
            }
        }
    });
}

/// `GET /metrics`.
pub(crate) async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let metrics = &state.metrics;
    let counts = state.engine.count_runs().await?;
    let oldest = state.engine.oldest_pending_age().await?;
    let unserved = state.engine.unserved_runs().await?;
    for family in [&metrics.pending, &metrics.running, &metrics.suspended] {
        family.clear();
    }
    metrics.unserved.clear();
    for group in unserved {
        let label = VersionLabel {
            workflow: group.workflow,
            version: group.version.unwrap_or_default(),
        };
        metrics
            .unserved
            .get_or_create(&label)
            .set(i64::try_from(group.runs).unwrap_or(i64::MAX));
    }
    for count in counts {
        let family = match count.status {
            RunStatus::Pending => &metrics.pending,
            RunStatus::Running => &metrics.running,
            RunStatus::Suspended => &metrics.suspended,
            _ => continue,
        };
        let label = WorkflowLabel {
            workflow: count.workflow,
        };
        family
            .get_or_create(&label)
            .set(i64::try_from(count.count).unwrap_or(i64::MAX));
    }
    metrics
        .oldest_pending
        .set(oldest.map_or(0.0, |age| age.as_secs_f64()));
    let mut text = String::new();
    // Writing into a String does not fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &metrics.registry);
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    ))
}
