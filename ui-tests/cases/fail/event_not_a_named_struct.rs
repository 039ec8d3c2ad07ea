use durable::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "tuple")]
struct Tuple(String);

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "choice")]
enum Choice {
    A,
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "generic")]
struct Generic<T> {
    value: T,
}

fn main() {}
