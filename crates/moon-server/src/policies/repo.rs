//! The queries policies own: `policies`, `policy_transactions` and `transaction_credits`. A
//! principal's scope is a condition on the credits: a manager sees the policies any of whose
//! transactions credits their branch, an agent those that credit them.

use chrono::{DateTime, Datelike as _, NaiveDate, Utc};
use moon_db::sea_query::{Expr, ExprTrait, JoinType, Order, Query, SelectStatement};
use moon_db::{Db, DbError, Tx, insert_row};
use moon_http::paging::keyset;
use moon_http::{Page, Scope};

use super::model::Status;

/// A policy row with its product's name.
#[expect(missing_docs, reason = "the fields are the columns of the same names, described in the migration")]
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PolicyRow {
    pub id: i64,
    pub policy_number: String,
    pub product_id: i64,
    pub holder_ref: Option<String>,
    pub customer_name: Option<String>,
    pub premium_cents: i64,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub product_name: String,
}

/// A transaction row.
#[expect(missing_docs, reason = "the fields are the columns of the same names, described in the migration")]
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TransactionRow {
    pub id: i64,
    pub policy_id: i64,
    pub kind: String,
    pub effective_date: NaiveDate,
    pub amount_cents: i64,
    pub sale_id: Option<i64>,
    pub booked_period_start: NaiveDate,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// A credit row with its agent's code.
#[expect(missing_docs, reason = "the fields are the columns of the same names, described in the migration")]
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CreditRow {
    pub transaction_id: i64,
    pub agent_id: i64,
    pub share_bp: i64,
    pub amount_cents: i64,
    pub branch: String,
    pub agent_code: String,
}

const POLICY_COLUMNS: [&str; 11] = [
    "id",
    "policy_number",
    "product_id",
    "holder_ref",
    "customer_name",
    "premium_cents",
    "start_date",
    "end_date",
    "status",
    "created_at",
    "updated_at",
];
const TRANSACTION_COLUMNS: [&str; 10] = [
    "id",
    "policy_id",
    "kind",
    "effective_date",
    "amount_cents",
    "sale_id",
    "booked_period_start",
    "note",
    "created_at",
    "created_by",
];

/// The ids of the policies with a credit matching `cond` (on `transaction_credits` as `c`).
fn policies_crediting(cond: Expr) -> SelectStatement {
    let mut q = Query::select();
    q.column(("t", "policy_id"))
        .from_as("transaction_credits", "c")
        .join_as(
            JoinType::InnerJoin,
            "policy_transactions",
            "t",
            Expr::col(("t", "id")).equals(("c", "transaction_id")),
        )
        .and_where(cond);
    q
}

/// The condition on `policies` that keeps a principal to the policies it may see.
fn in_scope(scope: &Scope) -> Option<Expr> {
    let visible = |cond: Expr| Expr::col(("policies", "id")).in_subquery(policies_crediting(cond));
    match scope {
        Scope::All => None,
        Scope::Branch(b) => Some(visible(Expr::col(("c", "branch")).eq(b.as_str()))),
        Scope::Agent(id) => Some(visible(Expr::col(("c", "agent_id")).eq(*id))),
    }
}

fn base(scope: &Scope) -> SelectStatement {
    let mut q = Query::select();
    q.columns(POLICY_COLUMNS.map(|c| ("policies", c)))
        .column(("products", "product_name"))
        .from("policies")
        .inner_join("products", Expr::col(("products", "id")).equals(("policies", "product_id")));
    q.and_where_option(in_scope(scope));
    q
}

/// Conditions of a listing, validated.
#[derive(Debug, Clone, Default)]
pub struct PolicyQuery {
    /// Only this policy number.
    pub policy_number: Option<String>,
    /// Only this product.
    pub product_id: Option<i64>,
    /// Only policies crediting this agent code.
    pub agent_code: Option<String>,
    /// Only policies crediting this agent id.
    pub agent_id: Option<i64>,
    /// Only this status.
    pub status: Option<Status>,
}

/// One page of the policies visible in `scope` that match `f`, by id.
pub async fn list(db: &Db, scope: &Scope, f: &PolicyQuery, page: &Page) -> Result<Vec<PolicyRow>, DbError> {
    let mut q = base(scope);
    let col = |c: &'static str| Expr::col(("policies", c));
    if let Some(n) = &f.policy_number {
        q.and_where(col("policy_number").eq(n.as_str()));
    }
    if let Some(p) = f.product_id {
        q.and_where(col("product_id").eq(p));
    }
    if let Some(s) = f.status {
        q.and_where(col("status").eq(s.as_str()));
    }
    if let Some(code) = &f.agent_code {
        let agents = crate::agents::repo::ids_where("agent_code", code);
        q.and_where(col("id").in_subquery(policies_crediting(Expr::col(("c", "agent_id")).in_subquery(agents))));
    }
    if let Some(id) = f.agent_id {
        q.and_where(col("id").in_subquery(policies_crediting(Expr::col(("c", "agent_id")).eq(id))));
    }
    keyset(&mut q, ("policies", "id"), page);
    db.fetch_all(&q).await
}

/// One policy, if visible in `scope`.
pub async fn get(db: &Db, scope: &Scope, id: i64) -> Result<Option<PolicyRow>, DbError> {
    let mut q = base(scope);
    q.and_where(Expr::col(("policies", "id")).eq(id));
    db.fetch_optional(&q).await
}

/// One policy inside a transaction, if visible in `scope`.
pub async fn find(tx: &mut Tx, scope: &Scope, id: i64) -> Result<Option<PolicyRow>, DbError> {
    let mut q = base(scope);
    q.and_where(Expr::col(("policies", "id")).eq(id));
    tx.fetch_optional(&q).await
}

fn transactions(policy_ids: &[i64]) -> SelectStatement {
    let mut q = Query::select();
    q.columns(TRANSACTION_COLUMNS.map(|c| ("policy_transactions", c)))
        .from("policy_transactions")
        .and_where(Expr::col("policy_id").is_in(policy_ids.iter().copied()))
        .order_by("id", Order::Asc);
    q
}

fn credits(transaction_ids: &[i64]) -> SelectStatement {
    let mut q = Query::select();
    q.columns(["transaction_id", "agent_id", "share_bp", "amount_cents", "branch"].map(|c| ("transaction_credits", c)))
        .column(("agents", "agent_code"))
        .from("transaction_credits")
        .inner_join("agents", Expr::col(("agents", "id")).equals(("transaction_credits", "agent_id")))
        .and_where(Expr::col(("transaction_credits", "transaction_id")).is_in(transaction_ids.iter().copied()))
        .order_by(("transaction_credits", "transaction_id"), Order::Asc)
        .order_by(("transaction_credits", "id"), Order::Asc);
    q
}

/// The transactions of these policies and their credits, oldest first.
pub async fn history(db: &Db, policy_ids: &[i64]) -> Result<(Vec<TransactionRow>, Vec<CreditRow>), DbError> {
    if policy_ids.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let txs: Vec<TransactionRow> = db.fetch_all(&transactions(policy_ids)).await?;
    let ids: Vec<i64> = txs.iter().map(|t| t.id).collect();
    let credits = if ids.is_empty() { Vec::new() } else { db.fetch_all(&credits(&ids)).await? };
    Ok((txs, credits))
}

/// Like [`history`], inside a transaction (a write reads back what it wrote).
pub async fn history_in(tx: &mut Tx, policy_id: i64) -> Result<(Vec<TransactionRow>, Vec<CreditRow>), DbError> {
    let txs: Vec<TransactionRow> = tx.fetch_all(&transactions(&[policy_id])).await?;
    let ids: Vec<i64> = txs.iter().map(|t| t.id).collect();
    let credits = if ids.is_empty() { Vec::new() } else { tx.fetch_all(&credits(&ids)).await? };
    Ok((txs, credits))
}

/// Whether a policy has this number.
pub async fn number_taken(tx: &mut Tx, number: &str) -> Result<bool, DbError> {
    let mut q = Query::select();
    q.column("id").from("policies").and_where(Expr::col("policy_number").eq(number));
    Ok(tx.fetch_optional::<(i64,)>(&q).await?.is_some())
}

/// A policy to insert.
#[expect(missing_docs, reason = "the fields are the columns of the same names, described in the migration")]
#[derive(Debug, Clone)]
pub struct NewPolicy<'a> {
    pub policy_number: &'a str,
    pub product_id: i64,
    pub holder_ref: Option<&'a str>,
    pub customer_name: Option<&'a str>,
    pub premium_cents: i64,
    pub start_date: NaiveDate,
}

/// Inserts a policy in force; a taken number is [`DbError::UniqueViolation`], an unknown product
/// [`DbError::ForeignKeyViolation`].
pub async fn insert_policy(tx: &mut Tx, p: &NewPolicy<'_>) -> Result<i64, DbError> {
    let now = moon_db::now();
    let stmt = insert_row(
        "policies",
        vec![
            ("policy_number", p.policy_number.into()),
            ("product_id", p.product_id.into()),
            ("holder_ref", p.holder_ref.map(str::to_owned).into()),
            ("customer_name", p.customer_name.map(str::to_owned).into()),
            ("premium_cents", p.premium_cents.into()),
            ("start_date", p.start_date.into()),
            ("status", Status::InForce.as_str().into()),
            ("created_at", now.into()),
            ("updated_at", now.into()),
        ],
    );
    tx.insert(&stmt).await
}

/// A transaction to insert.
#[expect(missing_docs, reason = "the fields are the columns of the same names, described in the migration")]
#[derive(Debug, Clone)]
pub struct NewTransaction<'a> {
    pub policy_id: i64,
    pub kind: &'static str,
    pub effective_date: NaiveDate,
    pub amount_cents: i64,
    pub note: Option<&'a str>,
    pub created_by: &'a str,
}

/// The first day of the month `day` is in: the period a transaction is booked to (ADR 0024,
/// section 6; fiscal months are calendar months whatever the fiscal year's first month).
pub fn month_of(day: NaiveDate) -> NaiveDate {
    day.with_day0(0).unwrap_or(day)
}

/// Inserts a transaction; returns its id.
pub async fn insert_transaction(tx: &mut Tx, t: &NewTransaction<'_>) -> Result<i64, DbError> {
    let stmt = insert_row(
        "policy_transactions",
        vec![
            ("policy_id", t.policy_id.into()),
            ("kind", t.kind.into()),
            ("effective_date", t.effective_date.into()),
            ("amount_cents", t.amount_cents.into()),
            ("booked_period_start", month_of(t.effective_date).into()),
            ("note", t.note.map(str::to_owned).into()),
            ("created_at", moon_db::now().into()),
            ("created_by", t.created_by.into()),
        ],
    );
    tx.insert(&stmt).await
}

/// A credit to insert: (agent id, share in basis points, cents, branch).
pub type NewCredit = (i64, i64, i64, String);

/// Inserts a transaction's credits in one statement.
pub async fn insert_credits(tx: &mut Tx, transaction_id: i64, credits: &[NewCredit]) -> Result<(), DbError> {
    if credits.is_empty() {
        return Ok(());
    }
    let mut ins = Query::insert();
    ins.into_table("transaction_credits").columns(["transaction_id", "agent_id", "share_bp", "amount_cents", "branch"]);
    for (agent_id, share_bp, cents, branch) in credits {
        ins.values([
            transaction_id.into(),
            (*agent_id).into(),
            (*share_bp).into(),
            (*cents).into(),
            branch.as_str().into(),
        ])
        .map_err(|e| DbError::Other(sqlx::Error::Protocol(format!("cannot build the credits insert: {e}"))))?;
    }
    tx.execute(&ins).await.map(drop)
}

/// Marks a policy changed. Run first in a transaction's write: on PostgreSQL and MySQL the row
/// lock serialises concurrent transactions of one policy, so each checks its limits against the
/// other's result.
pub async fn lock(tx: &mut Tx, id: i64) -> Result<(), DbError> {
    let mut q = Query::update();
    q.table("policies").values([("updated_at", Expr::val(moon_db::now()))]).and_where(Expr::col("id").eq(id));
    tx.execute(&q).await.map(drop)
}

/// Sets what a transaction changed: the premium in force, the status and the end date.
pub async fn set_state(
    tx: &mut Tx,
    id: i64,
    premium_cents: i64,
    status: Status,
    end_date: Option<NaiveDate>,
) -> Result<(), DbError> {
    let mut q = Query::update();
    q.table("policies")
        .values([
            ("premium_cents", Expr::val(premium_cents)),
            ("status", Expr::val(status.as_str())),
            ("end_date", Expr::val(end_date)),
            ("updated_at", Expr::val(moon_db::now())),
        ])
        .and_where(Expr::col("id").eq(id));
    tx.execute(&q).await.map(drop)
}

/// Rewrites the credited branch `from` to `to` on every credit (the organisation backfill
/// merging spellings of one branch, as it does for sales); returns how many changed.
pub async fn respell_branch(tx: &mut Tx, from: &str, to: &str) -> Result<u64, DbError> {
    let mut q = Query::update();
    q.table("transaction_credits").value("branch", to).and_where(Expr::col("branch").eq(from));
    tx.execute(&q).await
}
