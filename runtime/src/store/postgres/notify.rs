//! LISTEN/NOTIFY on PostgreSQL: the notes a batch sends when it commits
//! (runs due, runs ended), the relay that tells the other processes what
//! each batch changed, the announcer that asks them to (while this
//! process's feed has receivers), and the listener that tells the engine
//! and its change feed of the notes other processes send.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use tokio::sync::{Notify, mpsc};

use crate::store::StoreSignal;
use crate::store::change_notes::{NoteEntry, PAYLOAD_LIMIT, decode, encode};
use crate::store::changes::ChangeFeed;

/// The channel on which commits announce due runs.
pub(super) const WAKE_CHANNEL: &str = "durable_wake";

/// The channel on which commits announce ended runs (payload: the run id).
pub(super) const FINISHED_CHANNEL: &str = "durable_finished";

/// The channel on which each process tells what its batches changed (see
/// `store::change_notes` for the payload).
pub(super) const CHANGES_CHANNEL: &str = "durable_changes";

/// The channel on which a process with receivers on its change feed says
/// it wants the others' notes (`want`), a process that begins to relay
/// because of it says so (`ack`: the wanter's receivers may have missed
/// its earlier changes), and a process that starts listening asks who
/// wants its own (`ask`): see [`Wanted`].
pub(super) const WANTED_CHANNEL: &str = "durable_changes_wanted";

/// How often a process whose feed has receivers renews its `want`: well
/// within [`WANTED_FOR`](crate::store::changes::WANTED_FOR), so the
/// others keep relaying.
const ANNOUNCE_EVERY: Duration = Duration::from_secs(10);

/// What a note on [`WANTED_CHANNEL`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WantedKind {
    /// Relay your changes to me.
    Want,
    /// I began to relay because of a `want`.
    Ack,
    /// I just listen: who wants my changes?
    Ask,
}

/// A note on [`WANTED_CHANNEL`], from `origin`, about the tables in
/// `schema`.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Wanted<'a> {
    pub(super) kind: WantedKind,
    pub(super) origin: &'a str,
    pub(super) schema: &'a str,
}

impl<'a> Wanted<'a> {
    /// The payload: the kind, the origin and the schema, a line each (a
    /// schema's name may hold spaces, not a line break: the origin is a
    /// UUID).
    pub(super) fn encode(&self) -> String {
        let kind = match self.kind {
            WantedKind::Want => "want",
            WantedKind::Ack => "ack",
            WantedKind::Ask => "ask",
        };
        format!("{kind}\n{}\n{}", self.origin, self.schema)
    }

    /// The note a payload holds, or `None` for one this version does not
    /// know.
    pub(super) fn decode(payload: &'a str) -> Option<Self> {
        let mut parts = payload.splitn(3, '\n');
        let kind = match parts.next()? {
            "want" => WantedKind::Want,
            "ack" => WantedKind::Ack,
            "ask" => WantedKind::Ask,
            _ => return None,
        };
        Some(Wanted {
            kind,
            origin: parts.next()?,
            schema: parts.next()?,
        })
    }
}

/// Sends one note on [`WANTED_CHANNEL`]; a failure is logged (the next
/// announcement, or the next listener's connection, says it again).
async fn send_wanted(pool: &PgPool, note: &Wanted<'_>) {
    let sent = sqlx::query("SELECT pg_notify($1, $2)")
        .bind(WANTED_CHANNEL)
        .bind(note.encode())
        .execute(pool)
        .await;
    if let Err(error) = sent {
        tracing::warn!(%error, "cannot ask other processes for their changes");
    }
}

/// While `changes` has receivers, says every [`ANNOUNCE_EVERY`] that this
/// process wants the other processes' notes, and at once when `wake`
/// wakes it (the feed got its first receiver, or another process asked).
/// The task's handle stops it.
pub(super) fn announce(
    pool: PgPool,
    changes: Arc<ChangeFeed>,
    wake: Arc<Notify>,
) -> tokio::task::AbortHandle {
    let task = tokio::spawn(async move {
        let Some((origin, schema)) = changes.relay_names() else {
            return;
        };
        let want = Wanted {
            kind: WantedKind::Want,
            origin: &origin,
            schema: &schema,
        };
        loop {
            if changes.listened() {
                send_wanted(&pool, &want).await;
            }
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(ANNOUNCE_EVERY) => {}
            }
        }
    });
    task.abort_handle()
}

/// How many batches' changes the relay sends in one statement at most.
const RELAY_BATCHES: usize = 256;

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

/// Sends, on `pool`, the changes each batch hands to `receiver`, as notes
/// on [`CHANGES_CHANNEL`] from `origin` about `schema`, until the feed closes.
///
/// The notes go after the commit, not in its transaction: a batch's most
/// common statement (creates, steps and finishes, see `HOT_CREATED`) runs
/// alone, without a transaction, and its changes are known only from its
/// results. So the writer never waits for them: the relay sends whatever
/// batches queued meanwhile in one statement (split into payloads under
/// PostgreSQL's limit), in their commit order. A note lost to a failed
/// statement is not resent (the batches are committed; a resend could not
/// be told apart from a new change): it is logged.
pub(super) fn relay(
    pool: PgPool,
    origin: Arc<str>,
    schema: Arc<str>,
    mut receiver: mpsc::UnboundedReceiver<Vec<NoteEntry>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut batches = Vec::with_capacity(RELAY_BATCHES);
        while receiver.recv_many(&mut batches, RELAY_BATCHES).await > 0 {
            let entries: Vec<NoteEntry> = batches.drain(..).flatten().collect();
            let payloads = encode((&origin, &schema), &entries, PAYLOAD_LIMIT);
            let sent = sqlx::query("SELECT pg_notify($1, note) FROM UNNEST($2::text[]) AS note")
                .bind(CHANGES_CHANNEL)
                .bind(&payloads)
                .execute(&pool)
                .await;
            if let Err(error) = sent {
                tracing::warn!(%error, changes = entries.len(),
                    "cannot tell other processes of committed changes");
            }
        }
    })
}

/// A listener on every channel, or the error that stopped it.
pub(super) async fn connect_listener(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener
        .listen_all([
            WAKE_CHANNEL,
            FINISHED_CHANNEL,
            CHANGES_CHANNEL,
            WANTED_CHANNEL,
        ])
        .await?;
    Ok(listener)
}

/// Listens on every channel on a connection of its own from `listen_pool`
/// (`ready`, when the store opened it already, so no change committed
/// after the engine started is missed), telling `signal` what other
/// processes commit and `changes` what they changed, reconnecting when the
/// connection is lost; the task's handle stops it. A connection opened
/// here, not at the store's opening, tells the feed's receivers they may
/// have missed changes. Each new connection asks, on `pool`, which other
/// processes want this one's notes (their announcer answers at once).
pub(super) fn listen(
    pool: PgPool,
    listen_pool: PgPool,
    ready: Option<PgListener>,
    changes: Arc<ChangeFeed>,
    signal: Arc<dyn Fn(StoreSignal) + Send + Sync>,
) -> tokio::task::AbortHandle {
    let names = changes.relay_names();
    let announcer = changes.announcer();
    let task = tokio::spawn(async move {
        let mut ready = ready;
        loop {
            let mut listener = match ready.take() {
                Some(listener) => listener,
                None => match connect_listener(&listen_pool).await {
                    Ok(listener) => {
                        changes.interrupted();
                        listener
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot LISTEN for wake-ups; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                },
            };
            // Whatever was announced while not listening is found by polling.
            signal(StoreSignal::Wake);
            if let Some((origin, schema)) = &names {
                let ask = Wanted {
                    kind: WantedKind::Ask,
                    origin,
                    schema,
                };
                send_wanted(&pool, &ask).await;
            }
            loop {
                // `try_recv`, not `recv`, which would reconnect unseen:
                // the notes of the time between would go untold.
                let note = match listener.try_recv().await {
                    Ok(Some(note)) => Ok(note),
                    Ok(None) => {
                        tracing::warn!("lost the LISTEN connection; reconnecting");
                        break;
                    }
                    Err(error) => Err(error),
                };
                match note {
                    Ok(note) if note.channel() == FINISHED_CHANNEL => {
                        if let Ok(run_id) = note.payload().parse() {
                            signal(StoreSignal::Finished(run_id));
                        }
                    }
                    Ok(note) if note.channel() == CHANGES_CHANNEL => {
                        // Nobody receives here: nothing to read.
                        if !changes.listened() {
                            continue;
                        }
                        // Its own notes are in the feed already; another
                        // schema's runs are another deployment's.
                        if let Some((from, schema, entries)) = decode(note.payload())
                            && let Some((origin, own_schema)) = &names
                            && **origin != *from
                            && **own_schema == *schema
                        {
                            changes.told(entries);
                        }
                    }
                    Ok(note) if note.channel() == WANTED_CHANNEL => {
                        if let Some(note) = Wanted::decode(note.payload())
                            && let Some((origin, own_schema)) = &names
                            && **origin != *note.origin
                            && **own_schema == *note.schema
                        {
                            match note.kind {
                                // Changes before the relay began went
                                // untold: the wanter hears so.
                                WantedKind::Want if changes.wanted() => {
                                    let ack = Wanted {
                                        kind: WantedKind::Ack,
                                        origin,
                                        schema: own_schema,
                                    };
                                    send_wanted(&pool, &ack).await;
                                }
                                WantedKind::Want => {}
                                WantedKind::Ack => changes.interrupted(),
                                // A process that just listens: if this one
                                // wants its notes, it says so now.
                                WantedKind::Ask => {
                                    if let Some(announcer) = &announcer {
                                        announcer.notify_one();
                                    }
                                }
                            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wanted_note_reads_back_as_written_and_an_unknown_one_is_ignored() {
        for kind in [WantedKind::Want, WantedKind::Ack, WantedKind::Ask] {
            let note = Wanted {
                kind,
                origin: "01a2",
                schema: "my schema",
            };
            assert_eq!(Wanted::decode(&note.encode()), Some(note));
        }
        assert_eq!(Wanted::decode("later\n01a2\npublic"), None);
        assert_eq!(Wanted::decode("want\n01a2"), None);
    }
}
