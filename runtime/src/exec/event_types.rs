//! The typed events an engine knows: the data of an event sent under a
//! typed name, from outside (`Engine::send_event`) or from a run
//! (`Ctx::send_event`), must fit the event's JSON Schema before it is
//! stored.

use crate::core::catalog::Validators;
use crate::model::error::{Error, clip};
use crate::model::event::EventTypeInfo;
use crate::store::Store;

/// The typed events of the registered workflows, and their compiled
/// schemas.
pub(crate) struct EventTypes {
    /// The event types the registered workflows wait for or publish.
    registered: Vec<EventTypeInfo>,
    /// Their schemas, and the catalog's, compiled once each.
    validators: Validators,
}

impl EventTypes {
    /// The checker of the event types `registered`.
    pub(crate) fn new(registered: Vec<EventTypeInfo>) -> Self {
        EventTypes {
            registered,
            validators: Validators::default(),
        }
    }

    /// Checks the data (JSON text) of an event named `name` against the
    /// event's type, when it is typed: the schema of a registered
    /// workflow's event, or else the catalog's most recently seen one (a
    /// typed event another engine's workflows wait for). Untyped names pass
    /// (their data is not even parsed again).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEvent`] naming the field that does not fit; a
    /// database error reading the catalog.
    pub(crate) async fn check(
        &self,
        store: &dyn Store,
        name: &str,
        data: &str,
    ) -> Result<(), Error> {
        let recorded;
        let event = match self.registered.iter().find(|event| event.name == name) {
            Some(event) => event,
            None => {
                recorded = store.event_type(name.to_owned()).await?;
                match &recorded {
                    Some(event) => event,
                    None => return Ok(()),
                }
            }
        };
        let data: serde_json::Value = serde_json::from_str(data).map_err(|error| {
            Error::InvalidEvent(format!(
                "the data of event `{}` is not JSON: {error}",
                clip(name)
            ))
        })?;
        let key = format!("event {name}");
        self.validators
            .validate((&key, &event.fingerprint), &event.schema, &data)
            .map_err(|message| {
                Error::InvalidEvent(format!(
                    "the data of event `{}` does not fit its type: {message}",
                    clip(name)
                ))
            })
    }
}
