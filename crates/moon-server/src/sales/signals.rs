//! The sales facts the data anomaly detectors read (`crate::anomalies`): sales recorded since a
//! position, an agent's earlier amounts, look-alike sales, and a branch's daily totals. Read-only.

use chrono::{DateTime, NaiveDate, Utc};
use moon_db::sea_query::{Expr, ExprTrait, Func, Order, Query};
use moon_db::{Db, DbError};

/// One recorded sale with its agent's code.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Recorded {
    /// Sale id.
    pub id: i64,
    /// Agent id.
    pub agent_id: i64,
    /// Agent code.
    pub agent_code: String,
    /// Product id.
    pub product_id: i64,
    /// Amount in cents.
    pub amount_cents: i64,
    /// Sale date.
    pub sale_date: NaiveDate,
    /// The branch it counts for.
    pub branch: String,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}

/// Sales with an id above `after` recorded before `settled` (so a transaction still committing
/// with a lower id is not passed over), oldest first, at most `limit`.
pub async fn recorded_after(db: &Db, after: i64, settled: DateTime<Utc>, limit: u64) -> Result<Vec<Recorded>, DbError> {
    let mut q = Query::select();
    q.columns([
        ("sales", "id"),
        ("sales", "agent_id"),
        ("sales", "product_id"),
        ("sales", "amount_cents"),
        ("sales", "sale_date"),
        ("sales", "branch"),
        ("sales", "created_at"),
    ])
    .expr_as(Expr::col(("agents", "agent_code")), "agent_code")
    .from("sales")
    .inner_join("agents", Expr::col(("agents", "id")).equals(("sales", "agent_id")))
    .and_where(Expr::col(("sales", "id")).gt(after))
    .and_where(Expr::col(("sales", "created_at")).lt(settled))
    .order_by(("sales", "id"), Order::Asc)
    .limit(limit);
    db.fetch_all(&q).await
}

/// The newest sale id (0 without sales).
pub async fn last_id(db: &Db) -> Result<i64, DbError> {
    let mut q = Query::select();
    q.expr(Func::max(Expr::col("id"))).from("sales");
    Ok(db.fetch_optional::<(Option<i64>,)>(&q).await?.and_then(|(m,)| m).unwrap_or(0))
}

/// The amounts of the agent's sales recorded before sale `before` (newest `limit`).
pub async fn earlier_amounts(db: &Db, agent_id: i64, before: i64, limit: u64) -> Result<Vec<i64>, DbError> {
    let mut q = Query::select();
    q.column("amount_cents")
        .from("sales")
        .and_where(Expr::col("agent_id").eq(agent_id))
        .and_where(Expr::col("id").lt(before))
        .order_by("id", Order::Desc)
        .limit(limit);
    Ok(db.fetch_all::<(i64,)>(&q).await?.into_iter().map(|(a,)| a).collect())
}

/// Ids of the sales with this agent, product, amount and date.
pub async fn look_alikes(db: &Db, s: &Recorded) -> Result<Vec<i64>, DbError> {
    let mut q = Query::select();
    q.column("id")
        .from("sales")
        .and_where(Expr::col("agent_id").eq(s.agent_id))
        .and_where(Expr::col("sale_date").eq(s.sale_date))
        .and_where(Expr::col("product_id").eq(s.product_id))
        .and_where(Expr::col("amount_cents").eq(s.amount_cents))
        .order_by("id", Order::Asc);
    Ok(db.fetch_all::<(i64,)>(&q).await?.into_iter().map(|(i,)| i).collect())
}

/// The branch's total per date, for the `dates` that have sales.
pub async fn branch_totals(db: &Db, branch: &str, dates: &[NaiveDate]) -> Result<Vec<(NaiveDate, i64)>, DbError> {
    let mut q = Query::select();
    q.column("sale_date")
        .expr(moon_db::sum_i64(db.backend(), Expr::col("amount_cents")))
        .from("sales")
        .and_where(Expr::col("branch").eq(branch))
        .and_where(Expr::col("sale_date").is_in(dates.iter().copied()))
        .group_by_col("sale_date");
    db.fetch_all(&q).await
}
