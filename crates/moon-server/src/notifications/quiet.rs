//! Quiet hours: a daily window, in the business time zone, during which a recipient's e-mail
//! and webhook deliveries wait. The inbox is never quiet (it is the record); a delivery queued
//! inside the window is due at its end instead of at once. Pure: the caller gives the clock.

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use moon_domain::FieldError;
use serde::{Deserialize, Serialize};

/// A daily window `[from, to)` in local time; `from > to` wraps midnight (22:00–07:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuietHours {
    /// Start, `HH:MM`.
    #[schema(value_type = String, example = "22:00")]
    #[serde(with = "hhmm")]
    pub from: NaiveTime,
    /// End, `HH:MM` (exclusive).
    #[schema(value_type = String, example = "07:00")]
    #[serde(with = "hhmm")]
    pub to: NaiveTime,
}

mod hhmm {
    use chrono::NaiveTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.format("%H:%M").to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let raw = String::deserialize(d)?;
        super::parse_time(&raw).ok_or_else(|| serde::de::Error::custom("a time is HH:MM"))
    }
}

/// `HH:MM` (24-hour clock).
pub fn parse_time(raw: &str) -> Option<NaiveTime> {
    let raw = raw.trim();
    if raw.len() != 5 {
        return None;
    }
    NaiveTime::parse_from_str(raw, "%H:%M").ok()
}

impl QuietHours {
    /// Reads the stored pair (both or neither); anything unreadable counts as no quiet hours,
    /// so a bad row delays nothing.
    pub fn from_stored(from: Option<&str>, to: Option<&str>) -> Option<Self> {
        let (from, to) = (parse_time(from?)?, parse_time(to?)?);
        (from != to).then_some(Self { from, to })
    }

    /// Parses `{"from": "HH:MM", "to": "HH:MM"}` (or `null`, no quiet hours) from a request.
    pub fn parse_json(field: &str, v: &serde_json::Value) -> Result<Option<Self>, FieldError> {
        if v.is_null() {
            return Ok(None);
        }
        let bad = || {
            FieldError::new(
                field,
                "invalid_quiet_hours",
                "quiet_hours is {\"from\": \"HH:MM\", \"to\": \"HH:MM\"} or null",
            )
        };
        let q: Self = serde_json::from_value(v.clone()).map_err(|_| bad())?;
        if q.from == q.to {
            return Err(FieldError::new(field, "empty_window", "quiet hours need different start and end times"));
        }
        Ok(Some(q))
    }

    /// Whether the local time of `now` falls inside the window.
    pub fn contains(&self, now: DateTime<Utc>, zone: Tz) -> bool {
        let t = now.with_timezone(&zone).time();
        if self.from < self.to { self.from <= t && t < self.to } else { t >= self.from || t < self.to }
    }

    /// When a delivery due at `now` may go: `now` outside the window, else the window's end
    /// (the next local `to`), in UTC.
    pub fn release(&self, now: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
        if !self.contains(now, zone) {
            return now;
        }
        let local = now.with_timezone(&zone);
        let mut day = local.date_naive();
        if local.time() >= self.to {
            day = day.succ_opt().unwrap_or(day);
        }
        let end = day.and_time(self.to);
        // A wall-clock time skipped by a daylight-saving jump: the first instant after the gap.
        let resolved = zone
            .from_local_datetime(&end)
            .earliest()
            .or_else(|| zone.from_local_datetime(&(end + chrono::Duration::hours(1))).earliest());
        resolved.map_or(now, |t| t.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_window_across_midnight_defers_to_its_end_in_the_business_zone() {
        let q = QuietHours { from: parse_time("22:00").unwrap(), to: parse_time("07:00").unwrap() };
        let colombo: Tz = "Asia/Colombo".parse().unwrap();
        // 23:30 in Colombo (+05:30) is 18:00 UTC: quiet until 07:00 local = 01:30 UTC next day.
        assert_eq!(q.release(at("2026-12-07T18:00:00Z"), colombo), at("2026-12-08T01:30:00Z"));
        // 03:00 local, after midnight: the same morning.
        assert_eq!(q.release(at("2026-12-07T21:30:00Z"), colombo), at("2026-12-08T01:30:00Z"));
        // Noon local: not quiet.
        assert_eq!(q.release(at("2026-12-07T06:30:00Z"), colombo), at("2026-12-07T06:30:00Z"));
        // The end itself is outside.
        assert!(!q.contains(at("2026-12-08T01:30:00Z"), colombo));
    }

    #[test]
    fn a_daytime_window_and_bad_input() {
        let q = QuietHours { from: parse_time("12:00").unwrap(), to: parse_time("13:00").unwrap() };
        assert_eq!(q.release(at("2026-12-07T12:15:00Z"), Tz::UTC), at("2026-12-07T13:00:00Z"));
        assert!(QuietHours::parse_json("q", &serde_json::json!({"from": "25:00", "to": "07:00"})).is_err());
        assert!(QuietHours::parse_json("q", &serde_json::json!({"from": "07:00", "to": "07:00"})).is_err());
        assert_eq!(QuietHours::parse_json("q", &serde_json::Value::Null).unwrap(), None);
        assert_eq!(QuietHours::from_stored(Some("7:00"), Some("08:00")), None);
    }
}
