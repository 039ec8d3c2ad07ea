use durable::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema)]
struct Edit {
    user_id: String,
}

#[workflow(debounce(period = "0s"))]
async fn zero_period(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

#[workflow(debounce(period = "5s", max_wait = "2s"))]
async fn max_wait_below_period(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

#[workflow(debounce(period = "soon"))]
async fn bad_duration(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

#[workflow(debounce(key = "user_id"))]
async fn no_period(ctx: Ctx, edit: Edit) -> Result<(), Error> {
    let _ = (ctx, edit.user_id);
    Ok(())
}

#[workflow(debounce(period = "5s", key = "user.id"))]
async fn unknown_parameter(ctx: Ctx, edit: String, page: u32) -> Result<(), Error> {
    let _ = (ctx, edit, page);
    Ok(())
}

#[workflow(debounce(period = "5s", key = "user_id"))]
async fn key_without_input(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

#[workflow(debounce(period = "5s", wait = "1m"))]
async fn unknown_debounce_key(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

#[workflow(debounce = "5s")]
async fn not_a_list(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

#[workflow(throttle(limit = 0, period = "1m"))]
async fn zero_limit(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

#[workflow(throttle(period = "1m"))]
async fn no_limit(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

#[workflow(throttle(limit = 2, period = "1m", key = "edit"))]
async fn names_the_parameter(ctx: Ctx, edit: Edit) -> Result<(), Error> {
    let _ = (ctx, edit.user_id);
    Ok(())
}

#[workflow(throttle(limit = 2, period = "1m", max_wait = "2m"))]
async fn max_wait_on_a_throttle(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

#[workflow(debounce(period = "5s"), throttle(limit = 2, period = "1m"))]
async fn both(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

#[workflow(debounce(period = "5s"), debounce(period = "6s"))]
async fn twice(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

fn main() {}
