//! KPI queries over the warehouse: every KPI for any date range is a sum over daily rollup cells.
//!
//! All-time questions without filters (the original dashboards' question) read the running
//! totals directly; any other range or filter sums `fact_sales_daily`, joined to the agent
//! dimension where the team matters. Amounts are summed as integer cents and shown as exact
//! decimals.

use chrono::{Datelike, NaiveDate};
use moon_db::sea_query::{Expr, ExprTrait, Func, JoinType, Order, Query, SelectStatement};
use moon_db::{Db, DbError, sum_i64};
use moon_domain::Money;
use serde::Serialize;

/// The period and filters of a KPI question.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KpiFilter {
    /// First day, inclusive; `None`: from the beginning.
    pub from: Option<NaiveDate>,
    /// Last day, inclusive; `None`: up to today and beyond.
    pub to: Option<NaiveDate>,
    /// Only sales credited to this branch.
    pub branch: Option<String>,
    /// Only sales of agents now in this team.
    pub team: Option<String>,
    /// Only sales of this product.
    pub product_id: Option<i64>,
}

impl KpiFilter {
    fn is_all_time(&self) -> bool {
        *self == KpiFilter::default()
    }

    /// Adds the conditions to a query over `fact_sales_daily` (aliased `f`) joined to
    /// `dim_agent` (aliased `a`).
    fn apply(&self, q: &mut SelectStatement) {
        if let Some(d) = self.from {
            q.and_where(Expr::col(("f", "sale_date")).gte(d));
        }
        if let Some(d) = self.to {
            q.and_where(Expr::col(("f", "sale_date")).lte(d));
        }
        if let Some(b) = &self.branch {
            q.and_where(Expr::col(("f", "branch")).eq(b.as_str()));
        }
        if let Some(t) = &self.team {
            q.and_where(Expr::col(("a", "team")).eq(t.as_str()));
        }
        if let Some(p) = self.product_id {
            q.and_where(Expr::col(("f", "product_id")).eq(p));
        }
    }
}

/// Sales of one team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TeamRow {
    /// Team name (the agents' current team).
    pub team: String,
    /// Number of sales.
    pub sales_count: i64,
    /// Sum of the sales' amounts.
    pub total_sales: Money,
}

/// Sales credited to one branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BranchRow {
    /// Branch name (as recorded on the sale).
    pub branch: String,
    /// Number of sales.
    pub sales_count: i64,
    /// Sum of the sales' amounts.
    pub total_sales: Money,
}

/// One product's sales against its target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ProductRow {
    /// Product id.
    pub product_id: i64,
    /// Product name.
    pub product_name: String,
    /// Line of business.
    pub product_type: String,
    /// The product's sales target.
    pub target_amount: Money,
    /// Sum of the sales' amounts in the period.
    pub total_sales: Money,
    /// Number of sales in the period.
    pub sales_count: i64,
    /// `Achieved` when total_sales ≥ target_amount, else `Not Achieved`.
    pub status: &'static str,
    /// total_sales as a percentage of target_amount, two decimals (`83.33`).
    pub attainment_pct: String,
}

/// One place on the leaderboard. Agents appear under their pseudonym only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LeaderRow {
    /// 1 for the highest total; agents with equal totals share a rank (1, 1, 3).
    pub rank: i64,
    /// The agent's pseudonym (stable, not reversible without the key).
    pub agent: String,
    /// The agent's current team.
    pub team: String,
    /// The agent's home branch.
    pub branch: String,
    /// Number of sales.
    pub sales_count: i64,
    /// Sum of the sales' amounts.
    pub total_sales: Money,
}

/// Sales in one period of a trend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TrendRow {
    /// The period's label: `2026-11-26`, `2026-W48`, `2026-11` or `2026-Q4`.
    pub period: String,
    /// First day of the period.
    pub start: NaiveDate,
    /// Number of sales.
    pub sales_count: i64,
    /// Sum of the sales' amounts.
    pub total_sales: Money,
}

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
    /// Calendar quarters.
    Quarter,
}

impl Bucket {
    /// Parses `day`, `week`, `month` or `quarter`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "day" => Some(Bucket::Day),
            "week" => Some(Bucket::Week),
            "month" => Some(Bucket::Month),
            "quarter" => Some(Bucket::Quarter),
            _ => None,
        }
    }

    /// The period containing `d`: its label and first day.
    pub fn period(self, d: NaiveDate) -> (String, NaiveDate) {
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
        }
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

fn fact_from() -> SelectStatement {
    let mut q = Query::select();
    q.from_as("fact_sales_daily", "f").join_as(
        JoinType::InnerJoin,
        "dim_agent",
        "a",
        Expr::col(("a", "agent_id")).equals(("f", "agent_id")),
    );
    q
}

fn sums(db: &Db, q: &mut SelectStatement) {
    q.expr(sum_i64(db.backend(), Expr::col(("f", "sales_count"))))
        .expr(sum_i64(db.backend(), Expr::col(("f", "amount_cents"))));
}

/// Groups of fewer than this many agents are suppressed; 1 suppresses nothing.
pub type MinGroup = u32;

/// Rows of one grouping with the number of distinct agents behind each, from the running totals
/// (all time, no filters, nothing to suppress) or from the rollup.
async fn grouped(
    db: &Db,
    f: &KpiFilter,
    min_agents: MinGroup,
    totals: &'static str,
    key: (&'static str, &'static str),
) -> Result<(Vec<(String, i64, i64)>, usize), DbError> {
    if f.is_all_time() && min_agents <= 1 {
        let mut q = Query::select();
        q.columns([key.1, "sales_count", "amount_cents"]).from(totals);
        return Ok((db.fetch_all(&q).await?, 0));
    }
    let mut q = fact_from();
    q.column(key);
    sums(db, &mut q);
    q.expr(Func::count_distinct(Expr::col(("f", "agent_id"))));
    f.apply(&mut q);
    q.group_by_col(key);
    let rows: Vec<(String, i64, i64, i64)> = db.fetch_all(&q).await?;
    let before = rows.len();
    let kept: Vec<(String, i64, i64)> = rows
        .into_iter()
        .filter(|(_, _, _, agents)| *agents >= i64::from(min_agents))
        .map(|(k, n, cents, _)| (k, n, cents))
        .collect();
    let suppressed = before - kept.len();
    Ok((kept, suppressed))
}

/// Sales by team, highest first, leaving out teams whose sales come from fewer than
/// `min_agents` agents (so no row reveals one agent's figures); returns how many were left out.
pub async fn teams(db: &Db, f: &KpiFilter, min_agents: MinGroup) -> Result<(Vec<TeamRow>, usize), DbError> {
    let (rows, suppressed) = grouped(db, f, min_agents, "kpi_team_totals", ("a", "team")).await?;
    let mut out: Vec<TeamRow> = rows
        .into_iter()
        .map(|(team, sales_count, cents)| TeamRow { team, sales_count, total_sales: Money::from_cents(cents) })
        .collect();
    out.sort_by(|a, b| b.total_sales.cmp(&a.total_sales).then_with(|| a.team.cmp(&b.team)));
    Ok((out, suppressed))
}

/// Sales by branch, highest first, with the same suppression as [`teams`].
pub async fn branches(db: &Db, f: &KpiFilter, min_agents: MinGroup) -> Result<(Vec<BranchRow>, usize), DbError> {
    let (rows, suppressed) = grouped(db, f, min_agents, "kpi_branch_totals", ("f", "branch")).await?;
    let mut out: Vec<BranchRow> = rows
        .into_iter()
        .map(|(branch, sales_count, cents)| BranchRow { branch, sales_count, total_sales: Money::from_cents(cents) })
        .collect();
    out.sort_by(|a, b| b.total_sales.cmp(&a.total_sales).then_with(|| a.branch.cmp(&b.branch)));
    Ok((out, suppressed))
}

/// Every product (or the filtered one) with its sales in the period against its target,
/// highest total first. Products without sales are listed with 0.
pub async fn products(db: &Db, f: &KpiFilter) -> Result<Vec<ProductRow>, DbError> {
    let mut dims = Query::select();
    dims.columns(["product_id", "product_name", "product_type", "target_cents"]).from("dim_product");
    if let Some(p) = f.product_id {
        dims.and_where(Expr::col("product_id").eq(p));
    }
    let dims: Vec<(i64, String, String, i64)> = db.fetch_all(&dims).await?;
    let totals: Vec<(i64, i64, i64)> = if f.is_all_time() {
        let mut q = Query::select();
        q.columns(["product_id", "sales_count", "amount_cents"]).from("kpi_product_totals");
        db.fetch_all(&q).await?
    } else {
        let mut q = fact_from();
        q.column(("f", "product_id"));
        sums(db, &mut q);
        f.apply(&mut q);
        q.group_by_col(("f", "product_id"));
        db.fetch_all(&q).await?
    };
    let totals: std::collections::HashMap<i64, (i64, i64)> =
        totals.into_iter().map(|(id, n, cents)| (id, (n, cents))).collect();
    let mut out: Vec<ProductRow> = dims
        .into_iter()
        .map(|(product_id, product_name, product_type, target)| {
            let (sales_count, cents) = totals.get(&product_id).copied().unwrap_or((0, 0));
            ProductRow {
                product_id,
                product_name,
                product_type,
                target_amount: Money::from_cents(target),
                total_sales: Money::from_cents(cents),
                sales_count,
                status: if cents >= target { "Achieved" } else { "Not Achieved" },
                attainment_pct: percent(cents, target),
            }
        })
        .collect();
    out.sort_by(|a, b| b.total_sales.cmp(&a.total_sales).then_with(|| a.product_name.cmp(&b.product_name)));
    Ok(out)
}

/// The top `limit` agents by total in the period; ties share a rank.
pub async fn leaderboard(db: &Db, f: &KpiFilter, limit: usize) -> Result<Vec<LeaderRow>, DbError> {
    let mut q = fact_from();
    q.columns([("a", "agent_key"), ("a", "team"), ("a", "branch")]);
    sums(db, &mut q);
    f.apply(&mut q);
    // Only agents who agreed to per-agent analytics are ranked (their sales still count in
    // every team, branch and product total).
    q.and_where(Expr::col(("a", "analytics_consent")).eq(true));
    q.group_by_columns([("a", "agent_key"), ("a", "team"), ("a", "branch")]);
    let rows: Vec<(String, String, String, i64, i64)> = db.fetch_all(&q).await?;
    let mut rows: Vec<(String, String, String, i64, i64)> = rows;
    rows.sort_by(|a, b| b.4.cmp(&a.4).then_with(|| a.0.cmp(&b.0)));
    let mut out = Vec::with_capacity(limit.min(rows.len()));
    let mut rank = 0;
    let mut previous: Option<i64> = None;
    for (i, (agent, team, branch, sales_count, cents)) in rows.into_iter().enumerate() {
        if previous != Some(cents) {
            rank = i as i64 + 1;
            previous = Some(cents);
        }
        if out.len() >= limit {
            break;
        }
        out.push(LeaderRow { rank, agent, team, branch, sales_count, total_sales: Money::from_cents(cents) });
    }
    Ok(out)
}

/// Totals per period, oldest first; periods without sales are left out.
pub async fn trend(db: &Db, f: &KpiFilter, bucket: Bucket) -> Result<Vec<TrendRow>, DbError> {
    let mut q = fact_from();
    q.column(("f", "sale_date"));
    sums(db, &mut q);
    f.apply(&mut q);
    q.group_by_col(("f", "sale_date")).order_by(("f", "sale_date"), Order::Asc);
    let days: Vec<(NaiveDate, i64, i64)> = db.fetch_all(&q).await?;
    let mut out: Vec<TrendRow> = Vec::new();
    for (day, n, cents) in days {
        let (period, start) = bucket.period(day);
        match out.last_mut() {
            Some(last) if last.period == period => {
                last.sales_count += n;
                last.total_sales = Money::from_cents(last.total_sales.cents() + cents);
            }
            _ => out.push(TrendRow { period, start, sales_count: n, total_sales: Money::from_cents(cents) }),
        }
    }
    Ok(out)
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
        // ISO week-year differs from the calendar year at the edges.
        let jan1 = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
        assert_eq!(Bucket::Week.period(jan1).0, "2026-W53");
    }
}
