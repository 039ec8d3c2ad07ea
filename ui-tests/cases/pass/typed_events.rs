use durable::prelude::*;
use durable::StepKind;

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "shipment.label.scanned")]
#[serde(rename_all = "camelCase")]
pub struct ShipmentScanned {
    order_id: String,
    #[serde(rename = "trackingNumber")]
    tracking: String,
    #[serde(skip)]
    local_note: String,
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "order.shipped")]
struct OrderShipped {
    order_id: String,
}

#[workflow]
async fn ship(ctx: Ctx, order_id: String) -> Result<(), Error> {
    let scan = ctx
        .wait_for::<ShipmentScanned>("scan")
        .matching(json!({ "trackingNumber": "1Z" }))
        .matching_field(ShipmentScanned::fields().order_id, order_id.as_str())
        .lookback("1h")
        .timeout("7d")
        .await?;
    if scan.is_some() {
        ctx.publish::<OrderShipped>("announce", OrderShipped { order_id }).await?;
    }
    Ok(())
}

fn main() {
    let fields = ShipmentScanned::fields();
    assert_eq!((fields.order_id.key(), fields.tracking.key()), ("orderId", "trackingNumber"));
    assert_eq!(<ShipmentScanned as Event>::NAME, "shipment.label.scanned");
    let steps: Vec<(&str, StepKind)> = Ship::STEPS.iter().map(|s| (s.name, s.kind)).collect();
    assert_eq!(steps, [("scan", StepKind::WaitForEvent), ("announce", StepKind::SendEvent)]);
    assert_eq!(
        Ship::STEPS[0].options,
        [("lookback", "1h"), ("timeout", "7d"), ("event", "shipment.label.scanned")]
    );
    let events: Vec<&str> = Ship::EVENTS.iter().map(|e| e.name).collect();
    assert_eq!(events, ["shipment.label.scanned", "order.shipped"]);
}
