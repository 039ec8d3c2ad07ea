//! The behaviour suite: the whole engine, through its public API, on
//! whichever backend the including test file chooses with `test_db`.

mod cancel_and_retry;
mod children;
mod claims_and_slots;
mod cron;
mod durable_sleep;
mod event_protocol;
mod events;
mod extremes;
mod fan_out;
mod idempotency;
mod input_checks;
mod journal;
mod maintenance;
mod properties;
mod retries;
mod sagas;
mod startup;
mod timeouts;
