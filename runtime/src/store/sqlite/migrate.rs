//! The schema migrations of the SQLite backend, applied in order, each once
//! (recorded in `wf_migration`), and the check that a durable table found in
//! the file is durable's own.

use rusqlite::{Connection, TransactionBehavior, params};

use crate::model::error::Error;

/// The schema migrations, applied in order, each once (`wf_migration`). The
/// version numbers are stored: they never change.
pub(super) const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_schema.sql")),
    (2, include_str!("migrations/0002_step_times.sql")),
    (3, include_str!("migrations/0003_catalog.sql")),
    (4, include_str!("migrations/0004_attempt_log.sql")),
    (5, include_str!("migrations/0005_wait_keys.sql")),
    (6, include_str!("migrations/0006_versions.sql")),
    (7, include_str!("migrations/0007_event_types.sql")),
    (8, include_str!("migrations/0008_event_triggers.sql")),
    (9, include_str!("migrations/0009_queue.sql")),
    (10, include_str!("migrations/0010_operations.sql")),
    (11, include_str!("migrations/0011_maintenance_indexes.sql")),
    (12, include_str!("migrations/0012_flow_control.sql")),
    (13, include_str!("migrations/0013_queues.sql")),
    (14, include_str!("migrations/0014_cancel_on.sql")),
    (15, include_str!("migrations/0015_catalog_flow_control.sql")),
    (16, include_str!("migrations/0016_cancelled_runs.sql")),
];

pub(super) fn migrate(connection: &mut Connection) -> Result<(), Error> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "CREATE TABLE IF NOT EXISTS wf_migration (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
        [],
    )?;
    let current: i64 = match tx.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM wf_migration",
        [],
        |row| row.get(0),
    ) {
        Ok(current) => current,
        Err(error) => return Err(foreign_table(&tx)?.unwrap_or_else(|| error.into())),
    };
    crate::store::refuse_newer_schema(current, MIGRATIONS)?;
    for (version, sql) in MIGRATIONS.iter().filter(|(version, _)| *version > current) {
        if let Err(error) = tx.execute_batch(sql) {
            // The script's error quotes the whole script; a table of the same
            // name made by someone else is the likely cause, so name it.
            return Err(foreign_table(&tx)?.unwrap_or_else(|| error.into()));
        }
        tx.execute(
            "INSERT INTO wf_migration (version, applied_at) VALUES (?1, ?2)",
            params![version, crate::model::sync::system_now_ms()],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Checks, on a read-only connection to a file another engine holds, that
/// its schema is the one this durable reads: a newer one is refused as
/// [`migrate`] refuses it, an older one (an engine of an older durable holds
/// the file, and would migrate it at its next start) with a configuration
/// error, since tables this durable reads are missing.
pub(super) fn check_read_only_schema(connection: &Connection, path: &str) -> Result<(), Error> {
    let found: i64 = connection
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM wf_migration",
            [],
            |row| row.get(0),
        )
        .map_err(|error| Error::DatabaseFile {
            path: path.to_owned(),
            action: "read the schema version of",
            source: Box::new(error),
        })?;
    crate::store::refuse_newer_schema(found, MIGRATIONS)?;
    let supported = MIGRATIONS.last().map_or(0, |(version, _)| *version);
    if found < supported {
        return Err(Error::Config(format!(
            "the SQLite database {path} is held by an engine of an older durable (schema version {found}, this durable reads version {supported}); open it once that engine stopped, or upgrade it"
        )));
    }
    Ok(())
}

/// A durable table in `connection` that lacks columns durable's schema
/// gives it (one created by someone else), if there is one: the tables and
/// columns a fresh database gets from [`MIGRATIONS`] are the reference.
fn foreign_table(connection: &Connection) -> Result<Option<Error>, Error> {
    let mut reference = Connection::open_in_memory()?;
    migrate(&mut reference)?;
    let columns_of = |connection: &Connection, table: &str| -> rusqlite::Result<Vec<String>> {
        connection
            .prepare("SELECT name FROM pragma_table_info(?1)")?
            .query_map([table], |row| row.get(0))?
            .collect()
    };
    let tables: Vec<String> = reference
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for table in tables {
        let found = columns_of(connection, &table)?;
        if found.is_empty() {
            continue;
        }
        let expected = columns_of(&reference, &table)?;
        let missing: Vec<&str> = expected
            .iter()
            .filter(|column| !found.contains(column))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Ok(Some(Error::foreign_table(&table, &missing)));
        }
    }
    Ok(None)
}
