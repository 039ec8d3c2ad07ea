//! The cron grammar: five fields, `minute hour day-of-month month
//! day-of-week`, each `*`, a number, a range `a-b`, a list `a,b`, or any of
//! those with a step `/n`; months and weekdays also by name (`JAN`, `MON`).
//! Day-of-week 0 and 7 are Sunday. As in classic cron, when both
//! day-of-month and day-of-week are restricted, a day matching either fires.
//!
//! ```
//! use durable_grammar::cron::Schedule;
//! let weekday_mornings: Schedule = "0 9 * * 1-5".parse().unwrap();
//! assert!(weekday_mornings.matches(2024, 3, 4, 9, 0));   // Monday 09:00
//! assert!(!weekday_mornings.matches(2024, 3, 9, 9, 0));  // Saturday
//! assert!("0 25 * * *".parse::<Schedule>().is_err());
//! ```

use std::fmt;
use std::str::FromStr;

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    days_of_week: u64,
    /// Whether each day field was `*` (for the either-day rule).
    any_day_of_month: bool,
    any_day_of_week: bool,
}

/// Why a cron expression was rejected. `Display` says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronError {
    /// The rejected text.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid cron expression {:?}: {}; write five fields, minute hour day-of-month month day-of-week, e.g. \"0 9 * * 1-5\" or \"*/15 * * * *\"",
            self.input, self.reason
        )
    }
}

impl std::error::Error for CronError {}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// One field's bounds and names.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// The number of the first name (1 for months, 0 for weekdays).
    first_name: u32,
}

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
        first_name: 0,
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
        first_name: 0,
    },
    Field {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
        first_name: 0,
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &MONTHS,
        first_name: 1,
    },
    // 7 is Sunday too; it is folded into 0 after parsing.
    Field {
        name: "day-of-week",
        min: 0,
        max: 7,
        names: &WEEKDAYS,
        first_name: 0,
    },
];

impl FromStr for Schedule {
    type Err = CronError;

    fn from_str(input: &str) -> Result<Self, CronError> {
        let fail = |reason: String| CronError {
            input: input.to_owned(),
            reason,
        };
        let parts: Vec<&str> = input.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(fail(format!("it has {} fields, not 5", parts.len())));
        }
        let mut sets = [0u64; 5];
        for ((part, field), set) in parts.iter().zip(&FIELDS).zip(&mut sets) {
            *set = parse_field(part, field).map_err(fail)?;
        }
        let days_of_week = (sets[4] | (sets[4] >> 7)) & 0x7f;
        Ok(Schedule {
            minutes: sets[0],
            hours: sets[1],
            days_of_month: sets[2],
            months: sets[3],
            days_of_week,
            any_day_of_month: parts[2] == "*",
            any_day_of_week: parts[4] == "*",
        })
    }
}

fn parse_field(text: &str, field: &Field) -> Result<u64, String> {
    let mut set = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().ok().filter(|step| *step > 0).ok_or_else(|| {
                    format!("the {} step {step:?} is not a positive number", field.name)
                })?;
                (range, step)
            }
            None => (item, 1),
        };
        let (low, high) = if range == "*" {
            (field.min, field.max)
        } else if let Some((low, high)) = range.split_once('-') {
            (value(low, field)?, value(high, field)?)
        } else {
            let single = value(range, field)?;
            // `5/15` means from 5 to the end, every 15.
            (
                single,
                if item.contains('/') {
                    field.max
                } else {
                    single
                },
            )
        };
        if low > high {
            return Err(format!("the {} range {range:?} runs backwards", field.name));
        }
        let mut current = low;
        while current <= high {
            set |= 1 << current;
            // A step past the end of `u32` is past `high` too.
            let Some(next) = current.checked_add(step) else {
                break;
            };
            current = next;
        }
    }
    Ok(set)
}

fn value(text: &str, field: &Field) -> Result<u32, String> {
    let number = match field
        .names
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text))
    {
        Some(index) => index as u32 + field.first_name,
        None => text
            .parse()
            .map_err(|_| format!("{text:?} is not a {} value", field.name))?,
    };
    if number < field.min || number > field.max {
        return Err(format!(
            "the {} {number} is outside {}-{}",
            field.name, field.min, field.max
        ));
    }
    Ok(number)
}

impl Schedule {
    /// Whether the schedule fires at this local date and time (month 1-12,
    /// day 1-31, hour 0-23, minute 0-59). A value outside those ranges
    /// never matches.
    pub fn matches(&self, year: i32, month: u32, day: u32, hour: u32, minute: u32) -> bool {
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
            return false;
        }
        let weekday = weekday(year, month, day);
        let bit = |set: u64, value: u32| set & (1 << value) != 0;
        let day_of_month = bit(self.days_of_month, day);
        let day_of_week = bit(self.days_of_week, weekday);
        let day_matches = match (self.any_day_of_month, self.any_day_of_week) {
            (true, true) => true,
            (true, false) => day_of_week,
            (false, true) => day_of_month,
            (false, false) => day_of_month || day_of_week,
        };
        bit(self.minutes, minute) && bit(self.hours, hour) && bit(self.months, month) && day_matches
    }
}

/// The weekday of a proleptic Gregorian date, 0 = Sunday.
fn weekday(year: i32, month: u32, day: u32) -> u32 {
    // Sakamoto's method.
    const OFFSETS: [i64; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
    // In i64: the sum overflows i32 for years near its ends.
    let year = i64::from(year) - i64::from(month < 3);
    let index = (month as usize).saturating_sub(1).min(11);
    let sum = year + year / 4 - year / 100 + year / 400 + OFFSETS[index] + i64::from(day);
    sum.rem_euclid(7) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_parse_and_match() {
        let every_15: Schedule = "*/15 * * * *".parse().unwrap();
        assert!(every_15.matches(2024, 1, 1, 0, 45));
        assert!(!every_15.matches(2024, 1, 1, 0, 46));
        let named: Schedule = "30 6 1 jan,JUL sun".parse().unwrap();
        assert!(named.matches(2024, 7, 1, 6, 30), "the 1st, by day-of-month");
        assert!(named.matches(2024, 7, 7, 6, 30), "a Sunday, by day-of-week");
        assert!(!named.matches(2024, 7, 2, 6, 30));
        let sunday_as_7: Schedule = "0 0 * * 7".parse().unwrap();
        assert!(sunday_as_7.matches(2024, 3, 10, 0, 0));
        let from_five: Schedule = "5/20 * * * *".parse().unwrap();
        assert!(from_five.matches(2024, 3, 10, 0, 45) && !from_five.matches(2024, 3, 10, 0, 0));
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        for (input, reason) in [
            ("* * * *", "4 fields"),
            ("60 * * * *", "minute 60 is outside 0-59"),
            ("* * 0 * *", "day-of-month 0"),
            ("* * * 13 *", "month 13"),
            ("*/0 * * * *", "step"),
            ("5-1 * * * *", "backwards"),
            ("* * * FOO *", "\"FOO\" is not a month value"),
        ] {
            let error = input.parse::<Schedule>().unwrap_err().to_string();
            assert!(error.contains(reason), "{input}: {error}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        #[test]
        fn no_string_panics_the_parser(text in "\\PC{0,40}") {
            let _ = text.parse::<Schedule>();
        }

        /// Five fields of the grammar's own characters (numbers of any
        /// size, ranges, lists, steps, names) reach deeper than arbitrary
        /// text; whatever parses matches without panicking.
        #[test]
        fn near_misses_parse_or_are_rejected(
            fields in proptest::collection::vec("([0-9]{1,11}|\\*|[A-Za-z]{3})([-/,][0-9]{1,11}|[-/,][A-Za-z]{3}){0,3}", 5),
            (year, month, day, hour, minute) in (proptest::prelude::any::<i32>(), 0u32..16, 0u32..40, 0u32..30, 0u32..70),
        ) {
            if let Ok(schedule) = fields.join(" ").parse::<Schedule>() {
                let _ = schedule.matches(year, month, day, hour, minute);
            }
        }

        /// `matches` takes any numbers, in range or not, without panicking;
        /// out of range, nothing matches.
        #[test]
        fn matches_takes_any_numbers(
            year in proptest::prelude::any::<i32>(),
            month in proptest::prelude::any::<u32>(),
            day in proptest::prelude::any::<u32>(),
            hour in proptest::prelude::any::<u32>(),
            minute in proptest::prelude::any::<u32>(),
        ) {
            let every_minute: Schedule = "* * * * *".parse().unwrap();
            let in_range = (1..=12).contains(&month) && (1..=31).contains(&day) && hour < 24 && minute < 60;
            proptest::prop_assert_eq!(every_minute.matches(year, month, day, hour, minute), in_range);
        }

        /// A step of any size selects the first value of its range and then
        /// every `step`-th, never more.
        #[test]
        fn steps_of_any_size_select_every_nth(
            start in 0u32..60,
            step in proptest::prop_oneof![1u32..70, u32::MAX - 70..=u32::MAX],
        ) {
            let schedule: Schedule = format!("{start}/{step} * * * *").parse().unwrap();
            for minute in 0..60 {
                let expected = minute >= start && (minute - start) % step == 0;
                proptest::prop_assert_eq!(schedule.matches(2024, 1, 1, 0, minute), expected, "minute {}", minute);
            }
        }
    }

    #[test]
    fn huge_steps_and_out_of_range_dates_do_not_panic() {
        // Found by the property tests: the step overflowed `u32` after the
        // last value, and `matches` shifted by any number it was given.
        let last_only: Schedule = "59/4294967295 * * * *".parse().unwrap();
        assert!(last_only.matches(2024, 1, 1, 0, 59));
        assert!(!last_only.matches(2024, 1, 1, 0, 0));
        let every_minute: Schedule = "* * * * *".parse().unwrap();
        assert!(!every_minute.matches(2024, 1, 1, 0, 64));
        assert!(!every_minute.matches(2024, 1, 100, 0, 0));
        assert!(!every_minute.matches(2024, 0, 1, 0, 0));
        assert!(every_minute.matches(i32::MAX, 12, 31, 23, 59));
        assert!(every_minute.matches(i32::MIN, 1, 1, 0, 0));
    }

    #[test]
    fn weekdays_are_right() {
        assert_eq!(weekday(2024, 3, 4), 1); // a Monday
        assert_eq!(weekday(2000, 1, 1), 6); // a Saturday
        assert_eq!(weekday(2026, 11, 21), 6); // a Saturday
    }
}
