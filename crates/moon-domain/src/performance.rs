//! Performance against a target, as a sales manager reads it: how much is sold, how much should
//! have been by today at an even pace over the period's working days, where the period will end
//! at the current run rate, and what each remaining working day must bring.
//!
//! Pure arithmetic on integer cents and working-day counts: the caller sums the warehouse's daily
//! cells and counts working days with [`BusinessCalendar`]; this module only divides. Every
//! division rounds explicitly (half away from zero, or up where a shortfall must be covered), so
//! a figure recomputed anywhere else from the same inputs is the same to the cent.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::calendar::{Band, Bands, BusinessCalendar, Period, attainment_percent};
use crate::money::Money;

/// The working days of a period as seen on one business date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Days {
    /// Working days in the whole period (holidays excluded).
    pub total: u32,
    /// Working days elapsed by the end of today (today included): 0 before the period, `total`
    /// after it.
    pub elapsed: u32,
    /// Working days after today until the period's end.
    pub remaining: u32,
}

impl Days {
    /// Counts the working days of `period` on `today`.
    pub fn of(calendar: &BusinessCalendar, period: Period, today: NaiveDate, holidays: &BTreeSet<NaiveDate>) -> Self {
        let total = calendar.working_days_in(period, holidays);
        let elapsed = if today < period.start() { 0 } else { calendar.working_days_elapsed(period, today, holidays) };
        Self { total, elapsed, remaining: total - elapsed.min(total) }
    }
}

/// Whether a scope is ahead of or behind the even pace its target asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaceStatus {
    /// Sold at least the target already.
    Achieved,
    /// Sold at least the expected amount by today.
    Ahead,
    /// Sold less than the expected amount by today.
    Behind,
    /// No target to compare with.
    NoTarget,
}

impl PaceStatus {
    /// The name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            PaceStatus::Achieved => "achieved",
            PaceStatus::Ahead => "ahead",
            PaceStatus::Behind => "behind",
            PaceStatus::NoTarget => "no_target",
        }
    }
}

/// The figures of one scope for one period against its target (if any).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Figures {
    /// Sum of the sales in the period up to today.
    #[schema(value_type = crate::money::Total)]
    pub actual: Money,
    /// Number of those sales.
    pub actual_count: i64,
    /// The target's amount, when the scope has one.
    #[schema(value_type = Option<crate::money::Total>)]
    pub target: Option<Money>,
    /// The target's policy count, when set.
    pub target_count: Option<i64>,
    /// actual / target × 100, two decimals, exact (`87.50`).
    #[schema(value_type = Option<String>)]
    #[serde(serialize_with = "percent_text")]
    pub attainment_pct: Option<Decimal>,
    /// actual_count / target_count × 100, two decimals.
    #[schema(value_type = Option<String>)]
    #[serde(serialize_with = "percent_text")]
    pub count_attainment_pct: Option<Decimal>,
    /// Where the attainment falls in the configured bands.
    pub band: Option<Band>,
    /// What the target asks for by the end of today: target × elapsed / total working days.
    #[schema(value_type = Option<crate::money::Total>)]
    pub expected_by_today: Option<Money>,
    /// actual − expected_by_today: negative when behind pace.
    #[schema(value_type = Option<crate::money::Total>)]
    pub gap_to_pace: Option<Money>,
    /// Where the period ends at the current run rate: actual / elapsed × total working days
    /// (the actual itself before the first working day and after the period).
    #[schema(value_type = crate::money::Total)]
    pub projected: Money,
    /// projected − target: negative when the period will close short.
    #[schema(value_type = Option<crate::money::Total>)]
    pub projected_gap: Option<Money>,
    /// What each remaining working day must bring to reach the target (rounded up to the cent);
    /// 0 once reached; absent when no working day remains or no target is set.
    #[schema(value_type = Option<crate::money::Total>)]
    pub needed_per_working_day: Option<Money>,
    /// achieved, ahead, behind or no_target.
    pub status: PaceStatus,
    /// The working days behind these figures.
    pub working_days: Days,
}

/// Writes a percentage as a decimal string with two places (`"87.50"`): exact, and read the same
/// by every client, unlike a JSON float.
fn percent_text<S: serde::Serializer>(v: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(d) => s.serialize_str(&format!("{:.2}", d)),
        None => s.serialize_none(),
    }
}

/// `a × b / c` rounded half away from zero, in 128 bits; 0 when `c` is 0.
pub fn mul_div_round(a: i64, b: i64, c: i64) -> i64 {
    if c == 0 {
        return 0;
    }
    let n = i128::from(a) * i128::from(b);
    let c = i128::from(c);
    let q = (2 * n.abs() + c.abs()) / (2 * c.abs());
    let signed = if (n < 0) != (c < 0) { -q } else { q };
    i64::try_from(signed).unwrap_or(if signed < 0 { i64::MIN } else { i64::MAX })
}

/// `a / b` rounded up, for non-negative `a` and positive `b`.
fn div_ceil(a: i64, b: i64) -> i64 {
    if b <= 0 { 0 } else { (a + b - 1) / b }
}

/// Computes the figures of one scope from its sales up to today, its target and the working
/// days of the period.
pub fn figures(
    actual_cents: i64,
    actual_count: i64,
    target_cents: Option<i64>,
    target_count: Option<i64>,
    days: Days,
    bands: &Bands,
) -> Figures {
    let attainment = target_cents.and_then(|t| attainment_percent(actual_cents, t));
    let expected = target_cents.map(|t| mul_div_round(t, i64::from(days.elapsed), i64::from(days.total)));
    let projected = if days.elapsed == 0 || days.remaining == 0 {
        actual_cents
    } else {
        mul_div_round(actual_cents, i64::from(days.total), i64::from(days.elapsed))
    };
    let needed = target_cents
        .and_then(|t| (days.remaining > 0).then(|| div_ceil((t - actual_cents).max(0), i64::from(days.remaining))));
    let status = match (target_cents, expected) {
        (Some(t), _) if actual_cents >= t => PaceStatus::Achieved,
        (Some(_), Some(e)) if actual_cents >= e => PaceStatus::Ahead,
        (Some(_), _) => PaceStatus::Behind,
        (None, _) => PaceStatus::NoTarget,
    };
    Figures {
        actual: Money::from_cents(actual_cents),
        actual_count,
        target: target_cents.map(Money::from_cents),
        target_count,
        attainment_pct: attainment,
        count_attainment_pct: target_count.and_then(|t| attainment_percent(actual_count, t)),
        band: attainment.map(|a| bands.classify(a)),
        expected_by_today: expected.map(Money::from_cents),
        gap_to_pace: expected.map(|e| Money::from_cents(actual_cents - e)),
        projected: Money::from_cents(projected),
        projected_gap: target_cents.map(|t| Money::from_cents(projected - t)),
        needed_per_working_day: needed.map(Money::from_cents),
        status,
        working_days: days,
    }
}

/// A figure against the same figure of another period.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Comparison {
    /// The other period's label.
    pub period: String,
    /// Its actual as compared: the whole period's, or while this period runs (for the previous
    /// period) its share up to the same working day, pro-rated (`to_working_day`).
    #[schema(value_type = crate::money::Total)]
    pub actual: Money,
    /// The other period's whole actual.
    #[schema(value_type = crate::money::Total)]
    pub period_actual: Money,
    /// While this period runs: the working day of the other period the comparison stops at
    /// (this period's working days elapsed), its actual pro-rated as `period_actual × day ÷ its
    /// working days`; absent when whole periods are compared.
    pub to_working_day: Option<u32>,
    /// Its attainment against its own target, when it had one.
    #[schema(value_type = Option<String>)]
    #[serde(serialize_with = "percent_text")]
    pub attainment_pct: Option<Decimal>,
    /// This period's actual minus that one.
    #[schema(value_type = crate::money::Total)]
    pub delta: Money,
    /// The change in percent of that actual, two decimals; absent when it was 0.
    #[schema(value_type = Option<String>)]
    #[serde(serialize_with = "percent_text")]
    pub delta_pct: Option<Decimal>,
    /// This period's attainment minus that one's, in percentage points.
    #[schema(value_type = Option<String>)]
    #[serde(serialize_with = "percent_text")]
    pub attainment_delta_pts: Option<Decimal>,
}

/// Compares this period's actual and attainment with another period's.
pub fn compare(
    label: String,
    now_cents: i64,
    now_attainment: Option<Decimal>,
    then_cents: i64,
    then_target: Option<i64>,
) -> Comparison {
    compare_to_date(label, now_cents, now_attainment, then_cents, then_target, None)
}

/// Where a running period stands in the other period's working days: `day` of `of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToDate {
    /// This period's working days elapsed.
    pub day: u32,
    /// The other period's working days.
    pub of: u32,
}

impl ToDate {
    /// Where `now` (this period's days) stands in a period of `then` (its days): `None` when
    /// this period is over (whole periods compare) or has no working days.
    pub fn of(now: Days, then: Days) -> Option<ToDate> {
        (now.remaining > 0 && now.total > 0).then_some(ToDate { day: now.elapsed.min(then.total), of: then.total })
    }
}

/// [`compare`], but with `to_date` the other period counts only up to the same working day:
/// its actual pro-rated by working days (`then × day ÷ of`, rounded half away from zero), so
/// that mid-month "improvement" compares like with like. The attainment compared is that
/// share of the actual against the whole target, as this period's is.
pub fn compare_to_date(
    label: String,
    now_cents: i64,
    now_attainment: Option<Decimal>,
    period_cents: i64,
    then_target: Option<i64>,
    to_date: Option<ToDate>,
) -> Comparison {
    let then_cents = match to_date {
        Some(d) => mul_div_round(period_cents, i64::from(d.day), i64::from(d.of)),
        None => period_cents,
    };
    let then_attainment = then_target.and_then(|t| attainment_percent(then_cents, t));
    let delta = now_cents - then_cents;
    Comparison {
        period: label,
        actual: Money::from_cents(then_cents),
        period_actual: Money::from_cents(period_cents),
        to_working_day: to_date.map(|d| d.day),
        attainment_pct: then_attainment,
        delta: Money::from_cents(delta),
        delta_pct: if then_cents == 0 { None } else { attainment_percent(delta, then_cents) },
        attainment_delta_pts: match (now_attainment, then_attainment) {
            (Some(a), Some(b)) => Some(a - b),
            _ => None,
        },
    }
}

/// Standard competition ranks ("1, 1, 3") of `values`, highest first, in the input's order.
pub fn ranks(values: &[i64]) -> Vec<u32> {
    values.iter().map(|v| u32::try_from(values.iter().filter(|o| *o > v).count() + 1).unwrap_or(u32::MAX)).collect()
}

/// A rank among siblings and how it moved since the previous period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Rank {
    /// 1 for the highest actual among the siblings; ties share a rank.
    pub rank: u32,
    /// The rank in the previous period among the same siblings.
    pub previous_rank: u32,
    /// previous_rank − rank: positive when the scope climbed.
    pub movement: i64,
    /// How many siblings were ranked.
    pub among: u32,
}

/// Ranks of siblings now and in the previous period, with movement; the slices are parallel.
pub fn rank_movement(now: &[i64], previous: &[i64]) -> Vec<Rank> {
    let r_now = ranks(now);
    let r_prev = ranks(previous);
    let among = u32::try_from(now.len()).unwrap_or(u32::MAX);
    r_now
        .iter()
        .zip(r_prev.iter().chain(std::iter::repeat(&among)))
        .map(|(&rank, &previous_rank)| Rank {
            rank,
            previous_rank,
            movement: i64::from(previous_rank) - i64::from(rank),
            among,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{FiscalYearStart, PeriodKind};

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn month(y: i32, m: u32) -> Period {
        FiscalYearStart::default().period(PeriodKind::Month, d(y, m, 1))
    }

    fn cal() -> BusinessCalendar {
        BusinessCalendar::new("Asia/Colombo", 4, None).unwrap()
    }

    #[test]
    fn working_days_count_around_holidays_and_outside_the_period() {
        // December 2026: 23 weekdays; the 25th (Friday) is a holiday.
        let holidays: BTreeSet<_> = [d(2026, 12, 25)].into();
        let p = month(2026, 12);
        assert_eq!(Days::of(&cal(), p, d(2026, 12, 10), &holidays), Days { total: 22, elapsed: 8, remaining: 14 });
        assert_eq!(Days::of(&cal(), p, d(2026, 11, 30), &holidays), Days { total: 22, elapsed: 0, remaining: 22 });
        assert_eq!(Days::of(&cal(), p, d(2027, 1, 5), &holidays), Days { total: 22, elapsed: 22, remaining: 0 });
        // The holiday itself adds no elapsed day.
        let before = Days::of(&cal(), p, d(2026, 12, 24), &holidays);
        let on = Days::of(&cal(), p, d(2026, 12, 25), &holidays);
        assert_eq!(before, on);
        assert_eq!(Days::of(&cal(), p, d(2026, 12, 25), &BTreeSet::new()).elapsed, before.elapsed + 1);
    }

    /// "Today" is the Colombo date (UTC+05:30): 23:59 local on 31 December still counts the last
    /// working day of December; 00:01 local on 1 January (18:31 UTC the day before) already
    /// belongs to January, whose first day counts as elapsed (the day is under way).
    #[test]
    fn local_midnight_decides_the_period_and_the_elapsed_days() {
        use chrono::TimeZone;
        let c = cal();
        let dec = month(2026, 12);
        let late = c.today(chrono::Utc.with_ymd_and_hms(2026, 12, 31, 18, 29, 0).unwrap()); // 23:59 local
        let early = c.today(chrono::Utc.with_ymd_and_hms(2026, 12, 31, 18, 31, 0).unwrap()); // 00:01 local
        assert_eq!((late, early), (d(2026, 12, 31), d(2027, 1, 1)));
        let none = BTreeSet::new();
        assert_eq!(Days::of(&c, dec, late, &none), Days { total: 23, elapsed: 23, remaining: 0 });
        let jan = c.fiscal.period(PeriodKind::Month, early);
        assert_eq!(jan, month(2027, 1));
        // 1 January 2027 is a Friday: a working day, elapsed by the end of today.
        assert_eq!(Days::of(&c, jan, early, &none).elapsed, 1);
        // The fiscal year starting in April: 1 January is in FY2027's fourth quarter.
        let q = c.fiscal.period(PeriodKind::Quarter, early);
        assert_eq!((q.start(), q.end()), (d(2027, 1, 1), d(2027, 3, 31)));
        assert_eq!(c.fiscal.period(PeriodKind::Year, early).start(), d(2026, 4, 1));
    }

    #[test]
    fn pace_projection_and_need_are_exact() {
        let days = Days { total: 20, elapsed: 5, remaining: 15 };
        // Target 1,000.00; sold 200.00 in 5 of 20 days.
        let f = figures(20_000, 4, Some(100_000), Some(10), days, &Bands::default());
        assert_eq!(f.expected_by_today, Some(Money::from_cents(25_000)));
        assert_eq!(f.gap_to_pace, Some(Money::from_cents(-5_000)));
        assert_eq!(f.projected, Money::from_cents(80_000));
        assert_eq!(f.projected_gap, Some(Money::from_cents(-20_000)));
        // 800.00 over 15 days = 53.333… → 53.34 (rounded up: the target must be reachable).
        assert_eq!(f.needed_per_working_day, Some(Money::from_cents(5_334)));
        assert_eq!(f.attainment_pct, Some(Decimal::new(2000, 2)));
        assert_eq!(f.count_attainment_pct, Some(Decimal::new(4000, 2)));
        assert_eq!(f.status, PaceStatus::Behind);
        assert_eq!(f.band.unwrap().index, 0);
    }

    #[test]
    fn statuses_follow_pace_and_target() {
        let days = Days { total: 20, elapsed: 10, remaining: 10 };
        let b = Bands::default();
        assert_eq!(figures(50_000, 1, Some(100_000), None, days, &b).status, PaceStatus::Ahead);
        assert_eq!(figures(49_999, 1, Some(100_000), None, days, &b).status, PaceStatus::Behind);
        assert_eq!(figures(100_000, 1, Some(100_000), None, days, &b).status, PaceStatus::Achieved);
        let achieved = figures(120_000, 1, Some(100_000), None, days, &b);
        assert_eq!(achieved.needed_per_working_day, Some(Money::from_cents(0)));
        assert_eq!(achieved.band.unwrap().index, 3);
        let none = figures(5, 1, None, None, days, &b);
        assert_eq!(none.status, PaceStatus::NoTarget);
        assert_eq!((none.expected_by_today, none.gap_to_pace, none.needed_per_working_day), (None, None, None));
        assert_eq!(none.projected, Money::from_cents(10));
    }

    #[test]
    fn before_and_after_the_period_nothing_is_extrapolated() {
        let b = Bands::default();
        let before = figures(0, 0, Some(100_000), None, Days { total: 20, elapsed: 0, remaining: 20 }, &b);
        assert_eq!(before.expected_by_today, Some(Money::from_cents(0)));
        assert_eq!(before.projected, Money::from_cents(0));
        assert_eq!(before.status, PaceStatus::Ahead);
        assert_eq!(before.needed_per_working_day, Some(Money::from_cents(5_000)));
        let after = figures(90_000, 3, Some(100_000), None, Days { total: 20, elapsed: 20, remaining: 0 }, &b);
        assert_eq!(after.expected_by_today, Some(Money::from_cents(100_000)));
        assert_eq!(after.projected, Money::from_cents(90_000));
        assert_eq!(after.needed_per_working_day, None);
        assert_eq!(after.status, PaceStatus::Behind);
        // A period without working days (all holidays) divides by nothing.
        let empty = figures(7, 1, Some(100), None, Days { total: 0, elapsed: 0, remaining: 0 }, &b);
        assert_eq!(empty.expected_by_today, Some(Money::from_cents(0)));
        assert_eq!(empty.projected, Money::from_cents(7));
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(mul_div_round(1, 1, 2), 1);
        assert_eq!(mul_div_round(-1, 1, 2), -1);
        assert_eq!(mul_div_round(1, 1, 3), 0);
        assert_eq!(mul_div_round(2, 1, 3), 1);
        assert_eq!(mul_div_round(5, 7, 0), 0);
        assert_eq!(mul_div_round(i64::MAX, 2, 2), i64::MAX);
    }

    /// A seeded sweep: for many targets, actuals and day counts, the figures obey their laws
    /// (expected never exceeds the target, actual + need × remaining covers the target, the
    /// projection is within a cent of the run rate times the days).
    #[test]
    fn figures_obey_their_laws_over_a_seeded_sweep() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        for _ in 0..20_000 {
            let total = u32::try_from(next(30)).unwrap();
            let elapsed = u32::try_from(next(u64::from(total) + 1)).unwrap();
            let days = Days { total, elapsed, remaining: total - elapsed };
            let target = i64::try_from(next(10_000_000)).unwrap() + 1;
            let actual = i64::try_from(next(20_000_000)).unwrap();
            let f = figures(actual, 1, Some(target), None, days, &Bands::default());
            let expected = f.expected_by_today.unwrap().cents();
            assert!(expected <= target && expected >= 0);
            assert_eq!(f.gap_to_pace.unwrap().cents(), actual - expected);
            if let Some(need) = f.needed_per_working_day {
                assert!(actual + need.cents() * i64::from(days.remaining) >= target);
                assert!(actual + (need.cents() - 1).max(0) * i64::from(days.remaining) < target || need.cents() == 0);
            }
            if elapsed > 0 && days.remaining > 0 {
                let exact = i128::from(actual) * i128::from(total);
                let p = i128::from(f.projected.cents()) * i128::from(elapsed);
                assert!((exact - p).abs() <= i128::from(elapsed), "projection off by more than a cent");
            }
        }
    }

    #[test]
    fn comparisons_and_ranks() {
        let c = compare(String::from("2026-11"), 150, Some(Decimal::new(15000, 2)), 100, Some(100));
        assert_eq!(c.delta, Money::from_cents(50));
        assert_eq!(c.delta_pct, Some(Decimal::new(5000, 2)));
        assert_eq!(c.attainment_delta_pts, Some(Decimal::new(5000, 2)));
        let none = compare(String::from("2025-12"), 150, None, 0, None);
        // Mid-period: the previous period counts up to the same working day, pro-rated.
        let now = Days { total: 20, elapsed: 5, remaining: 15 };
        let then = Days { total: 22, elapsed: 22, remaining: 0 };
        let to_date = ToDate::of(now, then);
        assert_eq!(to_date, Some(ToDate { day: 5, of: 22 }));
        let mid = compare_to_date(String::from("2026-11"), 300, None, 2_200, Some(4_400), to_date);
        assert_eq!((mid.actual.cents(), mid.period_actual.cents(), mid.delta.cents()), (500, 2_200, -200));
        assert_eq!((mid.to_working_day, mid.attainment_pct), (Some(5), Some(Decimal::new(1136, 2))));
        // A finished period compares whole.
        assert_eq!(ToDate::of(Days { total: 20, elapsed: 20, remaining: 0 }, then), None);
        assert_eq!((none.delta_pct, none.attainment_delta_pts), (None, None));
        assert_eq!(ranks(&[5, 9, 5, 1]), vec![2, 1, 2, 4]);
        let moved = rank_movement(&[10, 30, 20], &[30, 20, 10]);
        assert_eq!(moved[0], Rank { rank: 3, previous_rank: 1, movement: -2, among: 3 });
        assert_eq!(moved[2].movement, 1);
    }
}
