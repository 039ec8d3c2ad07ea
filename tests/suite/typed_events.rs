//! Typed events (`#[derive(Event)]`): a typed wait gets the published event
//! as its type, filtered by a typed field; the string forms still reach it;
//! the workflow's manifest and the catalog know the event and its schema;
//! an event of a typed name whose data does not fit is refused, naming the
//! field, and nothing is written, from the engine that registers the
//! waiting workflow, from a client that knows it only from the catalog, and
//! from a run that sends it by its name.

use durable::prelude::*;
use durable::{StepKind, StepStatus};
use durable_tests::wait_for_status;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "shipment.label.scanned")]
#[serde(rename_all = "camelCase")]
struct ShipmentScanned {
    order_id: String,
    tracking: String,
    weight_grams: u32,
}

#[workflow(name = "typed-ship")]
async fn typed_ship(ctx: Ctx, order_id: String) -> Result<Option<ShipmentScanned>, Error> {
    ctx.wait_for::<ShipmentScanned>("scan")
        .matching_field(ShipmentScanned::fields().order_id, order_id)
        .timeout("7d")
        .await
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "order.announced")]
struct Announced {
    order_id: String,
}

#[workflow(name = "typed-announce")]
async fn typed_announce(ctx: Ctx, order_id: String) -> Result<i64, Error> {
    // The struct literal names the event type for the manifest.
    let published = ShipmentScanned {
        order_id: order_id.clone(),
        tracking: "from-a-run".into(),
        weight_grams: 10,
    };
    ctx.publish("scan-done", ShipmentScanned { ..published })
        .await?;
    ctx.publish::<Announced>("announce", Announced { order_id })
        .await
}

#[tokio::test]
async fn a_typed_wait_gets_its_published_event_filtered_by_a_typed_field() {
    let db = test_db!();
    let engine = db.builder().register(TypedShip).start().await.unwrap();
    let first = TypedShip::trigger(&engine, "o-1".into()).await.unwrap();
    let other = TypedShip::trigger(&engine, "o-2".into()).await.unwrap();
    wait_for_status(&first, RunStatus::Suspended).await;
    wait_for_status(&other, RunStatus::Suspended).await;
    let scan = ShipmentScanned {
        order_id: "o-1".into(),
        tracking: "1Z".into(),
        weight_grams: 1200,
    };
    let sent = engine.publish(scan.clone()).await.unwrap();
    // The typed field filtered by its serde key (`orderId`): only o-1 woke.
    assert_eq!(sent.woken, [first.id()]);
    assert_eq!(first.result().await.unwrap(), Some(scan));
    assert_eq!(other.status().await.unwrap(), RunStatus::Suspended);
    // The string form reaches a typed wait: one name, one payload.
    engine
        .send_event(
            "shipment.label.scanned",
            json!({ "orderId": "o-2", "tracking": "2Z", "weightGrams": 5 }),
        )
        .await
        .unwrap();
    let got = other.result().await.unwrap().unwrap();
    assert_eq!((got.tracking.as_str(), got.weight_grams), ("2Z", 5));
    // Recorded as the string form records it, so a change of form replays.
    let steps = first.steps().await.unwrap();
    assert_eq!(steps[0].name, "scan");
    assert_eq!(steps[0].kind, StepKind::WaitForEvent);
    assert_eq!(steps[0].status, StepStatus::Completed);
}

/// An engine with both workflows of this file.
async fn start_both(db: &durable_tests::TestDb) -> Engine {
    let builder = db.builder().register(TypedShip).register(TypedAnnounce);
    builder.start().await.unwrap()
}

#[tokio::test]
async fn a_run_publishes_typed_events_exactly_once_to_typed_waits() {
    let db = test_db!();
    let engine = start_both(&db).await;
    let waiting = TypedShip::trigger(&engine, "o-7".into()).await.unwrap();
    wait_for_status(&waiting, RunStatus::Suspended).await;
    let announce = TypedAnnounce::trigger(&engine, "o-7".into()).await.unwrap();
    let announced_id = announce.result().await.unwrap();
    let scan = waiting.result().await.unwrap().unwrap();
    assert_eq!(scan.tracking, "from-a-run");
    let kinds: Vec<(String, StepKind)> = announce
        .steps()
        .await
        .unwrap()
        .into_iter()
        .map(|step| (step.name, step.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("scan-done".to_owned(), StepKind::SendEvent),
            ("announce".to_owned(), StepKind::SendEvent)
        ]
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM wf_event WHERE name = 'order.announced'")
            .await,
        1
    );
    assert_eq!(
        db.count(&format!(
            "SELECT COUNT(*) FROM wf_event WHERE id = {announced_id} AND name = 'order.announced'"
        ))
        .await,
        1
    );
}

/// A manifest option: its key and literal.
type ManifestOption = (&'static str, &'static str);

#[tokio::test]
async fn the_manifest_and_the_catalog_know_typed_events_and_their_schemas() {
    // The macro: typed waits and publishes are steps, with their event.
    let steps: Vec<(&str, StepKind, &[ManifestOption])> = TypedAnnounce::STEPS
        .iter()
        .chain(TypedShip::STEPS)
        .map(|step| (step.name, step.kind, step.options))
        .collect();
    assert_eq!(
        steps,
        [
            (
                "scan-done",
                StepKind::SendEvent,
                &[("event", "shipment.label.scanned")][..]
            ),
            (
                "announce",
                StepKind::SendEvent,
                &[("event", "order.announced")][..]
            ),
            (
                "scan",
                StepKind::WaitForEvent,
                &[("timeout", "7d"), ("event", "shipment.label.scanned")][..]
            ),
        ]
    );
    let events: Vec<&str> = TypedAnnounce::EVENTS.iter().map(|e| e.name).collect();
    assert_eq!(events, ["shipment.label.scanned", "order.announced"]);

    let db = test_db!();
    let engine = start_both(&db).await;
    let client = db.builder().client().await.unwrap();
    for reader in [&engine, &client] {
        let types = reader.event_types().await.unwrap();
        let names: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();
        // Each schema once, though two workflows use `shipment.label.scanned`.
        assert_eq!(names, ["order.announced", "shipment.label.scanned"]);
        let scanned = &types[1].schema;
        assert_eq!(scanned["properties"]["weightGrams"]["type"], "integer");
        let mut required: Vec<&str> = scanned["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|field| field.as_str().unwrap())
            .collect();
        required.sort_unstable();
        assert_eq!(required, ["orderId", "tracking", "weightGrams"]);
    }
    let ship = &client.workflows().await.unwrap();
    let ship = ship.iter().find(|v| v.name == "typed-ship").unwrap();
    assert!(
        ship.steps[0]
            .options
            .contains(&("event".into(), "shipment.label.scanned".into()))
    );
}

#[tokio::test]
async fn an_event_that_does_not_fit_its_type_is_refused_naming_the_field() {
    let db = test_db!();
    let engine = db.builder().register(TypedShip).start().await.unwrap();
    let run = TypedShip::trigger(&engine, "o-3".into()).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    let wrong = json!({ "orderId": "o-3", "tracking": 7, "weightGrams": 5 });
    let error = engine
        .send_event("shipment.label.scanned", wrong.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::InvalidEvent(message) if message.contains("tracking:")
            && message.contains("shipment.label.scanned")),
        "{error}"
    );
    let missing = json!({ "orderId": "o-3", "tracking": "1Z" });
    let error = engine
        .send_event_json("shipment.label.scanned", &missing.to_string())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::InvalidEvent(message) if message.contains("weightGrams")),
        "{error}"
    );
    // A process that registers nothing checks against the catalog.
    engine.shutdown().await;
    let client = db.builder().client().await.unwrap();
    let error = client
        .send_event("shipment.label.scanned", wrong)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::InvalidEvent(message) if message.contains("tracking:")),
        "{error}"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM wf_event").await, 0);
    // Names that are not typed take any data, as before.
    client
        .send_event("shipment.label.printed", json!({ "tracking": 7 }))
        .await
        .unwrap();
    assert_eq!(db.count("SELECT COUNT(*) FROM wf_event").await, 1);
}

#[workflow(name = "typed-express")]
async fn typed_express(ctx: Ctx, order_id: String) -> Result<Option<ShipmentScanned>, Error> {
    ctx.wait_for::<ShipmentScanned>("scan")
        .matching(json!({ "tracking": "EXP" }))
        .matching_field(ShipmentScanned::fields().order_id, order_id)
        .timeout("7d")
        .await
}

#[tokio::test]
async fn a_typed_filter_adds_to_a_matching_object() {
    let db = test_db!();
    let engine = db.builder().register(TypedExpress).start().await.unwrap();
    let run = TypedExpress::trigger(&engine, "o-5".into()).await.unwrap();
    wait_for_status(&run, RunStatus::Suspended).await;
    let scan = |order_id: &str, tracking: &str| ShipmentScanned {
        order_id: order_id.into(),
        tracking: tracking.into(),
        weight_grams: 1,
    };
    // Each half of the filter alone is not enough.
    assert!(
        engine
            .publish(scan("o-5", "STD"))
            .await
            .unwrap()
            .woken
            .is_empty()
    );
    assert!(
        engine
            .publish(scan("o-6", "EXP"))
            .await
            .unwrap()
            .woken
            .is_empty()
    );
    let sent = engine.publish(scan("o-5", "EXP")).await.unwrap();
    assert_eq!(sent.woken, [run.id()]);
    assert_eq!(run.result().await.unwrap(), Some(scan("o-5", "EXP")));
}

#[workflow(name = "untyped-sender")]
async fn untyped_sender(ctx: Ctx, tracking: serde_json::Value) -> Result<i64, Error> {
    // The string form, under a typed event's name: its data must fit too.
    let data = json!({ "orderId": "o-9", "tracking": tracking, "weightGrams": 5 });
    ctx.send_event("scan", "shipment.label.scanned", data).await
}

#[tokio::test]
async fn a_run_sending_a_typed_name_with_data_that_does_not_fit_fails_naming_the_field() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(TypedShip)
        .register(UntypedSender)
        .start()
        .await
        .unwrap();
    let wrong = UntypedSender::trigger(&engine, json!(7)).await.unwrap();
    let error = wrong.result().await.unwrap_err();
    assert!(
        error.to_string().contains("tracking:")
            && error.to_string().contains("does not fit its type"),
        "{error}"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM wf_event").await, 0);
    // Data that fits is sent, once.
    let right = UntypedSender::trigger(&engine, json!("1Z")).await.unwrap();
    assert!(right.result().await.unwrap() > 0);
    assert_eq!(db.count("SELECT COUNT(*) FROM wf_event").await, 1);
}
