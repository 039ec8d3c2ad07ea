//! The engine-wide settings that are not part of a run's environment.

use std::collections::HashMap;

use crate::core::retention::Retention;

/// Settings of the engine itself (a run's settings are in its
/// [`RunEnv`](crate::exec::env::RunEnv)).
pub(crate) struct EngineConfig {
    /// How long finished runs and events are kept.
    pub(crate) retention: Retention,
    /// Per-workflow retention of finished runs, instead of `retention`.
    pub(crate) retention_overrides: HashMap<String, Retention>,
    /// This engine's name in claims (`wf_instance.claimed_by`).
    pub(crate) owner: String,
    /// How often this engine moves its heartbeat in the catalog, and so
    /// when it judges a worker's heartbeat stale or the worker gone.
    pub(crate) heartbeat: std::time::Duration,
    /// The queues it claims runs from (`EngineBuilder::queues`), sorted.
    pub(crate) queues: Vec<String>,
}

impl EngineConfig {
    /// Whether this engine claims runs waiting in `queue`.
    pub(crate) fn serves_queue(&self, queue: &str) -> bool {
        self.queues.iter().any(|served| served == queue)
    }
}
