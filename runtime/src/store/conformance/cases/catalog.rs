//! Conformance cases of the catalog: versions and typed events' schemas
//! kept per fingerprint with their first and last sighting, a version's
//! flow control kept with it, workers recorded, heartbeat and removed,
//! and the rows of silent workers removed by a live one's heartbeat.

use serde_json::json;

use super::helpers::NOW;
use crate::model::catalog::{
    CancelOnInfo, CatalogStep, ConcurrencyInfo, DebounceInfo, ThrottleInfo, WorkerInfo,
    WorkerRecord, WorkflowRef, WorkflowVersion,
};
use crate::model::event::EventTypeInfo;
use crate::store::Store;

pub(super) fn version(name: &str, fingerprint: &str, step: &str, at: i64) -> WorkflowVersion {
    WorkflowVersion {
        name: name.into(),
        fingerprint: fingerprint.into(),
        input_schema: json!({ "type": "object", "required": ["id"] }),
        output_schema: Some(json!({ "type": "string" })),
        steps: vec![CatalogStep {
            name: step.into(),
            kind: "run".into(),
            keyed: false,
            options: vec![("timeout".into(), "30s".into())],
            parent: Some("fan".into()),
            line: 12,
        }],
        timeout_ms: Some(60_000),
        cron: Some("0 * * * *".into()),
        timezone: Some("Europe/Paris".into()),
        on_event: Vec::new(),
        queue: "default".into(),
        concurrency: None,
        debounce: None,
        throttle: None,
        cancel_on: Vec::new(),
        first_seen: at,
        last_seen: at,
    }
}

pub(super) fn record(id: &str, versions: Vec<WorkflowVersion>, at: i64) -> WorkerRecord {
    WorkerRecord {
        worker: WorkerInfo {
            id: id.into(),
            host: "host-a".into(),
            pid: 4242,
            started_at: at,
            heartbeat_at: at,
            workflows: versions
                .iter()
                .map(|v| WorkflowRef {
                    name: v.name.clone(),
                    fingerprint: v.fingerprint.clone(),
                    version: Some(format!("v-{}", v.fingerprint)),
                })
                .collect(),
            queues: vec!["default".into()],
        },
        versions,
        event_types: Vec::new(),
    }
}

fn event_type(name: &str, fingerprint: &str, field: &str, at: i64) -> EventTypeInfo {
    EventTypeInfo {
        name: name.into(),
        fingerprint: fingerprint.into(),
        schema: json!({ "type": "object", "required": [field] }),
        first_seen: at,
        last_seen: at,
    }
}

/// Typed events are recorded with the worker: two schemas of one name are
/// two rows, each read back whole; the most recently seen is the one
/// `event_type` answers; recording one again keeps its first sighting.
pub(crate) async fn catalog_keeps_each_schema_of_a_typed_event(store: &dyn Store) {
    assert_eq!(store.event_type("scanned".into()).await.unwrap(), None);
    let old = event_type("scanned", "aaaa", "order", NOW);
    let paid = event_type("paid", "cccc", "cents", NOW);
    let mut first = record("w1", Vec::new(), NOW);
    first.event_types = vec![old.clone(), paid.clone()];
    store.record_worker(first).await.unwrap();
    assert_eq!(
        store.event_type("scanned".into()).await.unwrap().as_ref(),
        Some(&old)
    );
    let new = event_type("scanned", "bbbb", "tracking", NOW + 10);
    let mut second = record("w2", Vec::new(), NOW + 10);
    second.event_types = vec![new.clone()];
    store.record_worker(second).await.unwrap();
    assert_eq!(
        store.event_type("scanned".into()).await.unwrap().as_ref(),
        Some(&new)
    );
    assert_eq!(
        store.list_event_types().await.unwrap(),
        [paid.clone(), new.clone(), old.clone()]
    );
    let mut third = record("w3", Vec::new(), NOW + 20);
    third.event_types = vec![event_type("scanned", "aaaa", "order", NOW + 20)];
    store.record_worker(third).await.unwrap();
    let again = store.event_type("scanned".into()).await.unwrap().unwrap();
    assert_eq!(
        (
            again.fingerprint.as_str(),
            again.first_seen,
            again.last_seen
        ),
        ("aaaa", NOW, NOW + 20)
    );
    assert_eq!(store.event_type("nope".into()).await.unwrap(), None);
}

/// Two fingerprints of one name are two versions, each read back whole;
/// recording a known version again keeps its first sighting and moves its
/// last; versions list by name, the most recently seen first.
pub(crate) async fn catalog_keeps_each_version_of_a_workflow(store: &dyn Store) {
    let v1 = version("orders", "aaaa", "charge", NOW);
    store
        .record_worker(record(
            "w1",
            vec![v1.clone(), version("alpha", "cccc", "a", NOW)],
            NOW,
        ))
        .await
        .unwrap();
    assert_eq!(
        store.workflow_versions("orders".into()).await.unwrap(),
        std::slice::from_ref(&v1)
    );
    let v2 = version("orders", "bbbb", "refund", NOW + 10);
    store
        .record_worker(record("w2", vec![v2.clone()], NOW + 10))
        .await
        .unwrap();
    let versions = store.workflow_versions("orders".into()).await.unwrap();
    assert_eq!(versions, [v2.clone(), v1.clone()]);
    // The first version seen again later: first_seen stays, last_seen moves.
    let again = version("orders", "aaaa", "charge", NOW + 20);
    store
        .record_worker(record("w3", vec![again], NOW + 20))
        .await
        .unwrap();
    let versions = store.workflow_versions("orders".into()).await.unwrap();
    assert_eq!(
        versions
            .iter()
            .map(|v| (v.fingerprint.as_str(), v.first_seen, v.last_seen))
            .collect::<Vec<_>>(),
        [("aaaa", NOW, NOW + 20), ("bbbb", NOW + 10, NOW + 10)]
    );
    let all: Vec<(String, String)> = store
        .list_workflows()
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.name, v.fingerprint))
        .collect();
    assert_eq!(
        all,
        [
            ("alpha".to_owned(), "cccc".to_owned()),
            ("orders".to_owned(), "aaaa".to_owned()),
            ("orders".to_owned(), "bbbb".to_owned()),
        ]
    );
    assert!(
        store
            .workflow_versions("nope".into())
            .await
            .unwrap()
            .is_empty()
    );
}

/// A version's concurrency limit, debounce, throttle and `cancel_on` are
/// read back as recorded (keys and `match` paths included, absent ones as
/// absent), and a start that records the version again with other ones
/// (its fingerprint leaves them out) replaces them.
pub(crate) async fn catalog_keeps_each_versions_flow_control(store: &dyn Store) {
    let mut keyed = version("orders", "aaaa", "charge", NOW);
    keyed.concurrency = Some(ConcurrencyInfo {
        limit: 2,
        key: Some("customer.id".into()),
    });
    keyed.debounce = Some(DebounceInfo {
        period_ms: 5_000,
        max_wait_ms: Some(60_000),
        key: Some("user_id".into()),
    });
    keyed.cancel_on = vec![
        CancelOnInfo {
            event: "order.cancelled".into(),
            matching: Some("order_id".into()),
        },
        CancelOnInfo {
            event: "shop.closed".into(),
            matching: None,
        },
    ];
    let mut throttled = version("mails", "bbbb", "send", NOW);
    throttled.throttle = Some(ThrottleInfo {
        limit: 10,
        period_ms: 60_000,
        key: None,
    });
    throttled.concurrency = Some(ConcurrencyInfo {
        limit: 1,
        key: None,
    });
    let plain = version("plain", "cccc", "step", NOW);
    let versions = vec![keyed.clone(), throttled.clone(), plain.clone()];
    store
        .record_worker(record("w1", versions, NOW))
        .await
        .unwrap();
    assert_eq!(
        store.workflow_versions("orders".into()).await.unwrap(),
        std::slice::from_ref(&keyed)
    );
    assert_eq!(
        store.list_workflows().await.unwrap(),
        [throttled, keyed.clone(), plain]
    );
    // Recorded again, of the same fingerprint, with other options.
    let mut changed = version("orders", "aaaa", "charge", NOW + 10);
    changed.concurrency = Some(ConcurrencyInfo {
        limit: 5,
        key: None,
    });
    store
        .record_worker(record("w2", vec![changed.clone()], NOW + 10))
        .await
        .unwrap();
    let again = store.workflow_versions("orders".into()).await.unwrap();
    assert_eq!(
        (
            &again[0].concurrency,
            &again[0].debounce,
            &again[0].cancel_on
        ),
        (&changed.concurrency, &None, &Vec::new())
    );
}

/// A worker is read back as recorded; its heartbeat moves its row and the
/// last sighting of its versions (never backwards), answers whether the
/// row was there, and a removed worker is gone while its versions stay.
pub(crate) async fn workers_heartbeat_and_leave(store: &dyn Store) {
    let v1 = version("orders", "aaaa", "charge", NOW);
    let worker = record("w1", vec![v1], NOW);
    store.record_worker(worker.clone()).await.unwrap();
    assert_eq!(
        store.list_workers().await.unwrap(),
        std::slice::from_ref(&worker.worker)
    );
    let refs = worker.worker.workflows.clone();
    assert!(
        store
            .heartbeat_worker("w1".into(), refs.clone(), NOW + 500, 0)
            .await
            .unwrap()
    );
    // A late heartbeat (another clock) does not move it back.
    assert!(
        store
            .heartbeat_worker("w1".into(), refs.clone(), NOW + 100, 0)
            .await
            .unwrap()
    );
    let workers = store.list_workers().await.unwrap();
    assert_eq!(workers[0].heartbeat_at, NOW + 500);
    let versions = store.workflow_versions("orders".into()).await.unwrap();
    assert_eq!(
        (versions[0].first_seen, versions[0].last_seen),
        (NOW, NOW + 500)
    );
    store.remove_worker("w1".into()).await.unwrap();
    assert!(store.list_workers().await.unwrap().is_empty());
    assert!(
        !store
            .heartbeat_worker("w1".into(), refs, NOW + 900, 0)
            .await
            .unwrap()
    );
    versions_stay(store).await;
}

/// A heartbeat removes the row of a worker silent since before its
/// `gone_before`, and only such a row: not a worker heard since, nor its
/// own row, however old.
pub(crate) async fn a_heartbeat_removes_the_workers_long_silent(store: &dyn Store) {
    // On SQLite a start removes every other row: one row at a time, so the
    // silent worker's is the one there, beside a heartbeat of a worker
    // whose row is gone.
    let dead = record("dead", vec![version("orders", "aaaa", "charge", NOW)], NOW);
    store.record_worker(dead.clone()).await.unwrap();
    let refs = dead.worker.workflows.clone();
    let beat = |worker: &str, gone_before: i64| {
        store.heartbeat_worker(worker.into(), refs.clone(), NOW + 10_000, gone_before)
    };
    // Heard at `NOW`: not before `NOW`, so it stays.
    assert!(!beat("live", NOW).await.unwrap());
    assert_eq!(
        store.list_workers().await.unwrap(),
        std::slice::from_ref(&dead.worker)
    );
    // Its own heartbeat keeps its row, however old the bound says it is.
    assert!(beat("dead", NOW + 20_000).await.unwrap());
    assert_eq!(store.list_workers().await.unwrap()[0].id, "dead");
    // Moved to `NOW + 10_000` by that; silent since before `NOW + 10_001`.
    assert!(!beat("live", NOW + 10_001).await.unwrap());
    assert!(store.list_workers().await.unwrap().is_empty());
    versions_stay(store).await;
}

/// The one version of `orders` stays in the catalog after its worker left.
async fn versions_stay(store: &dyn Store) {
    let versions = store.workflow_versions("orders".into()).await.unwrap();
    assert_eq!(versions.len(), 1);
}
