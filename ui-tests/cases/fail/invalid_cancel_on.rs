use durable::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema)]
struct Order {
    id: String,
}

#[workflow(cancel_on(event = "order.*"))]
async fn wildcard(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

#[workflow(cancel_on(event = "order..cancelled"))]
async fn malformed_name(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

#[workflow(cancel_on(event = "order.cancelled", match = "id"))]
async fn no_input(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

#[workflow(cancel_on(event = "order.cancelled", match = "customer.id"))]
async fn not_a_parameter(ctx: Ctx, order: Order, attempt: u32) -> Result<(), Error> {
    let _ = (ctx, order.id, attempt);
    Ok(())
}

#[workflow(cancel_on(event = "order.cancelled", match = "order"))]
async fn names_the_parameter(ctx: Ctx, order: Order) -> Result<(), Error> {
    let _ = (ctx, order.id);
    Ok(())
}

#[workflow(cancel_on(event = "order.cancelled", match = "id."))]
async fn malformed_match(ctx: Ctx, order: Order) -> Result<(), Error> {
    let _ = (ctx, order.id);
    Ok(())
}

#[workflow(cancel_on(match = "id"))]
async fn no_event(ctx: Ctx, order: Order) -> Result<(), Error> {
    let _ = (ctx, order.id);
    Ok(())
}

#[workflow(cancel_on(event = "order.cancelled", on = "id"))]
async fn unknown_key(ctx: Ctx, order: Order) -> Result<(), Error> {
    let _ = (ctx, order.id);
    Ok(())
}

#[workflow(cancel_on = "order.cancelled")]
async fn not_a_list(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

#[workflow(cancel_on(event = "order.cancelled"), cancel_on(event = "order.cancelled"))]
async fn twice(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

fn main() {}
