//! Cancelled by an event: the rows a run of a workflow with `cancel_on`
//! writes as it is created (rewritten when a trigger joins its debounced
//! run with another input), and the runs an event cancels as it is stored.

use sqlx::PgConnection;

use super::finish::cancel_tree;
use super::notify::Notes;
use crate::core::cancel_on::{CancelKey, event_value};
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::store::NewRun;
use crate::store::rows::parse_run_id;
use crate::store::settle::{cancelled_by_event, run_ids_json};

/// Records what cancels `run`, just created: nothing for a run without
/// `cancel_on`, which costs no statement.
pub(super) async fn register(connection: &mut PgConnection, run: &NewRun) -> Result<(), Error> {
    insert_keys(connection, &run.id.to_string(), &run.cancel_on).await
}

/// Rewrites what cancels the debounced run `joined` (not started) for the
/// input of `run`, the trigger that joined it and replaced its input, in
/// the join's transaction: its rows go, the trigger's keys take their
/// place. `registered` says whether the run wrote rows
/// (`wf_instance.cancel_on`); a run without any, joined by a trigger
/// without `cancel_on`, costs no statement.
pub(super) async fn rewrite(
    connection: &mut PgConnection,
    joined: &str,
    registered: bool,
    run: &NewRun,
) -> Result<(), Error> {
    if registered {
        sqlx::query("DELETE FROM wf_cancel_on WHERE run_id = $1::uuid")
            .bind(joined)
            .execute(&mut *connection)
            .await?;
    }
    insert_keys(connection, joined, &run.cancel_on).await
}

/// Writes the rows of `keys` for the run `id` and marks it as having rows,
/// in one statement; nothing for no keys.
async fn insert_keys(
    connection: &mut PgConnection,
    id: &str,
    keys: &[CancelKey],
) -> Result<(), Error> {
    if keys.is_empty() {
        return Ok(());
    }
    let events: Vec<&str> = keys.iter().map(|key| key.event.as_str()).collect();
    let paths: Vec<&str> = keys.iter().map(|key| key.path.as_str()).collect();
    let values: Vec<&str> = keys.iter().map(|key| key.value.as_str()).collect();
    sqlx::query(
        "WITH rows AS ( \
           INSERT INTO wf_cancel_on (run_id, event, path, value) \
           SELECT $1::uuid, e, p, v FROM UNNEST($2::text[], $3::text[], $4::text[]) AS k(e, p, v) \
           ON CONFLICT DO NOTHING) \
         UPDATE wf_instance SET cancel_on = true WHERE id = $1::uuid",
    )
    .bind(id)
    .bind(&events)
    .bind(&paths)
    .bind(&values)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// Cancels, with their descendants, the unfinished runs that the event
/// `id` named `name` with `data` cancels, at `now`, and records them on the
/// event (`wf_event.cancelled_runs`); returns every run it cancelled (told
/// to the other engines as ended runs). An event whose name no live run
/// registered costs one index lookup; each path registered under the
/// name, one more.
pub(super) async fn cancel_matching(
    connection: &mut PgConnection,
    id: i64,
    name: &str,
    data: &str,
    now: i64,
    notes: &mut Notes,
) -> Result<Vec<RunId>, Error> {
    let reason = cancelled_by_event(name, id);
    let mut cancelled = Vec::new();
    let mut after: Option<String> = None;
    // The distinct paths of the name, one index seek each (few: one per
    // `cancel_on` of the name across workflows).
    loop {
        // One range of the index each: `>=` from the first path on, `>`
        // past the last one read.
        let sql = match after {
            None => {
                "SELECT path FROM wf_cancel_on WHERE live AND event = $1 AND path >= $2 \
                 ORDER BY path LIMIT 1"
            }
            Some(_) => {
                "SELECT path FROM wf_cancel_on WHERE live AND event = $1 AND path > $2 \
                 ORDER BY path LIMIT 1"
            }
        };
        let path: Option<String> = sqlx::query_scalar(sql)
            .bind(name)
            .bind(after.as_deref().unwrap_or(""))
            .fetch_optional(&mut *connection)
            .await?;
        let Some(path) = path else {
            break;
        };
        let value = event_value(&path, data);
        let runs: Vec<String> = sqlx::query_scalar(
            "SELECT run_id::text FROM wf_cancel_on \
             WHERE live AND event = $1 AND path = $2 AND value = $3",
        )
        .bind(name)
        .bind(&path)
        .bind(&value)
        .fetch_all(&mut *connection)
        .await?;
        for run in runs {
            let run = parse_run_id(&run)?;
            cancelled.extend(cancel_tree(connection, run, true, now, Some(&reason), notes).await?);
        }
        after = Some(path);
    }
    if !cancelled.is_empty() {
        sqlx::query("UPDATE wf_event SET cancelled_runs = $1::jsonb WHERE id = $2")
            .bind(run_ids_json(&cancelled))
            .bind(id)
            .execute(&mut *connection)
            .await?;
    }
    Ok(cancelled)
}
