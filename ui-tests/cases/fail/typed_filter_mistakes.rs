use durable::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "shipment.label.scanned")]
struct ShipmentScanned {
    order_id: String,
    weight: Grams,
}

/// A type of its own, so that the compiler's list of conversions is short.
#[derive(Serialize, Deserialize, JsonSchema)]
struct Grams(u32);

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "order.paid")]
struct OrderPaid {
    order_id: String,
}

#[workflow]
async fn ship(ctx: Ctx) -> Result<(), Error> {
    // A field the event does not have.
    let _a = ctx
        .wait_for::<ShipmentScanned>("a")
        .matching_field(ShipmentScanned::fields().order, "o-1")
        .await?;
    // A value of another type than the field's.
    let _b = ctx
        .wait_for::<ShipmentScanned>("b")
        .matching_field(ShipmentScanned::fields().weight, 1200)
        .await?;
    // A field of another event.
    let _c = ctx
        .wait_for::<ShipmentScanned>("c")
        .matching_field(OrderPaid::fields().order_id, "o-1")
        .await?;
    Ok(())
}

fn main() {}
