//! Storage: the store interface every backend implements, split by role, the
//! records it reads and writes, the group-commit writer the backends share,
//! and the rules they share.
//!
//! SQL lives only under this module, one sub-module per backend (`sqlite`,
//! `postgres`). The engine never sees a connection: it calls the methods of
//! `Store`, and every write that belongs to a run is fenced by the run's
//! `Lease`.

pub(crate) mod catalog;
pub(crate) mod change_notes;
pub(crate) mod changes;
pub(crate) mod listing;
pub(crate) mod maintenance;
pub(crate) mod open;
pub(crate) mod ops;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
pub(crate) mod reads;
pub(crate) mod records;
pub(crate) mod rows;
pub(crate) mod rules;
pub(crate) mod runs;
pub(crate) mod settle;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;
pub(crate) mod unserved;
pub(crate) mod wait_keys;
pub(crate) mod waits;
pub(crate) mod writer;

#[cfg(test)]
mod conformance;

pub use crate::model::event::SentEvent;
pub(crate) use crate::model::journal::{StepRecord, Wait};
pub(crate) use crate::model::lease::Lease;
pub use crate::model::log::LogLine;
pub(crate) use crate::model::outcome::RunOutcome;
pub(crate) use catalog::CatalogStore;
pub(crate) use maintenance::MaintenanceStore;
pub(crate) use reads::ReadStore;
pub(crate) use records::{
    ClaimAtCreate, ClaimRequest, ClaimedRun, CreateOutcome, DeleteFinished, FinishEffects, Flow,
    ForkOutcome, NewEvent, NewFork, NewRun, Queue, Renewal, Served, StoreSignal, TransitionOutcome,
};
pub(crate) use runs::RunStore;
pub(crate) use waits::WaitStore;

use crate::model::error::Error;

/// The storage interface of the engine. One implementation per backend;
/// all of them pass the same conformance tests.
///
/// Methods that write for a run that a worker executes take its [`Lease`] and
/// fail with [`Error::LeaseLost`] when the lease is stale. Writes may be
/// grouped with other runs' writes into one transaction (group commit); a
/// method returns once its write is durable in the sense of the backend's
/// durability setting.
pub(crate) trait Store:
    RunStore + WaitStore + MaintenanceStore + ReadStore + CatalogStore
{
}

impl<T: RunStore + WaitStore + MaintenanceStore + ReadStore + CatalogStore> Store for T {}

pub use crate::core::json::json_contains;

/// Refuses a database whose schema version `found` is past the last of this
/// durable's `migrations`: a newer durable migrated it, and this one would
/// misread what it wrote. Both backends' migrations call it before applying
/// anything.
pub(crate) fn refuse_newer_schema(found: i64, migrations: &[(i64, &str)]) -> Result<(), Error> {
    let supported = migrations.last().map_or(0, |(version, _)| *version);
    if found > supported {
        return Err(Error::SchemaTooNew {
            found,
            supported,
            durable: env!("CARGO_PKG_VERSION"),
        });
    }
    Ok(())
}
