//! The behaviour suite: the whole engine, through its public API, on
//! whichever backend the including test file chooses with `test_db`.

/// The name of the function this is used in, for labels: the last segment of
/// the path `type_name` gives an item declared inside it, past the
/// `{{closure}}` segments of async bodies.
macro_rules! test_name {
    () => {{
        fn here() {}
        $crate::suite::enclosing_function(::std::any::type_name_of_val(&here))
    }};
}

/// The database of the test this is used in, named after the test, on the
/// backend of the including test file; when that backend is not configured
/// (`crate::test_db` printed a notice), the test returns early and passes.
macro_rules! test_db {
    () => {
        match crate::test_db(test_name!()) {
            Some(db) => db,
            None => return,
        }
    };
}

/// The function `path` (the type name of `enclosing::path::here`) lies in.
fn enclosing_function(path: &'static str) -> &'static str {
    path.rsplit("::")
        .skip(1)
        .find(|segment| *segment != "{{closure}}")
        .unwrap_or(path)
}

#[test]
fn test_name_is_the_enclosing_function() {
    assert_eq!(test_name!(), "test_name_is_the_enclosing_function");
}

#[tokio::test]
async fn test_name_is_the_enclosing_async_test() {
    let in_a_block = async { test_name!() }.await;
    assert_eq!(in_a_block, "test_name_is_the_enclosing_async_test");
}

mod cancel_and_retry;
mod cancel_on;
mod catalog;
mod catalog_flow;
mod changes;
mod children;
mod claims_and_slots;
mod concurrency_keys;
mod cron;
mod deadlines;
mod debounce_throttle;
mod durable_sleep;
mod event_protocol;
mod event_triggers;
mod events;
mod extremes;
mod fan_out;
mod groups;
mod idempotency;
mod input_checks;
mod journal;
mod maintenance;
mod patches;
mod pause_and_fork;
mod properties;
mod queues;
mod reads;
mod retries;
mod sagas;
mod startup;
mod timeouts;
mod typed_events;
mod unserved;
mod versions;
