use durable::prelude::*;
use durable::{Debounce, Throttle, Workflow};

#[derive(Serialize, Deserialize, JsonSchema)]
struct User {
    id: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Edit {
    user: User,
}

#[workflow(debounce(period = "5s"))]
async fn whole(ctx: Ctx) -> Result<(), Error> {
    let _ = ctx;
    Ok(())
}

#[workflow(debounce(key = "user.id", max_wait = "1m", period = "500ms"))]
async fn per_user(ctx: Ctx, edit: Edit) -> Result<(), Error> {
    let _ = (ctx, edit.user.id);
    Ok(())
}

#[workflow(throttle(limit = 10, period = "1m", key = "user_id"))]
async fn throttled(ctx: Ctx, user_id: String, text: String) -> Result<(), Error> {
    let _ = (ctx, user_id, text);
    Ok(())
}

fn main() {
    assert_eq!(
        Whole::DEBOUNCE,
        Some(Debounce {
            period_ms: 5_000,
            max_wait_ms: None,
            key: None
        })
    );
    assert_eq!(Whole::THROTTLE, None);
    assert_eq!(
        PerUser::DEBOUNCE,
        Some(Debounce {
            period_ms: 500,
            max_wait_ms: Some(60_000),
            key: Some("user.id")
        })
    );
    assert_eq!(
        Throttled::THROTTLE,
        Some(Throttle {
            limit: 10,
            period_ms: 60_000,
            key: Some("user_id")
        })
    );
}
