use durable::prelude::*;

// No `#[event]` at all.
#[derive(Serialize, Deserialize, JsonSchema, Event)]
struct Unnamed {
    id: String,
}

// The attribute without its name.
#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event]
struct Bare {
    id: String,
}

// An empty list.
#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event()]
struct Empty {
    id: String,
}

fn main() {}
