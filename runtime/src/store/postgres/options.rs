//! PostgreSQL connection settings: the URL and its connect timeout, the
//! lease, and the connections the store keeps outside its pool (the
//! writer's and the claimer's), with the planner settings they need.

use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use crate::model::error::Error;

/// The most writes one group commit applies in one transaction.
pub(super) const MAX_BATCH: usize = 512;

/// How long opening a connection may take, the server's answer to the
/// start-up included, unless the URL's `connect_timeout` (whole seconds, as
/// in libpq) says otherwise: a server that accepts and never answers must
/// not hang the engine.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Takes libpq's `connect_timeout` (whole seconds) out of `url`, which
/// sqlx would ignore with a warning: the URL without it, and the timeout.
pub(super) fn split_connect_timeout(url: &str) -> Result<(String, Duration), Error> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), DEFAULT_CONNECT_TIMEOUT));
    };
    let mut timeout = DEFAULT_CONNECT_TIMEOUT;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("connect_timeout", value)) => {
                timeout = match value.parse::<u64>() {
                    Ok(seconds) if seconds > 0 => Duration::from_secs(seconds),
                    // libpq waits forever for 0; here every connection has
                    // a timeout.
                    _ => {
                        return Err(Error::Config(format!(
                            "invalid connect_timeout {value:?} in the PostgreSQL URL: give whole seconds, at least 1"
                        )));
                    }
                }
            }
            _ => kept.push(pair),
        }
    }
    Ok(if kept.is_empty() {
        (base.to_owned(), timeout)
    } else {
        (format!("{base}?{}", kept.join("&")), timeout)
    })
}

/// The server of `options`, as `host:port` (or the socket's path): what a
/// connection error names, never the password.
pub(super) fn host_of(options: &PgConnectOptions) -> String {
    match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    }
}

/// The error of a server that did not answer within `timeout`.
pub(super) fn no_answer(options: &PgConnectOptions, timeout: Duration, action: &str) -> Error {
    Error::Connect {
        action: action.to_owned(),
        host: host_of(options),
        reason: format!(
            "no answer within {timeout:?} (the URL's connect_timeout, in seconds, sets this)"
        ),
    }
}

/// Opens one connection for `action`, giving up after `timeout`: the error
/// names the server and the action.
pub(super) async fn connect(
    options: &PgConnectOptions,
    timeout: Duration,
    action: &str,
) -> Result<PgConnection, Error> {
    match tokio::time::timeout(timeout, PgConnection::connect_with(options)).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(error)) => Err(Error::Connect {
            action: action.to_owned(),
            host: host_of(options),
            reason: error.to_string(),
        }),
        Err(_) => Err(no_answer(options, timeout, action)),
    }
}

/// The writer connection's settings. Its statements find rows by key,
/// whatever their arguments: planning each once saves a custom plan per
/// batch (most of the cost of a lone step's write). A statement is planned
/// on its first use, maybe while the tables are nearly empty, so sequential
/// scans are off: a plan that scanned a small table whole would go on doing
/// so as the table grows (a claim with 10,000 runs had come to take 5 to
/// 13 ms). A statement with no other way to read a table still scans it.
///
/// For the same reason a statement that reads runs by id tests their
/// status with [`status_is`].
pub(super) fn writer_options(options: &PgConnectOptions) -> PgConnectOptions {
    options.clone().options([
        ("plan_cache_mode", "force_generic_plan"),
        ("enable_seqscan", "off"),
    ])
}

/// The claimer connection's settings: the writer's, and no sorts. A claim
/// must read its runs in the order of an index, but planned while the tables
/// were nearly empty (or before the statistics knew better) it could find a
/// bitmap scan and a sort of every due run cheaper; that plan would stay.
/// The journal a claim reads along is ordered inside its aggregate, which
/// this does not touch.
pub(super) fn claimer_options(options: &PgConnectOptions) -> PgConnectOptions {
    writer_options(options).options([("enable_sort", "off")])
}

/// The listening connection's settings: the store's, named for operators
/// (`pg_stat_activity.application_name`) as the URL's application name,
/// or `durable`, with ` listener` after it: the connection that hears the
/// other processes' notes, which a DBA may want to tell from the others.
pub(super) fn listener_options(options: &PgConnectOptions) -> PgConnectOptions {
    let name = format!(
        "{} listener",
        options.get_application_name().unwrap_or("durable")
    );
    options.clone().application_name(&name)
}

/// A connection of the store's own, outside the pool, with the writer's
/// settings ([`writer_options`]): opened on first use, and again after a
/// failure left it in doubt.
pub(super) struct OwnConnection {
    pub(super) options: PgConnectOptions,
    /// How long opening it may take.
    pub(super) timeout: Duration,
    /// What it is for, as a connection error says.
    pub(super) action: &'static str,
    /// `None` until connected, and again after a failed use.
    pub(super) connection: Option<PgConnection>,
}

impl OwnConnection {
    pub(super) fn new(options: &PgConnectOptions, timeout: Duration, action: &'static str) -> Self {
        OwnConnection {
            options: writer_options(options),
            timeout,
            action,
            connection: None,
        }
    }

    /// The connection, opened if it is not. A failure to open it is an
    /// [`Error::Database`] (naming the server), as any other failure of a
    /// write is: the engine retries those.
    pub(super) async fn get(&mut self) -> Result<&mut PgConnection, Error> {
        Ok(match &mut self.connection {
            Some(connection) => connection,
            slot @ None => slot.insert(
                connect(&self.options, self.timeout, self.action)
                    .await
                    .map_err(|error| Error::Database(Box::new(error)))?,
            ),
        })
    }

    /// Forgets the connection if `result` failed: it may be broken or inside
    /// a failed transaction, so the next use starts on a fresh one.
    pub(super) fn keep_if_ok<T>(&mut self, result: Result<T, Error>) -> Result<T, Error> {
        if result.is_err() {
            self.connection = None;
        }
        result
    }

    pub(super) async fn close(&mut self) {
        if let Some(connection) = self.connection.take() {
            // Closing only says goodbye to the server; dropping would do.
            let _ = connection.close().await;
        }
    }
}

/// SQL text, for `concat!`, testing that `$column` holds one of the
/// statuses: `(<column> = '<status>') IS TRUE`, or `(<column> IN
/// ('<status>', ...)) IS TRUE` for several. A statement that reads runs by
/// id tests their status so because it is the same test, but not one an
/// index can answer: the planner must not answer it from the status
/// indexes. Written plainly, on empty tables it made the indexes by status
/// (`wf_instance_list`, `wf_instance_lease`) look as cheap as the primary
/// key (a generic plan, see [`writer_options`]), and the plan made then
/// read every running run for each step saved (in W1, most of a batch's
/// time went there).
macro_rules! status_is {
    ($column:literal, $status:literal) => {
        concat!("(", $column, " = '", $status, "') IS TRUE")
    };
    ($column:literal, $first:literal $(, $rest:literal)+) => {
        concat!("(", $column, " IN ('", $first, "'", $(", '", $rest, "'",)+ ")) IS TRUE")
    };
}
pub(super) use status_is;

/// SQL text, for `concat!`: the row of `wf_instance` whose `id` is `$id` is
/// still held by the lease token `$token` (both placeholders, e.g. `"$1"`):
/// the run is running under that token. Every write of a run is fenced by
/// it.
macro_rules! lease_holds {
    ($id:literal, $token:literal) => {
        concat!(
            "id = ",
            $id,
            "::uuid AND lease_token = ",
            $token,
            " AND ",
            $crate::store::postgres::options::status_is!("status", "running")
        )
    };
}
pub(super) use lease_holds;

/// SQL text, for `concat!`: a statement's read of the run `$id` held by
/// `$token` (see [`lease_holds`]), locked `FOR SHARE` so that no claim
/// takes the run until the statement's transaction ends.
macro_rules! held_run {
    ($id:literal, $token:literal) => {
        concat!(
            "SELECT 1 FROM wf_instance WHERE ",
            $crate::store::postgres::options::lease_holds!($id, $token),
            " FOR SHARE"
        )
    };
}
pub(super) use held_run;

/// SQL text, for `concat!`: the fence of a multi-row write over
/// `UNNEST(..) AS v(id, .., token, ..)`: the run `i` is `v`'s, and still
/// held by `v.token` (see [`lease_holds`]).
macro_rules! batch_lease_holds {
    () => {
        concat!(
            "i.id = v.id::uuid AND i.lease_token = v.token AND ",
            $crate::store::postgres::options::status_is!("i.status", "running")
        )
    };
}
pub(super) use batch_lease_holds;
