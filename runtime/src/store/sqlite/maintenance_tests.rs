//! The query plans of maintenance on big tables: each pass reads the runs it
//! ends and the rows it deletes along an index, from the first due on,
//! never through every run or event; before and after `ANALYZE`.

use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};

use super::maintenance::{
    DELETE_EVENTS_SQL, DELETE_FINISHED_SQL, OVERDUE_CHILDREN_SQL, TIME_OUT_OVERDUE_SQL,
};
use super::migrate::migrate;

/// 20,000 finished runs, 5,000 waiting ones (half with a deadline, none
/// due), 20,000 events: what a pass must not read through.
const BIG_TABLES: &str = "\
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) \
    INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at, finished_at) \
    SELECT printf('00000000-0000-0000-0000-%012d', i), 'w', 'completed', 'null', i, i, \
      1000000 + i FROM n; \
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) \
    INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at, ready_at, \
      deadline_at) \
    SELECT printf('00000000-0000-0000-0001-%012d', i), 'w', 'suspended', 'null', i, i, \
      9000000 + i, CASE WHEN i % 2 = 0 THEN 9500000 + i END FROM n; \
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) \
    INSERT INTO wf_event (name, data, created_at) SELECT 'e', '{}', 1000000 + i FROM n;";

/// SQLite's plan of `sql` with `params`, one line per step.
fn plan(connection: &Connection, sql: &str, params: &[Value]) -> String {
    connection
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap()
        .query_map(params_from_iter(params), |row| row.get::<_, String>(3))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
        .join("\n")
}

#[test]
fn maintenance_reads_what_is_due_by_index_however_big_the_tables() {
    let mut connection = Connection::open_in_memory().unwrap();
    migrate(&mut connection).unwrap();
    connection.execute_batch(BIG_TABLES).unwrap();
    let text = |text: &str| Value::Text(text.into());
    let now = Value::Integer(1_000_100);
    let limit = Value::Integer(1_000);
    let cases = [
        (
            "retention of finished runs",
            DELETE_FINISHED_SQL,
            vec![
                text(r#"["completed"]"#),
                now.clone(),
                Value::Null,
                text("[]"),
                limit.clone(),
            ],
            "wf_instance_finished",
        ),
        (
            "overdue children",
            OVERDUE_CHILDREN_SQL,
            vec![now.clone(), limit.clone()],
            "wf_instance_overdue",
        ),
        (
            "time-outs",
            TIME_OUT_OVERDUE_SQL,
            vec![now.clone(), limit.clone(), text("timed_out"), text("late")],
            "wf_instance_overdue",
        ),
        (
            "retention of events",
            DELETE_EVENTS_SQL,
            vec![now, limit],
            "wf_event_created",
        ),
    ];
    for when in ["before ANALYZE", "after ANALYZE"] {
        for (what, sql, params, index) in &cases {
            // A search of the index by a range of its column, not a scan.
            let plan = plan(&connection, sql, params);
            assert!(
                (plan.contains(&format!("USING INDEX {index} ("))
                    || plan.contains(&format!("USING COVERING INDEX {index} (")))
                    && !plan.contains("SCAN wf_instance")
                    && !plan.contains("SCAN c ")
                    && !plan.contains("SCAN wf_event"),
                "{when}, {what} does not read by {index}:\n{plan}"
            );
        }
        connection.execute_batch("ANALYZE").unwrap();
    }
}
