use durable::prelude::*;
use durable::{Concurrency, Workflow};

#[derive(Serialize, Deserialize, JsonSchema)]
struct Customer {
    id: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Order {
    customer: Customer,
}

#[workflow(concurrency = 2)]
async fn two_at_once(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

#[workflow(concurrency(limit = 1, key = "customer.id"))]
async fn per_customer(ctx: Ctx, order: Order) -> Result<(), Error> {
    let _ = (ctx, order.customer.id);
    Ok(())
}

#[workflow(concurrency(key = "region", limit = 3))]
async fn per_region(ctx: Ctx, region: String, amount: u32) -> Result<(), Error> {
    let _ = (ctx, region, amount);
    Ok(())
}

fn main() {
    assert_eq!(
        TwoAtOnce::CONCURRENCY,
        Some(Concurrency {
            limit: 2,
            key: None
        })
    );
    assert_eq!(
        PerCustomer::CONCURRENCY,
        Some(Concurrency {
            limit: 1,
            key: Some("customer.id")
        })
    );
    assert_eq!(
        PerRegion::CONCURRENCY,
        Some(Concurrency {
            limit: 3,
            key: Some("region")
        })
    );
}
