use durable::prelude::*;
use durable::{CancelOn, Workflow};

#[derive(Serialize, Deserialize, JsonSchema)]
struct Order {
    id: String,
}

#[workflow(
    cancel_on(event = "order.cancelled", match = "order.id"),
    cancel_on(event = "shop.closed")
)]
async fn fulfil(ctx: Ctx, order: Order, attempt: u32) -> Result<(), Error> {
    let _ = (ctx, order.id, attempt);
    Ok(())
}

#[workflow(cancel_on(match = "id", event = "order.cancelled"))]
async fn ship(ctx: Ctx, order: Order) -> Result<(), Error> {
    let _ = (ctx, order.id);
    Ok(())
}

fn main() {
    assert_eq!(
        Fulfil::CANCEL_ON,
        [
            CancelOn {
                event: "order.cancelled",
                matching: Some("order.id")
            },
            CancelOn {
                event: "shop.closed",
                matching: None
            }
        ]
    );
    assert_eq!(
        Ship::CANCEL_ON,
        [CancelOn {
            event: "order.cancelled",
            matching: Some("id")
        }]
    );
}
