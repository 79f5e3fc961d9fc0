//! Sums of the daily cells for one scope of the organisation (company, a set of branches, a team,
//! an agent), optionally narrowed to a product or a line, over a date range, and grouped by
//! branch, team or agent: what performance figures and their drill-down read.
//!
//! Every query is a range over the first column of a cells table's primary key, so it reads the
//! period's cells only, whatever the size of the history. Whole calendar months are read from
//! the monthly cells (about 30 times fewer rows than their days), and only the days of a month
//! the range covers in part from the daily cells ([`plan`]). A month whose uncovered days all
//! come after the last day with any sale is whole too: "this month so far" is the running
//! month's monthly cells.

use chrono::{Days, NaiveDate};
use moon_db::sea_query::{Expr, ExprTrait, Func, JoinType, Query, SelectStatement, UnionType};
use moon_db::{Db, DbError};

use super::sums;
use crate::rollups::{CELLS, Cells, MONTHLY, VALUES, month_of};
use crate::schema::DIM_PRODUCT;

/// The column holding the team a sale counts for: the cell's team, the one the agent belonged to
/// on the sale date, so that a move leaves earlier periods unchanged.
pub(crate) const TEAM: (&str, &str) = ("f", "team");

/// Which cells a figure sums.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CellScope {
    /// Only cells of these branches (a region is its branches); `None`: every branch.
    pub branches: Option<Vec<String>>,
    /// Only cells of this team.
    pub team: Option<String>,
    /// Only cells of this agent.
    pub agent_id: Option<i64>,
    /// Only cells of this product.
    pub product_id: Option<i64>,
    /// Only cells of products of this line (product type).
    pub product_line: Option<String>,
}

/// How to group the sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// One row per branch.
    Branch,
    /// One row per team.
    Team,
    /// One row per agent (the key is the agent id as text).
    Agent,
}

/// One group's sums: its key, the number of sales, their amount in cents, and how many distinct
/// agents stand behind them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sums {
    /// Branch or team code, or agent id; empty for an ungrouped total.
    pub key: String,
    /// Number of sales.
    pub count: i64,
    /// Amount in cents.
    pub cents: i64,
    /// Distinct agents behind the sums.
    pub agents: i64,
}

/// Where a date range's sums are read: whole months from the monthly cells, the days of partly
/// covered months from the daily cells; each part as (table, first, last), both included.
pub(crate) fn plan(
    from: NaiveDate,
    to: NaiveDate,
    last_day: Option<NaiveDate>,
) -> Vec<(&'static Cells, NaiveDate, NaiveDate)> {
    let Some(last_day) = last_day else {
        // No cells at all: any one part reads nothing.
        return vec![(&CELLS, from, to)];
    };
    let mut months: Option<(NaiveDate, NaiveDate)> = None;
    let mut days = Vec::new();
    let mut month = month_of(from);
    while month <= to {
        let Some(next) = month.checked_add_months(chrono::Months::new(1)) else { break };
        let month_end = next.checked_sub_days(Days::new(1)).unwrap_or(month);
        let (lo, hi) = (Ord::max(from, month), Ord::min(to, month_end));
        // The days after `hi` are uncovered; they hold nothing when they come after the last sale.
        if lo == month && (hi == month_end || last_day <= hi) {
            months = Some(months.map_or((month, month), |(first, _)| (first, month)));
        } else {
            days.push((&CELLS, lo, hi));
        }
        month = next;
    }
    let mut parts: Vec<(&'static Cells, NaiveDate, NaiveDate)> =
        months.map(|(first, last)| (&MONTHLY, first, last)).into_iter().collect();
    parts.extend(days);
    if parts.is_empty() {
        parts.push((&CELLS, from, to));
    }
    parts
}

/// The last day with any sale, or `None` for an empty warehouse: a key lookup (the daily cells'
/// key leads with the day). [`total`] and [`grouped`] take it so that the several ranges of one
/// request look it up once.
pub async fn last_sale_day(db: &Db) -> Result<Option<NaiveDate>, DbError> {
    let mut q = Query::select();
    q.expr(Func::max(Expr::col(CELLS.key[0]))).from(CELLS.table);
    let row: Option<(Option<NaiveDate>,)> = db.fetch_optional(&q).await?;
    Ok(row.and_then(|(d,)| d))
}

impl CellScope {
    /// One table's cells (aliased `f`) from `from` to `to`: no join to the agent dimension,
    /// whose columns these figures do not need, which halves the cost of a month's sums.
    fn part(&self, table: &Cells, from: NaiveDate, to: NaiveDate) -> SelectStatement {
        let mut q = Query::select();
        q.from_as(table.table, "f");
        if self.product_line.is_some() {
            q.join_as(
                JoinType::InnerJoin,
                DIM_PRODUCT,
                "p",
                Expr::col(("p", "product_id")).equals(("f", "product_id")),
            );
        }
        let day = ("f", table.key[0]);
        q.and_where(Expr::col(day).gte(from)).and_where(Expr::col(day).lte(to));
        if let Some(b) = &self.branches {
            q.and_where(Expr::col(("f", "branch")).is_in(b.iter().map(String::as_str)));
        }
        if let Some(t) = &self.team {
            q.and_where(Expr::col(TEAM).eq(t.as_str()));
        }
        if let Some(a) = self.agent_id {
            q.and_where(Expr::col(("f", "agent_id")).eq(a));
        }
        if let Some(p) = self.product_id {
            q.and_where(Expr::col(("f", "product_id")).eq(p));
        }
        if let Some(l) = &self.product_line {
            q.and_where(Expr::col(("p", "product_type")).eq(l.as_str()));
        }
        q
    }

    /// The scope's cells from `from` to `to` as one source aliased `f` with the columns
    /// `agent_id`, the sums and `key` (if grouped): one table's cells, or the `UNION ALL` of
    /// the parts [`plan`] reads.
    fn query(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        last_day: Option<NaiveDate>,
        key: Option<(&'static str, &'static str)>,
    ) -> SelectStatement {
        let mut parts = plan(from, to, last_day).into_iter().map(|(t, a, b)| self.part(t, a, b));
        let (Some(mut first), rest) = (parts.next(), parts.collect::<Vec<_>>()) else {
            return self.part(&CELLS, from, to);
        };
        if rest.is_empty() {
            return first;
        }
        let columns = |q: &mut SelectStatement| {
            if let Some(k) = key {
                q.column(k);
            }
            q.column(("f", "agent_id")).columns(VALUES.map(|v| ("f", v)));
        };
        columns(&mut first);
        for mut q in rest {
            columns(&mut q);
            first.union(UnionType::All, q);
        }
        let mut q = Query::select();
        q.from_subquery(first, "f");
        q
    }
}

/// The scope's total from `from` to `to` (both included); `last_day` from [`last_sale_day`].
pub async fn total(
    db: &Db,
    scope: &CellScope,
    from: NaiveDate,
    to: NaiveDate,
    last_day: Option<NaiveDate>,
) -> Result<Sums, DbError> {
    let mut q = scope.query(from, to, last_day, None);
    sums(db, &mut q);
    q.expr(Func::count_distinct(Expr::col(("f", "agent_id"))));
    let row: Option<(Option<i64>, Option<i64>, i64)> = db.fetch_optional(&q).await?;
    let (count, cents, agents) = row.unwrap_or_default();
    Ok(Sums { key: String::new(), count: count.unwrap_or(0), cents: cents.unwrap_or(0), agents })
}

/// The scope's sums from `from` to `to`, one row per branch, team or agent that sold;
/// `last_day` from [`last_sale_day`].
pub async fn grouped(
    db: &Db,
    scope: &CellScope,
    (from, to): (NaiveDate, NaiveDate),
    last_day: Option<NaiveDate>,
    by: By,
) -> Result<Vec<Sums>, DbError> {
    let agents = Func::count_distinct(Expr::col(("f", "agent_id")));
    match by {
        By::Agent => {
            let mut q = scope.query(from, to, last_day, None);
            q.column(("f", "agent_id"));
            sums(db, &mut q);
            q.expr(agents).group_by_col(("f", "agent_id"));
            let rows: Vec<(i64, i64, i64, i64)> = db.fetch_all(&q).await?;
            Ok(rows
                .into_iter()
                .map(|(id, count, cents, agents)| Sums { key: id.to_string(), count, cents, agents })
                .collect())
        }
        By::Branch | By::Team => {
            let col = if by == By::Branch { ("f", "branch") } else { TEAM };
            let mut q = scope.query(from, to, last_day, Some(col));
            q.column(col);
            sums(db, &mut q);
            q.expr(agents).group_by_col(col);
            let rows: Vec<(String, i64, i64, i64)> = db.fetch_all(&q).await?;
            Ok(rows.into_iter().map(|(key, count, cents, agents)| Sums { key, count, cents, agents }).collect())
        }
    }
}

/// The pseudonyms of agents, by id, from the agent dimension (the only name the warehouse has).
pub async fn pseudonyms(db: &Db, ids: &[i64]) -> Result<Vec<(i64, String)>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Query::select();
    q.columns(["agent_id", "agent_key"])
        .from(crate::schema::DIM_AGENT)
        .and_where(Expr::col("agent_id").is_in(ids.iter().copied()));
    db.fetch_all(&q).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn tables(parts: &[(&Cells, NaiveDate, NaiveDate)]) -> Vec<(&'static str, String, String)> {
        parts.iter().map(|(t, a, b)| (t.table, a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn whole_months_are_read_from_the_monthly_cells_and_partial_ones_by_day() {
        let last = Some(d("2026-12-07"));
        // A past quarter: three whole months.
        assert_eq!(
            tables(&plan(d("2026-07-01"), d("2026-09-30"), last)),
            [("fact_sales_monthly", "2026-07-01".into(), "2026-09-01".into())]
        );
        // This month so far: nothing was sold after today, so the running month is whole.
        assert_eq!(
            tables(&plan(d("2026-12-01"), d("2026-12-07"), last)),
            [("fact_sales_monthly", "2026-12-01".into(), "2026-12-01".into())]
        );
        // A range starting and ending mid-month: the ends by day, the middle by month.
        assert_eq!(
            tables(&plan(d("2026-09-15"), d("2026-11-10"), last)),
            [
                ("fact_sales_monthly", "2026-10-01".into(), "2026-10-01".into()),
                ("fact_sales_daily", "2026-09-15".into(), "2026-09-30".into()),
                ("fact_sales_daily", "2026-11-01".into(), "2026-11-10".into()),
            ]
        );
        // A sale dated after the range's end in its last month: that month is read by day.
        assert_eq!(
            tables(&plan(d("2026-12-01"), d("2026-12-05"), last)),
            [("fact_sales_daily", "2026-12-01".into(), "2026-12-05".into())]
        );
        // An empty warehouse, an empty range.
        assert_eq!(tables(&plan(d("2026-12-01"), d("2026-12-31"), None)).len(), 1);
        assert_eq!(tables(&plan(d("2026-12-05"), d("2026-12-01"), last)).len(), 1);
    }
}
