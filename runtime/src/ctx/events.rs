//! Events and signals in a run: `wait_for_event`, `listen` and `send_event`
//! (`Engine::send_event` and `Engine::signal` send from outside).
//!
//! An event goes to every run waiting for its name whose filter its data
//! contains (JSON containment). A signal goes to one run: the oldest
//! `listen` of that name in it, and a signal sent before the run listens is
//! kept until it does. Registering a wait and sending an event are each one
//! transaction of the store's single writer, so an event sent after a wait
//! was registered always reaches it, across crashes.
//!
//! **Lookback.** By default a wait sees only events sent after it was
//! registered. With [`WaitForEvent::lookback`], events sent up to that long
//! before the wait count too (the oldest match wins), which closes the race
//! of an event sent just before the run reached its wait. An event a wait of
//! the run took already (from its lookback or sent to it) is not offered to
//! a later lookback wait of the same run, so a loop waiting for "the next"
//! event gets each once; other runs still see it. A wait's recorded output
//! is `{"data": .., "event_id": ..}`.
//!
//! A run that ended takes no more events: a step it left waiting stays
//! `waiting`.

use std::future::IntoFuture;
use std::marker::PhantomData;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Ctx, StepName, WakeUp};
use crate::core::replay::StepStart;
use crate::model::duration::{IntoDuration, millis};
use crate::model::error::Error;
use crate::model::event::{Event, Field};
use crate::model::journal::{StepRecord, Wait};
use crate::model::status::StepStatus;
use crate::model::sync::BoxFuture;
use crate::model::workflow::StepKind;
use crate::store::NewEvent;

/// A wait for an event or a signal: configure it, then `.await` it.
///
/// Resolves to `Ok(Some(data))` when an event arrives, `Ok(None)` when the
/// timeout passes first. Built by [`Ctx::wait_for_event`] and
/// [`Ctx::listen`].
#[must_use = "a wait does nothing until it is awaited"]
pub struct WaitForEvent<'a, T> {
    ctx: &'a Ctx,
    name: StepName,
    event: String,
    kind: StepKind,
    filter: Result<Option<serde_json::Value>, Error>,
    timeout: Result<Option<Duration>, Error>,
    lookback: Result<Option<Duration>, Error>,
    payload: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for WaitForEvent<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitForEvent")
            .field("name", &self.name)
            .field("event", &self.event)
            .finish_non_exhaustive()
    }
}

impl<'a, T: DeserializeOwned + Send + 'a> WaitForEvent<'a, T> {
    /// Only events whose data contains `filter` (JSON containment:
    /// `{"orderId": "o-1"}` matches any object with that key and value).
    pub fn matching(mut self, filter: impl Serialize) -> Self {
        self.filter =
            serde_json::to_value(&filter)
                .map(Some)
                .map_err(|error| Error::Serialization {
                    what: format!("filter of step {:?}", self.name.as_str()),
                    message: error.to_string(),
                });
        self
    }

    /// Gives up after `timeout`: the wait then resolves to `None`. A zero
    /// timeout takes only an event already there (see
    /// [`lookback`](Self::lookback)); `Duration::MAX` never gives up in
    /// practice.
    pub fn timeout(mut self, timeout: impl IntoDuration) -> Self {
        self.timeout = timeout.into_duration().map(Some);
        self
    }

    /// Lets events sent up to `window` before the wait satisfy it, except
    /// those an earlier wait of this run took (see the module docs).
    pub fn lookback(mut self, window: impl IntoDuration) -> Self {
        self.lookback = window.into_duration().map(Some);
        self
    }

    async fn wait(self) -> Result<Option<T>, Error> {
        let WaitForEvent {
            ctx,
            name,
            event,
            kind,
            filter,
            timeout,
            lookback,
            ..
        } = self;
        let (filter, timeout, lookback) = (filter?, timeout?, lookback?);
        let filter = filter.map(|filter| filter.to_string());
        if event.is_empty() {
            return Err(Error::InvalidEvent("an event name cannot be empty".into()));
        }
        let name = name.as_str();
        let output = match ctx.reach(name, kind).await {
            StepStart::Recorded(record) if record.status == StepStatus::Completed => {
                record.output.unwrap_or_else(|| "null".into())
            }
            StepStart::Recorded(record) => ctx.await_wait(name, record.wake_at).await,
            StepStart::New { seq } => {
                let now = ctx.run.env.clock.now_ms();
                let wake_at = timeout.map(|timeout| now.saturating_add(millis(timeout)));
                let record = StepRecord {
                    wake_at,
                    ..ctx.record(name, seq, kind, StepStatus::Waiting)
                };
                let wait = if kind == StepKind::Listen {
                    Wait::Signal {
                        name: event.clone(),
                    }
                } else {
                    Wait::Event {
                        name: event.clone(),
                        filter,
                        lookback_from: lookback.map(|window| now.saturating_sub(millis(window))),
                    }
                };
                let store = &ctx.run.env.store;
                let lease = ctx.run.lease;
                let satisfied = ctx
                    .persist(name, || {
                        store.register_wait(lease, record.clone(), wait.clone())
                    })
                    .await?;
                match satisfied {
                    Some(output) => output,
                    None => ctx.await_wait(name, wake_at).await,
                }
            }
        };
        decode_event(name, &event, &output)
    }
}

impl<'a, T: DeserializeOwned + Send + 'a> IntoFuture for WaitForEvent<'a, T> {
    type Output = Result<Option<T>, Error>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.wait())
    }
}

impl<'a, E: Event> WaitForEvent<'a, E> {
    /// Only events whose field `field` equals `value`: the typed form of
    /// [`matching`](Self::matching), for waits made with [`Ctx::wait_for`].
    /// The field is one of `E::fields()`, so a field `E` does not have, a
    /// field of another event type, or a value of another type does not
    /// compile. Calls add up (every field must match), and add to a
    /// `matching` object written before them.
    ///
    /// ```no_run
    /// # use durable::prelude::*;
    /// #[derive(Serialize, Deserialize, JsonSchema, Event)]
    /// #[event(name = "shipment.label.scanned")]
    /// struct ShipmentScanned { order_id: String, tracking: String }
    ///
    /// # async fn f(ctx: Ctx) -> Result<(), Error> {
    /// let scan: Option<ShipmentScanned> = ctx
    ///     .wait_for::<ShipmentScanned>("scan")
    ///     .matching_field(ShipmentScanned::fields().order_id, "o-1")
    ///     .timeout("7d")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn matching_field<V: Serialize>(mut self, field: Field<E, V>, value: impl Into<V>) -> Self {
        let value = serde_json::to_value(value.into()).map_err(|error| Error::Serialization {
            what: format!(
                "filter field `{}` of step {:?}",
                field.key(),
                self.name.as_str()
            ),
            message: error.to_string(),
        });
        self.filter = match (self.filter, value) {
            (Err(error), _) | (_, Err(error)) => Err(error),
            (Ok(None), Ok(value)) => Ok(Some(serde_json::json!({ field.key(): value }))),
            (Ok(Some(serde_json::Value::Object(mut fields))), Ok(value)) => {
                fields.insert(field.key().to_owned(), value);
                Ok(Some(serde_json::Value::Object(fields)))
            }
            (Ok(Some(_)), Ok(_)) => Err(Error::Serialization {
                what: format!("filter of step {:?}", self.name.as_str()),
                message: "a field filter adds to an object filter; `matching` gave another value"
                    .into(),
            }),
        };
        self
    }
}

/// Reads a wait's recorded output: `null` for a timeout, `{"data": ..}` for
/// an event.
fn decode_event<T: DeserializeOwned>(
    step: &str,
    event: &str,
    output: &str,
) -> Result<Option<T>, Error> {
    let payload_error = |message: String| Error::EventPayload {
        step: step.to_owned(),
        event: event.to_owned(),
        message,
    };
    let mut value: serde_json::Value =
        serde_json::from_str(output).map_err(|e| payload_error(e.to_string()))?;
    if value.is_null() {
        return Ok(None);
    }
    let data = value
        .get_mut("data")
        .map(serde_json::Value::take)
        .unwrap_or_default();
    crate::core::json::decode_json(&data)
        .map(Some)
        .map_err(payload_error)
}

impl Ctx {
    /// Waits for an event named `event`, as the step `name`. The wait is
    /// durable: the run is suspended (no task, no memory) until a matching
    /// event arrives or the timeout passes.
    ///
    /// ```no_run
    /// # use durable::prelude::*;
    /// # #[derive(Deserialize)] struct Scan { location: String }
    /// # async fn f(ctx: Ctx) -> Result<(), Error> {
    /// let scan: Option<Scan> = ctx
    ///     .wait_for_event("shipment-scanned", "shipment.label.scanned")
    ///     .matching(json!({ "orderId": "o-1" }))
    ///     .timeout("7d")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::EventPayload`] when the event's data does not fit `T`;
    /// [`Error::InvalidDuration`] for a bad timeout or lookback.
    pub fn wait_for_event<T: DeserializeOwned + Send>(
        &self,
        name: impl Into<StepName>,
        event: impl Into<String>,
    ) -> WaitForEvent<'_, T> {
        self.event_wait(name, event, StepKind::WaitForEvent)
    }

    /// Waits for a signal named `signal` sent to this run with
    /// [`Engine::signal`](crate::Engine::signal). A signal sent before the run listens is kept for
    /// it; each signal is taken by one `listen`.
    ///
    /// # Errors
    ///
    /// As for [`wait_for_event`](Ctx::wait_for_event).
    pub fn listen<T: DeserializeOwned + Send>(
        &self,
        name: impl Into<StepName>,
        signal: impl Into<String>,
    ) -> WaitForEvent<'_, T> {
        self.event_wait(name, signal, StepKind::Listen)
    }

    /// Waits for an event of type `E`, as the step `name`: the typed form of
    /// [`wait_for_event`](Ctx::wait_for_event), with the same options
    /// (`timeout`, `lookback`, `matching`) and typed filters
    /// ([`matching_field`](WaitForEvent::matching_field)). The event's name
    /// is `E::NAME`, and `#[workflow]` records `E`'s schema in the catalog.
    ///
    /// ```no_run
    /// # use durable::prelude::*;
    /// #[derive(Serialize, Deserialize, JsonSchema, Event)]
    /// #[event(name = "shipment.label.scanned")]
    /// struct ShipmentScanned { order_id: String, tracking: String }
    ///
    /// # async fn f(ctx: Ctx) -> Result<(), Error> {
    /// let scan: Option<ShipmentScanned> = ctx.wait_for::<ShipmentScanned>("scan").timeout("7d").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`wait_for_event`](Ctx::wait_for_event).
    pub fn wait_for<E: Event>(&self, name: impl Into<StepName>) -> WaitForEvent<'_, E> {
        self.event_wait(name, E::NAME, StepKind::WaitForEvent)
    }

    fn event_wait<T>(
        &self,
        name: impl Into<StepName>,
        event: impl Into<String>,
        kind: StepKind,
    ) -> WaitForEvent<'_, T> {
        WaitForEvent {
            ctx: self,
            name: self.full_name(name),
            event: event.into(),
            kind,
            filter: Ok(None),
            timeout: Ok(None),
            lookback: Ok(None),
            payload: PhantomData,
        }
    }

    /// Sends an event from this run, as the step `name`: the event is stored
    /// in the same transaction that records the step, so it is sent exactly
    /// once however often the run replays. Like
    /// [`Engine::send_event`](crate::Engine::send_event), it wakes the
    /// runs waiting for it and starts the workflows whose `on_event` it
    /// matches, in that transaction. Returns the event's id.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEvent`] for an empty name, and for data that does
    /// not fit the JSON Schema of a typed event of that name (see
    /// [`Engine::send_event`](crate::Engine::send_event)), naming the field;
    /// [`Error::Serialization`] or [`Error::PayloadTooLarge`] for data that
    /// cannot be sent. The run fails with the error unless the workflow
    /// handles it.
    pub async fn send_event(
        &self,
        name: impl Into<StepName>,
        event: impl Into<String>,
        data: impl Serialize,
    ) -> Result<i64, Error> {
        let event: String = event.into();
        // Refused as `Engine::send_event` refuses it: no waiter can name it.
        if event.is_empty() {
            return Err(Error::InvalidEvent("an event name cannot be empty".into()));
        }
        let name = self.full_name(name);
        let name = name.as_str();
        let data = event_data(&data, self.run.env.limits.max_input_bytes)?;
        let now = self.run.env.clock.now_ms();
        let seq = match self.reach(name, StepKind::SendEvent).await {
            StepStart::Recorded(record) if record.status == StepStatus::Completed => {
                return record.output.and_then(|id| id.parse().ok()).ok_or_else(|| {
                    Error::Serialization {
                        what: format!("recorded event id of step {name:?}"),
                        message: "not an integer".into(),
                    }
                });
            }
            StepStart::Recorded(record) => record.seq,
            StepStart::New { seq } => seq,
        };
        // Checked only when the send happens, not in the replays of a sent one.
        let env = &self.run.env;
        env.event_types.check(&*env.store, &event, &data).await?;
        let record = StepRecord {
            attempts: 1,
            ..self.record(name, seq, StepKind::SendEvent, StepStatus::Completed)
        };
        let lease = self.run.lease;
        let (event, data) = (&event, &data);
        let sent = self
            .persist(name, || {
                let record = record.clone();
                Box::pin(async move {
                    // Decided once the step is known to be new (a replay
                    // sends nothing), and again if the write is retried.
                    let (starts, trigger_errors) = env.event_starts.plan(event, data, now).await?;
                    let event = NewEvent {
                        name: event.clone(),
                        data: data.clone(),
                        target: None,
                        now,
                        starts,
                        trigger_errors,
                    };
                    env.store.send_event(event, Some((lease, record))).await
                })
            })
            .await?;
        // Last: this run may be among the runs it cancelled.
        if !sent.woken.is_empty() || !sent.started.is_empty() {
            self.run.env.dispatch.notify_one();
        }
        self.run.env.stop_cancelled(&sent.cancelled);
        Ok(sent.id)
    }

    /// Publishes the event `event` from this run, as the step `name`: the
    /// typed form of [`send_event`](Ctx::send_event) (the name is
    /// `E::NAME`), sent exactly once however often the run replays. Returns
    /// the event's id. Write the type (`ctx.publish::<E>(..)`) or a struct
    /// literal for `#[workflow]` to record the event type in the catalog.
    ///
    /// ```no_run
    /// # use durable::prelude::*;
    /// #[derive(Serialize, Deserialize, JsonSchema, Event)]
    /// #[event(name = "order.shipped")]
    /// struct OrderShipped { order_id: String }
    ///
    /// # async fn f(ctx: Ctx) -> Result<(), Error> {
    /// ctx.publish("announce", OrderShipped { order_id: "o-1".into() }).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`send_event`](Ctx::send_event).
    pub async fn publish<E: Event>(
        &self,
        name: impl Into<StepName>,
        event: E,
    ) -> Result<i64, Error> {
        self.send_event(name, E::NAME, event).await
    }

    /// Waits for a registered wait to be satisfied, or resolves it at its
    /// timeout. Returns the step's recorded output.
    pub(super) async fn await_wait(&self, name: &str, wake_at: Option<i64>) -> String {
        let now = self.run.env.clock.now_ms();
        match wake_at {
            Some(at) if at <= now => {
                let store = &self.run.env.store;
                let lease = self.run.lease;
                match self
                    .persist(name, || store.resolve_wait(lease, name.to_owned(), now))
                    .await
                {
                    Ok(output) => output,
                    Err(error) => self.stop(error).await,
                }
            }
            // An event or a child's end completes the step in the store and
            // makes the run due; it then resumes by replay.
            Some(at) => self.suspend(WakeUp::Timeout(at)).await,
            None => self.suspend(WakeUp::External).await,
        }
    }
}

/// Serializes event data and checks its size.
pub(crate) fn event_data(data: &impl Serialize, limit: usize) -> Result<String, Error> {
    let text = serde_json::to_string(data).map_err(|error| Error::Serialization {
        what: "event data".into(),
        message: error.to_string(),
    })?;
    if text.len() > limit {
        return Err(Error::PayloadTooLarge {
            what: "event data".into(),
            size: text.len(),
            limit,
            limit_name: "max_input_bytes",
        });
    }
    Ok(text)
}
