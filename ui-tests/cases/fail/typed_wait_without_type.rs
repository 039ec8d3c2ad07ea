use durable::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "shipment.label.scanned")]
struct ShipmentScanned {
    order_id: String,
}

#[workflow]
async fn ship(ctx: Ctx) -> Result<(), Error> {
    // The type is left to inference: the manifest could not name the event.
    let _scan: Option<ShipmentScanned> = ctx.wait_for("scan").await?;
    Ok(())
}

fn main() {}
