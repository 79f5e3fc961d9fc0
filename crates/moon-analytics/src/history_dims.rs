//! The effective-dated and calendar dimensions the warehouse publishes for BI tools, computed
//! without touching a database: `dim_membership` (type 2: one row per range of an agent's team
//! and home branch), `dim_date` (one row per day, with the configured fiscal calendar and
//! working days) and `fact_target` (sales targets per scope, product and fiscal period).
//!
//! With these, a BI tool can answer what the KPI API answers: "team Beta last quarter, counting
//! only the agents it had then" is `fact_sales_daily.team` (or a join to `dim_membership` on the
//! sale date), grouped by `dim_date.fiscal_quarter`, compared with `fact_target`.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate};
use moon_domain::{BusinessCalendar, PeriodKind};

use crate::dimension::{AgentDim, WITHHELD};
use crate::membership::{Memberships, Range};

/// `valid_from` of a range open at the start: BI tools join on
/// `sale_date >= valid_from AND sale_date < valid_to` without special cases for NULL.
pub const OPEN_START: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};
/// `valid_to` of the current range (exclusive, like every `valid_to`).
pub const OPEN_END: NaiveDate = match NaiveDate::from_ymd_opt(9999, 12, 31) {
    Some(d) => d,
    None => NaiveDate::MAX,
};

/// One row of `dim_membership`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MembershipRow {
    /// Operational id (as in `dim_agent`).
    pub agent_id: i64,
    /// First day, inclusive ([`OPEN_START`] when open).
    pub valid_from: NaiveDate,
    /// The agent's pseudonym, the same as `dim_agent.agent_key`.
    pub agent_key: String,
    /// Team code.
    pub team: String,
    /// Home branch code.
    pub branch: String,
    /// Day after the last, exclusive ([`OPEN_END`] for the current range).
    pub valid_to: NaiveDate,
    /// Whether this is the agent's current range.
    pub is_current: bool,
}

/// The `dim_membership` rows of `agents` (only agents with a dimension row: the pseudonym
/// comes from it), from their history.
pub fn membership_rows<'a>(
    agents: impl IntoIterator<Item = &'a AgentDim>,
    history: &Memberships,
) -> Vec<MembershipRow> {
    let mut out = Vec::new();
    for a in agents {
        for r in history.of(a.agent_id) {
            out.push(MembershipRow {
                agent_id: a.agent_id,
                valid_from: r.valid_from.unwrap_or(OPEN_START),
                agent_key: a.agent_key.clone(),
                team: r.team.clone(),
                branch: r.branch.clone(),
                valid_to: r.valid_to.unwrap_or(OPEN_END),
                is_current: r.is_current(),
            });
        }
    }
    out.sort();
    out
}

/// The history `dim_membership` rows describe (the inverse of [`membership_rows`]): what the
/// warehouse's cells of those agents were last attributed by.
pub fn memberships_of(rows: &[MembershipRow]) -> Memberships {
    Memberships::from_rows(rows.iter().map(|r| {
        let range = Range {
            valid_from: (r.valid_from != OPEN_START).then_some(r.valid_from),
            valid_to: (r.valid_to != OPEN_END).then_some(r.valid_to),
            team: r.team.clone(),
            branch: r.branch.clone(),
        };
        (r.agent_id, range)
    }))
}

/// One row of `dim_date`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateRow {
    /// The day.
    pub day: NaiveDate,
    /// Calendar year.
    pub year: i64,
    /// Calendar month, 1–12.
    pub month: i64,
    /// ISO 8601 week-numbering year (differs from `year` around New Year).
    pub iso_year: i64,
    /// ISO 8601 week, 1–53.
    pub iso_week: i64,
    /// ISO day of the week: 1 Monday … 7 Sunday.
    pub day_of_week: i64,
    /// Fiscal year, named by the calendar year it ends in (as the targets' labels do).
    pub fiscal_year: i64,
    /// Fiscal quarter, 1–4.
    pub fiscal_quarter: i64,
    /// First day of the fiscal quarter.
    pub fiscal_quarter_start: NaiveDate,
    /// A working weekday that is not a holiday.
    pub is_working_day: bool,
    /// On the holiday list.
    pub is_holiday: bool,
}

/// `day`'s row under `calendar` and `holidays`.
pub fn date_row(day: NaiveDate, calendar: &BusinessCalendar, holidays: &BTreeSet<NaiveDate>) -> DateRow {
    let iso = day.iso_week();
    let quarter = calendar.fiscal.period(PeriodKind::Quarter, day).start();
    let year_start = calendar.fiscal.period(PeriodKind::Year, day).start();
    let months_in =
        i64::from(quarter.year() - year_start.year()) * 12 + i64::from(quarter.month()) - i64::from(year_start.month());
    DateRow {
        day,
        year: i64::from(day.year()),
        month: i64::from(day.month()),
        iso_year: i64::from(iso.year()),
        iso_week: i64::from(iso.week()),
        day_of_week: i64::from(day.weekday().number_from_monday()),
        fiscal_year: i64::from(calendar.fiscal.fiscal_year(day)),
        fiscal_quarter: months_in / 3 + 1,
        fiscal_quarter_start: quarter,
        is_working_day: calendar.is_working_day(day, holidays),
        is_holiday: holidays.contains(&day),
    }
}

/// The days `dim_date` covers for data from `first` to `last`: whole fiscal years, so every
/// period a target or a BI filter names is complete.
pub fn covered(calendar: &BusinessCalendar, first: NaiveDate, last: NaiveDate) -> (NaiveDate, NaiveDate) {
    let start = calendar.fiscal.period(PeriodKind::Year, first).start();
    let end = calendar.fiscal.period(PeriodKind::Year, last).end();
    (start, end)
}

/// Every day from `from` to `to`, both included.
pub fn days(from: NaiveDate, to: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    from.iter_days().take_while(move |d| *d <= to)
}

/// One row of `fact_target`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TargetRow {
    /// The operational target's id.
    pub target_id: i64,
    /// company, region, branch, team or agent.
    pub scope_kind: String,
    /// The region, branch or team code; for an agent their pseudonym (as `dim_agent`); empty
    /// for the company.
    pub scope_key: String,
    /// For an agent target, the agent's id (as `dim_agent`).
    pub agent_id: Option<i64>,
    /// The product counted, if one.
    pub product_id: Option<i64>,
    /// The line of business counted, if one.
    pub product_line: Option<String>,
    /// month, quarter or year (of the fiscal calendar).
    pub period_kind: String,
    /// First day of the period.
    pub period_start: NaiveDate,
    /// Last day of the period.
    pub period_end: NaiveDate,
    /// The amount to sell, in cents.
    pub amount_cents: i64,
    /// The number of policies to sell, if set.
    pub policy_count: Option<i64>,
}

/// A target as the operational database has it, with the agent it names (for agent targets):
/// id, scope kind, scope key, product, line, period kind, start, end, cents, count, and the
/// agent's id and consent when the scope key is a known agent code.
pub type SourceTarget = (
    i64,
    String,
    String,
    Option<i64>,
    Option<String>,
    String,
    NaiveDate,
    NaiveDate,
    i64,
    Option<i64>,
    Option<i64>,
    Option<bool>,
);

/// A target's warehouse row: an agent's code becomes their pseudonym (`pseudonym`), or
/// [`WITHHELD`] without consent, exactly as in `dim_agent`.
pub fn target_row(t: SourceTarget, pseudonym: impl Fn(&str) -> String) -> TargetRow {
    let (target_id, scope_kind, scope_key, product_id, product_line, period_kind, start, end, cents, count, agent, ok) =
        t;
    let (scope_key, agent_id) = if scope_kind == "agent" {
        let key = if ok == Some(true) { pseudonym(&scope_key) } else { String::from(WITHHELD) };
        (key, agent)
    } else {
        (scope_key, None)
    };
    TargetRow {
        target_id,
        scope_kind,
        scope_key,
        agent_id,
        product_id,
        product_line,
        period_kind,
        period_start: start,
        period_end: end,
        amount_cents: cents,
        policy_count: count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn dates_follow_the_fiscal_calendar_and_holidays() {
        let april = BusinessCalendar::new("Asia/Colombo", 4, None).unwrap();
        let holidays: BTreeSet<NaiveDate> = [d(2026, 4, 14)].into_iter().collect();
        let r = date_row(d(2026, 4, 14), &april, &holidays);
        assert_eq!((r.fiscal_year, r.fiscal_quarter, r.fiscal_quarter_start), (2027, 1, d(2026, 4, 1)));
        assert!(r.is_holiday && !r.is_working_day);
        let r = date_row(d(2026, 3, 31), &april, &holidays);
        assert_eq!((r.fiscal_year, r.fiscal_quarter), (2026, 4));
        assert!(r.is_working_day, "a Tuesday");
        let r = date_row(d(2027, 1, 2), &BusinessCalendar::default(), &BTreeSet::new());
        assert_eq!((r.iso_year, r.iso_week, r.day_of_week), (2026, 53, 6));
        assert!(!r.is_working_day, "a Saturday");
        assert_eq!(covered(&april, d(2026, 5, 3), d(2026, 5, 4)), (d(2026, 4, 1), d(2027, 3, 31)));
        assert_eq!(days(d(2026, 2, 27), d(2026, 3, 1)).count(), 3);
    }

    #[test]
    fn memberships_become_type_2_rows_under_the_pseudonym() {
        let history = Memberships::from_rows([
            (1, Range { valid_from: None, valid_to: Some(d(2026, 7, 1)), team: "A".into(), branch: "CMB".into() }),
            (1, Range { valid_from: Some(d(2026, 7, 1)), valid_to: None, team: "B".into(), branch: "CMB".into() }),
        ]);
        let agent = AgentDim {
            agent_id: 1,
            agent_key: String::from("ag_1234"),
            team: String::from("B"),
            branch: String::from("CMB"),
            active: true,
            analytics_consent: true,
        };
        let rows = membership_rows([&agent], &history);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].valid_from, rows[0].valid_to, rows[0].is_current), (OPEN_START, d(2026, 7, 1), false));
        assert_eq!((rows[1].valid_from, rows[1].valid_to, rows[1].is_current), (d(2026, 7, 1), OPEN_END, true));
        assert!(rows.iter().all(|r| r.agent_key == "ag_1234"));
        assert_eq!(memberships_of(&rows), history, "the rows give the history back");
    }

    #[test]
    fn agent_targets_carry_the_pseudonym_only() {
        let t = |ok| {
            (
                7,
                String::from("agent"),
                String::from("AG001"),
                None,
                None,
                String::from("month"),
                d(2026, 11, 1),
                d(2026, 11, 30),
                10_000,
                Some(3),
                Some(4),
                ok,
            )
        };
        let row = target_row(t(Some(true)), |code| format!("ag_{}", code.len()));
        assert_eq!((row.scope_key.as_str(), row.agent_id), ("ag_5", Some(4)));
        assert_eq!(target_row(t(Some(false)), |_| String::from("ag_x")).scope_key, WITHHELD);
        assert_eq!(target_row(t(None), |_| String::from("ag_x")).scope_key, WITHHELD, "an unknown agent");
    }
}
