//! Unit tests of the PostgreSQL backend: connection errors, the connect
//! timeout, and the plans the writer and the claimer make.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use super::PostgresStore;
use super::claims::claim;
use super::migrate::{MIGRATION_TABLE, MIGRATIONS};
use super::options::{
    DEFAULT_CONNECT_TIMEOUT, claimer_options, split_connect_timeout, status_is, writer_options,
};
use super::reads::runs_query;
use super::writer::apply_batch;
use crate::StepKind;
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::listing::{RunCursor, RunFilter};
use crate::model::status::RunStatus;
use crate::store::ops::WriteOp;
use crate::store::{
    ClaimAtCreate, ClaimRequest, Lease, NewRun, RunOutcome, RunStore, Served, StepRecord, WaitStore,
};

/// A loopback server that accepts connections and never answers, as a
/// hung PostgreSQL would: its port. The connections stay open until the
/// test process ends.
fn silent_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    port
}

/// The error of starting an engine on `url` (with `schema`), which must
/// come within `limit`.
async fn start_error(url: &str, schema: Option<&str>, limit: Duration) -> Error {
    let mut builder = crate::Engine::builder().postgres(url);
    if let Some(schema) = schema {
        builder = builder.postgres_schema(schema);
    }
    match tokio::time::timeout(limit, builder.start()).await {
        Err(_) => panic!("the engine's start hung on {url}"),
        Ok(Ok(_)) => panic!("the engine started on {url}"),
        Ok(Err(error)) => error,
    }
}

/// A server that accepts the connection and never answers: the start
/// gives up after the connect timeout, with or without a schema to
/// create (the connection that created it had no timeout), and says
/// what it was doing and to which server, not the password.
#[tokio::test]
async fn a_start_against_a_server_that_never_answers_times_out() {
    let port = silent_server();
    let url = format!("postgres://durable:s3cret@127.0.0.1:{port}/db?connect_timeout=1");
    for (schema, action) in [
        (Some("app"), "to create schema app"),
        (None, "to open the store"),
    ] {
        let error = start_error(&url, schema, Duration::from_secs(30)).await;
        let message = error.to_string();
        assert!(matches!(error, Error::Connect { .. }), "{message}");
        assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
        assert!(message.contains(action), "{message}");
        assert!(message.contains("no answer within 1s"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }
}

/// A server that refuses connections: the start says so (not that a
/// pool timed out), naming the server, with or without a schema.
#[tokio::test]
async fn a_start_against_a_refusing_server_says_it_refused() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("postgres://durable:s3cret@127.0.0.1:{port}/db");
    for schema in [Some("app"), None] {
        let error = start_error(&url, schema, Duration::from_secs(30)).await;
        let message = error.to_string();
        assert!(matches!(error, Error::Connect { .. }), "{message}");
        assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
        assert!(message.to_lowercase().contains("refused"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }
}

/// The planner guard's text: one status compares with `=`, several with
/// `IN`, each wrapped so no index answers it.
#[test]
fn status_is_writes_the_planner_guard() {
    assert_eq!(
        status_is!("i.status", "running"),
        "(i.status = 'running') IS TRUE"
    );
    assert_eq!(
        status_is!("status", "running", "suspended"),
        "(status IN ('running', 'suspended')) IS TRUE"
    );
    assert_eq!(
        concat!(
            "AND ",
            status_is!("p.status", "pending", "running", "suspended"),
            " \
                 AND"
        ),
        "AND (p.status IN ('pending', 'running', 'suspended')) IS TRUE AND"
    );
}

#[test]
fn connect_timeout_is_taken_out_of_the_url() {
    let (url, timeout) =
        split_connect_timeout("postgres://u@h/db?sslmode=disable&connect_timeout=3").unwrap();
    assert_eq!(
        (url.as_str(), timeout),
        ("postgres://u@h/db?sslmode=disable", Duration::from_secs(3))
    );
    let (url, timeout) = split_connect_timeout("postgres://u@h/db?connect_timeout=2").unwrap();
    assert_eq!(
        (url.as_str(), timeout),
        ("postgres://u@h/db", Duration::from_secs(2))
    );
    let (url, timeout) = split_connect_timeout("postgres://u@h/db").unwrap();
    assert_eq!(
        (url.as_str(), timeout),
        ("postgres://u@h/db", DEFAULT_CONNECT_TIMEOUT)
    );
    for bad in ["0", "-1", "1.5", ""] {
        let url = format!("postgres://u:pw@h/db?connect_timeout={bad}");
        assert!(
            matches!(split_connect_timeout(&url), Err(Error::Config(_))),
            "{bad:?}"
        );
    }
}

/// A store on a fresh schema (`t_<label>_<12 hex>`), with the server's
/// URL and the schema's name; `None` (after a notice) without
/// `DURABLE_TEST_POSTGRES_URL` (`.ci/run` sets it).
async fn store_on_fresh_schema(label: &str) -> Option<(PostgresStore, String, String)> {
    let Ok(url) = std::env::var("DURABLE_TEST_POSTGRES_URL") else {
        eprintln!("skipped: set DURABLE_TEST_POSTGRES_URL to run the PostgreSQL store tests");
        return None;
    };
    let schema = format!(
        "t_{label}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let store = PostgresStore::open(&url, Some(&schema), Duration::from_secs(30))
        .await
        .unwrap();
    Some((store, url, schema))
}

/// Drops a test's schema and everything in it.
pub(super) async fn drop_schema(connection: &mut PgConnection, schema: &str) {
    sqlx::raw_sql(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(connection)
        .await
        .unwrap();
}

/// A fresh schema, migrated, and a connection to it with `settings`
/// ([`writer_options`] or [`claimer_options`]); `None` (after a notice)
/// without `DURABLE_TEST_POSTGRES_URL`.
pub(super) async fn writer_on_fresh_schema(
    label: &str,
    settings: fn(&PgConnectOptions) -> PgConnectOptions,
) -> Option<(PgConnection, String)> {
    let (store, url, schema) = store_on_fresh_schema(label).await?;
    store.close().await;
    let options: PgConnectOptions = url.parse().unwrap();
    let writer = PgConnection::connect_with(&settings(
        &options.options([("search_path", schema.as_str())]),
    ))
    .await
    .unwrap();
    Some((writer, schema))
}

/// A run of workflow `w` due at 1 ms, claimed as it is created by `owner`
/// if given (its lease token is then 1).
fn new_run(id: RunId, owner: Option<&str>) -> NewRun {
    NewRun {
        cancel_on: Vec::new(),
        id,
        workflow: "w".into(),
        input: "null".into(),
        idempotency_key: None,
        now: 1,
        ready_at: 1,
        deadline_at: None,
        version: None,
        queue: Default::default(),
        parent_id: None,
        claimed_by: owner.map(|owner| ClaimAtCreate {
            owner: owner.into(),
            lease_expires_at: Some(31_000),
            limit: None,
        }),
        flow: None,
    }
}

/// The plan of prepared statement `name`, run with every argument NULL
/// (the writer's plans are generic: they do not depend on arguments).
pub(super) async fn generic_plan(
    writer: &mut PgConnection,
    name: &str,
    arguments: usize,
) -> String {
    let nulls = vec!["NULL"; arguments].join(", ");
    let explain = if arguments == 0 {
        format!("EXPLAIN EXECUTE {name}")
    } else {
        format!("EXPLAIN EXECUTE {name}({nulls})")
    };
    let plan: Vec<(String,)> = sqlx::query_as(&explain)
        .fetch_all(&mut *writer)
        .await
        .unwrap();
    plan.into_iter()
        .map(|(line,)| line)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The claimer plans a claim on its first use, here on empty tables;
/// the plan must still read by index once the table holds many runs.
/// Needs `DURABLE_TEST_POSTGRES_URL` (`.ci/run` sets it); skips without.
#[tokio::test]
async fn a_claim_planned_on_empty_tables_reads_by_index_as_they_grow() {
    let Some((mut writer, schema)) = writer_on_fresh_schema("claimplan", claimer_options).await
    else {
        return;
    };
    let request = ClaimRequest {
        owner: "plan-test".into(),
        now: 1_000,
        limit: 100,
        workflows: r#"["w"]"#.into(),
        lease_expires_at: Some(31_000),
    };
    // The claim of workflows with a concurrency limit is a statement of its
    // own, planned on the empty tables as well.
    let limited = ClaimRequest {
        workflows: Served::from(r#"["w"]"#).with_limits([("w", 1)]),
        ..request.clone()
    };
    assert!(claim(&mut writer, &request).await.unwrap().is_empty());
    assert!(claim(&mut writer, &limited).await.unwrap().is_empty());
    sqlx::raw_sql(
        "INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at, ready_at, \
           concurrency_key) \
         SELECT gen_random_uuid(), 'w', 'pending', 'null', g, g, g, format('\"k%s\"', g) \
         FROM generate_series(1, 5000) AS g; \
         INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at, \
           lease_owner, lease_expires_at, lease_token, concurrency_key) \
         SELECT gen_random_uuid(), 'w', 'running', 'null', g, g, 'other', 2000 + g, 1, \
           format('\"k%s\"', g) \
         FROM generate_series(1, 5000) AS g",
    )
    .execute(&mut writer)
    .await
    .unwrap();
    let statements: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT name, generic_plans, statement FROM pg_prepared_statements \
         WHERE statement LIKE 'WITH RECURSIVE expired AS%' ORDER BY statement LIKE '%FROM due AS c'",
    )
    .fetch_all(&mut writer)
    .await
    .unwrap();
    assert_eq!(
        statements.len(),
        2,
        "the two claim statements were prepared"
    );
    for (_, generic_plans, _) in &statements {
        assert_eq!(*generic_plans, 1, "the first claim made the plan");
    }
    // The plan made on empty tables, then the one made again once
    // ANALYZE gave the planner the table's real size.
    for when in ["planned on empty tables", "planned after ANALYZE"] {
        for ((name, _, _), (what, arguments)) in
            statements.iter().zip([("claim", 8), ("limited claim", 9)])
        {
            let plan = generic_plan(&mut writer, name, arguments).await;
            assert!(
                !plan.contains("Seq Scan") && !plan.contains("Sort"),
                "{when}, the {what} scans or sorts every due run:\n{plan}"
            );
            if what == "limited claim" {
                assert!(
                    plan.contains("wf_instance_slots"),
                    "{when}, the {what} counts the running runs without their index:\n{plan}"
                );
            }
        }
        sqlx::raw_sql("ANALYZE wf_instance")
            .execute(&mut writer)
            .await
            .unwrap();
    }
    assert_eq!(claim(&mut writer, &request).await.unwrap().len(), 100);
    // With limit 1 per key, and a run of each pending run's key running
    // already, a claim of the limited workflow takes none.
    assert!(claim(&mut writer, &limited).await.unwrap().is_empty());
    drop_schema(&mut writer, &schema).await;
}

/// Every fenced write reads its run by primary key, also when planned on
/// empty tables and run once thousands of runs are running: a plan that
/// read the runs by their lease had come to read every running run for
/// each step saved.
#[tokio::test]
async fn fenced_writes_planned_on_empty_tables_read_their_run_by_key() {
    let Some((mut writer, schema)) = writer_on_fresh_schema("fenceplan", writer_options).await
    else {
        return;
    };
    let run_id = RunId::new();
    let lease = Lease { run_id, token: 1 };
    let step = StepRecord::completed("a", 0, StepKind::Run);
    let create = WriteOp::Create(new_run(run_id, Some("plan-test")));
    let save = || WriteOp::SaveStep(lease, step.clone());
    let finish = || WriteOp::Finish {
        lease,
        outcome: RunOutcome::Completed("1".into()),
        steps: vec![step.clone()],
        now: 2,
    };
    let suspend = WriteOp::Suspend {
        lease,
        ready_at: Some(5),
        steps: vec![step.clone()],
        now: 2,
    };
    let renew = WriteOp::RenewLeases {
        leases: vec![lease],
        until: 60_000,
    };
    // Each kind of batch plans its statements on the empty tables.
    for batch in [
        vec![create, save(), finish()],
        vec![save()],
        vec![suspend],
        vec![renew],
        vec![finish()],
        vec![WriteOp::Release { lease, now: 3 }],
        vec![WriteOp::Cancel { run_id, now: 3 }],
    ] {
        apply_batch(&mut writer, &batch).await.unwrap();
    }
    sqlx::raw_sql(
        "INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at, \
           lease_owner, lease_expires_at, lease_token) \
         SELECT gen_random_uuid(), 'w', 'running', 'null', g, g, 'other', 40000 + g, 1 \
         FROM generate_series(1, 5000) AS g",
    )
    .execute(&mut writer)
    .await
    .unwrap();
    let statements: Vec<(String, String, i32)> = sqlx::query_as(
        "SELECT name, statement, COALESCE(cardinality(parameter_types), 0) \
         FROM pg_prepared_statements WHERE statement NOT LIKE 'WITH expired AS%'",
    )
    .fetch_all(&mut writer)
    .await
    .unwrap();
    assert!(statements.len() >= 8, "planned: {statements:?}");
    for when in ["planned on empty tables", "planned after ANALYZE"] {
        for (name, statement, arguments) in &statements {
            let plan = generic_plan(&mut writer, name, *arguments as usize).await;
            // Runs are read by key: their id (the primary key) or, for a
            // run's children, their parent; not by status or lease, and
            // not by a scan of the table.
            let reads_by_key = plan.lines().all(|line| {
                !line.contains("Seq Scan on wf_instance")
                    && line
                        .split("using wf_instance_")
                        .skip(1)
                        .all(|index| index.starts_with("pkey ") || index.starts_with("parent "))
            });
            assert!(
                reads_by_key,
                "{when}, a fenced write reads every running run:\n{statement}\n{plan}"
            );
        }
        sqlx::raw_sql("ANALYZE wf_instance")
            .execute(&mut writer)
            .await
            .unwrap();
    }
    drop_schema(&mut writer, &schema).await;
}

/// With thousands of runs waiting for one event name, each with its own
/// filter, a send planned on empty tables reads its waiters by (name, key)
/// in the index, not every waiter of the name, before and after `ANALYZE`;
/// and a waiter with no key (as every waiter written before keys existed)
/// is still found and its filter checked.
#[tokio::test]
async fn an_event_reads_only_the_waiters_its_keys_name() {
    let Some((store, url, schema)) = store_on_fresh_schema("waitkeys").await else {
        return;
    };
    let options: PgConnectOptions = url.parse().unwrap();
    let mut writer = PgConnection::connect_with(&writer_options(
        &options.options([("search_path", schema.as_str())]),
    ))
    .await
    .unwrap();
    let send = |order: i64| WriteOp::SendEvent {
        event: crate::store::NewEvent {
            name: "paid".into(),
            data: format!(r#"{{"order":{order},"amount":3}}"#),
            target: None,
            now: 10_000,
            starts: Vec::new(),
            trigger_errors: Vec::new(),
        },
        origin: None,
    };
    apply_batch(&mut writer, &[send(0)]).await.unwrap();
    assert_eq!(
        crate::store::wait_keys::filter_key(Some(r#"{"order":7}"#)).as_deref(),
        Some(r#"[["order"],7.0]"#),
        "the keys the rows below are given"
    );
    // 5000 waiters; all but 4999 and 5000 keyed as a wait registered now.
    sqlx::raw_sql(
        "INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at) \
         SELECT ('00000000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid, 'w', \
           'suspended', 'null', g, g FROM generate_series(1, 5000) AS g; \
         INSERT INTO wf_step (instance_id, name, seq, kind, status, event_name, event_filter, \
           wait_key, created_at, updated_at) \
         SELECT id, 'w', 0, 'wait_for_event', 'waiting', 'paid', \
           jsonb_build_object('order', created_at), \
           CASE WHEN created_at < 4999 THEN '[[\"order\"],' || created_at || '.0]' END, \
           created_at, created_at FROM wf_instance",
    )
    .execute(&mut writer)
    .await
    .unwrap();
    let (name,): (String,) = sqlx::query_as(
        "SELECT name FROM pg_prepared_statements \
         WHERE statement LIKE '%wait_key = k.key%' AND statement NOT LIKE '%pg_prepared%'",
    )
    .fetch_one(&mut writer)
    .await
    .unwrap();
    for when in ["planned on empty tables", "planned after ANALYZE"] {
        let plan = generic_plan(&mut writer, &name, 3).await;
        // Both ranges are index conditions: a key only filtering a scan of
        // the name's range reads every waiter of the name.
        let index_conds: Vec<&str> = plan
            .lines()
            .filter(|line| line.trim_start().starts_with("Index Cond:"))
            .collect();
        assert!(
            plan.matches("wf_step_waiting_event").count() >= 2
                && index_conds
                    .iter()
                    .any(|line| line.contains("(wait_key IS NULL)"))
                && index_conds
                    .iter()
                    .any(|line| line.contains("(wait_key = k.key)"))
                && !plan.contains("Seq Scan on wf_step"),
            "{when}, a send reads every waiter of its name:\n{plan}"
        );
        sqlx::raw_sql("ANALYZE wf_step")
            .execute(&mut writer)
            .await
            .unwrap();
    }
    drop(writer);
    for order in [7, 4999] {
        let sent = store
            .send_event(
                crate::store::NewEvent {
                    name: "paid".into(),
                    data: format!(r#"{{"order":{order},"amount":3}}"#),
                    target: None,
                    now: 10_000,
                    starts: Vec::new(),
                    trigger_errors: Vec::new(),
                },
                None,
            )
            .await
            .unwrap();
        let woken: RunId = format!("00000000-0000-0000-0000-{order:012}")
            .parse()
            .unwrap();
        assert_eq!(sent.woken, [woken], "the event for order {order}");
    }
    store.close().await;
    let mut admin = PgConnection::connect(&url).await.unwrap();
    drop_schema(&mut admin, &schema).await;
}

/// Expired leases are claimed before a backlog of due runs (a dead
/// worker's runs had waited behind the whole queue), and the rest of
/// the claim's limit still goes to due runs.
#[tokio::test]
async fn a_claim_takes_expired_leases_before_a_backlog() {
    let Some((store, url, schema)) = store_on_fresh_schema("claimexpired").await else {
        return;
    };
    for _ in 0..50 {
        store.create_run(new_run(RunId::new(), None)).await.unwrap();
    }
    // Two runs of a worker that died: their leases end at 31,000.
    let dead = [RunId::new(), RunId::new()];
    for run_id in dead {
        store
            .create_run(new_run(run_id, Some("dead-worker")))
            .await
            .unwrap();
    }
    let claimed = store
        .claim_ready(ClaimRequest {
            owner: "live-worker".into(),
            now: 40_000,
            limit: 4,
            workflows: r#"["w"]"#.into(),
            lease_expires_at: Some(70_000),
        })
        .await
        .unwrap();
    let ids: Vec<RunId> = claimed.iter().map(|run| run.lease.run_id).collect();
    assert_eq!(ids.len(), 4, "the claim fills its limit: {ids:?}");
    for run_id in dead {
        assert!(
            ids.contains(&run_id),
            "a dead worker's run waits behind the backlog"
        );
    }
    store.close().await;
    let mut admin = PgConnection::connect(&url).await.unwrap();
    drop_schema(&mut admin, &schema).await;
}

/// A claim does not queue behind the writer: with the writer's batch
/// stuck on a locked row, a due run is still claimed.
#[tokio::test]
async fn a_claim_does_not_wait_for_the_writers_batch() {
    let Some((store, url, schema)) = store_on_fresh_schema("claimaside").await else {
        return;
    };
    let store = Arc::new(store);
    let (running, due) = (RunId::new(), RunId::new());
    store
        .create_run(new_run(running, Some("worker")))
        .await
        .unwrap();
    store.create_run(new_run(due, None)).await.unwrap();
    // Another session locks the running run's row: the writer's next
    // batch, a step of that run, waits for it.
    let options: PgConnectOptions = url.parse().unwrap();
    let mut other =
        PgConnection::connect_with(&options.options([("search_path", schema.as_str())]))
            .await
            .unwrap();
    sqlx::raw_sql("BEGIN").execute(&mut other).await.unwrap();
    sqlx::query("SELECT 1 FROM wf_instance WHERE id = $1::uuid FOR UPDATE")
        .bind(running.to_string())
        .execute(&mut other)
        .await
        .unwrap();
    let step = StepRecord::completed("a", 0, StepKind::Run);
    let lease = Lease {
        run_id: running,
        token: ClaimAtCreate::TOKEN,
    };
    let saving = tokio::spawn({
        let store = store.clone();
        async move { store.save_step(lease, step).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!saving.is_finished(), "the writer waits for the locked row");
    let claim = store.claim_ready(ClaimRequest {
        owner: "worker".into(),
        now: 1_000,
        limit: 10,
        workflows: r#"["w"]"#.into(),
        lease_expires_at: Some(31_000),
    });
    let claimed = tokio::time::timeout(Duration::from_secs(10), claim)
        .await
        .expect("the claim waited behind the writer's stuck batch")
        .unwrap();
    assert_eq!(
        claimed
            .iter()
            .map(|run| run.lease.run_id)
            .collect::<Vec<_>>(),
        [due]
    );
    sqlx::raw_sql("ROLLBACK").execute(&mut other).await.unwrap();
    saving.await.unwrap().unwrap();
    store.close().await;
    drop_schema(&mut other, &schema).await;
}

/// The lists of the read side read the newest runs by index, with and
/// without a cursor, by status, workflow (and status) or parent: never a
/// scan of the table nor a sort of every run that passes the filter.
#[tokio::test]
async fn run_lists_read_the_newest_runs_by_index() {
    let Some((store, url, schema)) = store_on_fresh_schema("listplan").await else {
        return;
    };
    let options: PgConnectOptions = url.parse().unwrap();
    let mut admin =
        PgConnection::connect_with(&options.options([("search_path", schema.as_str())]))
            .await
            .unwrap();
    let parent = RunId::new();
    sqlx::raw_sql(&format!(
        "INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at, parent_id) \
         SELECT gen_random_uuid(), 'w' || (g % 20), \
           (ARRAY['pending', 'running', 'suspended', 'completed', 'failed', 'cancelled', \
             'timed_out'])[1 + g % 7], 'null', g, g, \
           CASE WHEN g % 100 = 0 THEN '{parent}'::uuid END \
         FROM generate_series(1, 50000) AS g; \
         ANALYZE wf_instance"
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    let cursor = RunCursor {
        created_at: 40_000,
        id: RunId::new(),
    };
    let filters = [
        RunFilter::new(),
        RunFilter::new().statuses([RunStatus::Failed]),
        RunFilter::new().statuses([RunStatus::Failed, RunStatus::Cancelled]),
        RunFilter::new().workflow("w3"),
        RunFilter::new()
            .workflow("w3")
            .statuses([RunStatus::Completed]),
        RunFilter::new().parent(parent),
    ];
    for filter in filters {
        for filter in [filter.clone(), filter.after(cursor)] {
            let plan: Vec<(String,)> = runs_query("EXPLAIN ", &filter)
                .build_query_as()
                .fetch_all(&mut admin)
                .await
                .unwrap();
            let plan = plan
                .into_iter()
                .map(|(line,)| line)
                .collect::<Vec<_>>()
                .join("\n");
            // A merge of branches has a "Sort Key"; a sort of the runs
            // is a node of its own ("Sort  (cost=...", or an incremental
            // one).
            let sorts = plan.contains("Sort  (");
            assert!(
                plan.contains("Index") && !plan.contains("Seq Scan") && !sorts,
                "{filter:?} does not read the newest runs by index:\n{plan}"
            );
        }
    }
    store.close().await;
    drop_schema(&mut admin, &schema).await;
}

/// A schema that version 2 of the migrations made (a durable from before
/// step times) gets migration 3 alone: its steps are backfilled, started
/// when first written and, once completed or failed, ended when last
/// written.
#[tokio::test]
async fn a_version_2_schema_gets_step_times_backfilled() {
    let Ok(url) = std::env::var("DURABLE_TEST_POSTGRES_URL") else {
        eprintln!("skipped: set DURABLE_TEST_POSTGRES_URL to run the PostgreSQL store tests");
        return;
    };
    let schema = format!(
        "t_upgrade_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let mut admin = PgConnection::connect(&url).await.unwrap();
    let run_id = RunId::new();
    let mut setup = format!(
        "CREATE SCHEMA {schema}; SET search_path TO {schema}; {MIGRATION_TABLE}; \
         INSERT INTO wf_migration VALUES (1, 0), (2, 0);"
    );
    for (_, sql) in &MIGRATIONS[..2] {
        setup.push_str(sql);
    }
    setup.push_str(&format!(
        "; INSERT INTO wf_instance (id, workflow, status, input, created_at, updated_at) \
           VALUES ('{run_id}', 'w', 'suspended', 'null', 1, 1); \
         INSERT INTO wf_step (instance_id, name, seq, kind, status, output, created_at, updated_at) \
           VALUES ('{run_id}', 'a', 0, 'run', 'completed', '1', 10, 20), \
                  ('{run_id}', 'b', 1, 'wait_for_event', 'waiting', NULL, 30, 40); \
         RESET search_path"
    ));
    sqlx::raw_sql(&setup).execute(&mut admin).await.unwrap();
    let store = PostgresStore::open(&url, Some(&schema), Duration::from_secs(30))
        .await
        .unwrap();
    let journal = store.load_journal(run_id).await.unwrap();
    let times: Vec<_> = journal
        .iter()
        .map(|step| (step.name.as_str(), step.started_at, step.ended_at))
        .collect();
    assert_eq!(times, [("a", Some(10), Some(20)), ("b", Some(30), None)]);
    let versions: Vec<i64> = sqlx::query_scalar(&format!(
        "SELECT version FROM {schema}.wf_migration ORDER BY version"
    ))
    .fetch_all(&mut admin)
    .await
    .unwrap();
    let all: Vec<i64> = MIGRATIONS.iter().map(|(version, _)| *version).collect();
    assert_eq!(versions, all, "each migration ran once");
    store.close().await;
    drop_schema(&mut admin, &schema).await;
}
