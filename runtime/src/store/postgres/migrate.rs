//! The PostgreSQL schema and its migrations (`migrations/*.sql`, each
//! applied once, as `wf_migration` records), and the diagnosis of a table
//! of the same name that someone else made.

use sqlx::PgPool;

use crate::model::error::Error;
use crate::model::ids::RunId;

/// The schema migrations, applied in order, each once (`wf_migration`).
pub(super) const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_tables.sql")),
    (2, include_str!("migrations/0002_no_foreign_keys.sql")),
    (3, include_str!("migrations/0003_step_times.sql")),
    (4, include_str!("migrations/0004_catalog.sql")),
    (5, include_str!("migrations/0005_attempt_log.sql")),
    (6, include_str!("migrations/0006_wait_keys.sql")),
    (7, include_str!("migrations/0007_versions.sql")),
    (8, include_str!("migrations/0008_event_types.sql")),
    (9, include_str!("migrations/0009_event_triggers.sql")),
    (10, include_str!("migrations/0010_queue.sql")),
    (11, include_str!("migrations/0011_operations.sql")),
    (12, include_str!("migrations/0012_maintenance_indexes.sql")),
    (13, include_str!("migrations/0013_keyed_slots.sql")),
    (14, include_str!("migrations/0014_flow_control.sql")),
    (15, include_str!("migrations/0015_queues.sql")),
    (16, include_str!("migrations/0016_cancel_on.sql")),
    (17, include_str!("migrations/0017_catalog_flow_control.sql")),
    (18, include_str!("migrations/0018_cancelled_runs.sql")),
];

pub(super) async fn migrate(pool: &PgPool) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    // Many workers may start at once: one migrates, the others wait.
    sqlx::query("SELECT pg_advisory_xact_lock(7201)")
        .execute(&mut *tx)
        .await?;
    sqlx::query(MIGRATION_TABLE).execute(&mut *tx).await?;
    let current: Result<(i64,), sqlx::Error> =
        sqlx::query_as("SELECT COALESCE(MAX(version), 0) FROM wf_migration")
            .fetch_one(&mut *tx)
            .await;
    let current = match current {
        Ok((current,)) => current,
        Err(error) => {
            tx.rollback().await?;
            return Err(foreign_table(pool).await.unwrap_or_else(|| error.into()));
        }
    };
    crate::store::refuse_newer_schema(current, MIGRATIONS)?;
    for (version, sql) in MIGRATIONS.iter().filter(|(version, _)| *version > current) {
        if let Err(error) = sqlx::raw_sql(sql).execute(&mut *tx).await {
            // A table of the same name made by someone else is the likely
            // cause: name it rather than only the statement that failed.
            tx.rollback().await?;
            return Err(foreign_table(pool).await.unwrap_or_else(|| error.into()));
        }
        sqlx::query("INSERT INTO wf_migration (version, applied_at) VALUES ($1, $2)")
            .bind(version)
            .bind(crate::model::sync::system_now_ms())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The table recording which migrations ran.
pub(super) const MIGRATION_TABLE: &str = "CREATE TABLE IF NOT EXISTS wf_migration (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)";

/// A durable table in the current schema that lacks columns durable's schema
/// gives it (one created by someone else), if there is one. The reference
/// is what [`MIGRATIONS`] make of a scratch schema, in a transaction that is
/// rolled back (PostgreSQL's DDL is transactional), so nothing stays. Best
/// effort: `None` when the comparison itself cannot run (say, without the
/// right to create a schema).
pub(super) async fn foreign_table(pool: &PgPool) -> Option<Error> {
    let mut tx = pool.begin().await.ok()?;
    let compared = async {
        let (schema,): (Option<String>,) = sqlx::query_as("SELECT current_schema()::text")
            .fetch_one(&mut *tx)
            .await?;
        let probe = format!(
            "durable_probe_{}",
            RunId::new().to_string().replace('-', "")
        );
        sqlx::raw_sql(&format!(
            "CREATE SCHEMA {probe}; SET LOCAL search_path TO {probe}; {MIGRATION_TABLE}"
        ))
        .execute(&mut *tx)
        .await?;
        for (_, sql) in MIGRATIONS {
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
        }
        let columns = "SELECT table_name::text, column_name::text FROM information_schema.columns \
                       WHERE table_schema = $1 ORDER BY table_name, ordinal_position";
        let reference: Vec<(String, String)> = sqlx::query_as(columns)
            .bind(&probe)
            .fetch_all(&mut *tx)
            .await?;
        let found: Vec<(String, String)> = sqlx::query_as(columns)
            .bind(schema.unwrap_or_default())
            .fetch_all(&mut *tx)
            .await?;
        Ok::<_, sqlx::Error>((reference, found))
    }
    .await;
    // Nothing of the scratch schema stays, whatever happened.
    let _ = tx.rollback().await;
    let (reference, found) = compared.ok()?;
    let mut tables: Vec<&str> = reference.iter().map(|(table, _)| table.as_str()).collect();
    tables.dedup();
    tables.into_iter().find_map(|table| {
        let has = |column: &str| found.iter().any(|(t, c)| t == table && c == column);
        if !found.iter().any(|(t, _)| t == table) {
            return None;
        }
        let missing: Vec<&str> = reference
            .iter()
            .filter(|(t, column)| t == table && !has(column))
            .map(|(_, column)| column.as_str())
            .collect();
        (!missing.is_empty()).then(|| Error::foreign_table(table, &missing))
    })
}
