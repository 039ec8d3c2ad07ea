//! Maintenance: ends runs past their deadline that no worker claims, and
//! deletes finished runs and events past their retention period.

use std::sync::Arc;
use std::time::Duration;

use crate::core::retention::Retention;
use crate::engine::core::EngineCore;
use crate::model::duration::millis;
use crate::model::error::Error;
use crate::store::DeleteFinished;

/// How often every engine deletes what its retention periods let go.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(60);

/// Rows one delete removes at most, so maintenance never holds the writer long.
const RETENTION_BATCH: usize = 1_000;

/// Runs the maintenance every [`MAINTENANCE_INTERVAL`], forever.
pub(crate) async fn maintenance_loop(core: Arc<EngineCore>) {
    loop {
        tokio::time::sleep(MAINTENANCE_INTERVAL).await;
        if let Err(error) = run_maintenance(&core).await {
            tracing::warn!(%error, "maintenance failed; will try again");
        }
    }
}

/// What one maintenance pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MaintenanceReport {
    /// Runs ended as `timed_out` (or cancelled as their children).
    pub timed_out: u64,
    /// Finished runs deleted.
    pub runs_deleted: u64,
    /// Events deleted.
    pub events_deleted: u64,
}

/// One maintenance pass: see `Engine::run_maintenance`.
pub(crate) async fn run_maintenance(core: &EngineCore) -> Result<MaintenanceReport, Error> {
    let mut timed_out = 0;
    loop {
        let ended = core
            .env
            .store
            .time_out_overdue(core.env.clock.now_ms(), RETENTION_BATCH)
            .await?;
        timed_out += ended.len() as u64;
        core.exec.stop_local(&ended);
        if ended.len() < RETENTION_BATCH {
            break;
        }
    }
    let (runs_deleted, events_deleted) = run_retention(core).await?;
    Ok(MaintenanceReport {
        timed_out,
        runs_deleted,
        events_deleted,
    })
}

/// Deletes finished runs past their retention period, per status and per
/// workflow, and old events, in batches. Returns (runs, events) deleted.
async fn run_retention(core: &EngineCore) -> Result<(u64, u64), Error> {
    let now = core.env.clock.now_ms();
    let overridden: Vec<&String> = core.config.retention_overrides.keys().collect();
    let except = serde_json::to_string(&overridden).unwrap_or_else(|_| "[]".into());
    let mut policies: Vec<(Option<String>, &Retention, String)> =
        vec![(None, &core.config.retention, except)];
    for (workflow, retention) in &core.config.retention_overrides {
        policies.push((Some(workflow.clone()), retention, "[]".into()));
    }
    let mut runs = 0;
    for (workflow, retention, except) in policies {
        for (statuses, period) in retention.periods() {
            loop {
                let request = DeleteFinished {
                    statuses,
                    workflow: workflow.clone(),
                    except: except.clone(),
                    finished_before: now.saturating_sub(millis(period)),
                    limit: RETENTION_BATCH,
                };
                let deleted = core.env.store.delete_finished(request).await?;
                runs += deleted;
                if deleted < RETENTION_BATCH as u64 {
                    break;
                }
            }
        }
    }
    let mut events = 0;
    let before = now.saturating_sub(millis(core.config.retention.events));
    loop {
        let deleted = core
            .env
            .store
            .delete_events(before, RETENTION_BATCH)
            .await?;
        events += deleted;
        if deleted < RETENTION_BATCH as u64 {
            break;
        }
    }
    Ok((runs, events))
}
