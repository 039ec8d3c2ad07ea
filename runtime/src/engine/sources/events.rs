//! The event source: the runs an event starts (`#[workflow(on_event =
//! ..)]`), decided before the event is stored and created by the store in
//! the event's transaction (see `NewEvent::starts`).
//!
//! The triggers come from the catalog, not from this engine's registry, so
//! that any process that sends an event (a client, the console, another
//! worker) starts the same runs: each workflow's most recently seen version
//! there says which events start it. An event starts one run of each
//! workflow one of whose triggers it fires (`core::triggers`), with its data
//! as the input, checked first: against the input type when this engine
//! registers that version, else against the catalog's input schema. Data
//! that does not fit starts nothing of that workflow and is recorded on the
//! event as a trigger error. A workflow whose input is `()` (no parameter
//! after `ctx`) ignores the data and gets `null`.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::core::catalog::Validators;
use crate::core::timing::deadline;
use crate::core::triggers::any_fires;
use crate::engine::registry::Registry;
use crate::engine::runs::Target;
use crate::exec::env::{EventPlan, EventStarts};
use crate::model::catalog::WorkflowVersion;
use crate::model::error::{Error, clip};
use crate::model::event::TriggerError;
use crate::model::ids::RunId;
use crate::model::sync::BoxFuture;
use crate::store::{NewRun, Queue, Store};

/// A version this engine registers, as an event starts it.
struct LocalVersion {
    /// Checks a JSON input against the input type; the input as stored.
    validate: fn(Value) -> Result<String, String>,
    /// The run's workflow, timeout and pinned version.
    target: Target,
    /// Whether the input is `()`: the data is ignored.
    unit_input: bool,
}

/// What decides the runs events start, for the engine and its runs.
pub(crate) struct EventTriggers {
    store: Arc<dyn Store>,
    validators: Arc<Validators>,
    /// The registered versions, by (name, fingerprint).
    local: HashMap<(String, String), LocalVersion>,
}

impl EventTriggers {
    /// The event source of an engine on `store` that registers `registry`.
    pub(crate) fn new(
        store: Arc<dyn Store>,
        validators: Arc<Validators>,
        registry: &Registry,
    ) -> Self {
        let local = registry
            .all()
            .map(|registered| {
                let key = (
                    registered.spec.name.to_owned(),
                    registered.fingerprint.clone(),
                );
                let version = LocalVersion {
                    validate: registered.validate,
                    target: Target::registered(registered),
                    unit_input: registered.unit_input,
                };
                (key, version)
            })
            .collect();
        EventTriggers {
            store,
            validators,
            local,
        }
    }

    /// The input and target of a run of `version` that the event's `data`
    /// starts, or what does not fit.
    fn checked(&self, version: &WorkflowVersion, data: &Value) -> Result<(String, Target), String> {
        let key = (version.name.clone(), version.fingerprint.clone());
        if let Some(local) = self.local.get(&key) {
            let input = if local.unit_input {
                Ok("null".to_owned())
            } else {
                (local.validate)(data.clone())
            };
            return input.map(|input| (input, local.target.clone()));
        }
        // A version another engine serves: its runs are pinned at their
        // first claim, as a trigger by name of such a workflow is.
        let target = Target::of_catalog(version);
        if version.input_schema.get("type") == Some(&Value::from("null")) {
            return Ok(("null".to_owned(), target));
        }
        self.validators
            .validate(
                (&version.name, &version.fingerprint),
                &version.input_schema,
                data,
            )
            .map(|()| (data.to_string(), target))
    }

    async fn plan_event(&self, name: &str, data: &str, now: i64) -> Result<EventPlan, Error> {
        let workflows = self.store.triggered_workflows().await?;
        let mut plan: EventPlan = (Vec::new(), Vec::new());
        if workflows.is_empty() {
            return Ok(plan);
        }
        let data: Value = serde_json::from_str(data).map_err(|error| {
            Error::InvalidEvent(format!(
                "the data of event `{}` is not JSON: {error}",
                clip(name)
            ))
        })?;
        for version in workflows
            .iter()
            .filter(|version| any_fires(&version.on_event, name, &data))
        {
            match self.checked(version, &data) {
                Ok((input, target)) => plan.0.push(NewRun {
                    id: RunId::new(),
                    cancel_on: target.controls.cancel_keys(&input),
                    queue: Queue {
                        name: target.queue.clone(),
                        priority: 0,
                        concurrency_key: target.controls.key(&input),
                    },
                    workflow: target.name,
                    input,
                    // The store gives it the key of its event (`event:<id>`).
                    idempotency_key: None,
                    now,
                    ready_at: now,
                    deadline_at: deadline(now, target.timeout_ms),
                    version: target.version,
                    parent_id: None,
                    claimed_by: None,
                    flow: None,
                }),
                Err(message) => plan.1.push(TriggerError {
                    workflow: version.name.clone(),
                    error: format!(
                        "the data of event `{}` does not fit the input of workflow `{}`: {message}",
                        clip(name),
                        version.name
                    ),
                }),
            }
        }
        Ok(plan)
    }
}

impl EventStarts for EventTriggers {
    fn plan<'a>(
        &'a self,
        name: &'a str,
        data: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<EventPlan, Error>> {
        Box::pin(self.plan_event(name, data, now))
    }
}
