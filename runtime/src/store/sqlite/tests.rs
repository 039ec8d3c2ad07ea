//! Unit tests of the SQLite backend's own queries: the order and the query
//! plans of claims and run lists, and the upgrade of a version 1 database.

use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};

use super::claims::{CANDIDATES_SQL, NEXT_READY_SQL, PRIORITY_BELOW_SQL, claim};
use super::migrate::{MIGRATIONS, migrate};
use super::reads::{SERIES_SQL, list_runs_query, list_runs_sql, unserved_counts_sql};
use super::waits::{KEYED_WAITERS_SQL, UNKEYED_WAITERS_SQL};
use super::writer::apply_op;
use crate::model::ids::RunId;
use crate::model::listing::{RunCursor, RunFilter, UnservedRuns};
use crate::model::status::RunStatus;
use crate::store::ClaimRequest;
use crate::store::NewEvent;
use crate::store::listing::RunListQuery;
use crate::store::ops::{WriteOp, WriteOut};

/// A fresh in-memory database, migrated, after `batch` (the runs of a test).
fn migrated_with(batch: &str) -> Connection {
    let mut connection = Connection::open_in_memory().unwrap();
    migrate(&mut connection).unwrap();
    connection.execute_batch(batch).unwrap();
    connection
}

/// Runs left `running` by the last engine are claimed before a backlog
/// of runs that fell due before the restart.
#[test]
fn recovered_runs_are_claimed_before_the_backlog() {
    let connection = migrated_with(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50) \
             INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at, \
               ready_at) \
             SELECT printf('00000000-0000-0000-0000-%012d', i), 'w', 'pending', 'null', i, i, i FROM n; \
             INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at, \
               started_at, executions, lease_token, lease_owner) \
             VALUES ('00000000-0000-0000-0000-000000009999', 'w', 'running', 'null', 60, 60, \
               60, 1, 1, 'the engine that crashed')",
    );
    let recovered = apply_op(&connection, &WriteOp::Recover { now: 1_000 }).unwrap();
    assert!(matches!(recovered, Ok(WriteOut::Count(1))));
    let request = ClaimRequest {
        owner: "me".into(),
        now: 1_000,
        limit: 1,
        workflows: r#"["w"]"#.into(),
        lease_expires_at: None,
    };
    let ids: Vec<String> = claim(&connection, &request)
        .unwrap()
        .iter()
        .map(|run| run.lease.run_id.to_string())
        .collect();
    assert_eq!(
        ids,
        ["00000000-0000-0000-0000-000000009999"],
        "the recovered run waits behind the backlog"
    );
}

/// With many runs asleep, a claim and the dispatcher's next wake time
/// read only the due runs, by the queue and ready indexes and in their
/// order, the running runs of a limited workflow's group by the index of
/// slots, and the priorities by the queue index; before and after
/// `ANALYZE` (which `PRAGMA optimize` may run).
#[test]
fn claims_read_due_runs_by_index_however_many_runs_sleep() {
    let connection = migrated_with(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) \
             INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at, \
               ready_at) \
             SELECT printf('00000000-0000-0000-0000-%012d', i), 'w', 'suspended', 'null', i, i, 1000 + i FROM n",
    );
    for when in ["before ANALYZE", "after ANALYZE"] {
        for (what, sql, params, index) in [
            (
                "claim",
                CANDIDATES_SQL,
                vec![
                    "me",
                    "1010",
                    "100",
                    r#"["w"]"#,
                    r#"["w\u001fv1"]"#,
                    r#"{"w":1}"#,
                    "0",
                    r#"["default"]"#,
                ],
                "wf_instance_queue",
            ),
            (
                "priorities",
                PRIORITY_BELOW_SQL,
                vec!["10"],
                "wf_instance_queue",
            ),
            (
                "next wake time",
                NEXT_READY_SQL,
                vec![
                    r#"["w"]"#,
                    r#"["w\u001fv1"]"#,
                    r#"{"w":1}"#,
                    r#"["default"]"#,
                ],
                "wf_instance_ready",
            ),
        ] {
            let plan: Vec<String> = connection
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(params_from_iter(params), |row| row.get(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let plan = plan.join("\n");
            assert!(
                plan.contains(&format!("USING INDEX {index}"))
                    && !plan.contains("TEMP B-TREE")
                    && (what == "priorities" || plan.contains("wf_instance_slots")),
                "{when}, the {what} reads or sorts every waiting run:\n{plan}"
            );
        }
        connection.execute_batch("ANALYZE").unwrap();
    }
    let request = ClaimRequest {
        owner: "me".into(),
        now: 1_010,
        limit: 100,
        workflows: r#"["w"]"#.into(),
        lease_expires_at: None,
    };
    let claimed = claim(&connection, &request).unwrap();
    let ids: Vec<String> = claimed
        .iter()
        .map(|run| run.lease.run_id.to_string())
        .collect();
    let due: Vec<String> = (1..=10)
        .map(|i| format!("00000000-0000-0000-0000-{i:012}"))
        .collect();
    assert_eq!(ids, due, "the runs due by 1010, the earliest first");
}

/// With many runs waiting for one event name, each with its own filter, a
/// send reads its waiters by (name, key) and (name, no key) in the index,
/// not every waiter of the name, before and after `ANALYZE`; and a waiter
/// with no key (as every waiter written before keys existed) is still found
/// and its filter checked.
#[test]
fn an_event_reads_only_the_waiters_its_keys_name() {
    let mut connection = Connection::open_in_memory().unwrap();
    migrate(&mut connection).unwrap();
    let key =
        |order: i64| crate::store::wait_keys::filter_key(Some(&format!(r#"{{"order":{order}}}"#)));
    connection
        .execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) \
             INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at) \
             SELECT printf('00000000-0000-0000-0000-%012d', i), 'w', 'suspended', 'null', i, i \
             FROM n; \
             INSERT INTO wf_step (instance_id, name, seq, kind, status, event_name, event_filter, \
               created_at, updated_at) \
             SELECT id, 'w', 0, 'wait_for_event', 'waiting', 'paid', \
               printf('{\"order\":%d}', created_at), created_at, created_at FROM wf_instance",
        )
        .unwrap();
    // Every waiter keyed as a wait registered now is, but 4999 and 5000,
    // left without a key as a waiter written before version 5.
    let mut keyed = connection
        .prepare("UPDATE wf_step SET wait_key = ?1 WHERE event_filter = ?2")
        .unwrap();
    for order in 1..=4998 {
        keyed
            .execute(rusqlite::params![
                key(order),
                format!(r#"{{"order":{order}}}"#)
            ])
            .unwrap();
    }
    drop(keyed);
    for when in ["before ANALYZE", "after ANALYZE"] {
        for (what, sql, params) in [
            (
                "keyed",
                KEYED_WAITERS_SQL,
                vec![Value::from("paid".to_owned()), Value::from(key(7).unwrap())],
            ),
            (
                "unkeyed",
                UNKEYED_WAITERS_SQL,
                vec![Value::from("paid".to_owned())],
            ),
        ] {
            let plan: Vec<String> = connection
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(params_from_iter(params), |row| row.get(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let plan = plan.join("\n");
            assert!(
                plan.contains("USING INDEX wf_step_waiting_event (event_name=? AND wait_key=?)"),
                "{when}, the {what} waiters are not read by name and key:\n{plan}"
            );
        }
        connection.execute_batch("ANALYZE").unwrap();
    }
    for (order, woken) in [
        (7, "00000000-0000-0000-0000-000000000007"),
        (4999, "00000000-0000-0000-0000-000000004999"),
    ] {
        let event = NewEvent {
            name: "paid".into(),
            data: format!(r#"{{"order":{order},"amount":3}}"#),
            target: None,
            now: 10_000,
            starts: Vec::new(),
            trigger_errors: Vec::new(),
        };
        let sent = apply_op(
            &connection,
            &WriteOp::SendEvent {
                event,
                origin: None,
            },
        )
        .unwrap();
        let Ok(WriteOut::Sent(sent)) = sent else {
            panic!("the event for order {order} was not sent")
        };
        let woken: RunId = woken.parse().unwrap();
        assert_eq!(sent.woken, [woken], "the event for order {order}");
    }
}

/// A version 1 database upgrades in place: its steps get start times (their
/// creation) and end times (their last write, if they completed or failed),
/// and opening it again applies nothing twice.
#[test]
fn a_version_1_database_gets_step_times_backfilled() {
    let mut connection = Connection::open_in_memory().unwrap();
    connection
        .execute_batch(concat!(
            include_str!("migrations/0001_schema.sql"),
            "CREATE TABLE wf_migration (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL); \
             INSERT INTO wf_migration VALUES (1, 0); \
             INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at) \
             VALUES ('00000000-0000-0000-0000-000000000001', 'w', 'running', 'null', 1, 1); \
             INSERT INTO wf_step (instance_id, name, seq, kind, status, created_at, updated_at) \
             VALUES ('00000000-0000-0000-0000-000000000001', 'done', 0, 'run', 'completed', 10, 20), \
               ('00000000-0000-0000-0000-000000000001', 'broke', 1, 'run', 'failed', 30, 40), \
               ('00000000-0000-0000-0000-000000000001', 'nap', 2, 'sleep', 'sleeping', 50, 60);"
        ))
        .unwrap();
    migrate(&mut connection).unwrap();
    migrate(&mut connection).unwrap();
    type Times = (String, Option<i64>, Option<i64>, Option<i64>);
    let steps: Vec<Times> = connection
        .prepare("SELECT name, started_at, ended_at, settled_by_event FROM wf_step ORDER BY seq")
        .unwrap()
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        steps,
        [
            ("done".to_owned(), Some(10), Some(20), None),
            ("broke".to_owned(), Some(30), Some(40), None),
            ("nap".to_owned(), Some(50), None, None),
        ]
    );
    let versions: Vec<i64> = column(
        &connection,
        "SELECT version FROM wf_migration ORDER BY version",
    );
    let all: Vec<i64> = MIGRATIONS.iter().map(|(version, _)| *version).collect();
    assert_eq!(versions, all, "each migration ran once");
}

/// The run lists read a page by index, in order, from the cursor on, for
/// every filter they narrow by, however many runs there are; before and
/// after `ANALYZE`. Several statuses read one indexed branch each and sort
/// only what those branches return.
#[test]
fn run_lists_read_by_index_in_order() {
    let connection = migrated_with(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) \
             INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at, \
               finished_at, parent_id) \
             SELECT printf('00000000-0000-0000-0000-%012d', i), 'w' || (i % 7), \
               CASE i % 4 WHEN 0 THEN 'completed' WHEN 1 THEN 'failed' \
                 WHEN 2 THEN 'pending' ELSE 'running' END, \
               'null', i, i, CASE WHEN i % 4 < 2 THEN i + 5 END, \
               CASE WHEN i % 10 = 0 THEN printf('00000000-0000-0000-0000-%012d', i / 10) END \
             FROM n",
    );
    let parent: RunId = "00000000-0000-0000-0000-000000000001".parse().unwrap();
    let cursor = RunCursor {
        created_at: 10_000,
        id: "00000000-0000-0000-0000-000000010000".parse().unwrap(),
    };
    let shapes = [
        (
            "a status",
            RunFilter::new().statuses([RunStatus::Failed]),
            "wf_instance_status_created",
        ),
        (
            "a workflow and a status",
            RunFilter::new()
                .workflow("w3")
                .statuses([RunStatus::Completed]),
            "wf_instance_list",
        ),
        (
            "a parent",
            RunFilter::new().parent(parent),
            "wf_instance_parent",
        ),
        (
            "a status, after the first page",
            RunFilter::new()
                .statuses([RunStatus::Pending])
                .after(cursor),
            "wf_instance_status_created",
        ),
    ];
    for when in ["before ANALYZE", "after ANALYZE"] {
        for (what, filter, index) in &shapes {
            let (sql, values) = list_runs_query(filter);
            let plan = query_plan(&connection, &sql, values);
            assert!(
                plan.contains(&format!("INDEX {index}")) && !plan.contains("TEMP B-TREE"),
                "{when}, the list of {what} is not read by {index} in order:\n{plan}"
            );
        }
        // Several statuses, and none (every status), read one indexed
        // branch per status.
        let branched = [
            (
                "several statuses",
                RunFilter::new().statuses([RunStatus::Failed, RunStatus::Completed]),
                "wf_instance_status_created",
                2,
            ),
            (
                "every run",
                RunFilter::new(),
                "wf_instance_status_created",
                7,
            ),
            (
                "every run after the first page",
                RunFilter::new().after(cursor),
                "wf_instance_status_created",
                7,
            ),
            (
                "a workflow",
                RunFilter::new().workflow("w3"),
                "wf_instance_list",
                7,
            ),
        ];
        for (what, filter, index, branches) in &branched {
            let (sql, values) = list_runs_query(filter);
            let plan = query_plan(&connection, &sql, values);
            assert_eq!(
                plan.matches(&format!("INDEX {index}")).count(),
                *branches,
                "{when}, {what}: a branch per status by {index}:\n{plan}"
            );
            assert!(
                !plan.contains("SCAN wf_instance\n") && !plan.ends_with("SCAN wf_instance"),
                "{when}, {what} scan the table:\n{plan}"
            );
        }
        connection.execute_batch("ANALYZE").unwrap();
    }
}

/// The runs no live worker serves are counted from the not-finished
/// statuses' ranges of the status index (no index of their own costs every
/// run's status change), never scanning the finished runs, and listed
/// newest first along the index of their workflow and status, one branch
/// per group and status, each in the index's order, among many finished
/// runs; before and after `ANALYZE`.
#[test]
fn unserved_runs_are_counted_and_listed_by_the_status_and_list_indexes() {
    let connection = migrated_with(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) \
             INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at, version) \
             SELECT printf('00000000-0000-0000-0000-%012d', i), 'w' || (i % 5), \
               CASE WHEN i % 50 = 0 THEN 'pending' WHEN i % 50 = 1 THEN 'suspended' \
                 ELSE 'completed' END, \
               'null', i, i, CASE WHEN i % 3 = 0 THEN NULL ELSE 'v' || (i % 3) END \
             FROM n",
    );
    let indexes: Vec<String> = column(
        &connection,
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'wf_instance'",
    );
    assert!(
        !indexes.iter().any(|name| name.contains("unfinished")),
        "no index of the unfinished runs: {indexes:?}"
    );
    let groups = [
        UnservedRuns {
            workflow: "w1".into(),
            version: Some("v1".into()),
            queue: "default".into(),
            runs: 1,
        },
        UnservedRuns {
            workflow: "w2".into(),
            version: None,
            queue: "default".into(),
            runs: 1,
        },
    ];
    let cursor = RunCursor {
        created_at: 10_000,
        id: "00000000-0000-0000-0000-000000010000".parse().unwrap(),
    };
    for when in ["before ANALYZE", "after ANALYZE"] {
        let count = query_plan(&connection, &unserved_counts_sql(), Vec::new());
        assert!(
            count.contains("SEARCH wf_instance USING INDEX wf_instance_status_created (status=?)")
                && !count.contains("SCAN wf_instance"),
            "{when}, the count reads more than the not-finished runs:\n{count}"
        );
        for (what, filter) in [
            ("every unserved run", RunFilter::new().unserved()),
            (
                "after the first page",
                RunFilter::new().unserved().after(cursor),
            ),
        ] {
            let (sql, values) = list_runs_sql(&RunListQuery::unserved(&filter, &groups));
            let list = query_plan(&connection, &sql, values);
            assert_eq!(
                list.matches(
                    "SEARCH wf_instance USING INDEX wf_instance_list (workflow=? AND status=?"
                )
                .count(),
                6,
                "{when}, {what}: a branch per group and status by the list index:\n{list}"
            );
            // The merge orders each branch's rows (at most a page and one),
            // as every list of several branches does; a branch itself reads
            // its index in order, sorting nothing and scanning nothing.
            let lines: Vec<&str> = list.lines().collect();
            let unordered = lines.windows(2).any(|pair| {
                pair[1].contains("TEMP B-TREE") && !pair[0].starts_with("SCAN (subquery-")
            });
            assert!(
                !unordered && !list.contains("SCAN wf_instance"),
                "{when}, {what} is not read in the index's order:\n{list}"
            );
        }
        // One group and status: one branch, in the index's order.
        let one = RunFilter::new()
            .unserved()
            .workflow("w2")
            .statuses([RunStatus::Pending]);
        let (sql, values) = list_runs_sql(&RunListQuery::unserved(&one, &groups));
        let list = query_plan(&connection, &sql, values);
        assert!(
            list.contains(
                "SEARCH wf_instance USING INDEX wf_instance_list (workflow=? AND status=?)"
            ) && !list.contains("TEMP B-TREE"),
            "{when}, one group and status:\n{list}"
        );
        connection.execute_batch("ANALYZE").unwrap();
    }
}

/// The first column of every row `sql` reads.
fn column<T: rusqlite::types::FromSql>(connection: &Connection, sql: &str) -> Vec<T> {
    connection
        .prepare(sql)
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn query_plan(connection: &Connection, sql: &str, values: Vec<Value>) -> String {
    let plan: Vec<String> = connection
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap()
        .query_map(params_from_iter(values), |row| row.get(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    plan.join("\n")
}

/// The per-minute series reads the runs finished in its range by their
/// time index, not every run of a status.
#[test]
fn the_series_reads_by_the_time_indexes() {
    let connection = migrated_with(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) \
             INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at, \
               started_at, finished_at) \
             SELECT printf('00000000-0000-0000-0000-%012d', i), 'w', 'completed', 'null', \
               i * 1000, i * 1000, i * 1000, i * 1000 + 500 FROM n",
    );
    for when in ["before ANALYZE", "after ANALYZE"] {
        let values = vec![Value::Integer(60_000), Value::Integer(120_000)];
        let plan = query_plan(&connection, SERIES_SQL, values);
        assert!(
            plan.contains("INDEX wf_instance_finished"),
            "{when}, the series reads more finished runs than its range:\n{plan}"
        );
        connection.execute_batch("ANALYZE").unwrap();
    }
}

/// Commits are copied into the database file by the checkpointer thread,
/// long before the writer's own backstop (10,000 WAL pages) would do it:
/// no commit waits for a checkpoint.
#[tokio::test]
async fn the_checkpointer_copies_commits_into_the_file_off_the_writer() {
    use super::{Durability, SqliteLocation, SqliteStore};
    use crate::store::{NewRun, RunStore};

    let dir = std::env::temp_dir().join(format!(
        "durable-checkpoint-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("store.db");
    let store = SqliteStore::open(&SqliteLocation::File(path.clone()), Durability::Normal)
        .await
        .unwrap();
    // Let a checkpoint of the migration pass, then measure from there.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let size = || std::fs::metadata(&path).unwrap().len();
    let before = size();
    for index in 0..300 {
        let run = NewRun {
            cancel_on: Vec::new(),
            id: RunId(uuid::Uuid::now_v7()),
            workflow: "flow".into(),
            input: format!("{{\"index\":{index},\"pad\":\"{}\"}}", "x".repeat(200)),
            idempotency_key: None,
            now: 1_000,
            ready_at: 1_000,
            deadline_at: None,
            version: None,
            queue: Default::default(),
            parent_id: None,
            claimed_by: None,
            flow: None,
        };
        store.create_run(run).await.unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while size() <= before && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let after = size();
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        after > before,
        "the database file stayed at {before} bytes: nothing checkpointed the WAL"
    );
}
