//! Saving a run's step results: the records kept unsaved until the run's
//! next write, and the writes a run depends on, retried in-process.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Ctx;
use crate::model::error::Error;
use crate::model::journal::StepRecord;
use crate::model::sync::BoxFuture;

/// How many times a write the run depends on is tried before the run is
/// handed back for a later execution.
const WRITE_ATTEMPTS: u32 = 8;

impl Ctx {
    /// Keeps a completed step's record to write with the run's next write
    /// (see `RunState::unsaved`), instead of waiting for a write of its
    /// own: the run goes on at once. A crash before that write runs the step
    /// again, as a crash before its own write would have.
    pub(super) fn save_later(&self, record: StepRecord) {
        self.run.state().unsaved.push(record);
    }

    /// Writes the records `RunState::unsaved` holds, all at once, before
    /// what must come after them: a step body (which runs only once the
    /// results before it are committed), or another write of the run. When
    /// this returns, every record kept before it was called is written,
    /// also by another branch of the run (then this one writes nothing, so
    /// the branches of a fan-out share writes instead of queueing for one
    /// each); a lost lease or a store that stays down ends the run.
    pub(super) async fn save_unsaved(&self) {
        // The records this caller waits for are those kept before it asked;
        // one kept meanwhile by a concurrent branch may be written later.
        let mark = self.run.state().unsaved.mark();
        let _turn = self.run.saving.lock().await;
        let Some(batch) = self.run.state().unsaved.batch_for(mark) else {
            return;
        };
        let store = &self.run.env.store;
        let lease = self.run.lease;
        let writes = batch.records.iter().map(|record| {
            self.persist_now(&record.name, || store.save_step(lease, record.clone()))
        });
        for written in futures_util::future::join_all(writes).await {
            if let Err(error) = written {
                self.stop(error).await
            }
        }
        self.run.state().unsaved.written(&batch);
    }

    /// Writes a step record, retrying storage errors in-process; ends the run
    /// if the lease is lost or the store stays down.
    pub(super) async fn save(&self, record: StepRecord) {
        let store = &self.run.env.store;
        let lease = self.run.lease;
        let result = self
            .persist(&record.name, || store.save_step(lease, record.clone()))
            .await;
        if let Err(error) = result {
            self.stop(error).await
        }
    }

    /// Runs a write the run depends on, after the records the run keeps
    /// unsaved ([`Ctx::save_unsaved`]), retrying storage errors in-process.
    /// A lost lease, or a store that stays down, ends the run (this never
    /// returns then); any other refusal is returned.
    pub(super) async fn persist<'s, T>(
        &self,
        step: &str,
        write: impl FnMut() -> BoxFuture<'s, Result<T, Error>>,
    ) -> Result<T, Error> {
        self.save_unsaved().await;
        self.persist_now(step, write).await
    }

    /// [`Ctx::persist`] without writing the unsaved records first.
    async fn persist_now<'s, T>(
        &self,
        step: &str,
        mut write: impl FnMut() -> BoxFuture<'s, Result<T, Error>>,
    ) -> Result<T, Error> {
        // The branch that waits for this write goes on after it, so the run
        // does not suspend while the write is in flight: a sibling branch's
        // suspension waits for it instead of leaving this branch behind.
        // Waiting for the store is not work: the slot may go to another run.
        let written = self
            .wait_in_memory(async {
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    match write().await {
                        Ok(value) => return Ok(value),
                        Err(Error::Database(error)) if attempt < WRITE_ATTEMPTS => {
                            tracing::warn!(run_id = %self.run_id(), step, %error, attempt, "retrying a write");
                            tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
                        }
                        Err(error) => return Err(error),
                    }
                }
            })
            .await;
        match written {
            Err(error @ (Error::LeaseLost { .. } | Error::Database(_))) => self.stop(error).await,
            written => written,
        }
    }

    pub(super) async fn encode<T: Serialize>(&self, name: &str, value: &T) -> String {
        let limit = self.run.env.limits.max_step_output_bytes;
        match serde_json::to_string(value) {
            Ok(text) if text.len() <= limit => text,
            Ok(text) => {
                self.stop(Error::PayloadTooLarge {
                    what: format!("output of step {name:?}"),
                    size: text.len(),
                    limit,
                    limit_name: "max_step_output_bytes",
                })
                .await
            }
            Err(error) => {
                self.stop(Error::Serialization {
                    what: format!("output of step {name:?}"),
                    message: error.to_string(),
                })
                .await
            }
        }
    }

    pub(super) async fn decode<T: DeserializeOwned>(&self, name: &str, text: Option<&str>) -> T {
        match serde_json::from_str(text.unwrap_or("null")) {
            Ok(value) => value,
            Err(error) => {
                self.stop(Error::Serialization {
                    what: format!(
                        "recorded output of step {name:?} (does its type still match the journal?)"
                    ),
                    message: error.to_string(),
                })
                .await
            }
        }
    }
}
