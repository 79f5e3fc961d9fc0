//! The business calendar: "today" in the business time zone, fiscal periods (month, quarter,
//! year) with their labels, working days with holidays, and attainment bands. Pure: the clock,
//! the holiday list and the configuration are passed in.
//!
//! **Fiscal year naming.** A fiscal year is named by the calendar year in which it *ends*. With
//! the default start month (January) that is simply the calendar year; with an April start,
//! 1 April 2026 – 31 March 2027 is `FY2027`, and 1 April 2026 begins `FY2027 Q1`.
//!
//! **Labels.** A month is `2026-11`; a quarter `FY2027 Q1` (also read as `FY2027-Q1`); a year
//! `FY2027`. A period can also be named by its kind and first day.

use std::collections::BTreeSet;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc, Weekday};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::FieldError;

/// How long a period lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PeriodKind {
    /// A calendar month.
    Month,
    /// Three months from a fiscal quarter's start.
    Quarter,
    /// Twelve months from the fiscal year's start.
    Year,
}

impl PeriodKind {
    /// The name used in the API and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodKind::Month => "month",
            PeriodKind::Quarter => "quarter",
            PeriodKind::Year => "year",
        }
    }

    /// Months a period of this kind lasts.
    pub fn months(self) -> u32 {
        match self {
            PeriodKind::Month => 1,
            PeriodKind::Quarter => 3,
            PeriodKind::Year => 12,
        }
    }

    /// Parses `month`, `quarter` or `year`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "month" => Ok(PeriodKind::Month),
            "quarter" => Ok(PeriodKind::Quarter),
            "year" => Ok(PeriodKind::Year),
            _ => Err(FieldError::new(
                field,
                "invalid_period_kind",
                format!("{field} must be month, quarter or year; got {raw:?}"),
            )),
        }
    }
}

/// The month (1–12) the fiscal year starts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FiscalYearStart(u32);

impl Default for FiscalYearStart {
    fn default() -> Self {
        Self(1)
    }
}

impl FiscalYearStart {
    /// A start month, 1 (January) to 12 (December).
    pub fn new(month: u32) -> Result<Self, String> {
        if (1..=12).contains(&month) {
            Ok(Self(month))
        } else {
            Err(format!("the fiscal year start month must be 1 to 12; got {month}"))
        }
    }

    /// The month number.
    pub fn month(self) -> u32 {
        self.0
    }

    /// Months from the fiscal year's start to `date`'s month (0–11).
    fn offset(self, date: NaiveDate) -> u32 {
        (date.month() + 12 - self.0) % 12
    }

    /// The period of `kind` that contains `date`.
    pub fn period(self, kind: PeriodKind, date: NaiveDate) -> Period {
        let back = match kind {
            PeriodKind::Month => 0,
            PeriodKind::Quarter => self.offset(date) % 3,
            PeriodKind::Year => self.offset(date),
        };
        let first = first_of_month(date);
        Period { kind, start: first.checked_sub_months(Months::new(back)).unwrap_or(first) }
    }

    /// The period of `kind` that starts on `start`, or an error naming `field` when no such
    /// period starts that day.
    pub fn period_at(self, field: &str, kind: PeriodKind, start: NaiveDate) -> Result<Period, FieldError> {
        let p = self.period(kind, start);
        if p.start == start {
            Ok(p)
        } else {
            Err(FieldError::new(
                field,
                "not_a_period_start",
                format!(
                    "no {} starts on {start}; the {} containing it starts on {}",
                    kind.as_str(),
                    kind.as_str(),
                    p.start
                ),
            ))
        }
    }

    /// The fiscal year (by the year it ends in) that `date` belongs to.
    pub fn fiscal_year(self, date: NaiveDate) -> i32 {
        let start = self.period(PeriodKind::Year, date).start;
        if self.0 == 1 { start.year() } else { start.year() + 1 }
    }

    /// The label of a period: `2026-11`, `FY2027 Q1`, `FY2027`.
    pub fn label(self, p: Period) -> String {
        let fy = self.fiscal_year(p.start);
        match p.kind {
            PeriodKind::Month => p.start.format("%Y-%m").to_string(),
            PeriodKind::Quarter => format!("FY{fy} Q{}", self.offset(p.start) / 3 + 1),
            PeriodKind::Year => format!("FY{fy}"),
        }
    }

    /// Reads a period from its label (`2026-11`, `FY2027 Q1`, `FY2027-Q1`, `FY2027`) or from
    /// `KIND:YYYY-MM-DD` (`quarter:2026-04-01`).
    pub fn parse(self, field: &str, raw: &str) -> Result<Period, FieldError> {
        let text = raw.trim();
        let invalid = || {
            FieldError::new(
                field,
                "invalid_period",
                format!(
                    "{field} must be a month (2026-11), a quarter (FY2026 Q3), a year (FY2026) or kind:start-date; got {raw:?}"
                ),
            )
        };
        if let Some((kind, start)) = text.split_once(':') {
            let kind = PeriodKind::parse(field, kind)?;
            let start = crate::parse_date(field, start)?;
            return self.period_at(field, kind, start);
        }
        let upper = text.to_ascii_uppercase();
        if let Some(rest) = upper.strip_prefix("FY") {
            let (year, quarter) = match rest.find(['Q', ' ', '-']) {
                Some(i) => {
                    let q = rest[i..].trim_start_matches([' ', '-']);
                    let q = q.strip_prefix('Q').ok_or_else(invalid)?;
                    (&rest[..i], Some(q.parse::<u32>().map_err(|_| invalid())?))
                }
                None => (rest, None),
            };
            let fy: i32 = year.trim().parse().map_err(|_| invalid())?;
            if !(1901..=9998).contains(&fy) {
                return Err(invalid());
            }
            // The fiscal year FY ends in calendar year FY, so it starts in FY (January start) or
            // in FY - 1.
            let start_year = if self.0 == 1 { fy } else { fy - 1 };
            let year_start = NaiveDate::from_ymd_opt(start_year, self.0, 1).ok_or_else(invalid)?;
            return match quarter {
                None => Ok(Period { kind: PeriodKind::Year, start: year_start }),
                Some(q @ 1..=4) => Ok(Period {
                    kind: PeriodKind::Quarter,
                    start: year_start.checked_add_months(Months::new((q - 1) * 3)).ok_or_else(invalid)?,
                }),
                Some(_) => Err(FieldError::new(
                    field,
                    "invalid_period",
                    format!("{field}: a quarter is Q1 to Q4; got {raw:?}"),
                )),
            };
        }
        let (y, m) = text.split_once('-').ok_or_else(invalid)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(invalid());
        }
        let start = NaiveDate::from_ymd_opt(y.parse().map_err(|_| invalid())?, m.parse().map_err(|_| invalid())?, 1)
            .ok_or_else(invalid)?;
        if !(1900..=9999).contains(&start.year()) {
            return Err(invalid());
        }
        Ok(Period { kind: PeriodKind::Month, start })
    }
}

fn first_of_month(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

/// One period of the fiscal calendar: its kind and first day (always a period start, since
/// periods are only made by [`FiscalYearStart`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    kind: PeriodKind,
    start: NaiveDate,
}

impl Period {
    /// Month, quarter or year.
    pub fn kind(self) -> PeriodKind {
        self.kind
    }

    /// The first day.
    pub fn start(self) -> NaiveDate {
        self.start
    }

    /// The last day (inclusive).
    pub fn end(self) -> NaiveDate {
        self.shift(1).start.pred_opt().unwrap_or(self.start)
    }

    /// Whether `date` lies in the period.
    pub fn contains(self, date: NaiveDate) -> bool {
        self.start <= date && date <= self.end()
    }

    /// Whether `other` lies wholly inside this period.
    pub fn covers(self, other: Period) -> bool {
        self.start <= other.start && other.end() <= self.end()
    }

    /// The period `n` periods later (earlier when negative).
    pub fn shift(self, n: i32) -> Period {
        let months = self.kind.months() * n.unsigned_abs();
        let start = if n >= 0 {
            self.start.checked_add_months(Months::new(months))
        } else {
            self.start.checked_sub_months(Months::new(months))
        };
        Period { kind: self.kind, start: start.unwrap_or(self.start) }
    }

    /// The next period of the same kind.
    pub fn next(self) -> Period {
        self.shift(1)
    }

    /// The previous period of the same kind.
    pub fn previous(self) -> Period {
        self.shift(-1)
    }

    /// The same period a year earlier (same month, quarter or fiscal year).
    pub fn same_period_last_year(self) -> Period {
        Period { kind: self.kind, start: self.start.checked_sub_months(Months::new(12)).unwrap_or(self.start) }
    }
}

/// The days of the week people work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkWeek([bool; 7]);

impl Default for WorkWeek {
    /// Monday to Friday.
    fn default() -> Self {
        Self([true, true, true, true, true, false, false])
    }
}

impl WorkWeek {
    /// A week from day names (`mon`, `Tuesday`, …); at least one day.
    pub fn parse(days: &[String]) -> Result<Self, String> {
        let mut week = [false; 7];
        for d in days {
            let day =
                Weekday::from_str(d.trim()).map_err(|_| format!("unknown weekday {d:?}; use mon, tue, …, sun"))?;
            week[day.num_days_from_monday() as usize] = true;
        }
        if week.iter().any(|w| *w) { Ok(Self(week)) } else { Err(String::from("at least one working day is needed")) }
    }

    /// Whether people work on `day`'s weekday.
    pub fn works_on(self, day: Weekday) -> bool {
        self.0[day.num_days_from_monday() as usize]
    }

    /// The working days as three-letter names.
    pub fn names(self) -> Vec<&'static str> {
        const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        NAMES.iter().zip(self.0).filter(|(_, w)| *w).map(|(n, _)| *n).collect()
    }
}

/// The whole business calendar: zone, fiscal year start, working week.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusinessCalendar {
    /// Where "today" and period boundaries are decided.
    pub zone: Tz,
    /// The fiscal year's first month.
    pub fiscal: FiscalYearStart,
    /// The days people work (holidays come on top).
    pub week: WorkWeek,
}

impl Default for BusinessCalendar {
    /// UTC, January, Monday to Friday.
    fn default() -> Self {
        Self { zone: Tz::UTC, fiscal: FiscalYearStart::default(), week: WorkWeek::default() }
    }
}

impl BusinessCalendar {
    /// A calendar from configuration values; each error names the setting.
    pub fn new(zone: &str, fiscal_start_month: u32, working_days: Option<&[String]>) -> Result<Self, String> {
        let zone = Tz::from_str(zone.trim())
            .map_err(|_| format!("unknown time zone {zone:?}; use an IANA name such as Asia/Colombo or UTC"))?;
        let fiscal = FiscalYearStart::new(fiscal_start_month)?;
        let week = match working_days {
            Some(days) => WorkWeek::parse(days)?,
            None => WorkWeek::default(),
        };
        Ok(Self { zone, fiscal, week })
    }

    /// The business date at the instant `now`.
    pub fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.zone).date_naive()
    }

    /// Whether `date` is a working day: a working weekday that is not a holiday.
    pub fn is_working_day(&self, date: NaiveDate, holidays: &BTreeSet<NaiveDate>) -> bool {
        self.week.works_on(date.weekday()) && !holidays.contains(&date)
    }

    /// Working days from `from` to `to`, both included (0 when `to` is before `from`).
    pub fn working_days(&self, from: NaiveDate, to: NaiveDate, holidays: &BTreeSet<NaiveDate>) -> u32 {
        if to < from {
            return 0;
        }
        // Whole weeks at once, then the remaining days one by one: fast for a year.
        let days = (to - from).num_days() + 1;
        let weeks = u32::try_from(days / 7).unwrap_or(0);
        let per_week = u32::try_from(self.week.0.iter().filter(|w| **w).count()).unwrap_or(0);
        let mut n = weeks * per_week;
        let mut d = from + chrono::Duration::days(days / 7 * 7);
        while d <= to {
            if self.week.works_on(d.weekday()) {
                n += 1;
            }
            d = d.succ_opt().unwrap_or(to + chrono::Duration::days(1));
        }
        let off = holidays.range(from..=to).filter(|h| self.week.works_on(h.weekday())).count();
        n - u32::try_from(off).unwrap_or(0)
    }

    /// Working days in the whole period.
    pub fn working_days_in(&self, p: Period, holidays: &BTreeSet<NaiveDate>) -> u32 {
        self.working_days(p.start(), p.end(), holidays)
    }

    /// Working days of the period elapsed by the end of `date` (`date` included): 0 before the
    /// period, all of them after it.
    pub fn working_days_elapsed(&self, p: Period, date: NaiveDate, holidays: &BTreeSet<NaiveDate>) -> u32 {
        self.working_days(p.start(), date.min(p.end()), holidays)
    }
}

/// Attainment bands: ascending thresholds in percent, such as `[80, 100, 120]`, which make the
/// bands "below 80 %", "80–100 %", "100–120 %" and "120 % and above". A threshold belongs to the
/// band it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bands(Vec<Decimal>);

impl Default for Bands {
    fn default() -> Self {
        Self(vec![Decimal::from(80), Decimal::from(100), Decimal::from(120)])
    }
}

/// Where an attainment falls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Band {
    /// 0 for the lowest band, up to the number of thresholds.
    pub index: usize,
    /// Such as `80–100 %`.
    pub label: String,
}

impl Bands {
    /// Thresholds in percent, strictly ascending and not negative.
    pub fn new(thresholds: Vec<Decimal>) -> Result<Self, String> {
        if thresholds.is_empty() {
            return Err(String::from("at least one attainment band threshold is needed"));
        }
        if thresholds.iter().any(|t| t.is_sign_negative()) || thresholds.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!("attainment band thresholds must be ascending and not negative; got {thresholds:?}"));
        }
        Ok(Self(thresholds))
    }

    /// The thresholds.
    pub fn thresholds(&self) -> &[Decimal] {
        &self.0
    }

    /// The band of an attainment in percent.
    pub fn classify(&self, percent: Decimal) -> Band {
        let index = self.0.iter().take_while(|t| percent >= **t).count();
        let label = match (index.checked_sub(1).map(|i| self.0[i]), self.0.get(index)) {
            (None, Some(hi)) => format!("below {hi} %"),
            (Some(lo), Some(hi)) => format!("{lo}–{hi} %"),
            (Some(lo), None) => format!("{lo} % and above"),
            (None, None) => String::new(),
        };
        Band { index, label }
    }
}

/// Attainment in percent, `actual / target × 100` rounded half-up to two places; `None` for a
/// zero target.
pub fn attainment_percent(actual_cents: i64, target_cents: i64) -> Option<Decimal> {
    if target_cents == 0 {
        return None;
    }
    let pct = Decimal::from(actual_cents) * Decimal::from(100) / Decimal::from(target_cents);
    Some(pct.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    const KINDS: [PeriodKind; 3] = [PeriodKind::Month, PeriodKind::Quarter, PeriodKind::Year];

    /// Every day of 2019–2031 under every start month: each period contains the date, starts on
    /// a month boundary of its own kind, chains to the next without gap or overlap, survives a
    /// round trip through its label, and nests (month in quarter in year).
    #[test]
    fn every_date_under_every_fiscal_start_obeys_the_period_laws() {
        for start_month in 1..=12 {
            let fy = FiscalYearStart::new(start_month).unwrap();
            let mut date = d(2019, 1, 1);
            while date <= d(2031, 12, 31) {
                for kind in KINDS {
                    let p = fy.period(kind, date);
                    assert!(p.contains(date), "{p:?} contains {date}");
                    assert_eq!(p.start().day(), 1);
                    assert_eq!(fy.period(kind, p.start()), p);
                    assert_eq!(fy.period(kind, p.end()), p);
                    assert_eq!(p.next().start(), p.end().succ_opt().unwrap());
                    assert_eq!(p.next().previous(), p);
                    assert_eq!(fy.parse("period", &fy.label(p)).unwrap(), p, "label {}", fy.label(p));
                    let spec = format!("{}:{}", kind.as_str(), p.start());
                    assert_eq!(fy.parse("period", &spec).unwrap(), p);
                    let ly = p.same_period_last_year();
                    assert_eq!(
                        (ly.kind(), ly.start().month(), ly.start().year()),
                        (kind, p.start().month(), p.start().year() - 1)
                    );
                    assert_eq!(fy.fiscal_year(ly.start()), fy.fiscal_year(p.start()) - 1);
                    if kind == PeriodKind::Quarter {
                        assert_eq!(fy.label(ly)[6..], fy.label(p)[6..], "same quarter a year earlier");
                    }
                }
                let (m, q, y) = (
                    fy.period(PeriodKind::Month, date),
                    fy.period(PeriodKind::Quarter, date),
                    fy.period(PeriodKind::Year, date),
                );
                assert!(q.covers(m) && y.covers(q) && !m.covers(q));
                assert_eq!(y.start().month(), start_month);
                let fiscal_year_end = y.end().year();
                assert_eq!(fy.fiscal_year(date), fiscal_year_end, "a fiscal year is named by the year it ends in");
                date = date.succ_opt().unwrap();
            }
        }
    }

    #[test]
    fn a_fiscal_year_starting_in_april_is_named_by_the_year_it_ends() {
        let fy = FiscalYearStart::new(4).unwrap();
        let march = fy.period(PeriodKind::Quarter, d(2026, 3, 31));
        let april = fy.period(PeriodKind::Quarter, d(2026, 4, 1));
        assert_eq!((fy.label(march).as_str(), march.start()), ("FY2026 Q4", d(2026, 1, 1)));
        assert_eq!(
            (fy.label(april).as_str(), april.start(), april.end()),
            ("FY2027 Q1", d(2026, 4, 1), d(2026, 6, 30))
        );
        let year = fy.period(PeriodKind::Year, d(2026, 12, 6));
        assert_eq!((fy.label(year).as_str(), year.start(), year.end()), ("FY2027", d(2026, 4, 1), d(2027, 3, 31)));
        assert_eq!(fy.parse("p", "fy2027-q3").unwrap(), fy.period(PeriodKind::Quarter, d(2026, 10, 1)));
        assert_eq!(fy.label(fy.period(PeriodKind::Quarter, d(2026, 12, 6))), "FY2027 Q3");
        let jan = FiscalYearStart::default();
        assert_eq!(jan.label(jan.period(PeriodKind::Quarter, d(2026, 12, 6))), "FY2026 Q4");
        assert_eq!(jan.label(jan.period(PeriodKind::Month, d(2026, 2, 28))), "2026-02");
    }

    #[test]
    fn bad_period_text_says_what_is_expected() {
        let fy = FiscalYearStart::default();
        for raw in ["", "2026", "2026-13", "FY2026 Q5", "FYabc", "26-11", "month:2026-11-02", "week:2026-11-01"] {
            let e = fy.parse("period", raw).unwrap_err();
            assert_eq!(e.field, "period", "{raw}");
        }
        assert_eq!(fy.parse("period", "quarter:2026-11-01").unwrap_err().code, "not_a_period_start");
    }

    #[test]
    fn today_turns_at_local_midnight_in_the_business_zone() {
        let cal = BusinessCalendar::new("Asia/Colombo", 1, None).unwrap();
        let colombo = cal.zone;
        let at = |y, m, day, h, min| colombo.with_ymd_and_hms(y, m, day, h, min, 0).unwrap().with_timezone(&Utc);
        // 23:59 on 30 November local is 18:29 UTC; 00:01 on 1 December local is still 30 November in UTC.
        assert_eq!(cal.today(at(2026, 11, 30, 23, 59)), d(2026, 11, 30));
        assert_eq!(cal.today(at(2026, 12, 1, 0, 1)), d(2026, 12, 1));
        assert_eq!(at(2026, 12, 1, 0, 1).date_naive(), d(2026, 11, 30), "UTC would still say November");
        let month = |t| cal.fiscal.period(PeriodKind::Month, cal.today(t));
        assert_eq!(cal.fiscal.label(month(at(2026, 11, 30, 23, 59))), "2026-11");
        assert_eq!(cal.fiscal.label(month(at(2026, 12, 1, 0, 1))), "2026-12");
        // A sale dated today at 00:30 local is not in the future.
        assert_eq!(cal.today(at(2026, 12, 6, 0, 30)), d(2026, 12, 6));
        assert!(BusinessCalendar::new("Mars/Olympus", 1, None).is_err());
        assert!(BusinessCalendar::new("UTC", 13, None).is_err());
        assert!(BusinessCalendar::new("UTC", 1, Some(&[String::from("funday")])).is_err());
    }

    #[test]
    fn working_days_skip_weekends_and_holidays() {
        let cal = BusinessCalendar::default();
        let none = BTreeSet::new();
        let dec = cal.fiscal.period(PeriodKind::Month, d(2026, 12, 6));
        assert_eq!(cal.working_days_in(dec, &none), 23);
        let holidays: BTreeSet<_> = [d(2026, 12, 24), d(2026, 12, 25), d(2026, 12, 26)].into();
        assert_eq!(cal.working_days_in(dec, &holidays), 21, "26 December 2026 is a Saturday");
        assert_eq!(cal.working_days_elapsed(dec, d(2026, 12, 4), &holidays), 4);
        assert_eq!(cal.working_days_elapsed(dec, d(2026, 11, 30), &holidays), 0);
        assert_eq!(cal.working_days_elapsed(dec, d(2027, 1, 5), &holidays), 21);
        let six = BusinessCalendar::new("UTC", 1, Some(&["mon", "tue", "wed", "thu", "fri", "sat"].map(String::from)))
            .unwrap();
        assert_eq!(six.working_days_in(dec, &holidays), 24, "27 Monday-to-Saturday days less three holidays");
        assert_eq!(six.week.names(), ["mon", "tue", "wed", "thu", "fri", "sat"]);
    }

    /// Counting by whole weeks agrees with counting day by day, for every range start and
    /// length up to 400 days in 2026 with a fixed set of holidays.
    #[test]
    fn working_day_counts_equal_a_day_by_day_count() {
        let cal = BusinessCalendar::default();
        let holidays: BTreeSet<_> = (0..40).map(|i| d(2026, 1, 3) + chrono::Duration::days(i * 9)).collect();
        for offset in 0..60 {
            let from = d(2026, 1, 1) + chrono::Duration::days(offset);
            let mut slow = 0;
            for len in 0..400 {
                let to = from + chrono::Duration::days(len);
                if cal.is_working_day(to, &holidays) {
                    slow += 1;
                }
                assert_eq!(cal.working_days(from, to, &holidays), slow, "{from}..={to}");
            }
        }
        let fy = cal.fiscal;
        let q = fy.period(PeriodKind::Quarter, d(2026, 5, 5));
        let months: u32 =
            (0..3).map(|i| cal.working_days_in(fy.period(PeriodKind::Month, q.start()).shift(i), &holidays)).sum();
        assert_eq!(months, cal.working_days_in(q, &holidays));
    }

    #[test]
    fn attainment_bands_classify_at_their_boundaries() {
        let bands = Bands::default();
        let band = |actual, target| bands.classify(attainment_percent(actual, target).unwrap());
        assert_eq!(band(7_999, 10_000), Band { index: 0, label: String::from("below 80 %") });
        assert_eq!(band(8_000, 10_000).index, 1);
        assert_eq!(band(9_999, 10_000).label, "80–100 %");
        assert_eq!(band(10_000, 10_000).index, 2);
        assert_eq!(band(12_000, 10_000), Band { index: 3, label: String::from("120 % and above") });
        assert_eq!(attainment_percent(1, 3), Some(Decimal::new(3333, 2)));
        assert_eq!(attainment_percent(2, 3), Some(Decimal::new(6667, 2)));
        assert_eq!(attainment_percent(5, 0), None);
        assert!(Bands::new(vec![Decimal::from(100), Decimal::from(80)]).is_err());
        assert!(Bands::new(vec![]).is_err());
        let one = Bands::new(vec![Decimal::from(100)]).unwrap();
        assert_eq!(one.classify(Decimal::from(150)).label, "100 % and above");
    }
}
