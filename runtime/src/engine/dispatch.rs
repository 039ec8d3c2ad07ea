//! The dispatcher, which claims ready runs for free slots and hands them to
//! the executor, and the heartbeat that renews the leases of the runs this
//! engine executes on a shared database.

use std::sync::Arc;
use std::time::Duration;

use crate::engine::core::EngineCore;
use crate::exec::executor::Executor;
use crate::model::duration::millis;
use crate::model::error::Error;
use crate::store::ClaimRequest;

/// How often the dispatcher looks for due runs on a database shared with
/// other processes, besides the notifications it gets.
const SHARED_POLL: Duration = Duration::from_secs(1);

/// How many runs one claim takes at most.
const MAX_CLAIM: usize = 256;

/// Claims ready runs while there are free slots, then sleeps until the next
/// run is due or one may have become ready; while every slot is busy, until
/// a slot frees up. A slot freed after a claim that left nothing behind
/// needs no new claim.
pub(crate) async fn dispatch_loop(core: Arc<EngineCore>) {
    let (env, exec) = (&core.env, &core.exec);
    let mut failures = 0u32;
    loop {
        let free = exec.free_slots();
        if free == 0 {
            // Every slot is busy, or the engine holds as many runs as it
            // may: a run that ends or lends its slot notifies.
            exec.slots.freed().await;
            continue;
        }
        let mut claimed_all = false;
        let mut next_ready = None;
        let round = async {
            let limit = free.min(MAX_CLAIM);
            let now = env.clock.now_ms();
            let claimed = env
                .store
                .claim_ready(ClaimRequest {
                    owner: core.config.owner.clone(),
                    now,
                    limit,
                    workflows: core.served.clone(),
                    lease_expires_at: env
                        .store
                        .lease_duration()
                        .map(|lease| now.saturating_add(millis(lease))),
                })
                .await?;
            claimed_all = claimed.len() == limit;
            for run in claimed {
                exec.spawn(run);
            }
            if !claimed_all {
                next_ready = env.store.next_ready_at(core.served.clone()).await?;
            }
            Ok::<(), Error>(())
        };
        if let Err(error) = round.await {
            failures += 1;
            tracing::error!(%error, "the dispatcher could not claim runs; retrying");
            tokio::time::sleep(Duration::from_millis(50 * u64::from(failures.min(40)))).await;
            continue;
        }
        failures = 0;
        if claimed_all {
            continue;
        }
        let timer = async {
            match next_ready {
                Some(at) => env.clock.sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        // On a shared database, poll as well: a notification can be missed
        // while the LISTEN connection reconnects.
        let poll = async {
            match env.store.lease_duration() {
                Some(_) => tokio::time::sleep(SHARED_POLL).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = env.dispatch.notified() => {}
            () = timer => {}
            () = poll => {}
        }
    }
}

/// Renews the leases of the runs this engine executes, a third of the lease
/// apart; a run whose lease was lost (taken over after a stall) is stopped
/// here, its writes being fenced already, and one that another process
/// paused stops before its next step.
pub(crate) async fn heartbeat_loop(exec: Arc<Executor>, lease: Duration) {
    loop {
        tokio::time::sleep(lease / 3).await;
        let leases = exec.active.leases();
        if leases.is_empty() {
            continue;
        }
        let until = exec.env.clock.now_ms().saturating_add(millis(lease));
        match exec.env.store.renew_leases(leases.clone(), until).await {
            Ok(renewal) => {
                for run_id in &renewal.lost {
                    tracing::warn!(%run_id, "lost the lease of a run; stopping it here");
                }
                exec.stop_local(&renewal.lost);
                // Another process may have paused (or resumed) a run that
                // executes here: it stops before its next step.
                let paused: std::collections::HashSet<_> = renewal.paused.iter().collect();
                for lease in &leases {
                    exec.set_paused_local(lease.run_id, paused.contains(&lease.run_id));
                }
            }
            Err(error) => tracing::warn!(%error, "could not renew leases"),
        }
    }
}
