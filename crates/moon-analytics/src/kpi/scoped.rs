//! Sums of the daily cells for one scope of the organisation (company, a set of branches, a team,
//! an agent), optionally narrowed to a product or a line, over a date range, and grouped by
//! branch, team or agent: what performance figures and their drill-down read.
//!
//! Every query is a range over `sale_date`, the first column of the cells' primary key, so it
//! reads the period's cells only, whatever the size of the history.

use chrono::NaiveDate;
use moon_db::sea_query::{Expr, ExprTrait, Func, JoinType, Query, SelectStatement};
use moon_db::{Db, DbError};

use super::sums;
use crate::rollups::CELLS;
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

impl CellScope {
    /// The cells alone (aliased `f`): no join to the agent dimension, whose columns these
    /// figures do not need, which halves the cost of a month's sums.
    fn query(&self, from: NaiveDate, to: NaiveDate) -> SelectStatement {
        let mut q = Query::select();
        q.from_as(CELLS.table, "f");
        if self.product_line.is_some() {
            q.join_as(
                JoinType::InnerJoin,
                DIM_PRODUCT,
                "p",
                Expr::col(("p", "product_id")).equals(("f", "product_id")),
            );
        }
        q.and_where(Expr::col(("f", "sale_date")).gte(from)).and_where(Expr::col(("f", "sale_date")).lte(to));
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
}

/// The scope's total from `from` to `to` (both included).
pub async fn total(db: &Db, scope: &CellScope, from: NaiveDate, to: NaiveDate) -> Result<Sums, DbError> {
    let mut q = scope.query(from, to);
    sums(db, &mut q);
    q.expr(Func::count_distinct(Expr::col(("f", "agent_id"))));
    let row: Option<(Option<i64>, Option<i64>, i64)> = db.fetch_optional(&q).await?;
    let (count, cents, agents) = row.unwrap_or_default();
    Ok(Sums { key: String::new(), count: count.unwrap_or(0), cents: cents.unwrap_or(0), agents })
}

/// The scope's sums from `from` to `to`, one row per branch, team or agent that sold.
pub async fn grouped(db: &Db, scope: &CellScope, from: NaiveDate, to: NaiveDate, by: By) -> Result<Vec<Sums>, DbError> {
    let mut q = scope.query(from, to);
    let agents = Func::count_distinct(Expr::col(("f", "agent_id")));
    match by {
        By::Agent => {
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
