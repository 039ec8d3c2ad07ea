use durable::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = shipment_scanned)]
struct NotALiteral {
    id: String,
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(nmae = "shipment.scanned")]
struct Misspelt {
    id: String,
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "shipment scanned")]
struct Spaced {
    id: String,
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "a", name = "b")]
struct Twice {
    id: String,
}

fn main() {}
