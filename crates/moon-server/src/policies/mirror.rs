//! The sale mirror (ADR 0024, section 1): every sale is also a policy with one `new_business`
//! transaction (`sale_id` = the sale) crediting its agent and branch 100 %, written in the
//! sale's own database transaction. Sales stay the store of single-credit new business; the
//! mirror lets policies, their later transactions and (later) statements treat a sale like any
//! other new business.
//!
//! Writes are set-based: a group-committed batch of sales, an import chunk or a backfill batch
//! is mirrored with three multi-row inserts (policies, transactions, credits), each row finding
//! its parent through a unique key (the policy number, the sale id) in a scalar subquery, so no
//! generated id has to travel back (MySQL has no `RETURNING`).

use chrono::NaiveDate;
use moon_db::sea_query::{Expr, ExprTrait, Func, Order, Query, SelectStatement};
use moon_db::{Db, DbError, Tx};

use super::model::{Kind, MIRROR_PREFIX, Status};
use super::repo::month_of;

/// Rows per multi-row insert: 200 sales are at most 1,800 bound values per statement, under
/// every backend's parameter limit.
const ROWS_PER_INSERT: usize = 200;

/// Sales mirrored per backfill transaction.
const BACKFILL_BATCH: u64 = 1_000;

/// What the mirror needs of a sale.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MirrorSale {
    /// `sales.id`.
    pub sale_id: i64,
    /// The selling agent.
    pub agent_id: i64,
    /// The product.
    pub product_id: i64,
    /// The premium, in cents (> 0).
    pub amount_cents: i64,
    /// The day of the sale.
    pub sale_date: NaiveDate,
    /// The branch credited.
    pub branch: String,
    /// The sale's policy number, if it has one.
    pub policy_number: Option<String>,
}

impl MirrorSale {
    /// The mirror's policy number: the sale's own, or `SALE-<id>`.
    pub fn number(&self) -> String {
        self.policy_number.clone().unwrap_or_else(|| format!("{MIRROR_PREFIX}{}", self.sale_id))
    }
}

fn built(e: impl std::fmt::Display) -> DbError {
    DbError::Other(sqlx::Error::Protocol(format!("cannot build the sale mirror: {e}")))
}

fn scalar(q: SelectStatement) -> Expr {
    Expr::SubQuery(None, Box::new(q.into()))
}

fn policy_id_of(number: String) -> Expr {
    let mut q = Query::select();
    q.column("id").from("policies").and_where(Expr::col("policy_number").eq(number));
    scalar(q)
}

fn transaction_id_of(sale_id: i64) -> Expr {
    let mut q = Query::select();
    q.column("id").from("policy_transactions").and_where(Expr::col("sale_id").eq(sale_id));
    scalar(q)
}

/// Mirrors new sales, `created_by` naming who recorded each: three multi-row inserts per 200.
/// A policy number another policy already has is [`DbError::UniqueViolation`] (the sale's own
/// insert checks for it first, so only a concurrent `POST /api/v1/policies` can cause it).
pub async fn write(tx: &mut Tx, sales: &[(MirrorSale, &str)]) -> Result<(), DbError> {
    let now = moon_db::now();
    for part in sales.chunks(ROWS_PER_INSERT) {
        let mut policies = Query::insert();
        policies.into_table("policies").columns([
            "policy_number",
            "product_id",
            "premium_cents",
            "start_date",
            "status",
            "created_at",
            "updated_at",
        ]);
        let mut transactions = Query::insert();
        transactions.into_table("policy_transactions").columns([
            "policy_id",
            "kind",
            "effective_date",
            "amount_cents",
            "sale_id",
            "booked_period_start",
            "created_at",
            "created_by",
        ]);
        let mut credits = Query::insert();
        credits.into_table("transaction_credits").columns([
            "transaction_id",
            "agent_id",
            "share_bp",
            "amount_cents",
            "branch",
        ]);
        for (s, by) in part {
            policies
                .values([
                    s.number().into(),
                    s.product_id.into(),
                    s.amount_cents.into(),
                    s.sale_date.into(),
                    Status::InForce.as_str().into(),
                    now.into(),
                    now.into(),
                ])
                .map_err(built)?;
            transactions
                .values([
                    policy_id_of(s.number()),
                    Kind::NewBusiness.as_str().into(),
                    s.sale_date.into(),
                    s.amount_cents.into(),
                    s.sale_id.into(),
                    month_of(s.sale_date).into(),
                    now.into(),
                    (*by).into(),
                ])
                .map_err(built)?;
            credits
                .values([
                    transaction_id_of(s.sale_id),
                    s.agent_id.into(),
                    moon_domain::credit::WHOLE_BP.into(),
                    s.amount_cents.into(),
                    s.branch.as_str().into(),
                ])
                .map_err(built)?;
        }
        tx.execute(&policies).await?;
        tx.execute(&transactions).await?;
        tx.execute(&credits).await?;
    }
    Ok(())
}

/// The mirror's transaction of a sale: (transaction id, policy id, amount, premium in force).
async fn mirror_of(tx: &mut Tx, sale_id: i64) -> Result<Option<(i64, i64, i64, i64)>, DbError> {
    let mut q = Query::select();
    q.columns([("t", "id"), ("t", "policy_id"), ("t", "amount_cents")])
        .column(("p", "premium_cents"))
        .from_as("policy_transactions", "t")
        .join_as(
            moon_db::sea_query::JoinType::InnerJoin,
            "policies",
            "p",
            Expr::col(("p", "id")).equals(("t", "policy_id")),
        )
        .and_where(Expr::col(("t", "sale_id")).eq(sale_id));
    tx.fetch_optional(&q).await
}

/// Brings a changed sale's mirror in line: number, product, start and premium of the policy
/// (the premium in force moves by the change of amount, so later endorsements keep counting),
/// date and amount of the transaction, agent, amount and branch of the credit. A sale without a
/// mirror (written by a release before it) gets one.
pub async fn update(tx: &mut Tx, sale: MirrorSale, by: &str) -> Result<(), DbError> {
    let Some((transaction_id, policy_id, old_cents, premium)) = mirror_of(tx, sale.sale_id).await? else {
        return write(tx, &[(sale, by)]).await;
    };
    let premium = std::cmp::max(premium + sale.amount_cents - old_cents, 0);
    let now = moon_db::now();
    let mut p = Query::update();
    p.table("policies")
        .values([
            ("policy_number", Expr::val(sale.number())),
            ("product_id", Expr::val(sale.product_id)),
            ("premium_cents", Expr::val(premium)),
            ("start_date", Expr::val(sale.sale_date)),
            ("updated_at", Expr::val(now)),
        ])
        .and_where(Expr::col("id").eq(policy_id));
    tx.execute(&p).await?;
    let mut t = Query::update();
    t.table("policy_transactions")
        .values([
            ("effective_date", Expr::val(sale.sale_date)),
            ("amount_cents", Expr::val(sale.amount_cents)),
            ("booked_period_start", Expr::val(month_of(sale.sale_date))),
        ])
        .and_where(Expr::col("id").eq(transaction_id));
    tx.execute(&t).await?;
    let mut c = Query::update();
    c.table("transaction_credits")
        .values([
            ("agent_id", Expr::val(sale.agent_id)),
            ("amount_cents", Expr::val(sale.amount_cents)),
            ("branch", Expr::val(sale.branch.as_str())),
        ])
        .and_where(Expr::col("transaction_id").eq(transaction_id));
    tx.execute(&c).await.map(drop)
}

/// What deleting a sale does to its mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// The policy, its transaction and credit are gone (or there was no mirror).
    Removed,
    /// The policy has later transactions (a renewal, a cancellation…): it was kept, and the
    /// sale must not be deleted; cancel the policy instead.
    HasTransactions(i64),
}

/// Removes a deleted sale's mirror: the whole policy when the sale is all it holds.
pub async fn remove(tx: &mut Tx, sale_id: i64) -> Result<Removal, DbError> {
    let Some((transaction_id, policy_id, _, _)) = mirror_of(tx, sale_id).await? else {
        return Ok(Removal::Removed);
    };
    let mut others = Query::select();
    others
        .expr(Func::count(Expr::col("id")))
        .from("policy_transactions")
        .and_where(Expr::col("policy_id").eq(policy_id))
        .and_where(Expr::col("id").ne(transaction_id));
    let (n,): (i64,) = tx.fetch_optional(&others).await?.unwrap_or((0,));
    if n > 0 {
        return Ok(Removal::HasTransactions(policy_id));
    }
    let mut c = Query::delete();
    c.from_table("transaction_credits").and_where(Expr::col("transaction_id").eq(transaction_id));
    tx.execute(&c).await?;
    let mut t = Query::delete();
    t.from_table("policy_transactions").and_where(Expr::col("id").eq(transaction_id));
    tx.execute(&t).await?;
    let mut p = Query::delete();
    p.from_table("policies").and_where(Expr::col("id").eq(policy_id));
    tx.execute(&p).await?;
    Ok(Removal::Removed)
}

/// What a backfill did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backfill {
    /// Sales given their mirror.
    pub mirrored: u64,
    /// Sales left without one because a policy already has their policy number (listed in the
    /// log; they need a person).
    pub conflicts: u64,
}

/// The sales after `after` without a mirror, in id order: those whose policy number is free
/// when `free` is set, else those whose number a policy already has.
fn unmirrored(after: i64, free: bool, limit: u64) -> SelectStatement {
    let mut mirrored = Query::select();
    mirrored
        .expr(Expr::val(1))
        .from_as("policy_transactions", "t")
        .and_where(Expr::col(("t", "sale_id")).equals(("s", "id")));
    let mut taken = Query::select();
    taken
        .expr(Expr::val(1))
        .from_as("policies", "p")
        .and_where(Expr::col(("p", "policy_number")).equals(("s", "policy_number")));
    let mut q = Query::select();
    q.expr_as(Expr::col(("s", "id")), "sale_id")
        .columns(["agent_id", "product_id", "amount_cents", "sale_date", "branch", "policy_number"].map(|c| ("s", c)))
        .from_as("sales", "s")
        .and_where(Expr::col(("s", "id")).gt(after))
        .and_where(Expr::exists(mirrored).not());
    if free {
        q.and_where(Expr::col(("s", "policy_number")).is_null().or(Expr::exists(taken).not()));
    } else {
        q.and_where(Expr::col(("s", "policy_number")).is_not_null().and(Expr::exists(taken)));
    }
    q.order_by(("s", "id"), Order::Asc).limit(limit);
    q
}

/// Mirrors every sale that has no mirror yet (written before this release, or by a colour that
/// does not know the mirror), a thousand per transaction. Idempotent: a second run finds nothing.
/// Runs at every start, like the organisation backfill.
pub async fn backfill(db: &Db) -> Result<Backfill, DbError> {
    let mut report = Backfill::default();
    let mut after = 0;
    loop {
        let mut tx = db.begin().await?;
        let rows: Vec<MirrorSale> = tx.fetch_all(&unmirrored(after, true, BACKFILL_BATCH)).await?;
        let Some(last) = rows.last().map(|r| r.sale_id) else {
            tx.rollback().await?;
            break;
        };
        let batch: Vec<(MirrorSale, &str)> = rows.into_iter().map(|r| (r, "system:policy_backfill")).collect();
        write(&mut tx, &batch).await?;
        tx.commit().await?;
        report.mirrored += batch.len() as u64;
        after = last;
    }
    let conflicts: Vec<MirrorSale> = db.fetch_all(&unmirrored(0, false, 100)).await?;
    for s in &conflicts {
        tracing::warn!(
            sale_id = s.sale_id,
            "sale not mirrored: a policy already has its policy number; rename one of them"
        );
    }
    report.conflicts = conflicts.len() as u64;
    Ok(report)
}
