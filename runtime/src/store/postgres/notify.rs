//! LISTEN/NOTIFY on PostgreSQL: the notes a batch sends when it commits
//! (runs due, runs ended), and the listener that tells the engine of the
//! notes other processes send.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};

use crate::store::StoreSignal;

/// The channel on which commits announce due runs.
pub(super) const WAKE_CHANNEL: &str = "durable_wake";

/// The channel on which commits announce ended runs (payload: the run id).
pub(super) const FINISHED_CHANNEL: &str = "durable_finished";

/// What a batch must announce to the other workers when it commits.
#[derive(Default)]
pub(super) struct Notes {
    pub(super) wake: bool,
    pub(super) finished: Vec<String>,
}

impl Notes {
    /// Sends every notification of the batch in one statement.
    pub(super) async fn send(&self, connection: &mut PgConnection) -> Result<(), sqlx::Error> {
        if !self.wake && self.finished.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "SELECT pg_notify($1, '') WHERE $2 \
             UNION ALL SELECT pg_notify($3, run) FROM UNNEST($4::text[]) AS run",
        )
        .bind(WAKE_CHANNEL)
        .bind(self.wake)
        .bind(FINISHED_CHANNEL)
        .bind(&self.finished)
        .execute(&mut *connection)
        .await?;
        Ok(())
    }
}

/// Listens on both channels on a connection of its own, telling `signal`
/// what other processes commit, reconnecting when the connection is lost;
/// the task's handle stops it.
pub(super) fn listen(
    pool: PgPool,
    signal: Arc<dyn Fn(StoreSignal) + Send + Sync>,
) -> tokio::task::AbortHandle {
    let task = tokio::spawn(async move {
        loop {
            let mut listener = match PgListener::connect_with(&pool).await {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, "cannot LISTEN for wake-ups; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            if let Err(error) = listener.listen_all([WAKE_CHANNEL, FINISHED_CHANNEL]).await {
                tracing::warn!(%error, "cannot LISTEN for wake-ups; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            // Whatever was announced while not listening is found by polling.
            signal(StoreSignal::Wake);
            loop {
                match listener.recv().await {
                    Ok(note) if note.channel() == FINISHED_CHANNEL => {
                        if let Ok(run_id) = note.payload().parse() {
                            signal(StoreSignal::Finished(run_id));
                        }
                    }
                    Ok(_) => signal(StoreSignal::Wake),
                    Err(error) => {
                        tracing::warn!(%error, "lost the LISTEN connection; reconnecting");
                        break;
                    }
                }
            }
        }
    });
    task.abort_handle()
}
