//! The workflow registry: each registered workflow's body, hook, input
//! check and schema with their types erased, built by generic functions
//! that wrap the executor's run state in the step API's [`Ctx`]; and the
//! versions of one name an engine keeps side by side.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::Arc;

use crate::core::catalog::{fingerprint, version_key};
use crate::core::concurrency::check_key_path;
use crate::core::cron::Overlap;
use crate::core::json::decode_json;
use crate::ctx::Ctx;
use crate::ctx::saga::OnFailure;
use crate::ctx::workflow::Workflow;
use crate::exec::env::WorkflowSpec;
use crate::exec::executor::Body;
use crate::exec::run_state::RunContext;
use crate::model::catalog::CatalogStep;
use crate::model::event::EventType;
use crate::model::sync::BoxFuture;
use crate::model::workflow::{EventTrigger, Failure, StepManifest};
use crate::store::Served;

/// How a registered workflow is started and checked, with its types erased.
pub(crate) struct Registered {
    /// Its name, version and timeout.
    pub(crate) spec: WorkflowSpec,
    /// The type `#[workflow]` generated, which typed triggers and children
    /// name.
    pub(crate) type_id: TypeId,
    /// `#[workflow(version = N)]`, if declared.
    pub(crate) declared: Option<u32>,
    /// The catalog's fingerprint of its steps and schemas.
    pub(crate) fingerprint: String,
    /// How the executor runs it.
    pub(crate) body: Body,
    /// The cron expression, time zone and overlap policy, for a cron workflow.
    pub(crate) cron: Option<(&'static str, &'static str, Overlap)>,
    /// Checks a JSON input against the input type and returns it as stored.
    pub(crate) validate: fn(serde_json::Value) -> Result<String, String>,
    /// The JSON Schema of the input type.
    pub(crate) schema: fn() -> serde_json::Value,
    /// The JSON Schema of the output type, when it has one.
    pub(crate) output_schema: fn() -> Option<serde_json::Value>,
    /// The steps the macro found in the body, for the catalog.
    pub(crate) steps: &'static [StepManifest],
    /// The typed events the body waits for or publishes, for the catalog.
    pub(crate) events: &'static [EventType],
    /// The events that start runs of it (`#[workflow(on_event = ..)]`).
    pub(crate) on_event: &'static [EventTrigger],
    /// Whether its input is `()`: an event that starts it gives it `null`,
    /// whatever the event's data.
    pub(crate) unit_input: bool,
}

impl Registered {
    /// The registry entry of `W`.
    pub(crate) fn of<W: Workflow>() -> Self {
        let steps: Vec<CatalogStep> = W::STEPS.iter().map(CatalogStep::from).collect();
        let fingerprint = fingerprint(&steps, &W::input_schema(), W::output_schema().as_ref());
        Registered {
            spec: WorkflowSpec {
                name: W::NAME,
                version: version_key(W::VERSION, &fingerprint).into(),
                timeout_ms: W::TIMEOUT_MS,
                concurrency: W::CONCURRENCY,
                debounce: W::DEBOUNCE,
                throttle: W::THROTTLE,
                queue: W::QUEUE,
                cancel_on: W::CANCEL_ON,
            },
            type_id: TypeId::of::<W>(),
            declared: W::VERSION,
            fingerprint,
            body: Body {
                start: start_erased::<W>,
                unwind: unwind_erased::<W>,
                has_on_failure: W::HAS_ON_FAILURE,
            },
            cron: W::CRON.map(|expression| (expression, W::TIMEZONE, W::OVERLAP)),
            validate: validate_erased::<W>,
            schema: W::input_schema,
            output_schema: W::output_schema,
            steps: W::STEPS,
            events: W::EVENTS,
            on_event: W::ON_EVENT,
            unit_input: TypeId::of::<W::Input>() == TypeId::of::<()>(),
        }
    }
}

impl Registered {
    /// Checks its `on_event` triggers as the macro does (a pattern of the
    /// event pattern grammar, a filter that is a JSON object), for a
    /// `Workflow` impl the macro did not write. What is wrong, naming the
    /// workflow.
    pub(crate) fn check_triggers(&self) -> Result<(), String> {
        let name = self.spec.name;
        durable_grammar::queue::check_queue_name(self.spec.queue)
            .map_err(|error| format!("workflow `{name}`: {error}"))?;
        if let Some(concurrency) = self.spec.concurrency {
            if concurrency.limit == 0 {
                return Err(format!(
                    "workflow `{name}`: a concurrency limit of 0 would never run it; give it at least 1"
                ));
            }
            if let Some(key) = concurrency.key {
                check_key_path(key, "concurrency key")
                    .map_err(|error| format!("workflow `{name}`: {error}"))?;
            }
        }
        for cancel_on in self.spec.cancel_on {
            durable_grammar::event_pattern::check_event_name(cancel_on.event)
                .map_err(|error| format!("workflow `{name}`: cancel_on: {error}"))?;
            if let Some(path) = cancel_on.matching {
                check_key_path(path, "cancel_on match")
                    .map_err(|error| format!("workflow `{name}`: {error}"))?;
            }
        }
        self.check_flow()
            .map_err(|error| format!("workflow `{name}`: {error}"))?;
        for trigger in self.on_event {
            durable_grammar::event_pattern::check_event_pattern(trigger.event)
                .map_err(|error| format!("workflow `{name}`: {error}"))?;
            if let Some(filter) = trigger.filter {
                match serde_json::from_str::<serde_json::Value>(filter) {
                    Ok(serde_json::Value::Object(_)) => {}
                    _ => {
                        return Err(format!(
                            "workflow `{name}`: the filter of `on_event = {:?}` is not a JSON object",
                            trigger.event
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

impl Registered {
    /// Checks its debounce or throttle as the macro does: not both, periods
    /// and limits above zero, `max_wait` at least the period, valid keys.
    fn check_flow(&self) -> Result<(), String> {
        let (debounce, throttle) = (self.spec.debounce, self.spec.throttle);
        if debounce.is_some() && throttle.is_some() {
            return Err(
                "a debounce and a throttle would both decide when a run starts; keep one".into(),
            );
        }
        if let Some(debounce) = debounce {
            if debounce.period_ms == 0 {
                return Err(
                    "a debounce period of 0 collapses nothing; give it at least 1ms".into(),
                );
            }
            if debounce
                .max_wait_ms
                .is_some_and(|wait| wait < debounce.period_ms)
            {
                return Err(
                    "a debounce's max_wait is shorter than its period; make it at least the period"
                        .into(),
                );
            }
        }
        if throttle.is_some_and(|throttle| throttle.limit == 0 || throttle.period_ms == 0) {
            return Err("a throttle needs a limit and a period of at least 1".into());
        }
        let keys = [
            ("debounce key", debounce.and_then(|debounce| debounce.key)),
            ("throttle key", throttle.and_then(|throttle| throttle.key)),
        ];
        for (what, key) in keys {
            if let Some(key) = key {
                check_key_path(key, what)?;
            }
        }
        Ok(())
    }
}

/// The workflows an engine registers: per name, every version it keeps,
/// the current one (which new runs and runs not pinned yet get) first.
#[derive(Default)]
pub(crate) struct Registry {
    by_name: HashMap<&'static str, Vec<Registered>>,
}

impl Registry {
    /// Adds `registered`. One name takes several versions only if each
    /// declares its own (`#[workflow(version = N)]`); the highest is current.
    pub(crate) fn insert(&mut self, registered: Registered) -> Result<(), String> {
        let name = registered.spec.name;
        let versions = self.by_name.entry(name).or_default();
        if let Some(other) = versions.first() {
            match (other.declared, registered.declared) {
                _ if versions
                    .iter()
                    .any(|known| known.type_id == registered.type_id) =>
                {
                    return Err(format!("workflow `{name}` is registered twice"));
                }
                (Some(_), Some(new))
                    if versions.iter().all(|known| known.declared != Some(new)) => {}
                (Some(_), Some(new)) => {
                    return Err(format!(
                        "two workflows named `{name}` declare version {new}; give each its own"
                    ));
                }
                _ => {
                    return Err(format!(
                        "two workflows are registered under the name `{name}`; to keep an older \
                         version beside a newer one, declare each one's version, e.g. \
                         `#[workflow(name = \"{name}\", version = 2)]`"
                    ));
                }
            }
        }
        versions.push(registered);
        versions.sort_by_key(|known| std::cmp::Reverse(known.declared));
        Ok(())
    }

    /// The current version of the workflow `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&Registered> {
        self.by_name.get(name).and_then(|versions| versions.first())
    }

    /// The workflow of the generated type `type_id`.
    pub(crate) fn of_type(&self, type_id: TypeId) -> Option<&Registered> {
        self.all().find(|registered| registered.type_id == type_id)
    }

    /// Whether a workflow is registered under `name`.
    pub(crate) fn contains_key(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Whether nothing is registered.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The names registered.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().copied()
    }

    /// The current version of each name.
    pub(crate) fn current(&self) -> impl Iterator<Item = &Registered> {
        self.by_name
            .values()
            .filter_map(|versions| versions.first())
    }

    /// Every version of every name.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Registered> + Clone {
        self.by_name.values().flatten()
    }

    /// What a claim by this engine takes.
    pub(crate) fn served(&self) -> Served {
        Served::of(self.by_name.iter().filter_map(|(name, versions)| {
            let current = versions.first()?;
            let served = versions.iter().map(|known| &*known.spec.version).collect();
            Some((*name, served, &*current.spec.version))
        }))
        .with_limits(self.current().filter_map(|registered| {
            let concurrency = registered.spec.concurrency?;
            Some((registered.spec.name, concurrency.limit))
        }))
    }
}

fn start_erased<W: Workflow>(
    run: Arc<RunContext>,
    input: String,
) -> BoxFuture<'static, Result<String, String>> {
    Box::pin(async move {
        let input: W::Input = serde_json::from_str(&input)
            .map_err(|error| format!("the stored input no longer fits the input type: {error}"))?;
        match W::run(Ctx::new(run), input).await {
            Ok(output) => serde_json::to_string(&output)
                .map_err(|error| format!("cannot serialize the workflow output: {error}")),
            Err(error) => Err(error.to_string()),
        }
    })
}

fn unwind_erased<W: Workflow>(run: Arc<RunContext>, message: String) -> BoxFuture<'static, ()> {
    let hook = W::HAS_ON_FAILURE.then_some(on_failure_erased::<W> as OnFailure);
    Box::pin(async move { Ctx::new(run).unwind(&message, hook).await })
}

fn on_failure_erased<W: Workflow>(
    ctx: Ctx,
    failure: Failure,
) -> BoxFuture<'static, Result<(), String>> {
    Box::pin(async move {
        W::on_failure(ctx, failure)
            .await
            .map_err(|error| error.to_string())
    })
}

fn validate_erased<W: Workflow>(input: serde_json::Value) -> Result<String, String> {
    let typed: W::Input = decode_json(&input)?;
    serde_json::to_string(&typed).map_err(|error| error.to_string())
}
