//! What sending an event did.

use crate::model::ids::RunId;

/// What sending an event did ([`Engine::send_event`](crate::Engine::send_event), [`Ctx::send_event`](crate::Ctx::send_event)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentEvent {
    /// The event's id (`wf_event.id`).
    pub id: i64,
    /// The runs whose waits it satisfied.
    pub woken: Vec<RunId>,
    /// The runs it started: one per workflow with a matching
    /// `#[workflow(on_event = ..)]`, created in the transaction that
    /// stored the event (see [`RunInfo::event_id`](crate::RunInfo::event_id)).
    pub started: Vec<RunId>,
    /// The runs it cancelled (`#[workflow(cancel_on(..))]`), with their
    /// descendants, in the transaction that stored the event; each one's
    /// error names the event.
    pub cancelled: Vec<RunId>,
    /// The workflows whose `on_event` matched but whose input the data does
    /// not fit: no run of them was started (also on the event's record,
    /// [`EventInfo::trigger_errors`](crate::EventInfo::trigger_errors)).
    pub trigger_errors: Vec<TriggerError>,
}

/// A workflow an event matched (`#[workflow(on_event = ..)]`) but could not
/// start, because the event's data does not fit the workflow's input.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TriggerError {
    /// The workflow's name.
    pub workflow: String,
    /// What does not fit, naming the field
    /// (`the data does not fit the input of workflow "ship": order_id: missing field`).
    pub error: String,
}

/// An event as a type: its name and its payload cannot disagree. Derive it
/// with `#[derive(Event)]` and `#[event(name = "...")]` beside serde's and
/// schemars' derives; do not implement it by hand.
///
/// ```
/// use durable::prelude::*;
///
/// #[derive(Serialize, Deserialize, JsonSchema, Event)]
/// #[event(name = "shipment.label.scanned")]
/// struct ShipmentScanned { order_id: String, tracking: String }
///
/// assert_eq!(<ShipmentScanned as Event>::NAME, "shipment.label.scanned");
/// assert_eq!(ShipmentScanned::fields().order_id.key(), "order_id");
/// assert_eq!(ShipmentScanned::schema()["required"][0], "order_id");
/// ```
pub trait Event: serde::Serialize + serde::de::DeserializeOwned + Send + 'static {
    /// The event's name, as `wf_event.name` stores it and waits ask for it.
    const NAME: &'static str;

    /// One [`Field`] per field of the event, by the field's Rust name: the
    /// typed filters of [`WaitForEvent::matching_field`](crate::WaitForEvent::matching_field).
    type Fields;

    /// The event's fields (see [`Fields`](Self::Fields)).
    fn fields() -> Self::Fields;

    /// The JSON Schema of the event's data, recorded in the catalog and
    /// checked against every event of this name sent from outside.
    fn schema() -> serde_json::Value;
}

/// A typed event as the catalog needs it: its name and how to get its
/// schema. `#[workflow]` lists one per event type a workflow waits for
/// (`ctx.wait_for::<E>`) or publishes (`ctx.publish::<E>`) in
/// [`Workflow::EVENTS`](crate::Workflow::EVENTS).
#[derive(Debug, Clone, Copy)]
pub struct EventType {
    /// The event's name ([`Event::NAME`]).
    pub name: &'static str,
    /// The event's JSON Schema ([`Event::schema`]).
    pub schema: fn() -> serde_json::Value,
}

impl EventType {
    /// The entry of the event type `E`.
    ///
    /// ```
    /// use durable::prelude::*;
    /// # #[derive(Serialize, Deserialize, JsonSchema, Event)]
    /// # #[event(name = "ping")]
    /// # struct Ping { at: u64 }
    /// const PING: durable::EventType = durable::EventType::of::<Ping>();
    /// assert_eq!(PING.name, "ping");
    /// ```
    pub const fn of<E: Event>() -> Self {
        EventType {
            name: E::NAME,
            schema: E::schema,
        }
    }
}

/// A field of the event type `E` whose values are of type `V`: what a typed
/// filter names (`ShipmentScanned::fields().order_id`), so that a field the
/// event does not have, a field of another event, or a value of another type
/// does not compile.
///
/// ```compile_fail
/// use durable::prelude::*;
/// #[derive(Serialize, Deserialize, JsonSchema, Event)]
/// #[event(name = "ping")]
/// struct Ping { count: u64 }
/// async fn f(ctx: Ctx) -> Result<(), Error> {
///     // `count` is a number: a string does not compile.
///     let _: Option<Ping> = ctx.wait_for::<Ping>("ping").matching_field(Ping::fields().count, "3").await?;
///     Ok(())
/// }
/// ```
pub struct Field<E, V> {
    key: &'static str,
    types: std::marker::PhantomData<fn() -> (E, V)>,
}

impl<E, V> Field<E, V> {
    /// The field whose JSON key is `key` (what `#[derive(Event)]` calls,
    /// with the key serde writes, renames applied).
    #[doc(hidden)]
    pub const fn new(key: &'static str) -> Self {
        Field {
            key,
            types: std::marker::PhantomData,
        }
    }

    /// The field's key in the event's JSON data.
    pub const fn key(&self) -> &'static str {
        self.key
    }
}

impl<E, V> Clone for Field<E, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E, V> Copy for Field<E, V> {}

impl<E, V> std::fmt::Debug for Field<E, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Field").field(&self.key).finish()
    }
}

/// A typed event type as the catalog records it (`wf_event_type`): what
/// any process with the database knows of an event name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EventTypeInfo {
    /// The event's name.
    pub name: String,
    /// 16 hex digits of a SHA-256 over the schema: two engines whose types
    /// of one name differ record two rows.
    pub fingerprint: String,
    /// The JSON Schema of the event's data.
    pub schema: serde_json::Value,
    /// When an engine first recorded it (ms since the epoch).
    pub first_seen: i64,
    /// When an engine that knows it last started (ms since the epoch).
    pub last_seen: i64,
}
