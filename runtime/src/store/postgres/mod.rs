//! The PostgreSQL backend: many worker processes on many machines share one
//! database.
//!
//! Claims take runs with `FOR UPDATE SKIP LOCKED` and give each a lease
//! with a fencing token and an expiry; the engine renews the leases of the
//! runs it executes, and a run whose lease expired (its worker died) is
//! claimed by another worker. Every write of a run is fenced by its token.
//! Writes are grouped per process into one transaction (group commit, see
//! `store/writer.rs`), applied on a connection of their own. Waits and sends
//! of one event name (and a run's end and the waits for it) take the same
//! transaction-scoped advisory lock, so a send and a wait in two processes
//! cannot miss each other. Commits that make runs due or end runs `NOTIFY`
//! the other workers, which wake at once; they also poll, as a fallback.
//!
//! One file per concern: connection settings (`options`), the schema
//! (`migrate`), the batch writer (`writer`), claims and leases (`claims`),
//! runs (`runs`), steps (`steps`), waits and events (`waits`), finishing
//! runs (`finish`), maintenance, reads, the catalog (`catalog`), and
//! LISTEN/NOTIFY (`notify`).

mod cancel_on;
mod catalog;
mod claims;
mod finish;
mod flow;
mod limits;
mod maintenance;
mod migrate;
mod notify;
mod options;
mod reads;
mod runs;
mod steps;
mod waits;
mod writer;

#[cfg(test)]
mod maintenance_tests;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};

use self::claims::claim;
use self::migrate::migrate;
use self::options::{
    MAX_BATCH, OwnConnection, claimer_options, connect, host_of, listener_options, no_answer,
    split_connect_timeout,
};
use self::writer::PgWriter;
use super::changes::ChangeFeed;
use super::ops::{WriteOp, WriteOut};
use super::writer::GroupCommit;
use crate::model::error::Error;

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        Error::Database(Box::new(error))
    }
}

/// The PostgreSQL store.
pub(crate) struct PostgresStore {
    pool: PgPool,
    writer: GroupCommit<WriteOp, WriteOut>,
    /// Claims run here, beside the writer, not queued behind its batches:
    /// a claim then takes one statement's time, however busy the writer is.
    claimer: tokio::sync::Mutex<OwnConnection>,
    /// The listener's pool: its one connection (see `listener_options`).
    listen_pool: PgPool,
    listener: Mutex<Option<tokio::task::AbortHandle>>,
    /// The listener's connection, opened with the store so that an engine
    /// hears of every change committed once it started; the listener's
    /// task takes it.
    ready_listener: Mutex<Option<sqlx::postgres::PgListener>>,
    /// Sends the batches' changes to the other processes (see
    /// `notify::relay`); awaited when the store closes.
    relay: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Says, while the feed has receivers, that this process wants the
    /// others' notes (see `notify::announce`); stopped when the store closes.
    announcer: Option<tokio::task::AbortHandle>,
    lease: Duration,
    /// What each committed batch changed, for the engine's change feed.
    changes: Arc<ChangeFeed>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://...`) and migrates the schema. With
    /// `schema`, the tables live in that PostgreSQL schema (created if
    /// missing): tests use one per test. Claims hold a run for `lease`
    /// unless renewed. Every connection the store opens gives up after the
    /// URL's `connect_timeout` (whole seconds, at least 1; default
    /// [`DEFAULT_CONNECT_TIMEOUT`](options::DEFAULT_CONNECT_TIMEOUT)).
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] when the server refuses, cannot be reached or does
    /// not answer in time (first connection opened alone, so the error is
    /// the real cause, at once); [`Error::Database`] when it cannot be
    /// migrated; [`Error::Config`] for a URL or schema name that is not valid;
    /// [`Error::SchemaTooNew`] or [`Error::ForeignTable`] when the schema
    /// holds tables this durable cannot use.
    pub(crate) async fn open(
        url: &str,
        schema: Option<&str>,
        lease: Duration,
    ) -> Result<Self, Error> {
        let (url, connect_timeout) = split_connect_timeout(url)?;
        let mut options: PgConnectOptions = url
            .parse()
            .map_err(|error| Error::Config(format!("invalid PostgreSQL URL: {error}")))?;
        if let Some(schema) = schema
            && (schema.is_empty()
                || !schema
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            return Err(Error::Config(format!(
                "invalid schema name {schema:?}: use letters, digits and _"
            )));
        }
        // One connection first, alone and under the timeout: a pool would
        // retry a refused connection until its own timeout and then report
        // only that it timed out.
        let action = match schema {
            Some(schema) => format!("create schema {schema}"),
            None => "open the store".to_owned(),
        };
        let mut first = connect(&options, connect_timeout, &action).await?;
        if let Some(schema) = schema {
            let create = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
            match tokio::time::timeout(connect_timeout, sqlx::query(&create).execute(&mut first))
                .await
            {
                Ok(created) => {
                    created?;
                }
                Err(_) => return Err(no_answer(&options, connect_timeout, &action)),
            }
            options = options.options([("search_path", schema)]);
        }
        // Closing only says goodbye to the server; dropping would do.
        let _ = first.close().await;
        // No ping before each use: a broken connection fails its statement,
        // and the writer retries the batch on a fresh one.
        let writer = PgWriter(OwnConnection::new(
            &options,
            connect_timeout,
            "open the writer's connection",
        ));
        let mut claimer =
            OwnConnection::new(&options, connect_timeout, "open the claimer's connection");
        claimer.options = claimer_options(&options);
        let claimer = tokio::sync::Mutex::new(claimer);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .acquire_timeout(connect_timeout)
            .connect_with(options.clone())
            .await
            .map_err(|error| Error::Connect {
                action: "open the connection pool".into(),
                host: host_of(&options),
                reason: error.to_string(),
            })?;
        migrate(&pool).await?;
        let (relay_sender, relay_receiver) = tokio::sync::mpsc::unbounded_channel();
        let origin: Arc<str> = crate::model::ids::RunId::new().to_string().into();
        // The schema the tables are in (the URL's search_path may set it).
        let current: Option<String> = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&pool)
            .await?;
        let schema: Arc<str> = current.unwrap_or_default().into();
        let changes = Arc::new(ChangeFeed::relayed(
            origin.clone(),
            schema.clone(),
            relay_sender,
        ));
        let relay = notify::relay(pool.clone(), origin, schema, relay_receiver);
        let announcer = changes
            .announcer()
            .map(|wake| notify::announce(pool.clone(), changes.clone(), wake));
        // The listener's one connection, in a pool of its own: named apart
        // (`listener_options`), and reopened there after a loss.
        let listen_pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(connect_timeout)
            .connect_lazy_with(listener_options(&options));
        // Without it now, the listener connects (and tells of a gap) later.
        let ready_listener = notify::connect_listener(&listen_pool).await.ok();
        let feed = changes.clone();
        Ok(PostgresStore {
            writer: GroupCommit::spawn(writer, MAX_BATCH, move |ops, results| {
                feed.observe(ops, results)
            }),
            changes,
            pool,
            claimer,
            listen_pool,
            listener: Mutex::new(None),
            ready_listener: Mutex::new(ready_listener),
            relay: Mutex::new(Some(relay)),
            announcer,
            lease,
        })
    }

    /// Applies a write: a claim on the claimer's connection, any other
    /// write through the writer.
    async fn write(&self, op: WriteOp) -> Result<WriteOut, Error> {
        match op {
            WriteOp::Claim(request) => {
                let mut claimer = self.claimer.lock().await;
                let claimed = claim(claimer.get().await?, &request).await;
                let claimed = claimer.keep_if_ok(claimed)?;
                self.changes.claimed(&claimed, request.now);
                Ok(WriteOut::Claimed(claimed))
            }
            op => self.writer.submit(op).await,
        }
    }
}
