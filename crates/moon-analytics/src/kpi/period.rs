//! Periods of a trend and attainment percentages: pure arithmetic on dates and cents.

use chrono::{Datelike, NaiveDate};
use moon_domain::{FiscalYearStart, PeriodKind};

/// Size of a trend's periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Bucket {
    /// Calendar days.
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    /// Calendar months.
    #[default]
    Month,
    /// Fiscal quarters (calendar ones when the fiscal year starts in January).
    Quarter,
    /// Fiscal years (calendar ones when the fiscal year starts in January).
    Year,
}

impl Bucket {
    /// Parses `day`, `week`, `month`, `quarter` or `year`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "day" => Some(Bucket::Day),
            "week" => Some(Bucket::Week),
            "month" => Some(Bucket::Month),
            "quarter" => Some(Bucket::Quarter),
            "year" => Some(Bucket::Year),
            _ => None,
        }
    }

    /// The period containing `d` with a fiscal year starting in January: its label and first
    /// day.
    pub fn period(self, d: NaiveDate) -> (String, NaiveDate) {
        self.period_in(d, FiscalYearStart::default())
    }

    /// The period containing `d`: its label and first day. Quarters and years are fiscal ones,
    /// so they line up with quarter and year targets whatever month the fiscal year starts in;
    /// with a January start they are calendar ones, labelled `2026-Q4` and `2026`, otherwise
    /// they carry the fiscal labels (`FY2027 Q1`, `FY2027`) periods have everywhere else.
    pub fn period_in(self, d: NaiveDate, fiscal: FiscalYearStart) -> (String, NaiveDate) {
        if fiscal.month() != 1
            && let Some(kind) = match self {
                Bucket::Quarter => Some(PeriodKind::Quarter),
                Bucket::Year => Some(PeriodKind::Year),
                _ => None,
            }
        {
            let p = fiscal.period(kind, d);
            return (fiscal.label(p), p.start());
        }
        match self {
            Bucket::Day => (d.to_string(), d),
            Bucket::Week => {
                let w = d.iso_week();
                let start = d - chrono::Duration::days(i64::from(d.weekday().num_days_from_monday()));
                (format!("{}-W{:02}", w.year(), w.week()), start)
            }
            Bucket::Month => (format!("{}-{:02}", d.year(), d.month()), d.with_day(1).unwrap_or(d)),
            Bucket::Quarter => {
                let q = (d.month() - 1) / 3;
                let start = NaiveDate::from_ymd_opt(d.year(), q * 3 + 1, 1).unwrap_or(d);
                (format!("{}-Q{}", d.year(), q + 1), start)
            }
            Bucket::Year => (d.year().to_string(), NaiveDate::from_ymd_opt(d.year(), 1, 1).unwrap_or(d)),
        }
    }

    /// Every period from the one containing `from` to the one containing `to`, in order: the
    /// axis a zero-filled trend shows (a period without sales is a 0, not a gap).
    pub fn periods(self, from: NaiveDate, to: NaiveDate, fiscal: FiscalYearStart) -> Vec<(String, NaiveDate)> {
        let mut out: Vec<(String, NaiveDate)> = Vec::new();
        let mut d = from;
        while d <= to {
            let (label, start) = self.period_in(d, fiscal);
            if out.last().is_none_or(|(l, _)| *l != label) {
                out.push((label, start));
            }
            // Jump to the next period's first day rather than walking every day.
            d = match self {
                Bucket::Day => d.succ_opt(),
                Bucket::Week => start.checked_add_signed(chrono::Duration::days(7)),
                Bucket::Month => start.checked_add_months(chrono::Months::new(1)),
                Bucket::Quarter => start.checked_add_months(chrono::Months::new(3)),
                Bucket::Year => start.checked_add_months(chrono::Months::new(12)),
            }
            .unwrap_or(to + chrono::Duration::days(1));
        }
        out
    }
}

/// `part` as a percentage of `whole`, rounded half up to two decimals, computed exactly in
/// integers.
pub fn percent(part: i64, whole: i64) -> String {
    if whole <= 0 {
        return String::from("0.00");
    }
    let basis_points = (i128::from(part) * 10_000 * 2 + i128::from(whole)) / (i128::from(whole) * 2);
    format!("{}.{:02}", basis_points / 100, basis_points % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_exact_and_round_half_up() {
        assert_eq!(percent(1, 3), "33.33");
        assert_eq!(percent(2, 3), "66.67");
        assert_eq!(percent(12_000_000, 12_000_000), "100.00");
        assert_eq!(percent(0, 5), "0.00");
        assert_eq!(percent(15, 10), "150.00");
        assert_eq!(percent(5, 0), "0.00");
    }

    #[test]
    fn periods_have_labels_and_first_days() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        assert_eq!(Bucket::Day.period(d).0, "2026-11-26");
        assert_eq!(Bucket::Week.period(d), (String::from("2026-W48"), NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()));
        assert_eq!(Bucket::Month.period(d), (String::from("2026-11"), NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()));
        assert_eq!(Bucket::Quarter.period(d), (String::from("2026-Q4"), NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()));
        assert_eq!(Bucket::Year.period(d), (String::from("2026"), NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()));
        // ISO week-year differs from the calendar year at the edges.
        let jan1 = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
        assert_eq!(Bucket::Week.period(jan1).0, "2026-W53");
    }

    #[test]
    fn the_axis_lists_every_period_once() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        let labels = |b: Bucket, from, to| {
            b.periods(from, to, FiscalYearStart::default()).into_iter().map(|(l, _)| l).collect::<Vec<_>>()
        };
        assert_eq!(labels(Bucket::Month, d(2026, 11, 30), d(2027, 2, 1)), ["2026-11", "2026-12", "2027-01", "2027-02"]);
        assert_eq!(labels(Bucket::Day, d(2026, 12, 30), d(2027, 1, 1)), ["2026-12-30", "2026-12-31", "2027-01-01"]);
        assert_eq!(labels(Bucket::Week, d(2026, 12, 30), d(2027, 1, 12)), ["2026-W53", "2027-W01", "2027-W02"]);
        assert_eq!(labels(Bucket::Quarter, d(2026, 3, 31), d(2026, 4, 1)), ["2026-Q1", "2026-Q2"]);
        // A fiscal year starting in April: quarters and years are fiscal, with fiscal labels.
        let april = FiscalYearStart::new(4).unwrap();
        let fiscal = |b: Bucket, from, to| -> Vec<(String, NaiveDate)> { b.periods(from, to, april) };
        assert_eq!(
            fiscal(Bucket::Quarter, d(2026, 3, 31), d(2026, 7, 1)),
            [
                (String::from("FY2026 Q4"), d(2026, 1, 1)),
                (String::from("FY2027 Q1"), d(2026, 4, 1)),
                (String::from("FY2027 Q2"), d(2026, 7, 1))
            ]
        );
        assert_eq!(
            fiscal(Bucket::Year, d(2026, 3, 31), d(2026, 4, 1)),
            [(String::from("FY2026"), d(2025, 4, 1)), (String::from("FY2027"), d(2026, 4, 1))]
        );
        assert_eq!(fiscal(Bucket::Month, d(2026, 3, 31), d(2026, 4, 1)).len(), 2);
        assert_eq!(labels(Bucket::Year, d(2024, 6, 1), d(2026, 1, 1)), ["2024", "2025", "2026"]);
        assert!(Bucket::Day.periods(d(2026, 1, 2), d(2026, 1, 1), FiscalYearStart::default()).is_empty());
    }
}
