//! When a digest is due: a daily or weekly slot at a local time in the business time zone, and
//! the most recent slot at or before a moment. Pure: the caller gives the clock and the zone.
//!
//! A local time a daylight-saving jump skips (01:30 on the spring-forward night in London) is
//! due at the first instant after the gap; one that happens twice (the autumn night) is due the
//! first time. Only the latest slot counts, so a server that was down over several slots sends
//! one digest, not a backlog.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use moon_domain::FieldError;
use serde::{Deserialize, Serialize};

/// The two digests a person may receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DigestKind {
    /// Every day at a local time.
    Daily,
    /// Once a week, on a weekday at a local time.
    Weekly,
}

impl DigestKind {
    /// Both, in the order they are shown.
    pub const ALL: [DigestKind; 2] = [DigestKind::Daily, DigestKind::Weekly];

    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            DigestKind::Daily => "daily",
            DigestKind::Weekly => "weekly",
        }
    }

    /// Reads a stored or API name.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "daily" => Some(DigestKind::Daily),
            "weekly" => Some(DigestKind::Weekly),
            _ => None,
        }
    }

    /// `Daily`, `Weekly`, for subjects and headings.
    pub fn title(self) -> &'static str {
        match self {
            DigestKind::Daily => "Daily",
            DigestKind::Weekly => "Weekly",
        }
    }
}

/// When one digest goes out: every day, or on one weekday, at a local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Daily or weekly.
    pub kind: DigestKind,
    /// The weekday of a weekly digest (ignored for a daily one).
    pub weekday: Weekday,
    /// Local time in the business zone.
    pub at: NaiveTime,
}

/// `mon`…`sun` (or the full English name).
pub fn parse_weekday(raw: &str) -> Option<Weekday> {
    raw.trim().parse::<Weekday>().ok()
}

/// `mon`…`sun`.
pub fn weekday_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "mon",
        Weekday::Tue => "tue",
        Weekday::Wed => "wed",
        Weekday::Thu => "thu",
        Weekday::Fri => "fri",
        Weekday::Sat => "sat",
        Weekday::Sun => "sun",
    }
}

impl Slot {
    /// Reads a configured schedule: `daily HH:MM`, `weekly DAY HH:MM` (`weekly mon 08:30`), or
    /// `off` (`None`).
    pub fn parse_config(field: &str, raw: &str) -> Result<Option<Self>, FieldError> {
        let bad = || {
            FieldError::new(
                field,
                "invalid_schedule",
                "a digest schedule is \"daily HH:MM\", \"weekly DAY HH:MM\" (such as \"weekly mon 08:30\") or \"off\"",
            )
        };
        let words: Vec<&str> = raw.split_whitespace().collect();
        let time = |s: &str| crate::notifications::quiet::parse_time(s).ok_or_else(bad);
        match words.as_slice() {
            ["off"] => Ok(None),
            ["daily", at] => Ok(Some(Slot { kind: DigestKind::Daily, weekday: Weekday::Mon, at: time(at)? })),
            ["weekly", day, at] => {
                Ok(Some(Slot { kind: DigestKind::Weekly, weekday: parse_weekday(day).ok_or_else(bad)?, at: time(at)? }))
            }
            _ => Err(bad()),
        }
    }

    /// How people read it: `Monday 08:30`, `daily 08:30`.
    pub fn describe(&self) -> String {
        match self.kind {
            DigestKind::Daily => format!("daily {}", self.at.format("%H:%M")),
            DigestKind::Weekly => format!("{} {}", long_weekday(self.weekday), self.at.format("%H:%M")),
        }
    }

    /// The most recent slot at or before `now`, in UTC.
    pub fn latest(&self, now: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
        let today = now.with_timezone(&zone).date_naive();
        // The slot of today (or of this week's weekday), else the one before it; two steps back
        // cover a slot pushed past `now` by a daylight-saving gap.
        let step = match self.kind {
            DigestKind::Daily => 1,
            DigestKind::Weekly => 7,
        };
        let mut day = match self.kind {
            DigestKind::Daily => today,
            DigestKind::Weekly => {
                let back = (7 + today.weekday().num_days_from_monday() - self.weekday.num_days_from_monday()) % 7;
                today - Duration::days(i64::from(back))
            }
        };
        for _ in 0..3 {
            let at = local_instant(day, self.at, zone);
            if at <= now {
                return at;
            }
            day -= Duration::days(step);
        }
        local_instant(day, self.at, zone)
    }
}

/// `Monday`…`Sunday`.
pub fn long_weekday(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

/// A local date and time as an instant: the earlier of two when the clock went back, the first
/// instant after the gap when it jumped forward over it.
pub fn local_instant(day: NaiveDate, at: NaiveTime, zone: Tz) -> DateTime<Utc> {
    let local = day.and_time(at);
    if let Some(t) = zone.from_local_datetime(&local).earliest() {
        return t.with_timezone(&Utc);
    }
    // Inside a gap: walk forward a minute at a time to its end (gaps are at most a few hours).
    let mut probe = local;
    for _ in 0..(24 * 60) {
        probe += Duration::minutes(1);
        if let Some(t) = zone.from_local_datetime(&probe).earliest() {
            return t.with_timezone(&Utc);
        }
    }
    Utc.from_utc_datetime(&local)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn slot(raw: &str) -> Slot {
        Slot::parse_config("s", raw).unwrap().unwrap()
    }

    #[test]
    fn a_weekly_slot_in_a_zone_without_daylight_saving() {
        let colombo: Tz = "Asia/Colombo".parse().unwrap();
        let monday = slot("weekly mon 08:30");
        // Monday 2026-12-07 08:30 in Colombo (+05:30) is 03:00 UTC.
        assert_eq!(monday.latest(at("2026-12-07T03:00:00Z"), colombo), at("2026-12-07T03:00:00Z"));
        // A minute before: last week's.
        assert_eq!(monday.latest(at("2026-12-07T02:59:00Z"), colombo), at("2026-11-30T03:00:00Z"));
        // Thursday: this week's Monday.
        assert_eq!(monday.latest(at("2026-12-10T12:00:00Z"), colombo), at("2026-12-07T03:00:00Z"));
        // Sunday night local (after UTC midnight's Monday has not begun in Colombo? it has):
        // 2026-12-06T20:00Z is Monday 01:30 local, before 08:30: last week's.
        assert_eq!(monday.latest(at("2026-12-06T20:00:00Z"), colombo), at("2026-11-30T03:00:00Z"));
        assert_eq!(monday.describe(), "Monday 08:30");
    }

    #[test]
    fn a_daily_slot_across_the_london_clock_changes() {
        let london: Tz = "Europe/London".parse().unwrap();
        let morning = slot("daily 08:30");
        // Saturday before the spring change: GMT, 08:30 UTC. Sunday 2026-03-29: BST, 07:30 UTC.
        assert_eq!(morning.latest(at("2026-03-28T12:00:00Z"), london), at("2026-03-28T08:30:00Z"));
        assert_eq!(morning.latest(at("2026-03-29T12:00:00Z"), london), at("2026-03-29T07:30:00Z"));
        // 07:45 UTC on the change day is 08:45 BST: today's slot is already due.
        assert_eq!(morning.latest(at("2026-03-29T07:45:00Z"), london), at("2026-03-29T07:30:00Z"));
        // Autumn, Sunday 2026-10-25: back to GMT.
        assert_eq!(morning.latest(at("2026-10-25T12:00:00Z"), london), at("2026-10-25T08:30:00Z"));
        assert_eq!(morning.latest(at("2026-10-24T12:00:00Z"), london), at("2026-10-24T07:30:00Z"));
    }

    #[test]
    fn a_slot_in_the_skipped_or_repeated_hour() {
        let london: Tz = "Europe/London".parse().unwrap();
        let night = slot("daily 01:30");
        // 01:30 does not exist on 2026-03-29 (01:00 GMT → 02:00 BST): due at 02:00 BST = 01:00 UTC.
        assert_eq!(night.latest(at("2026-03-29T06:00:00Z"), london), at("2026-03-29T01:00:00Z"));
        // Before the gap ends, yesterday's.
        assert_eq!(night.latest(at("2026-03-29T00:59:00Z"), london), at("2026-03-28T01:30:00Z"));
        // 01:30 happens twice on 2026-10-25: the first (BST, 00:30 UTC), once.
        assert_eq!(night.latest(at("2026-10-25T00:30:00Z"), london), at("2026-10-25T00:30:00Z"));
        assert_eq!(night.latest(at("2026-10-25T01:45:00Z"), london), at("2026-10-25T00:30:00Z"));
    }

    #[test]
    fn schedules_are_read_strictly() {
        assert_eq!(Slot::parse_config("s", "off").unwrap(), None);
        for bad in ["weekly 08:30", "daily 8:30", "weekly funday 08:30", "hourly", ""] {
            assert!(Slot::parse_config("s", bad).is_err(), "{bad}");
        }
        assert_eq!(slot("weekly sunday 23:59").weekday, Weekday::Sun);
    }
}
