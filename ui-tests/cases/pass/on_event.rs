use durable::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema)]
struct OrderCreated {
    order_id: String,
}

// Both forms, a wildcard and a filter (kept as compact JSON), on a workflow
// with one parameter, with several, and with none.
#[workflow(
    on_event = "order.created",
    on_event(name = "order.*.eu", filter = r#"{ "vip" : true }"#),
    timeout = "1h"
)]
async fn confirm(ctx: Ctx, order: OrderCreated) -> Result<String, Error> {
    let _ = ctx;
    Ok(order.order_id)
}

#[workflow(on_event(name = "order.created"))]
async fn split(ctx: Ctx, order_id: String, region: Option<String>) -> Result<(), Error> {
    let _ = (ctx, order_id, region);
    Ok(())
}

#[workflow(on_event = "*")]
async fn audit(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

fn main() {
    let triggers = <Confirm as Workflow>::ON_EVENT;
    assert_eq!(triggers.len(), 2);
    assert_eq!(triggers[0].event, "order.created");
    assert_eq!(triggers[0].filter, None);
    assert_eq!(triggers[1].event, "order.*.eu");
    assert_eq!(triggers[1].filter, Some(r#"{"vip":true}"#));
    assert_eq!(<Split as Workflow>::ON_EVENT[0].event, "order.created");
    assert_eq!(<Audit as Workflow>::ON_EVENT[0].event, "*");
    // A workflow without `on_event` has none.
    #[workflow]
    async fn plain(ctx: Ctx) -> Result<(), Error> {
        let _ = ctx;
        Ok(())
    }
    assert!(<Plain as Workflow>::ON_EVENT.is_empty());
}
