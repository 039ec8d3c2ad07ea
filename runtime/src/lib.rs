//! Durable workflows for Rust.
//!
//! Put [`#[workflow]`](macro@workflow) on an async fn, wrap each unit of real
//! work in a named step, and the engine records every step's result: after a
//! crash, a restart or a deploy the run continues where it stopped, and no
//! finished step runs again.
//!
//! ```no_run
//! use durable::prelude::*;
//!
//! #[derive(Serialize, Deserialize, JsonSchema)]
//! struct Order { id: String, cents: u64 }
//!
//! #[workflow(timeout = "1h")]
//! async fn charge_order(ctx: Ctx, order: Order) -> Result<String, Error> {
//!     let receipt: String = ctx
//!         .step("charge")
//!         .retry(Retry::exponential(3, "1s"))
//!         .run(async || Ok::<_, StepError>(format!("receipt for {}", order.id)))
//!         .await?;
//!     ctx.sleep("cool-off", "5m").await?;
//!     Ok(receipt)
//! }
//!
//! # async fn main_() -> Result<(), Error> {
//! let engine = Engine::builder().register(ChargeOrder).start().await?;
//! let run = ChargeOrder::trigger(&engine, Order { id: "o-1".into(), cents: 4200 }).await?;
//! let receipt: String = run.result().await?;
//! # Ok(()) }
//! ```
//!
//! # Guarantees
//!
//! - A step's result is recorded once; after that it is only replayed.
//! - A step's body runs **at least once**: if the process dies after the body
//!   did its work and before its result was committed, the body runs again
//!   when the run resumes. Make bodies idempotent, or accept a repeat. A
//!   result is committed at the latest before the next step body runs (it
//!   may travel with the run's next write, such as its finish).
//! - A worker whose lease was taken over (by a cancel, or another worker)
//!   cannot commit anything (fencing token on every write).
//! - Durable sleeps never wake early, and cost no task or future while the
//!   run is suspended.
//! - A replay that reaches different steps than the journal recorded fails the
//!   run with [`Error::NonDeterminism`] naming the step; a step name reached
//!   twice fails it with [`Error::DuplicateStep`].
//! - Bad input (unknown workflow, input that does not fit, oversized payload,
//!   reused idempotency key with another input) is rejected before anything
//!   is written.

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!(
    "durable needs a backend: enable its `sqlite` (default) or `postgres` cargo feature"
);

mod core;
mod ctx;
mod engine;
mod exec;
mod model;
pub mod store;

pub use crate::core::cron::Overlap;
pub use crate::core::retention::Retention;
pub use crate::core::retry::Retry;
pub use ctx::children::{Child, Invoke, Invoked, StartChild, Started};
pub use ctx::events::WaitForEvent;
pub use ctx::fanout::{AllSettled, Branch, ErrorMode, FailFast, FanOut, branch};
pub use ctx::steps::{Compensated, NoCompensation, StepBuilder};
pub use ctx::workflow::Workflow;
pub use ctx::{Ctx, StepName};
pub use durable_grammar::DurationError;
pub use durable_grammar::queue::{DEFAULT_QUEUE, QueueNameError};
pub use engine::Engine;
pub use engine::builder::EngineBuilder;
pub use engine::catalog::{GONE_AFTER_HEARTBEATS, GONE_AT_LEAST, STALE_AFTER_HEARTBEATS};
pub use engine::changes::RunChanges;
pub use engine::handle::RunHandle;
pub use engine::maintenance::MaintenanceReport;
pub use exec::clock::{Clock, ManualClock, SystemClock};
pub use model::catalog::{
    CancelOnInfo, CatalogStep, ConcurrencyInfo, DebounceInfo, EventTriggerInfo, ServedVersion,
    ThrottleInfo, WorkerInfo, WorkflowDetail, WorkflowRef, WorkflowVersion,
};
pub use model::change::{ChangeKind, ChangesError, RunChange};
pub use model::duration::IntoDuration;
pub use model::error::{Error, StepError};
pub use model::event::{Event, EventType, EventTypeInfo, Field, SentEvent, TriggerError};
pub use model::fork::ForkOptions;
pub use model::ids::RunId;
pub use model::info::{AttemptInfo, ForkOrigin, RunInfo, StepInfo};
pub use model::limits::Limits;
pub use model::listing::{
    DEFAULT_PAGE, EventFilter, EventInfo, EventPage, MAX_PAGE, MinuteCounts, RunCursor, RunDetail,
    RunFilter, RunPage, StatusCount, UnservedRuns,
};
pub use model::log::{LogLevel, LogLine};
pub use model::status::{RunStatus, StepStatus};
pub use model::sync::BoxFuture;
pub use model::trigger::TriggerOptions;
pub use model::workflow::{
    CancelOn, Concurrency, Debounce, EventTrigger, Failure, StepKind, StepManifest, Throttle,
};
#[cfg(feature = "sqlite")]
pub use store::sqlite::Durability;
pub use uuid::Uuid;

/// The README's code blocks, compiled as doctests so that every snippet
/// there builds as written.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// Makes a struct an [`Event`](trait@Event): `#[derive(Event)]` with
/// `#[event(name = "shipment.label.scanned")]`, beside `Serialize`,
/// `Deserialize` and `JsonSchema`. See the README's "Typed events".
pub use durable_macros::Event;
/// Turns an async fn into a durable workflow.
///
/// ```
/// use durable::prelude::*;
///
/// #[workflow(name = "greet", timeout = "10m")]
/// async fn greet(ctx: Ctx, name: String, times: u32) -> Result<String, Error> {
///     let greeting: String = ctx.run("compose", async || {
///         Ok::<_, StepError>(format!("hello {name}").repeat(times as usize))
///     }).await?;
///     ctx.sleep("pause", "1ms").await?;
///     Ok(greeting)
/// }
///
/// // The macro generated the `Greet` type, its input struct and its manifest:
/// assert_eq!(<Greet as Workflow>::NAME, "greet");
/// assert_eq!(<Greet as Workflow>::TIMEOUT_MS, Some(600_000));
/// let steps: Vec<&str> = Greet::STEPS.iter().map(|step| step.name).collect();
/// assert_eq!(steps, ["compose", "pause"]);
/// let _input = GreetInput { name: "ada".into(), times: 2 };
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let engine = Engine::builder().sqlite_memory().register(Greet).start().await?;
/// // `trigger` takes the same parameters as the workflow, after the engine.
/// let run = Greet::trigger(&engine, "ada".into(), 2).await?;
/// assert_eq!(run.result().await?, "hello adahello ada");
/// # Ok::<(), Error>(()) }).unwrap();
/// ```
///
/// # What it generates
///
/// For `async fn order_fulfillment(ctx: Ctx, input: OrderInput) -> Result<O, E>`:
/// - the function itself, unchanged (call it directly in unit tests);
/// - `struct OrderFulfillment`, implementing [`Workflow`] with the name, the
///   timeout, the input's JSON Schema and a static manifest of the steps
///   ([`Workflow::STEPS`]);
/// - `OrderFulfillment::trigger(&engine, input)` and
///   `OrderFulfillment::trigger_with(&engine, input, TriggerOptions)`,
///   returning a [`RunHandle<O>`].
///
/// With several parameters after `ctx`, it also generates
/// `OrderFulfillmentInput` with one public field per parameter, and the
/// trigger functions take the parameters themselves.
///
/// # Options
///
/// Every option is `key = value`, each at most once (but `on_event`, which
/// repeats and has a list form); any other key is a compile error that
/// lists these.
///
/// - `name = "order-fulfillment"`: the workflow's name, as stored in
///   `wf_instance.workflow` and given to [`Engine::trigger_json`] (default:
///   the fn name in kebab-case).
///
///   ```
///   # use durable::prelude::*;
///   #[workflow(name = "orders.v2")]
///   async fn place_order(ctx: Ctx) -> Result<(), Error> { Ok(()) }
///   assert_eq!(<PlaceOrder as Workflow>::NAME, "orders.v2");
///   ```
/// - `timeout = "24h"`: the workflow timeout, a duration literal checked at
///   compile time. A run still unfinished that long after it was due to
///   start ends `timed_out`, and its children are cancelled. Default: none.
///
///   ```
///   # use durable::prelude::*;
///   #[workflow(timeout = "1h30m")]
///   async fn pack(ctx: Ctx) -> Result<(), Error> { Ok(()) }
///   assert_eq!(<Pack as Workflow>::TIMEOUT_MS, Some(5_400_000));
///   ```
/// - `on_failure = path`: an async fn `(Ctx, Failure) -> Result<(), Error>`
///   that runs, as part of the run, after the run failed and its
///   compensations ran; its steps are recorded like any others.
///
///   ```
///   # use durable::prelude::*;
///   use durable::Failure;
///
///   async fn tell_support(ctx: Ctx, failure: Failure) -> Result<(), Error> {
///       ctx.run("page", async || {
///           Ok::<_, StepError>(println!("failed: {} after {:?}", failure.error, failure.completed_steps))
///       })
///       .await
///   }
///
///   #[workflow(on_failure = tell_support)]
///   async fn settle(ctx: Ctx) -> Result<(), Error> { Ok(()) }
///   assert!(<Settle as Workflow>::HAS_ON_FAILURE);
///   ```
/// - `cron = "0 9 * * 1-5"`: starts a run at every fire time of the five-field
///   expression (checked at compile time; see [`durable_grammar::cron`]). A
///   cron workflow takes no parameters after `ctx`.
/// - `timezone = "Europe/Berlin"`: the IANA time zone the cron expression is
///   read in (default `UTC`); an unknown zone fails [`EngineBuilder::start`].
///   Only with `cron`.
/// - `overlap = "skip"`: what a fire time does while the previous run still
///   goes: `"skip"` (default), `"allow"` or `"cancel_previous"` (see
///   [`Overlap`]). Only with `cron`.
///
///   ```
///   # use durable::prelude::*;
///   #[workflow(cron = "*/15 8-18 * * MON-FRI", timezone = "Europe/Berlin", overlap = "cancel_previous")]
///   async fn sync_stock(ctx: Ctx) -> Result<(), Error> { Ok(()) }
///   assert_eq!(<SyncStock as Workflow>::CRON, Some("*/15 8-18 * * MON-FRI"));
///   assert_eq!(<SyncStock as Workflow>::TIMEZONE, "Europe/Berlin");
///   assert_eq!(<SyncStock as Workflow>::OVERLAP, durable::Overlap::CancelPrevious);
///   ```
///
/// - `on_event = "order.created"`, or `on_event(name = "order.*", filter =
///   r#"{"region": "eu"}"#)`, repeatable: each event sent whose name
///   matches the pattern (`*` is a whole segment; a trailing `*` the rest
///   of the name) and whose data contains the filter starts one run, with
///   the data as its input, in the transaction that stores the event (see
///   the README's "Started by an event"). Not with `cron`.
///
///   ```
///   # use durable::prelude::*;
///   #[workflow(on_event = "order.created", on_event(name = "order.*.eu", filter = r#"{"vip": true}"#))]
///   async fn greet_customer(ctx: Ctx, order: serde_json::Value) -> Result<(), Error> { Ok(()) }
///   let triggers = <GreetCustomer as Workflow>::ON_EVENT;
///   assert_eq!(triggers[1].event, "order.*.eu");
///   assert_eq!(triggers[1].filter, Some(r#"{"vip":true}"#));
///   ```
///
/// - `cancel_on(event = "order.cancelled", match = "order_id")`, repeatable,
///   `match` optional: each event of exactly that name (no `*`) cancels, in
///   the transaction that stores it, the workflow's unfinished runs whose
///   input holds at the `match` path the value the event's data holds there
///   (every unfinished run, without `match`), with their children, as a
///   cancel does; the runs' error names the event (see the README's
///   "Cancelled by an event" and [`Workflow::CANCEL_ON`]).
///
///   ```
///   # use durable::prelude::*;
///   #[workflow(cancel_on(event = "order.cancelled", match = "order_id"), cancel_on(event = "shop.closed"))]
///   async fn pack(ctx: Ctx, order_id: String, items: u32) -> Result<(), Error> { Ok(()) }
///   let cancel_on = <Pack as Workflow>::CANCEL_ON;
///   assert_eq!(cancel_on[0].matching, Some("order_id"));
///   assert_eq!(cancel_on[1].matching, None);
///   ```
///
/// # Checked at compile time
///
/// - the fn is `async`, has no generics and no `self`, takes `ctx: Ctx` first
///   and owned parameters after it, and returns a `Result`;
/// - step names are string literals (or the keyed form `("name", key)`) and
///   unique within the workflow, except in the arms of one `if` or `match`,
///   of which only one runs;
/// - a step with a plain literal name is not inside a loop or closure, where
///   each iteration would reuse it (use the keyed form there);
/// - duration literals in the attribute, in `sleep`, `timeout` and `Retry`
///   calls follow the duration grammar, and no `sleep` or step timeout
///   literal is longer than the workflow's `timeout`;
/// - a step output type written in the source (`Ok::<T, _>`, `-> Result<T, _>`,
///   `let x: T = ctx.run(..).await?`) is owned, not `&str` or `&[u8]`;
/// - workflow code outside a step does not read the clock
///   (`SystemTime::now`, `Instant::now`, `Utc::now`, `Local::now`), draw
///   random numbers (`rand::*`, `fastrand::*`), make UUIDs (`Uuid::new_v4`,
///   `Uuid::now_v7`), sleep in memory (`tokio::time::sleep`,
///   `std::thread::sleep`), spawn tasks (`tokio::spawn`) or read the
///   environment (`std::env::var`): a replay would not repeat them the same.
///   The message points at `ctx.now`, `ctx.uuid`, `ctx.sleep` or `ctx.run`.
///   Paths are matched by their last segments, so `use std::time::SystemTime;`
///   does not hide a call. An intended exception is marked on its statement
///   with `#[durable::allow_nondeterministic]`, which the macro removes:
///
///   ```
///   # use durable::prelude::*;
///   #[workflow]
///   async fn timed(ctx: Ctx) -> Result<(), Error> {
///       #[durable::allow_nondeterministic] // the duration is only logged
///       let started = std::time::Instant::now();
///       ctx.run("work", async || Ok::<_, StepError>(())).await?;
///       ctx.progress(format!("took {:?}", started.elapsed()));
///       Ok(())
///   }
///   ```
///
/// ```compile_fail
/// use durable::prelude::*;
///
/// #[workflow]
/// async fn twice(ctx: Ctx) -> Result<(), Error> {
///     ctx.run("charge", async || Ok::<_, StepError>(())).await?;
///     ctx.run("charge", async || Ok::<_, StepError>(())).await?; // error: duplicate step name
///     Ok(())
/// }
/// ```
///
/// ```compile_fail
/// use durable::prelude::*;
///
/// #[workflow]
/// async fn stamp(ctx: Ctx) -> Result<(), Error> {
///     let _at = std::time::SystemTime::now(); // error: reads the clock; write `ctx.now("name")`
///     Ok(())
/// }
/// ```
///
/// ```compile_fail
/// use durable::prelude::*;
///
/// #[workflow(retries = 3)] // error: unknown option `retries`
/// async fn nap(ctx: Ctx) -> Result<(), Error> { Ok(()) }
/// ```
///
/// ```compile_fail
/// use durable::prelude::*;
///
/// #[workflow]
/// async fn nap(ctx: Ctx) -> Result<(), Error> {
///     ctx.sleep("nap", "5 minutes").await?; // error: invalid duration
///     Ok(())
/// }
/// ```
pub use durable_macros::workflow;

/// The names a workflow file needs: `use durable::prelude::*;`.
///
/// Everything the README's tour uses is here:
///
/// ```
/// use durable::prelude::*;
///
/// use durable::Branch;
///
/// fn _tour_names(_: FanOut, _: Failure, _: LogLevel, _: StepStatus, _: Retention, _: RunStatus) {}
/// let _parallel_branch: Branch<'_, u32> = branch(async |_ctx: Ctx| Ok(1));
/// // Event and log types are at the crate root too (and still under `store`).
/// let _: Option<(durable::SentEvent, durable::LogLine)> = None;
/// let _: Option<(durable::store::SentEvent, durable::store::LogLine)> = None;
/// ```
pub mod prelude {
    pub use crate::Event;
    pub use crate::{
        Ctx, Engine, Error, Failure, FanOut, LogLevel, Retention, Retry, RunHandle, RunId,
        RunStatus, StepError, StepStatus, TriggerOptions, Workflow, branch, workflow,
    };
    pub use schemars::JsonSchema;
    pub use serde::{Deserialize, Serialize};
    pub use serde_json::json;
}

/// What the code generated by `#[workflow]` refers to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::ctx::workflow::{HasJsonSchema, NoJsonSchema, SchemaOf, WorkflowResult};
    pub use crate::{
        CancelOn, Concurrency, Ctx, Debounce, Engine, Error, Event, EventTrigger, EventType,
        Failure, Field, Overlap, RunHandle, StepKind, StepManifest, Throttle, TriggerOptions,
        Workflow,
    };
    pub use schemars;
    pub use serde;
    pub use serde_json;
}
