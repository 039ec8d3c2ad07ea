//! The options of a fork: a new run that keeps another run's journal up to
//! a step and runs from there.

use serde::Serialize;

use crate::model::error::Error;

/// What [`Engine::fork`](crate::Engine::fork) (and
/// [`RunHandle::fork`](crate::RunHandle::fork)) starts a new run from: the
/// step of the ended run to run again from, and optionally another input.
///
/// ```
/// use durable::ForkOptions;
/// // Run "ship" and every step after it again, with the source's input.
/// let replay = ForkOptions::from_step("ship");
/// // The same, with an edited input.
/// let edited = ForkOptions::from_step("ship")
///     .input(serde_json::json!({"order_id": "o-1", "express": true}))
///     .unwrap();
/// assert_eq!(edited.step(), "ship");
/// # let _ = replay;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ForkOptions {
    pub(crate) from_step: String,
    pub(crate) input: Option<serde_json::Value>,
}

impl ForkOptions {
    /// Runs again from the step recorded as `name` (as in
    /// [`StepInfo::name`](crate::StepInfo::name), e.g. `charge` or, in a
    /// fan-out, `charge-all[3]/charge`): the steps the source reached
    /// before it are replayed from its journal, it and every later step
    /// execute.
    pub fn from_step(name: impl Into<String>) -> Self {
        ForkOptions {
            from_step: name.into(),
            input: None,
        }
    }

    /// Starts the fork with this input instead of the source's, checked
    /// against the workflow's input type as a trigger's is. Steps replayed
    /// from the journal keep the outputs they recorded with the old input.
    ///
    /// # Errors
    ///
    /// [`Error::Serialization`] when `input` cannot be serialized.
    pub fn input(mut self, input: impl Serialize) -> Result<Self, Error> {
        let value = serde_json::to_value(input).map_err(|error| Error::Serialization {
            what: "the input of a fork".into(),
            message: error.to_string(),
        })?;
        self.input = Some(value);
        Ok(self)
    }

    /// The step the fork runs again from.
    pub fn step(&self) -> &str {
        &self.from_step
    }
}
