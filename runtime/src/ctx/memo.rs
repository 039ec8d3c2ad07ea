//! Recorded values: [`Ctx::now`] and [`Ctx::uuid`], made once and replayed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Ctx, StepName};
use crate::core::replay::StepStart;
use crate::model::error::Error;
use crate::model::journal::StepRecord;
use crate::model::status::StepStatus;
use crate::model::workflow::StepKind;

impl Ctx {
    /// The current time, recorded: a replay returns the same time.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for clock errors.
    pub async fn now(&self, name: impl Into<StepName>) -> Result<SystemTime, Error> {
        let clock = self.run.env.clock.clone();
        let ms: i64 = self
            .memoized(self.full_name(name), StepKind::Now, move || clock.now_ms())
            .await;
        Ok(UNIX_EPOCH + Duration::from_millis(ms.max(0).unsigned_abs()))
    }

    /// A random UUID (v4), recorded: a replay returns the same one.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for future failure modes.
    pub async fn uuid(&self, name: impl Into<StepName>) -> Result<uuid::Uuid, Error> {
        Ok(self
            .memoized(self.full_name(name), StepKind::Uuid, uuid::Uuid::new_v4)
            .await)
    }

    async fn memoized<T: Serialize + DeserializeOwned>(
        &self,
        name: StepName,
        kind: StepKind,
        make: impl FnOnce() -> T,
    ) -> T {
        let name = name.as_str();
        let seq = match self.reach(name, kind).await {
            StepStart::Recorded(record) if record.status == StepStatus::Completed => {
                return self.decode(name, record.output.as_deref()).await;
            }
            StepStart::Recorded(record) => record.seq,
            StepStart::New { seq } => seq,
        };
        let value = make();
        let output = self.encode(name, &value).await;
        let record = self.record(name, seq, kind, StepStatus::Completed);
        // Nothing outside the run saw the value yet: its record goes with
        // the run's next write.
        self.save_later(StepRecord {
            output: Some(output),
            attempts: 1,
            ..record
        });
        value
    }
}
