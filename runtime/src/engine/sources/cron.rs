//! The cron source: the task that starts a cron workflow's run at every fire
//! time, and once for a window missed while every engine was down (the
//! schedule itself and the overlap rule are in [`crate::core::cron`]).

use std::sync::Arc;

use crate::core::cron::{CronSchedule, OverlapAction};
use crate::engine::core::EngineCore;
use crate::model::trigger::TriggerOptions;

/// Fires one cron workflow's runs, forever: first the latest fire time
/// missed before `started` (if a run of an earlier one is stored), then
/// every fire time after `started`, the engine's start.
pub(crate) async fn cron_loop(core: Arc<EngineCore>, cron: Arc<CronSchedule>, started: i64) {
    match core
        .env
        .store
        .last_cron_fire(cron.workflow.to_owned())
        .await
    {
        Ok(Some(last)) => {
            // The latest fire time that passed since the last run.
            let mut latest_missed = None;
            let mut cursor = last;
            while let Some(next) = cron.next_after(cursor).filter(|next| *next <= started) {
                latest_missed = Some(next);
                cursor = next;
            }
            if let Some(missed) = latest_missed {
                fire(&core, &cron, missed).await;
            }
        }
        Ok(None) => {}
        Err(error) => {
            tracing::error!(workflow = cron.workflow, %error, "cannot read the last cron run; no missed window fires");
        }
    }
    let mut after = started;
    while let Some(next) = cron.next_after(after) {
        core.env.clock.sleep_until(next).await;
        fire(&core, &cron, next).await;
        after = next;
    }
    tracing::warn!(
        workflow = cron.workflow,
        "the cron expression never fires again"
    );
}

async fn fire(core: &EngineCore, cron: &CronSchedule, at: i64) {
    if cron.overlap.needs_unfinished_runs() {
        match core
            .env
            .store
            .unfinished_runs(cron.workflow.to_owned())
            .await
        {
            Ok(running) => match cron.overlap.action(running.len()) {
                OverlapAction::Fire => {}
                OverlapAction::Skip => {
                    tracing::info!(
                        workflow = cron.workflow,
                        at,
                        "skipping a cron fire time: the previous run is still going"
                    );
                    return;
                }
                OverlapAction::CancelThenFire => {
                    for run_id in running {
                        if let Err(error) = core.cancel(run_id).await {
                            tracing::warn!(workflow = cron.workflow, %run_id, %error, "could not cancel the previous cron run");
                        }
                    }
                }
            },
            Err(error) => {
                tracing::error!(workflow = cron.workflow, %error, "cannot check for a running cron run; firing anyway");
            }
        }
    }
    let start = std::time::UNIX_EPOCH + std::time::Duration::from_millis(at.max(0).unsigned_abs());
    let options = TriggerOptions::new()
        .idempotency_key(format!("cron:{at}"))
        .start_at(start);
    if let Err(error) = core.create(cron.workflow, "null".into(), options).await {
        tracing::error!(workflow = cron.workflow, at, %error, "could not start a cron run");
    }
}
