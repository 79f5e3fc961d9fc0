//! The sales facts the data anomaly detectors read (`crate::anomalies`): sales recorded since a
//! position, an agent's earlier amounts, look-alike sales, and a branch's daily totals. Read-only.

use std::collections::{BTreeSet, HashMap};

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

/// Agents per statement when reading histories or look-alikes.
const AGENTS_PER_STATEMENT: usize = 200;

/// For each of `agents`, the amounts of their sales with an id below `before`, newest first, at
/// most `limit` each: one statement per 200 agents (a window function numbers each agent's
/// sales), where one statement per sale made the scan of a busy minute cost more than the
/// sales themselves.
pub async fn earlier_amounts(
    db: &Db,
    agents: &BTreeSet<i64>,
    before: i64,
    limit: u64,
) -> Result<HashMap<i64, Vec<i64>>, DbError> {
    let mut out: HashMap<i64, Vec<i64>> = HashMap::new();
    let agents: Vec<i64> = agents.iter().copied().collect();
    for chunk in agents.chunks(AGENTS_PER_STATEMENT) {
        let mut numbered = Query::select();
        numbered
            .columns(["agent_id", "amount_cents", "id"])
            .expr_as(Expr::cust("ROW_NUMBER() OVER (PARTITION BY agent_id ORDER BY id DESC)"), "rn")
            .from("sales")
            .and_where(Expr::col("agent_id").is_in(chunk.iter().copied()))
            .and_where(Expr::col("id").lt(before));
        let mut q = Query::select();
        q.columns(["agent_id", "amount_cents"])
            .from_subquery(numbered, "numbered")
            .and_where(Expr::col("rn").lte(limit))
            .order_by("agent_id", Order::Asc)
            .order_by("id", Order::Desc);
        for (agent, amount) in db.fetch_all::<(i64, i64)>(&q).await? {
            out.entry(agent).or_default().push(amount);
        }
    }
    Ok(out)
}

/// What makes two sales look alike: agent, sale date, product and amount.
pub type LookAlike = (i64, NaiveDate, i64, i64);

/// The ids of every sale sharing agent, date, product and amount with one of `sales`, by that
/// key, oldest first: one statement per 200 sales.
pub async fn look_alikes(db: &Db, sales: &[Recorded]) -> Result<HashMap<LookAlike, Vec<i64>>, DbError> {
    let mut out: HashMap<LookAlike, Vec<i64>> = HashMap::new();
    for chunk in sales.chunks(AGENTS_PER_STATEMENT) {
        let wanted: BTreeSet<LookAlike> = chunk.iter().map(key).collect();
        let agents: BTreeSet<i64> = chunk.iter().map(|s| s.agent_id).collect();
        let dates: BTreeSet<NaiveDate> = chunk.iter().map(|s| s.sale_date).collect();
        let mut q = Query::select();
        q.columns(["agent_id", "sale_date", "product_id", "amount_cents", "id"])
            .from("sales")
            .and_where(Expr::col("agent_id").is_in(agents))
            .and_where(Expr::col("sale_date").is_in(dates))
            .order_by("id", Order::Asc);
        for (agent, date, product, amount, id) in db.fetch_all::<(i64, NaiveDate, i64, i64, i64)>(&q).await? {
            let k = (agent, date, product, amount);
            if wanted.contains(&k) {
                let ids = out.entry(k).or_default();
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
    }
    Ok(out)
}

/// A sale's look-alike key.
pub fn key(s: &Recorded) -> LookAlike {
    (s.agent_id, s.sale_date, s.product_id, s.amount_cents)
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
