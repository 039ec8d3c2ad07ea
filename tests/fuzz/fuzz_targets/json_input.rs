//! Fuzzes JSON input decoding through `Engine::trigger_json`: any JSON
//! value is either accepted or refused as `InvalidInput` (never a panic or
//! another error), and it is accepted exactly when it deserializes into the
//! workflow's input type.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use durable::Workflow;
use durable::prelude::*;
use libfuzzer_sys::fuzz_target;

/// An input with the shapes serde decodes differently: nesting, options,
/// sequences, maps, a tagged enum, numbers of several widths.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Order {
    id: String,
    quantity: u32,
    price: f64,
    balance: i64,
    express: bool,
    note: Option<String>,
    lines: Vec<Line>,
    tags: BTreeMap<String, u8>,
    payment: Payment,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Line {
    sku: String,
    count: u16,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Payment {
    Card { last4: String },
    Invoice { days: u8 },
    Cash,
}

#[workflow]
async fn take_order(_ctx: Ctx, order: Order) -> Result<usize, Error> {
    Ok(order.lines.len())
}

struct Harness {
    runtime: tokio::runtime::Runtime,
    engine: Engine,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let engine = runtime
            .block_on(
                Engine::builder()
                    .sqlite_memory()
                    .register(TakeOrder)
                    .start(),
            )
            .expect("an engine on an in-memory database");
        Harness { runtime, engine }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let fits = serde_json::from_value::<Order>(value.clone()).is_ok();
    let harness = harness();
    let result = harness
        .runtime
        .block_on(harness.engine.trigger_json(TakeOrder::NAME, value));
    match result {
        Ok(_) => assert!(fits, "accepted an input that does not fit"),
        Err(Error::InvalidInput { message, .. }) => {
            assert!(!fits, "refused an input that fits: {message}");
            assert!(!message.is_empty());
        }
        Err(Error::PayloadTooLarge { .. }) => {}
        Err(other) => panic!("unexpected error: {other}"),
    }
});
