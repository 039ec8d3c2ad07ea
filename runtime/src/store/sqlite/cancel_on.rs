//! Cancelled by an event: the rows a run of a workflow with `cancel_on`
//! writes as it is created (rewritten when a trigger joins its debounced
//! run with another input), and the runs an event cancels as it is stored.

use rusqlite::{Connection, OptionalExtension, params};

use super::finish::cancel_tree;
use crate::core::cancel_on::{CancelKey, event_value};
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::store::NewRun;
use crate::store::rows::parse_run_id;
use crate::store::settle::{cancelled_by_event, run_ids_json};

/// Records what cancels `run`, just created: nothing for a run without
/// `cancel_on`, which costs no statement.
pub(super) fn register(connection: &Connection, run: &NewRun) -> Result<(), Error> {
    insert_keys(connection, &run.id.to_string(), &run.cancel_on)
}

/// Rewrites what cancels the debounced run `joined` (not started) for the
/// input of `run`, the trigger that joined it and replaced its input:
/// its rows go, the trigger's keys take their place. `registered` says
/// whether the run wrote rows (`wf_instance.cancel_on`); a run without any,
/// joined by a trigger without `cancel_on`, costs no statement.
pub(super) fn rewrite(
    connection: &Connection,
    joined: &str,
    registered: bool,
    run: &NewRun,
) -> Result<(), Error> {
    if registered {
        connection
            .prepare_cached("DELETE FROM wf_cancel_on WHERE run_id = ?1")?
            .execute(params![joined])?;
    }
    insert_keys(connection, joined, &run.cancel_on)
}

/// Writes the rows of `keys` for the run `id` and marks it as having rows;
/// nothing for no keys.
fn insert_keys(connection: &Connection, id: &str, keys: &[CancelKey]) -> Result<(), Error> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut insert = connection.prepare_cached(
        "INSERT OR IGNORE INTO wf_cancel_on (run_id, event, path, value) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for key in keys {
        insert.execute(params![id, key.event, key.path, key.value])?;
    }
    connection
        .prepare_cached("UPDATE wf_instance SET cancel_on = 1 WHERE id = ?1")?
        .execute(params![id])?;
    Ok(())
}

/// Cancels, with their descendants, the unfinished runs that the event
/// `id` named `name` with `data` cancels, at `now`, and records them on the
/// event (`wf_event.cancelled_runs`); returns every run it cancelled. An
/// event whose name no live run registered costs one index lookup; each
/// path registered under the name, one more.
pub(super) fn cancel_matching(
    connection: &Connection,
    id: i64,
    name: &str,
    data: &str,
    now: i64,
) -> Result<Vec<RunId>, Error> {
    let reason = cancelled_by_event(name, id);
    let mut cancelled = Vec::new();
    let mut after: Option<String> = None;
    // The distinct paths of the name, one index seek each (few: one per
    // `cancel_on` of the name across workflows).
    while let Some(path) = next_path(connection, name, after.as_deref())? {
        let value = event_value(&path, data);
        let runs: Vec<String> = connection
            .prepare_cached(
                "SELECT run_id FROM wf_cancel_on INDEXED BY wf_cancel_on_event \
                 WHERE live = 1 AND event = ?1 AND path = ?2 AND value = ?3",
            )?
            .query_map(params![name, path, value], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        for run in runs {
            let run = parse_run_id(&run)?;
            cancelled.extend(cancel_tree(connection, run, true, now, Some(&reason))?);
        }
        after = Some(path);
    }
    if !cancelled.is_empty() {
        connection
            .prepare_cached("UPDATE wf_event SET cancelled_runs = ?1 WHERE id = ?2")?
            .execute(params![run_ids_json(&cancelled), id])?;
    }
    Ok(cancelled)
}

/// The first path registered under the event `name` by a live run, after
/// `after` if given.
fn next_path(
    connection: &Connection,
    name: &str,
    after: Option<&str>,
) -> Result<Option<String>, Error> {
    let sql = match after {
        None => {
            "SELECT path FROM wf_cancel_on INDEXED BY wf_cancel_on_event \
             WHERE live = 1 AND event = ?1 AND path >= ?2 ORDER BY path LIMIT 1"
        }
        Some(_) => {
            "SELECT path FROM wf_cancel_on INDEXED BY wf_cancel_on_event \
             WHERE live = 1 AND event = ?1 AND path > ?2 ORDER BY path LIMIT 1"
        }
    };
    Ok(connection
        .prepare_cached(sql)?
        .query_row(params![name, after.unwrap_or("")], |row| row.get(0))
        .optional()?)
}
