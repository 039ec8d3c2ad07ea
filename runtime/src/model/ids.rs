//! The id of a run.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The id of a run (`wf_instance.id`), a time-ordered UUID (v7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub uuid::Uuid);

impl RunId {
    pub(crate) fn new() -> Self {
        RunId(uuid::Uuid::now_v7())
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for RunId {
    type Err = uuid::Error;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(RunId(text.parse()?))
    }
}
