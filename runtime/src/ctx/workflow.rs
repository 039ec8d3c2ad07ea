//! The `Workflow` trait that `#[workflow]` implements, and the static step
//! manifest it carries.

use std::future::Future;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Ctx;
use crate::core::cron::Overlap;
use crate::model::error::Error;
use crate::model::event::EventType;
use crate::model::workflow::{
    CancelOn, Concurrency, Debounce, EventTrigger, Failure, StepManifest, Throttle,
};

/// A workflow: a named, typed, resumable async function.
///
/// You do not implement this by hand: `#[workflow]` generates the type and the
/// impl from an async fn (see [`workflow`](macro@crate::workflow)).
pub trait Workflow: Send + Sync + 'static {
    /// The workflow's name, unique per engine (`wf_instance.workflow`).
    const NAME: &'static str;
    /// The workflow timeout in milliseconds, if it has one.
    const TIMEOUT_MS: Option<u64>;
    /// Every step the macro found in the body, in source order.
    const STEPS: &'static [StepManifest];
    /// The event types the body waits for (`ctx.wait_for::<E>`) or
    /// publishes (`ctx.publish::<E>`), each once: the catalog records their
    /// schemas, and events of these names sent from outside are checked
    /// against them.
    const EVENTS: &'static [EventType] = &[];

    /// The input, stored as JSON in `wf_instance.input`.
    type Input: Serialize + DeserializeOwned + JsonSchema + Send + 'static;
    /// The output, stored as JSON in `wf_instance.output`.
    type Output: Serialize + DeserializeOwned + Send + 'static;
    /// The error the body returns; its `Display` text is stored in
    /// `wf_instance.error`.
    type Error: std::fmt::Display + Send + 'static;

    /// Runs the workflow body (the user's function).
    fn run(
        ctx: Ctx,
        input: Self::Input,
    ) -> impl Future<Output = Result<Self::Output, Self::Error>> + Send;

    /// The version runs of this workflow are pinned to when it is declared
    /// (`#[workflow(version = 2)]`); `None` pins them to the fingerprint of
    /// its steps and schemas instead (see [`RunInfo::version`](crate::RunInfo::version)).
    const VERSION: Option<u32> = None;

    /// The cron expression that starts runs (`#[workflow(cron = "...")]`).
    const CRON: Option<&'static str> = None;
    /// The time zone of the cron expression (IANA name).
    const TIMEZONE: &'static str = "UTC";
    /// What a fire time does while the previous cron run still goes.
    const OVERLAP: Overlap = Overlap::Skip;

    /// The events that start runs (`#[workflow(on_event = "order.*")]`):
    /// each event sent whose name matches one of these patterns, and whose
    /// data contains its filter, starts one run with the data as its input.
    const ON_EVENT: &'static [EventTrigger] = &[];

    /// The concurrency limit of the workflow's runs
    /// (`#[workflow(concurrency = 2)]`, or per key:
    /// `#[workflow(concurrency(limit = 1, key = "customer_id"))]`), enforced
    /// across every engine on the database: a run beyond it stays pending,
    /// in its priority's trigger order, until a run of its group stops
    /// executing (ends, or suspends: a sleeping or waiting run holds no
    /// slot). `None`: no limit but the engines' own concurrency.
    ///
    /// ```
    /// use durable::prelude::*;
    /// use durable::{Concurrency, Workflow};
    ///
    /// #[workflow(concurrency(limit = 1, key = "customer_id"))]
    /// async fn bill(ctx: Ctx, customer_id: String, cents: u64) -> Result<u64, Error> {
    ///     let _ = (ctx, customer_id);
    ///     Ok(cents)
    /// }
    ///
    /// assert_eq!(Bill::CONCURRENCY, Some(Concurrency { limit: 1, key: Some("customer_id") }));
    /// ```
    const CONCURRENCY: Option<Concurrency> = None;

    /// Debounce (`#[workflow(debounce(period = "5s", key = "user_id"))]`):
    /// triggers of one key within `period` of each other join one run,
    /// which starts `period` after the last with the last input (see
    /// [`Debounce`]). `None`: every trigger makes its own run.
    ///
    /// ```
    /// use durable::prelude::*;
    /// use durable::{Debounce, Workflow};
    ///
    /// #[workflow(debounce(period = "5s", key = "user_id", max_wait = "1m"))]
    /// async fn reindex(ctx: Ctx, user_id: String, page: u32) -> Result<u32, Error> {
    ///     let _ = (ctx, user_id);
    ///     Ok(page)
    /// }
    ///
    /// assert_eq!(
    ///     Reindex::DEBOUNCE,
    ///     Some(Debounce { period_ms: 5_000, max_wait_ms: Some(60_000), key: Some("user_id") })
    /// );
    /// ```
    const DEBOUNCE: Option<Debounce> = None;

    /// Throttle (`#[workflow(throttle(limit = 10, period = "1m", key =
    /// "user_id"))]`): at most `limit` runs of one key are scheduled to start
    /// within any `period`; the others wait their turn (see [`Throttle`]).
    /// `None`: runs start as soon as they are due.
    ///
    /// ```
    /// use durable::prelude::*;
    /// use durable::{Throttle, Workflow};
    ///
    /// #[workflow(throttle(limit = 10, period = "1m", key = "user_id"))]
    /// async fn notify(ctx: Ctx, user_id: String, text: String) -> Result<usize, Error> {
    ///     let _ = (ctx, user_id);
    ///     Ok(text.len())
    /// }
    ///
    /// assert_eq!(Notify::THROTTLE, Some(Throttle { limit: 10, period_ms: 60_000, key: Some("user_id") }));
    /// ```
    const THROTTLE: Option<Throttle> = None;
    /// The queue its runs wait in (`#[workflow(queue = "billing")]`):
    /// only an engine that serves the queue (`EngineBuilder::queues`)
    /// claims them, and a run of a queue no live worker serves stays
    /// pending. `"default"` when not declared; a child started with
    /// `ctx.invoke(..).queue("gpu")` waits in that queue instead.
    ///
    /// ```
    /// use durable::prelude::*;
    /// use durable::Workflow;
    ///
    /// #[workflow(queue = "billing")]
    /// async fn invoice(ctx: Ctx, cents: u64) -> Result<u64, Error> {
    ///     let _ = ctx;
    ///     Ok(cents)
    /// }
    ///
    /// assert_eq!(Invoice::QUEUE, "billing");
    /// ```
    const QUEUE: &'static str = durable_grammar::queue::DEFAULT_QUEUE;

    /// The events that cancel the workflow's unfinished runs
    /// (`#[workflow(cancel_on(event = "order.cancelled", match =
    /// "order_id"))]`, repeatable): an event of that name, sent from outside
    /// or from a run, cancels in its own transaction every pending, running
    /// or suspended run whose input's value at the `match` path equals the
    /// event data's (every run, without `match`), with its descendants, as
    /// [`RunHandle::cancel`](crate::RunHandle::cancel) does; the run's error
    /// names the event.
    ///
    /// ```
    /// use durable::prelude::*;
    /// use durable::{CancelOn, Workflow};
    ///
    /// #[workflow(cancel_on(event = "order.cancelled", match = "order_id"))]
    /// async fn ship(ctx: Ctx, order_id: String, express: bool) -> Result<String, Error> {
    ///     let _ = (ctx, express);
    ///     Ok(order_id)
    /// }
    ///
    /// assert_eq!(Ship::CANCEL_ON, [CancelOn { event: "order.cancelled", matching: Some("order_id") }]);
    /// ```
    const CANCEL_ON: &'static [CancelOn] = &[];

    /// Whether the workflow has an on-failure hook
    /// (`#[workflow(on_failure = path)]`).
    const HAS_ON_FAILURE: bool = false;

    /// The on-failure hook: runs after a failed run's compensations, with the
    /// error and the completed steps; its steps are recorded under
    /// `on-failure/`.
    fn on_failure(ctx: Ctx, failure: Failure) -> impl Future<Output = Result<(), Error>> + Send {
        let _ = (ctx, failure);
        async { Ok(()) }
    }

    /// The JSON Schema of [`Workflow::Input`].
    fn input_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(Self::Input)).unwrap_or_default()
    }

    /// The JSON Schema of [`Workflow::Output`], or `None` when the output
    /// type does not implement `JsonSchema` (the output needs only serde).
    /// `#[workflow]` generates it; the catalog stores it beside the input's.
    fn output_schema() -> Option<serde_json::Value> {
        None
    }
}

/// What `#[workflow]` asks for a type's JSON Schema through, when the type
/// may not have one: `(&&SchemaOf::<T>::new()).schema_json()` is
/// [`HasJsonSchema::schema_json`] when `T: JsonSchema` and
/// [`NoJsonSchema::schema_json`] (`None`) otherwise, chosen by method
/// resolution (autoref specialization), so a workflow whose output has no
/// schema still compiles.
///
/// ```
/// use durable::__private::{HasJsonSchema as _, NoJsonSchema as _, SchemaOf};
/// struct Plain;
/// assert!((&&SchemaOf::<u32>::new()).schema_json().is_some());
/// assert!((&&SchemaOf::<Plain>::new()).schema_json().is_none());
/// ```
pub struct SchemaOf<T>(std::marker::PhantomData<fn() -> T>);

impl<T> SchemaOf<T> {
    /// The probe for `T`.
    pub const fn new() -> Self {
        SchemaOf(std::marker::PhantomData)
    }
}

impl<T> Default for SchemaOf<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// The schema of a type that has one (see [`SchemaOf`]).
pub trait HasJsonSchema {
    /// `T`'s JSON Schema.
    fn schema_json(&self) -> Option<serde_json::Value>;
}

impl<T: JsonSchema> HasJsonSchema for &SchemaOf<T> {
    fn schema_json(&self) -> Option<serde_json::Value> {
        serde_json::to_value(schemars::schema_for!(T)).ok()
    }
}

/// The fallback for a type without a schema (see [`SchemaOf`]).
pub trait NoJsonSchema {
    /// `None`.
    fn schema_json(&self) -> Option<serde_json::Value>;
}

impl<T> NoJsonSchema for SchemaOf<T> {
    fn schema_json(&self) -> Option<serde_json::Value> {
        None
    }
}

/// Splits a workflow's return type into its output and error. Implemented for
/// `Result<T, E>` only: it lets the macro accept aliases such as
/// `anyhow::Result<T>`.
pub trait WorkflowResult {
    /// The `T` of `Result<T, E>`.
    type Ok;
    /// The `E` of `Result<T, E>`.
    type Err;
}

impl<T, E> WorkflowResult for Result<T, E> {
    type Ok = T;
    type Err = E;
}
