//! Input checks: JSON input checked against the workflow's input type, with
//! short errors that say what is wrong, and nothing written on rejection.

use durable::Limits;
use durable::prelude::*;

#[derive(Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
struct Address {
    city: String,
    zip: u32,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
struct Customer {
    name: String,
    address: Address,
}

#[workflow(name = "register-customer")]
async fn register_customer(ctx: Ctx, customer: Customer) -> Result<String, Error> {
    ctx.run("greet", async || {
        Ok::<_, StepError>(format!("{} of {}", customer.name, customer.address.city))
    })
    .await
}

#[tokio::test]
async fn json_input_is_checked_against_the_input_type_and_nothing_is_written_on_rejection() {
    let db = test_db!();
    let engine = db
        .builder()
        .limits(Limits {
            max_input_bytes: 200,
            ..Limits::default()
        })
        .register(RegisterCustomer)
        .start()
        .await
        .unwrap();

    let wrong_type = json!({ "name": "Ada", "address": { "city": "London", "zip": "N1" } });
    let error = engine
        .trigger_json("register-customer", wrong_type)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }));
    assert!(
        error
            .to_string()
            .contains("address.zip: invalid type: string \"N1\", expected u32"),
        "{error}"
    );

    let missing = json!({ "name": "Ada" });
    let error = engine
        .trigger_json("register-customer", missing)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("missing field `address`"), "{error}");

    let error = engine
        .trigger_json("no-such-workflow", json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::UnknownWorkflow { ref name, .. } if name == "no-such-workflow"),
        "{error}"
    );

    let huge = json!({ "name": "x".repeat(500), "address": { "city": "London", "zip": 1 } });
    let error = engine
        .trigger_json("register-customer", huge)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::PayloadTooLarge {
                limit_name: "max_input_bytes",
                limit: 200,
                ..
            }
        ),
        "{error}"
    );

    assert_eq!(
        db.count("SELECT COUNT(*) FROM wf_instance").await,
        0,
        "a rejected input wrote a row"
    );

    let good = json!({ "name": "Ada", "address": { "city": "London", "zip": 1 } });
    let run = engine
        .trigger_json("register-customer", good)
        .await
        .unwrap();
    assert_eq!(run.result().await.unwrap(), json!("Ada of London"));
    let schema = engine.input_schema("register-customer").unwrap();
    assert_eq!(schema["required"], json!(["name", "address"]));
}

#[derive(Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
struct StrictCustomer {
    name: String,
}

#[workflow(name = "register-strict-customer")]
async fn register_strict_customer(ctx: Ctx, customer: StrictCustomer) -> Result<String, Error> {
    let _ = ctx;
    Ok(customer.name)
}

#[tokio::test]
async fn input_errors_say_what_is_wrong_and_echo_no_more_than_a_few_words() {
    let db = test_db!();
    let engine = db
        .builder()
        .register(RegisterCustomer)
        .register(RegisterStrictCustomer)
        .start()
        .await
        .unwrap();

    // A 1 MiB workflow name is cut, and the registered names are listed.
    let huge_name = "w".repeat(1 << 20);
    let error = engine
        .trigger_json(&huge_name, json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.len() < 500, "a {} byte message", error.len());
    assert!(error.contains("… (1048576 bytes)"), "{error}");
    assert!(
        error.contains("(registered: register-customer, register-strict-customer)"),
        "{error}"
    );
    let error = engine.input_schema("nope").unwrap_err().to_string();
    assert!(
        error.contains("workflow `nope` is not registered"),
        "{error}"
    );

    // An array where a struct goes says that an object was expected.
    let error = engine
        .trigger_json("register-customer", json!([]))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("expected a JSON object with the fields of struct Customer, found an array"),
        "{error}"
    );
    let nested = json!({ "name": "Ada", "address": ["London"] });
    let error = engine
        .trigger_json("register-customer", nested)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("address: expected a JSON object with the fields of struct Address"),
        "{error}"
    );

    // Unknown fields are dropped by default, and refused, by name, with
    // `#[serde(deny_unknown_fields)]` on the input type.
    let extra = json!({ "name": "Ada", "address": { "city": "London", "zip": 1 }, "colour": 1 });
    let run = engine
        .trigger_json("register-customer", extra)
        .await
        .unwrap();
    assert_eq!(run.result().await.unwrap(), json!("Ada of London"));
    assert_eq!(
        run.info().await.unwrap().input,
        json!({ "name": "Ada", "address": { "city": "London", "zip": 1 } }),
        "the unknown field is not stored"
    );
    let error = engine
        .trigger_json(
            "register-strict-customer",
            json!({ "name": "Ada", "colour": 1 }),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("unknown field `colour`, expected `name`"),
        "{error}"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM wf_instance").await, 1);
}
