//! Events and signals sent from outside a run: [`Engine::send_event`] and
//! [`Engine::signal`] (the waits are in `ctx::events`, the runs events
//! start are decided in `sources::events`).

use serde::Serialize;

use super::Engine;
use crate::ctx::events::event_data;
use crate::engine::core::EngineCore;
use crate::model::error::Error;
use crate::model::event::{Event, SentEvent};
use crate::model::ids::RunId;
use crate::store::NewEvent;

impl Engine {
    /// Sends an event to every run waiting for it (see
    /// [`Ctx::wait_for_event`](crate::Ctx::wait_for_event)), and starts one
    /// run of each workflow whose `#[workflow(on_event = ..)]` it matches,
    /// in the same transaction (see the README's "Started by an event").
    /// Returns the event's id, the runs it woke and the runs it started;
    /// a workflow whose input the data does not fit is not started, and is
    /// named in [`SentEvent::trigger_errors`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEvent`] for an empty name, [`Error::PayloadTooLarge`],
    /// or a database error. Nothing is written when it fails.
    ///
    /// When the name is that of a typed event (see [`publish`](Engine::publish))
    /// that a workflow of this engine or of the catalog waits for or
    /// publishes, the data must fit the event's JSON Schema:
    /// [`Error::InvalidEvent`] names the field that does not.
    pub async fn send_event(&self, event: &str, data: impl Serialize) -> Result<SentEvent, Error> {
        let data = event_data(&data, self.core.env.limits.max_input_bytes)?;
        let env = &self.core.env;
        env.event_types.check(&*env.store, event, &data).await?;
        self.core.deliver(event, data, None).await
    }

    /// Publishes the typed event `event` to every run waiting for it
    /// ([`Ctx::wait_for`](crate::Ctx::wait_for)): the typed form of
    /// [`send_event`](Engine::send_event), named `E::NAME`.
    ///
    /// ```
    /// use durable::prelude::*;
    ///
    /// #[derive(Serialize, Deserialize, JsonSchema, Event)]
    /// #[event(name = "shipment.label.scanned")]
    /// struct ShipmentScanned { order_id: String, tracking: String }
    ///
    /// #[workflow(name = "ship")]
    /// async fn ship(ctx: Ctx, order_id: String) -> Result<String, Error> {
    ///     let scan = ctx
    ///         .wait_for::<ShipmentScanned>("scan")
    ///         .matching_field(ShipmentScanned::fields().order_id, order_id)
    ///         .lookback("1h")
    ///         .await?;
    ///     Ok(scan.map(|scan| scan.tracking).unwrap_or_default())
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let engine = Engine::builder().sqlite_memory().register(Ship).start().await?;
    /// let run = Ship::trigger(&engine, "o-1".into()).await?;
    /// engine
    ///     .publish(ShipmentScanned { order_id: "o-1".into(), tracking: "1Z".into() })
    ///     .await?;
    /// assert_eq!(run.result().await?, "1Z");
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As [`send_event`](Engine::send_event).
    pub async fn publish<E: Event>(&self, event: E) -> Result<SentEvent, Error> {
        self.send_event(E::NAME, event).await
    }

    /// Sends an event whose data is JSON text, checked first.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEvent`] when the text is not JSON; otherwise as
    /// [`send_event`](Engine::send_event).
    pub async fn send_event_json(&self, event: &str, data: &str) -> Result<SentEvent, Error> {
        let value: serde_json::Value = serde_json::from_str(data).map_err(|error| {
            Error::InvalidEvent(format!(
                "the data of event `{}` is not JSON: {error}",
                crate::model::error::clip(event)
            ))
        })?;
        self.send_event(event, value).await
    }

    /// Sends a signal to one run (see [`Ctx::listen`](crate::Ctx::listen)). A signal the run is
    /// not yet listening for is kept until it listens.
    ///
    /// # Errors
    ///
    /// [`Error::RunNotFound`]; [`Error::InvalidTransition`] when the run has
    /// finished; otherwise as [`send_event`](Engine::send_event).
    pub async fn signal(
        &self,
        run_id: RunId,
        signal: &str,
        data: impl Serialize,
    ) -> Result<SentEvent, Error> {
        self.core.signal(run_id, signal, data).await
    }
}

impl EngineCore {
    /// Sends a signal to run `run_id`: see [`Engine::signal`].
    pub(crate) async fn signal(
        &self,
        run_id: RunId,
        signal: &str,
        data: impl Serialize,
    ) -> Result<SentEvent, Error> {
        let data = event_data(&data, self.env.limits.max_input_bytes)?;
        let info = self.run_info(run_id).await?;
        if info.status.is_terminal() {
            return Err(Error::InvalidTransition {
                run_id,
                action: "signal",
                status: info.status,
                allowed: "pending, running or suspended",
            });
        }
        self.deliver(signal, data, Some(run_id)).await
    }

    /// Stores an event (for `target` alone, a signal) and wakes the runs it
    /// satisfied.
    async fn deliver(
        &self,
        name: &str,
        data: String,
        target: Option<RunId>,
    ) -> Result<SentEvent, Error> {
        if name.is_empty() {
            return Err(Error::InvalidEvent("an event name cannot be empty".into()));
        }
        let now = self.env.clock.now_ms();
        // A signal is for its run alone: it starts no workflow.
        let (starts, trigger_errors) = match target {
            None => self.env.event_starts.plan(name, &data, now).await?,
            Some(_) => Default::default(),
        };
        let event = NewEvent {
            name: name.to_owned(),
            data,
            target,
            now,
            starts,
            trigger_errors,
        };
        let sent = self.env.store.send_event(event, None).await?;
        // The runs it cancelled that execute here stop now, as after a cancel.
        self.env.stop_cancelled(&sent.cancelled);
        if !sent.woken.is_empty() || !sent.started.is_empty() {
            self.env.dispatch.notify_one();
        }
        Ok(sent)
    }
}
