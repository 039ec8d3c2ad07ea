use durable::prelude::*;

#[workflow(
    on_event = "order*",
    on_event(name = "order.created", filter = r#"["eu"]"#),
    on_event(name = "order.paid", filter = "{region: eu}"),
    on_event(filter = r#"{"region": "eu"}"#),
    on_event(name = "order.created", region = "eu"),
    on_event = "order..created",
    on_event = 7
)]
async fn confirm(ctx: Ctx, order: String) -> Result<(), Error> {
    let _ = (ctx, order);
    Ok(())
}

#[workflow(on_event = "order.created", on_event = "order.created")]
async fn twice(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

fn main() {}
