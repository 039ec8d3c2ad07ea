use durable::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "shipment.label.scanned")]
struct ShipmentScanned {
    order_id: String,
}

#[workflow]
async fn ship(ctx: Ctx) -> Result<(), Error> {
    // Typed waits and publishes are steps: their names are unique, their
    // literals checked.
    let _scan = ctx.wait_for::<ShipmentScanned>("scan").timeout("2 days").await?;
    ctx.publish("scan", ShipmentScanned { order_id: "o-1".into() }).await?;
    Ok(())
}

fn main() {}
