//! Fuzzes the cron grammar: no expression panics the parser, and an
//! accepted schedule answers `matches` for any date without panicking.
#![no_main]

use durable_grammar::cron::Schedule;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, i32, u32, u32, u32, u32)| {
    let (text, year, month, day, hour, minute) = input;
    let Ok(schedule) = text.parse::<Schedule>() else {
        return;
    };
    let _ = schedule.matches(year, month, day, hour, minute);
    // Within the ranges too, where the sets are read.
    let _ = schedule.matches(year, month % 12 + 1, day % 31 + 1, hour % 24, minute % 60);
});
