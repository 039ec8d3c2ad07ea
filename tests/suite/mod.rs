//! The behaviour suite: the whole engine, through its public API, on
//! whichever backend the including test file chooses with `test_db`.

mod behaviour;
mod children;
mod cron;
mod event_protocol;
mod events;
mod extremes;
mod fan_out;
mod maintenance;
mod properties;
mod sagas;
mod startup;
