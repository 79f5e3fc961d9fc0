//! What performance figures read from the operational database: the organisation's units, who
//! belonged where during a period, agents' names and the targets of a period. The sales
//! themselves are read from the warehouse (`moon_analytics::kpi::scoped`).

use std::collections::HashMap;

use moon_db::sea_query::{Cond, Expr, ExprTrait, Func, JoinType, Order, Query, SelectStatement};
use moon_db::{Db, DbError};
use moon_domain::Period;

use crate::agents::org::model::fold;
use crate::sales_targets::model::{ScopeKind, Subject};

/// A region, branch or team: its code, name and (for a branch) its region's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitRow {
    /// Stable code.
    pub code: String,
    /// Display name.
    pub name: String,
    /// A branch's region code.
    pub region: Option<String>,
}

/// Every unit of a kind, by code.
pub async fn units(db: &Db, kind: &str) -> Result<Vec<UnitRow>, DbError> {
    let mut q = Query::select();
    q.columns([("u", "code"), ("u", "name")])
        .expr(Expr::col(("r", "code")))
        .from_as("org_units", "u")
        .join_as(JoinType::LeftJoin, "org_units", "r", Expr::col(("r", "id")).equals(("u", "parent_id")))
        .and_where(Expr::col(("u", "kind")).eq(kind))
        .order_by(("u", "code"), Order::Asc);
    let rows: Vec<(String, String, Option<String>)> = db.fetch_all(&q).await?;
    Ok(rows.into_iter().map(|(code, name, region)| UnitRow { code, name, region }).collect())
}

/// An agent as the figures name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRow {
    /// Numeric id (the warehouse's key).
    pub id: i64,
    /// Agent code.
    pub code: String,
    /// First and last name.
    pub name: String,
    /// Current home branch code.
    pub branch: String,
    /// The home branches the agent had during the figures' period (from the membership
    /// history), which decide whether a manager sees the name; empty when not looked up, then
    /// the current home branch decides.
    pub period_branches: Vec<String>,
    /// The agent agreed to show their name to other agents.
    pub show_name_to_peers: bool,
}

fn agents_query() -> SelectStatement {
    let mut q = Query::select();
    q.columns(["id", "agent_code", "first_name", "last_name", "branch", "show_name_to_peers"]).from("agents");
    q
}

/// An agent row as selected by [`agents_query`].
type AgentTuple = (i64, String, String, String, String, bool);

fn agent_rows(rows: Vec<AgentTuple>) -> Vec<AgentRow> {
    rows.into_iter()
        .map(|(id, code, first, last, branch, show_name_to_peers)| AgentRow {
            id,
            code,
            name: format!("{first} {last}"),
            branch,
            period_branches: Vec::new(),
            show_name_to_peers,
        })
        .collect()
}

/// Agents by id.
pub async fn agents(db: &Db, ids: &[i64]) -> Result<Vec<AgentRow>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = agents_query();
    q.and_where(Expr::col("id").is_in(ids.iter().copied()));
    Ok(agent_rows(db.fetch_all(&q).await?))
}

/// The agent with this code.
pub async fn agent_by_code(db: &Db, code: &str) -> Result<Option<AgentRow>, DbError> {
    let mut q = agents_query();
    q.and_where(Expr::col("agent_code").eq(code.trim()));
    Ok(agent_rows(db.fetch_all(&q).await?).pop())
}

/// Which agents (all, or `agent` alone) belonged to which branch and team at some time during
/// `period`, as (agent id, branch code, team code), from the effective-dated memberships.
pub async fn members(db: &Db, period: Period, agent: Option<i64>) -> Result<Vec<(i64, String, String)>, DbError> {
    let mut q = Query::select();
    q.column(("m", "agent_id"))
        .expr(Expr::col(("b", "code")))
        .expr(Expr::col(("t", "code")))
        .from_as("agent_memberships", "m")
        .join_as(JoinType::InnerJoin, "org_units", "b", Expr::col(("b", "id")).equals(("m", "branch_id")))
        .join_as(JoinType::InnerJoin, "org_units", "t", Expr::col(("t", "id")).equals(("m", "team_id")))
        .cond_where(
            Cond::all()
                .add(
                    Cond::any()
                        .add(Expr::col(("m", "valid_from")).is_null())
                        .add(Expr::col(("m", "valid_from")).lte(period.end())),
                )
                .add(
                    Cond::any()
                        .add(Expr::col(("m", "valid_to")).is_null())
                        .add(Expr::col(("m", "valid_to")).gt(period.start())),
                ),
        );
    if let Some(id) = agent {
        q.and_where(Expr::col(("m", "agent_id")).eq(id));
    }
    db.fetch_all(&q).await
}

/// The targets of one kind of scope, subject and period, by folded scope key: (amount in
/// cents, policy count).
pub async fn targets(
    db: &Db,
    kind: ScopeKind,
    subject: &Subject,
    period: Period,
) -> Result<HashMap<String, (i64, Option<i64>)>, DbError> {
    let mut q = Query::select();
    q.columns(["scope_key", "amount_cents", "policy_count"])
        .from("sales_targets")
        .and_where(Expr::col("scope_kind").eq(kind.as_str()))
        .and_where(Expr::col("subject").eq(subject.key()))
        .and_where(Expr::col("period_kind").eq(period.kind().as_str()))
        .and_where(Expr::col("period_start").eq(period.start()));
    let rows: Vec<(String, i64, Option<i64>)> = db.fetch_all(&q).await?;
    Ok(rows.into_iter().map(|(k, a, c)| (fold(&k), (a, c))).collect())
}

/// The product ids of a line of business (for a clear error on an unknown line).
pub async fn line_exists(db: &Db, line: &str) -> Result<bool, DbError> {
    let mut q = Query::select();
    q.expr(Func::count(Expr::col("id"))).from("products").and_where(Expr::col("product_type").eq(line));
    let row: Option<(i64,)> = db.fetch_optional(&q).await?;
    Ok(row.is_some_and(|(n,)| n > 0))
}
