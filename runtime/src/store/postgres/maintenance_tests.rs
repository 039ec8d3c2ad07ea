//! The query plans of maintenance and of the dispatcher's next wake-up on
//! big tables: each reads what is due along an index, from the first due on,
//! never through every run or event; planned as the store's connections
//! plan them. Need `DURABLE_TEST_POSTGRES_URL` (`.ci/run` sets it); skip
//! without.

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use super::claims::NEXT_READY_SQL;
use super::maintenance::{
    DELETE_EVENTS_SQL, DELETE_FINISHED_SQL, OVERDUE_CHILDREN_SQL, TIME_OUT_OVERDUE_SQL,
};
use super::options::writer_options;
use super::tests::{drop_schema, generic_plan, writer_on_fresh_schema};

/// 200,000 finished runs (a quarter of them children), 20,000 waiting ones
/// (half with a deadline, none due), 2,000 running ones, 50,000 events:
/// what a pass must not read through.
const BIG_TABLES: &str = "\
    INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at, finished_at, \
      parent_id) \
    SELECT gen_random_uuid(), 'w', 'completed', 'null', g, g, 1000000 + g, \
      CASE WHEN g % 4 = 0 THEN gen_random_uuid() END \
    FROM generate_series(1, 200000) AS g; \
    INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at, ready_at, \
      deadline_at) \
    SELECT gen_random_uuid(), 'w', 'suspended', 'null', g, g, 9000000 + g, \
      CASE WHEN g % 2 = 0 THEN 9500000 + g END FROM generate_series(1, 20000) AS g; \
    INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at, \
      lease_owner, lease_expires_at, lease_token) \
    SELECT gen_random_uuid(), 'w', 'running', 'null', g, g, 'other', 9000000 + g, 1 \
    FROM generate_series(1, 2000) AS g; \
    INSERT INTO wf_event (name, data, created_at) \
    SELECT 'e', '{}', 1000000 + g FROM generate_series(1, 50000) AS g; \
    ANALYZE wf_instance; ANALYZE wf_event";

/// The generic plan of `sql`, prepared as `name` with `arguments`
/// parameters on `connection`.
async fn plan_of(connection: &mut PgConnection, name: &str, sql: &str, arguments: usize) -> String {
    sqlx::raw_sql(&format!("PREPARE {name} AS {sql}"))
        .execute(&mut *connection)
        .await
        .unwrap();
    generic_plan(connection, name, arguments).await
}

#[tokio::test]
async fn maintenance_and_wake_ups_read_what_is_due_by_index_however_big_the_tables() {
    let Some((mut writer, schema)) = writer_on_fresh_schema("maintplan", writer_options).await
    else {
        return;
    };
    sqlx::raw_sql(BIG_TABLES)
        .execute(&mut writer)
        .await
        .unwrap();
    // Maintenance runs on the writer, with its settings.
    for (name, sql, arguments, indexes) in [
        (
            "retention",
            DELETE_FINISHED_SQL,
            5,
            &["wf_instance_finished"][..],
        ),
        (
            "overdue_children",
            OVERDUE_CHILDREN_SQL,
            2,
            &["wf_instance_overdue"][..],
        ),
        (
            "time_outs",
            TIME_OUT_OVERDUE_SQL,
            4,
            &["wf_instance_overdue"][..],
        ),
        (
            "event_retention",
            DELETE_EVENTS_SQL,
            2,
            &["wf_event_created"][..],
        ),
    ] {
        let plan = plan_of(&mut writer, name, sql, arguments).await;
        assert_reads_by(&plan, name, indexes);
    }
    // The next wake-up runs on the pool, with PostgreSQL's own settings,
    // planned for its arguments.
    let url = std::env::var("DURABLE_TEST_POSTGRES_URL").unwrap();
    let options: PgConnectOptions = url.parse().unwrap();
    let mut pool_like =
        PgConnection::connect_with(&options.options([("search_path", schema.as_str())]))
            .await
            .unwrap();
    sqlx::raw_sql(&format!("PREPARE next_ready AS {NEXT_READY_SQL}"))
        .execute(&mut pool_like)
        .await
        .unwrap();
    let plan: Vec<(String,)> = sqlx::query_as(
        r#"EXPLAIN EXECUTE next_ready('["w"]', '["w\u001fv1"]', '{}', '["default"]')"#,
    )
    .fetch_all(&mut pool_like)
    .await
    .unwrap();
    let plan: Vec<String> = plan.into_iter().map(|(line,)| line).collect();
    assert_reads_by(
        &plan.join("\n"),
        "next wake-up",
        &["wf_instance_ready", "wf_instance_lease"],
    );
    drop_schema(&mut writer, &schema).await;
}

/// Asserts that `plan` reads by each of `indexes` and scans and sorts no
/// table.
fn assert_reads_by(plan: &str, what: &str, indexes: &[&str]) {
    assert!(
        indexes.iter().all(|index| plan.contains(index))
            && !plan.contains("Seq Scan")
            && !plan.contains("Sort"),
        "{what} does not read by {indexes:?}:\n{plan}"
    );
}
