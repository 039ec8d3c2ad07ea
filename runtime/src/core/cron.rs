//! Cron triggers: `#[workflow(cron = "0 9 * * 1-5", timezone = "Europe/Berlin")]`
//! starts a run at every fire time, exactly once across any number of
//! engines, and once for a window missed while every engine was down.
//!
//! Each fire time's run carries the idempotency key `cron:<fire time in
//! ms>`, so engines racing for one fire time make one run. On start, an
//! engine finds the last fire time that has a run; if later fire times
//! passed since, the latest of them fires once (not one run per missed fire
//! time). Fire times are local times of the workflow's time zone: a time
//! that does not exist (the hour skipped when clocks go forward) does not
//! fire, and a time that happens twice (when they go back) fires once, at
//! its first occurrence.

use std::str::FromStr;

use chrono::{
    Datelike, Duration as ChronoDuration, LocalResult, NaiveDateTime, TimeZone, Timelike,
};
use chrono_tz::Tz;
use durable_grammar::cron::Schedule;

use crate::model::error::Error;

/// What a cron workflow does at a fire time while its previous run is still
/// going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overlap {
    /// Does not start a run for this fire time (the default).
    #[default]
    Skip,
    /// Starts another run beside it.
    Allow,
    /// Cancels the previous runs, then starts the new one.
    CancelPrevious,
}

/// A registered workflow's cron settings, checked at engine start.
pub(crate) struct CronSchedule {
    pub(crate) workflow: &'static str,
    schedule: Schedule,
    zone: Tz,
    pub(crate) overlap: Overlap,
}

impl CronSchedule {
    pub(crate) fn new(
        workflow: &'static str,
        expression: &str,
        zone: &str,
        overlap: Overlap,
    ) -> Result<Self, Error> {
        let schedule = Schedule::from_str(expression)
            .map_err(|error| Error::Config(format!("workflow `{workflow}`: {error}")))?;
        let zone = Tz::from_str(zone).map_err(|_| {
            Error::Config(format!(
                "workflow `{workflow}`: unknown time zone {zone:?}; use an IANA name such as \"Europe/Berlin\" or \"UTC\""
            ))
        })?;
        Ok(CronSchedule {
            workflow,
            schedule,
            zone,
            overlap,
        })
    }

    /// The first fire time strictly after `after` (ms since the epoch), or
    /// `None` if there is none within five years.
    pub(crate) fn next_after(&self, after: i64) -> Option<i64> {
        let start = self
            .zone
            .timestamp_millis_opt(after)
            .single()?
            .naive_local();
        // The next whole minute after `after`.
        let mut local = start.with_second(0)?.with_nanosecond(0)? + ChronoDuration::minutes(1);
        let limit = local + ChronoDuration::days(5 * 366);
        while local < limit {
            let (year, month, day) = (local.year(), local.month(), local.day());
            if !self
                .schedule
                .matches(year, month, day, local.hour(), local.minute())
            {
                local = self.skip(local)?;
                continue;
            }
            match self.zone.from_local_datetime(&local) {
                LocalResult::Single(at) => return Some(at.timestamp_millis()),
                // Clocks went back: the first of the two instants.
                LocalResult::Ambiguous(first, _) => {
                    let at = first.timestamp_millis();
                    if at > after {
                        return Some(at);
                    }
                }
                // Clocks went forward: this local time does not exist.
                LocalResult::None => {}
            }
            local += ChronoDuration::minutes(1);
        }
        None
    }

    /// The next local time worth checking after a non-matching one: the
    /// next day when the day cannot match at any time, else the next hour or
    /// minute.
    fn skip(&self, local: NaiveDateTime) -> Option<NaiveDateTime> {
        let (year, month, day) = (local.year(), local.month(), local.day());
        let day_can_match = (0..24).any(|hour| {
            (0..60).any(|minute| self.schedule.matches(year, month, day, hour, minute))
        });
        if !day_can_match {
            let next_day = local.date().succ_opt()?;
            return next_day.and_hms_opt(0, 0, 0);
        }
        let hour_can_match = (0..60).any(|minute| {
            self.schedule
                .matches(year, month, day, local.hour(), minute)
        });
        if !hour_can_match {
            let hour_start = local.with_minute(0)?;
            return Some(hour_start + ChronoDuration::hours(1));
        }
        Some(local + ChronoDuration::minutes(1))
    }
}

/// What a fire time does about the runs of its workflow still going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OverlapAction {
    /// Start the fire time's run.
    Fire,
    /// Start nothing for this fire time.
    Skip,
    /// Cancel the unfinished runs, then start the fire time's run.
    CancelThenFire,
}

impl Overlap {
    /// What a fire time does while `unfinished` runs of the workflow go.
    pub(crate) fn action(self, unfinished: usize) -> OverlapAction {
        match self {
            Overlap::Allow => OverlapAction::Fire,
            _ if unfinished == 0 => OverlapAction::Fire,
            Overlap::Skip => OverlapAction::Skip,
            Overlap::CancelPrevious => OverlapAction::CancelThenFire,
        }
    }

    /// Whether deciding needs the unfinished runs at all.
    pub(crate) fn needs_unfinished_runs(self) -> bool {
        self != Overlap::Allow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_fires_skips_or_cancels_by_policy_and_unfinished_runs() {
        assert_eq!(Overlap::Skip.action(0), OverlapAction::Fire);
        assert_eq!(Overlap::Skip.action(1), OverlapAction::Skip);
        assert_eq!(Overlap::CancelPrevious.action(0), OverlapAction::Fire);
        assert_eq!(
            Overlap::CancelPrevious.action(2),
            OverlapAction::CancelThenFire
        );
        assert_eq!(Overlap::Allow.action(3), OverlapAction::Fire);
        assert!(!Overlap::Allow.needs_unfinished_runs());
        assert!(Overlap::Skip.needs_unfinished_runs());
    }

    fn ms(zone: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        zone.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .earliest()
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn next_fire_times_follow_the_schedule_in_its_zone() {
        let cron = CronSchedule::new("w", "0 9 * * 1-5", "Europe/Berlin", Overlap::Skip).unwrap();
        let berlin = chrono_tz::Europe::Berlin;
        // Friday 2024-03-08 10:00 → Monday 09:00 Berlin time.
        let after = ms(berlin, 2024, 3, 8, 10, 0);
        assert_eq!(cron.next_after(after), Some(ms(berlin, 2024, 3, 11, 9, 0)));
        // Exactly at a fire time → the next one.
        let at = ms(berlin, 2024, 3, 11, 9, 0);
        assert_eq!(cron.next_after(at), Some(ms(berlin, 2024, 3, 12, 9, 0)));
    }

    #[test]
    fn daylight_saving_skips_missing_times_and_fires_repeated_ones_once() {
        let berlin = chrono_tz::Europe::Berlin;
        // 2024-03-31 02:30 does not exist in Berlin.
        let cron = CronSchedule::new("w", "30 2 * * *", "Europe/Berlin", Overlap::Skip).unwrap();
        let after = ms(berlin, 2024, 3, 30, 12, 0);
        assert_eq!(cron.next_after(after), Some(ms(berlin, 2024, 4, 1, 2, 30)));
        // 2024-10-27 02:30 happens twice: fire at the first only.
        let before = ms(berlin, 2024, 10, 26, 12, 0);
        let first = cron.next_after(before).unwrap();
        assert_eq!(first, ms(berlin, 2024, 10, 27, 2, 30));
        assert_eq!(
            cron.next_after(first),
            Some(ms(berlin, 2024, 10, 28, 2, 30))
        );
    }

    #[test]
    fn bad_settings_are_named() {
        let error = CronSchedule::new("w", "0 9 * *", "UTC", Overlap::Skip)
            .err()
            .unwrap();
        assert!(
            error
                .to_string()
                .contains("workflow `w`: invalid cron expression")
        );
        let error = CronSchedule::new("w", "0 9 * * *", "Mars/Olympus", Overlap::Skip)
            .err()
            .unwrap();
        assert!(
            error
                .to_string()
                .contains("unknown time zone \"Mars/Olympus\"")
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

        /// For random schedules, zones and start times: the next fire time
        /// is later, matches the schedule in the zone's local time, and the
        /// one after it is later again; in UTC no minute between the start
        /// and it matches (none is skipped).
        #[test]
        fn next_fire_times_are_later_match_and_skip_none(
            minute in "\\*|\\*/(7|15|30)|[0-5]?[0-9]|0,30|10-20",
            hour in "\\*|\\*/(5|12)|[01]?[0-9]|2[0-3]|1-3",
            day in "\\*|[1-9]|1[0-9]|2[0-9]|3[01]|1-7",
            month in "\\*|[1-9]|1[0-2]|FEB|MAR,OCT",
            weekday in "\\*|[0-7]|MON-FRI|SUN",
            zone in proptest::sample::select(vec!["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]),
            after in 1_577_836_800_000i64..1_893_456_000_000,
        ) {
            let expression = format!("{minute} {hour} {day} {month} {weekday}");
            let cron = CronSchedule::new("w", &expression, zone, Overlap::Skip).unwrap();
            let Some(next) = cron.next_after(after) else {
                return Ok(());
            };
            proptest::prop_assert!(next > after);
            proptest::prop_assert_eq!(next % 60_000, 0, "{} fires on whole minutes", expression);
            let local = cron.zone.timestamp_millis_opt(next).unwrap().naive_local();
            proptest::prop_assert!(cron.schedule.matches(
                local.year(), local.month(), local.day(), local.hour(), local.minute()
            ));
            if let Some(later) = cron.next_after(next) {
                proptest::prop_assert!(later > next);
            }
            if zone == "UTC" && next - after <= 86_400_000 {
                let mut at = (after / 60_000 + 1) * 60_000;
                while at < next {
                    let local = chrono::Utc.timestamp_millis_opt(at).unwrap().naive_utc();
                    proptest::prop_assert!(
                        !cron.schedule.matches(local.year(), local.month(), local.day(), local.hour(), local.minute()),
                        "{} skipped {}", expression, at
                    );
                    at += 60_000;
                }
            }
        }
    }
}
