//! What a run sees of the engine it executes on: the store, the clock, the
//! limits and timings of its steps, the dispatcher to wake, the typed
//! events it may send, the workflows its children may be of, and the runs
//! the events it sends start. The step API (`ctx`) gets this, never the
//! engine itself.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use tokio::sync::Notify;

use crate::exec::clock::Clock;
use crate::exec::event_types::EventTypes;
use crate::model::error::Error;
use crate::model::event::TriggerError;
use crate::model::ids::RunId;
use crate::model::limits::Limits;
use crate::model::sync::BoxFuture;
use crate::model::workflow::{CancelOn, Concurrency, Debounce, Throttle};
use crate::store::{NewRun, Store};

/// The runs an event starts and the triggers it matched but cannot start:
/// what [`EventStarts::plan`] decides, for the event's `NewEvent`.
pub(crate) type EventPlan = (Vec<NewRun>, Vec<TriggerError>);

/// Decides which runs an event starts (`#[workflow(on_event = ..)]`),
/// before the event is stored: the engine's, so that an event sent from a
/// run starts runs as one sent from outside does.
pub(crate) trait EventStarts: Send + Sync {
    /// The runs the event `name` with `data` (JSON text) starts at `now`,
    /// each checked against its workflow's input, and the workflows whose
    /// input the data does not fit.
    fn plan<'a>(
        &'a self,
        name: &'a str,
        data: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<EventPlan, Error>>;
}

/// A registered workflow as a run needs it: to start it as a child.
#[derive(Debug, Clone)]
pub(crate) struct WorkflowSpec {
    /// Its name.
    pub(crate) name: &'static str,
    /// The version its runs are pinned to (see `core::catalog::version_key`).
    pub(crate) version: Arc<str>,
    /// Its timeout, if it has one.
    pub(crate) timeout_ms: Option<u64>,
    /// Its concurrency limit, if it has one (see `Workflow::CONCURRENCY`).
    pub(crate) concurrency: Option<Concurrency>,
    /// Its debounce, if it has one (see `Workflow::DEBOUNCE`).
    pub(crate) debounce: Option<Debounce>,
    /// Its throttle, if it has one (see `Workflow::THROTTLE`).
    pub(crate) throttle: Option<Throttle>,
    /// The queue its runs wait in (see `Workflow::QUEUE`).
    pub(crate) queue: &'static str,
    /// The events that cancel its runs (see `Workflow::CANCEL_ON`).
    pub(crate) cancel_on: &'static [CancelOn],
}

/// The environment of every run an engine executes.
pub(crate) struct RunEnv {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) limits: Limits,
    /// Sleeps and back-offs shorter than this wait in memory; longer ones
    /// suspend the run.
    pub(crate) keep_in_memory_ms: i64,
    /// How long before its timer ends a sleeping run may be claimed (see
    /// `RunState::ready_at`): just below `keep_in_memory_ms`, so that the
    /// replay of a run claimed that early waits in memory.
    pub(crate) claim_early_ms: i64,
    /// Woken when a run may have become ready (a child started, an event
    /// sent, a run suspended).
    pub(crate) dispatch: Notify,
    /// The typed events whose schemas the events sent under their names
    /// must fit.
    pub(crate) event_types: EventTypes,
    /// The workflows the engine registers, by the type `#[workflow]`
    /// generated (a version kept beside a newer one is a type of its own).
    pub(crate) workflows: HashMap<TypeId, WorkflowSpec>,
    /// The runs events start, for events a run sends.
    pub(crate) event_starts: Arc<dyn EventStarts>,
    /// Stops this engine's executions of runs an event a run sent
    /// cancelled (`#[workflow(cancel_on(..))]`), as `Executor::stop_local`;
    /// set once the executor exists.
    pub(crate) stop_local: OnceLock<StopLocal>,
}

/// What [`RunEnv::stop_local`] calls.
pub(crate) type StopLocal = Box<dyn Fn(&[RunId]) + Send + Sync>;

impl RunEnv {
    /// Stops this engine's executions of `cancelled` (see
    /// [`RunEnv::stop_local`]); nothing if it is empty.
    pub(crate) fn stop_cancelled(&self, cancelled: &[RunId]) {
        if let Some(stop) = self.stop_local.get()
            && !cancelled.is_empty()
        {
            stop(cancelled);
        }
    }
}
