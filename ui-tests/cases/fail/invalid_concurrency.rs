use durable::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema)]
struct Order {
    customer_id: String,
}

#[workflow(concurrency(limit = 1, key = "customer_id"))]
async fn no_input(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

#[workflow(concurrency(limit = 1, key = "customer..id"))]
async fn malformed_key(ctx: Ctx, order: Order) -> Result<(), Error> {
    let _ = (ctx, order.customer_id);
    Ok(())
}

#[workflow(concurrency(limit = 1, key = ""))]
async fn empty_key(ctx: Ctx, order: Order) -> Result<(), Error> {
    let _ = (ctx, order.customer_id);
    Ok(())
}

#[workflow(concurrency(limit = 1, key = "customer.id"))]
async fn not_a_parameter(ctx: Ctx, order: String, attempt: u32) -> Result<(), Error> {
    let _ = (ctx, order, attempt);
    Ok(())
}

#[workflow(concurrency(limit = 1, key = "customer_id"))]
async fn names_the_parameter(ctx: Ctx, customer_id: String) -> Result<(), Error> {
    let _ = (ctx, customer_id);
    Ok(())
}

#[workflow(concurrency = 0)]
async fn zero(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

#[workflow(concurrency = "2")]
async fn quoted(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

#[workflow(concurrency(key = "customer_id"))]
async fn no_limit(ctx: Ctx, order: Order) -> Result<(), Error> {
    let _ = (ctx, order.customer_id);
    Ok(())
}

#[workflow(concurrency(limit = 1, by = "customer_id"))]
async fn unknown_key(ctx: Ctx, order: Order) -> Result<(), Error> {
    let _ = (ctx, order.customer_id);
    Ok(())
}

#[workflow(concurrency = 1, concurrency = 2)]
async fn twice(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

fn main() {}
