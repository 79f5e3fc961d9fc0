//! KPI queries over the warehouse: every KPI for any date range is a sum over daily rollup cells.
//!
//! All-time questions without filters (the original dashboards' question) read a rollup's
//! table directly; any other range or filter sums the daily cells by the rollup's grouping,
//! joined to the agent dimension where the team matters. Tables and groupings come from
//! [`crate::rollups`]. Amounts are summed as integer cents and shown as exact decimals.

mod period;
mod rows;
pub mod scoped;

pub use period::{Bucket, percent};
pub use rows::{BranchRow, FilterChoices, LeaderRow, ProductRow, TeamRow, TrendRow};

use chrono::NaiveDate;
use moon_db::sea_query::{Expr, ExprTrait, Func, JoinType, Order, Query, SelectStatement};
use moon_db::{Db, DbError, sum_i64};
use moon_domain::Money;

use crate::rollups::{self, CELLS, Grouping, Rollup, VALUES};
use crate::schema::{DIM_AGENT, DIM_MEMBERSHIP, DIM_PRODUCT};

/// The period and filters of a KPI question.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KpiFilter {
    /// First day, inclusive; `None`: from the beginning.
    pub from: Option<NaiveDate>,
    /// Last day, inclusive; `None`: up to today and beyond.
    pub to: Option<NaiveDate>,
    /// Only sales credited to this branch.
    pub branch: Option<String>,
    /// Only sales made while the agent was in this team (their team on the sale date, from
    /// the membership history), so a team's past periods count the agents it had then.
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
            q.and_where(Expr::col(("f", "team")).eq(t.as_str()));
        }
        if let Some(p) = self.product_id {
            q.and_where(Expr::col(("f", "product_id")).eq(p));
        }
    }
}

/// The daily cells (aliased `f`) joined to the agent dimension (`a`), and to the product
/// dimension (`p`) when `grouping` reads it.
fn fact_from(grouping: Option<Grouping>) -> SelectStatement {
    let mut q = Query::select();
    q.from_as(CELLS.table, "f").join_as(
        JoinType::InnerJoin,
        DIM_AGENT,
        "a",
        Expr::col(("a", "agent_id")).equals(("f", "agent_id")),
    );
    if grouping == Some(Grouping::ProductLine) {
        q.join_as(JoinType::InnerJoin, DIM_PRODUCT, "p", Expr::col(("p", "product_id")).equals(("f", "product_id")));
    }
    q
}

/// The column of [`fact_from`] a grouping groups the cells by.
fn grouped_by(grouping: Grouping) -> (&'static str, &'static str) {
    match grouping {
        Grouping::Agent => ("f", "agent_id"),
        Grouping::Product => ("f", "product_id"),
        Grouping::Branch => ("f", "branch"),
        Grouping::Team => ("f", "team"),
        Grouping::ProductLine => ("p", "product_type"),
    }
}

fn sums(db: &Db, q: &mut SelectStatement) {
    q.expr(sum_i64(db.backend(), Expr::col(("f", VALUES[0])))).expr(sum_i64(db.backend(), Expr::col(("f", VALUES[1]))));
}

/// Groups of fewer than this many agents are suppressed; 1 suppresses nothing.
pub type MinGroup = u32;

/// Rows of a rollup keyed by name, with the number of distinct agents behind each: from its
/// table (all time, no filters, nothing to suppress) or summed from the daily cells.
async fn grouped(
    db: &Db,
    f: &KpiFilter,
    min_agents: MinGroup,
    rollup: &Rollup,
) -> Result<(Vec<(String, i64, i64)>, usize), DbError> {
    if f.is_all_time() && min_agents <= 1 {
        let mut q = Query::select();
        q.column(rollup.key).columns(VALUES).from(rollup.table);
        return Ok((db.fetch_all(&q).await?, 0));
    }
    let key = grouped_by(rollup.grouping);
    let mut q = fact_from(Some(rollup.grouping));
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
    let (rows, suppressed) = grouped(db, f, min_agents, &rollups::TEAM).await?;
    let mut out: Vec<TeamRow> = rows
        .into_iter()
        .map(|(team, sales_count, cents)| TeamRow { team, sales_count, total_sales: Money::from_cents(cents) })
        .collect();
    out.sort_by(|a, b| b.total_sales.cmp(&a.total_sales).then_with(|| a.team.cmp(&b.team)));
    Ok((out, suppressed))
}

/// Sales by branch, highest first, with the same suppression as [`teams`].
pub async fn branches(db: &Db, f: &KpiFilter, min_agents: MinGroup) -> Result<(Vec<BranchRow>, usize), DbError> {
    let (rows, suppressed) = grouped(db, f, min_agents, &rollups::BRANCH).await?;
    let mut out: Vec<BranchRow> = rows
        .into_iter()
        .map(|(branch, sales_count, cents)| BranchRow { branch, sales_count, total_sales: Money::from_cents(cents) })
        .collect();
    out.sort_by(|a, b| b.total_sales.cmp(&a.total_sales).then_with(|| a.branch.cmp(&b.branch)));
    Ok((out, suppressed))
}

/// Every product (or the filtered one) with its sales in the period against its target,
/// highest total first. Products without sales are listed with 0. Product totals are not per
/// person, except when a branch or team filter selects fewer than `min_agents` agents: then the
/// totals would be theirs, and every row is left out; returns how many were.
pub async fn products(db: &Db, f: &KpiFilter, min_agents: MinGroup) -> Result<(Vec<ProductRow>, usize), DbError> {
    let out = product_rows(db, f).await?;
    if min_agents > 1
        && (f.branch.is_some() || f.team.is_some())
        && !out.is_empty()
        && agents_behind(db, f).await? < i64::from(min_agents)
    {
        return Ok((Vec::new(), out.len()));
    }
    Ok((out, 0))
}

async fn product_rows(db: &Db, f: &KpiFilter) -> Result<Vec<ProductRow>, DbError> {
    let mut dims = Query::select();
    dims.columns(["product_id", "product_name", "product_type", "target_cents"]).from(DIM_PRODUCT);
    if let Some(p) = f.product_id {
        dims.and_where(Expr::col("product_id").eq(p));
    }
    let dims: Vec<(i64, String, String, i64)> = db.fetch_all(&dims).await?;
    let totals: Vec<(i64, i64, i64)> = if f.is_all_time() {
        let mut q = Query::select();
        q.column(rollups::PRODUCT.key).columns(VALUES).from(rollups::PRODUCT.table);
        db.fetch_all(&q).await?
    } else {
        let key = grouped_by(rollups::PRODUCT.grouping);
        let mut q = fact_from(Some(rollups::PRODUCT.grouping));
        q.column(key);
        sums(db, &mut q);
        f.apply(&mut q);
        q.group_by_col(key);
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

/// How many distinct agents stand behind the cells the filter selects, in total and per value of
/// one agent-dimension column (`team` or `branch`).
async fn agents_by(db: &Db, f: &KpiFilter, column: &'static str) -> Result<Vec<(String, i64)>, DbError> {
    let mut q = fact_from(None);
    q.column(("a", column)).expr(Func::count_distinct(Expr::col(("f", "agent_id"))));
    f.apply(&mut q);
    q.group_by_col(("a", column));
    db.fetch_all(&q).await
}

/// How many distinct agents stand behind the cells the filter selects.
async fn agents_behind(db: &Db, f: &KpiFilter) -> Result<i64, DbError> {
    let mut q = fact_from(None);
    q.expr(Func::count_distinct(Expr::col(("f", "agent_id"))));
    f.apply(&mut q);
    let row: Option<(i64,)> = db.fetch_optional(&q).await?;
    Ok(row.map_or(0, |(n,)| n))
}

/// The top `limit` agents by total in the period; ties share a rank. An agent whose team or
/// branch has fewer than `min_agents` agents behind it in the selection is left out (their team
/// and branch beside the figures would name them, pseudonym or not), before ranking; returns how
/// many were left out.
pub async fn leaderboard(
    db: &Db,
    f: &KpiFilter,
    limit: usize,
    min_agents: MinGroup,
) -> Result<(Vec<LeaderRow>, usize), DbError> {
    let mut q = fact_from(None);
    q.columns([("a", "agent_key"), ("a", "team"), ("a", "branch"), ("a", "agent_id")]);
    sums(db, &mut q);
    f.apply(&mut q);
    // Only agents who agreed to per-agent analytics are ranked (their sales still count in
    // every team, branch and product total).
    q.and_where(Expr::col(("a", "analytics_consent")).eq(true));
    q.group_by_columns([("a", "agent_key"), ("a", "team"), ("a", "branch"), ("a", "agent_id")]);
    let mut rows: Vec<(String, String, String, i64, i64, i64)> = db.fetch_all(&q).await?;
    let mut suppressed = 0;
    if min_agents > 1 && !rows.is_empty() {
        let min = i64::from(min_agents);
        let small = |groups: Vec<(String, i64)>| -> std::collections::HashSet<String> {
            groups.into_iter().filter(|(_, n)| *n < min).map(|(k, _)| k).collect()
        };
        let small_teams = small(agents_by(db, f, "team").await?);
        let small_branches = small(agents_by(db, f, "branch").await?);
        let before = rows.len();
        rows.retain(|(_, team, branch, _, _, _)| !small_teams.contains(team) && !small_branches.contains(branch));
        suppressed = before - rows.len();
    }
    rows.sort_by(|a, b| b.5.cmp(&a.5).then_with(|| a.0.cmp(&b.0)));
    let mut out = Vec::with_capacity(limit.min(rows.len()));
    let mut rank = 0;
    let mut previous: Option<i64> = None;
    for (i, (agent, team, branch, agent_id, sales_count, cents)) in rows.into_iter().enumerate() {
        if previous != Some(cents) {
            rank = i as i64 + 1;
            previous = Some(cents);
        }
        if out.len() >= limit {
            break;
        }
        out.push(LeaderRow {
            rank,
            agent,
            name: None,
            agent_id,
            team,
            branch,
            sales_count,
            total_sales: Money::from_cents(cents),
        });
    }
    Ok((out, suppressed))
}

/// Totals per period, oldest first, zero-filled: every period from the one containing `from`
/// (or the first sale) to the one containing `to` (or the last sale) has a row. When fewer than
/// `min_agents` agents stand behind the selection (a one-agent branch, say), every period is
/// left out, since the trend would be that agent's own; returns how many were left out.
///
/// Quarter and year buckets are those of the fiscal year starting in `fiscal`'s month.
pub async fn trend(
    db: &Db,
    f: &KpiFilter,
    (bucket, fiscal): (Bucket, moon_domain::FiscalYearStart),
    min_agents: MinGroup,
) -> Result<(Vec<TrendRow>, usize), DbError> {
    let mut q = fact_from(None);
    q.column(("f", "sale_date"));
    sums(db, &mut q);
    f.apply(&mut q);
    q.group_by_col(("f", "sale_date")).order_by(("f", "sale_date"), Order::Asc);
    let days: Vec<(NaiveDate, i64, i64)> = db.fetch_all(&q).await?;
    let (Some(first), Some(last)) = (f.from.or(days.first().map(|d| d.0)), f.to.or(days.last().map(|d| d.0))) else {
        return Ok((Vec::new(), 0));
    };
    let mut out: Vec<TrendRow> = bucket
        .periods(first, last, fiscal)
        .into_iter()
        .map(|(period, start)| TrendRow {
            period,
            start,
            sales_count: 0,
            total_sales: Money::from_cents(0),
            target: None,
        })
        .collect();
    let mut i = 0;
    for (day, n, cents) in days {
        let (period, _) = bucket.period_in(day, fiscal);
        while i < out.len() && out[i].period != period {
            i += 1;
        }
        if let Some(row) = out.get_mut(i) {
            row.sales_count += n;
            row.total_sales = Money::from_cents(row.total_sales.cents() + cents);
        }
    }
    if min_agents > 1 && !out.is_empty() && agents_behind(db, f).await? < i64::from(min_agents) {
        let withheld = out.len();
        return Ok((Vec::new(), withheld));
    }
    Ok((out, 0))
}

/// The choices of the branch, team and product filters, from the warehouse (no personal data).
pub async fn filter_choices(db: &Db) -> Result<FilterChoices, DbError> {
    let mut b = Query::select();
    b.column("branch").distinct().from(CELLS.table).order_by("branch", Order::Asc);
    let mut t = Query::select();
    // Every team an agent has belonged to (a past period may name a team nobody is in now);
    // the memberships are a few rows per agent, the cells millions.
    t.column("team").distinct().from(DIM_MEMBERSHIP).order_by("team", Order::Asc);
    let mut p = Query::select();
    p.columns(["product_id", "product_name"]).from(DIM_PRODUCT).order_by("product_name", Order::Asc);
    let branches: Vec<(String,)> = db.fetch_all(&b).await?;
    let teams: Vec<(String,)> = db.fetch_all(&t).await?;
    Ok(FilterChoices {
        branches: branches.into_iter().map(|(b,)| b).collect(),
        teams: teams.into_iter().map(|(t,)| t).collect(),
        products: db.fetch_all(&p).await?,
    })
}
