//! The queries the sales targets own: `sales_targets` and `target_period_locks`, with the
//! caller's visibility applied as a condition.

use chrono::{DateTime, NaiveDate, Utc};
use moon_db::sea_query::{Cond, Expr, ExprTrait, Func, Query, SelectStatement, Value};
use moon_db::{Db, DbError, Tx, insert_row};
use moon_domain::{BusinessCalendar, FiscalYearStart, Money, Period, PeriodKind};

use super::model::{ScopeKind, Subject, Target};
use moon_changelog::{Event, TargetFacts};
use moon_http::Page;
use moon_http::paging::keyset;

const COLUMNS: [&str; 13] = [
    "id",
    "scope_kind",
    "scope_key",
    "product_id",
    "product_line",
    "subject",
    "period_kind",
    "period_start",
    "amount_cents",
    "policy_count",
    "created_at",
    "updated_at",
    "period_end",
];

/// A target row as stored.
#[expect(missing_docs, reason = "the fields are the columns of the same names, described in the migration")]
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TargetRow {
    pub id: i64,
    pub scope_kind: String,
    pub scope_key: String,
    pub product_id: Option<i64>,
    pub product_line: Option<String>,
    pub subject: String,
    pub period_kind: String,
    pub period_start: NaiveDate,
    pub amount_cents: i64,
    pub policy_count: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub period_end: NaiveDate,
}

impl TargetRow {
    /// The period, re-read under the configured fiscal year.
    pub fn period(&self, fiscal: FiscalYearStart) -> Result<Period, DbError> {
        let kind = PeriodKind::parse("period_kind", &self.period_kind).map_err(corrupt)?;
        // A row written under another fiscal start month keeps its own start; read it as is.
        Ok(fiscal
            .period_at("period_start", kind, self.period_start)
            .unwrap_or_else(|_| fiscal.period(kind, self.period_start)))
    }

    /// The API shape.
    pub fn to_target(&self, calendar: &BusinessCalendar, locked: bool) -> Result<Target, DbError> {
        let kind = ScopeKind::parse("scope_kind", &self.scope_kind).map_err(corrupt)?;
        let period = self.period(calendar.fiscal)?;
        Ok(Target {
            id: self.id,
            scope_kind: kind,
            scope_key: self.scope_key.clone(),
            product_id: self.product_id,
            product_line: self.product_line.clone(),
            period: calendar.fiscal.label(period),
            period_kind: period.kind(),
            period_start: self.period_start,
            period_end: self.period_end,
            amount: Money::from_cents(self.amount_cents),
            policy_count: self.policy_count,
            locked,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }

    /// The facts the change log carries.
    pub fn facts(&self) -> TargetFacts {
        TargetFacts {
            scope_kind: self.scope_kind.clone(),
            scope_key: self.scope_key.clone(),
            product_id: self.product_id,
            product_line: self.product_line.clone(),
            period_kind: self.period_kind.clone(),
            period_start: self.period_start,
            period_end: self.period_end,
            amount_cents: self.amount_cents,
            policy_count: self.policy_count,
        }
    }
}

fn corrupt(e: moon_domain::FieldError) -> DbError {
    DbError::Other(moon_db::sqlx::Error::Protocol(format!("a stored target cannot be read: {e}")))
}

fn base() -> SelectStatement {
    let mut q = Query::select();
    q.columns(COLUMNS.map(|c| ("sales_targets", c))).from("sales_targets");
    q
}

/// Who may read which targets, as resolved from the caller (see `service::visibility`).
#[derive(Debug, Clone, Default)]
pub struct Visibility {
    /// Everything (admins, analysts).
    pub all: bool,
    /// Region targets, all of them (managers, until regions know their branches).
    pub regions: bool,
    /// Branch codes (compared case-insensitively).
    pub branches: Vec<String>,
    /// Team codes (compared case-insensitively).
    pub teams: Vec<String>,
    /// Agent codes.
    pub agents: Vec<String>,
}

fn lower_in(kind: ScopeKind, keys: &[String]) -> Expr {
    let lowered: Vec<String> = keys.iter().map(|k| k.to_lowercase()).collect();
    Expr::col(("sales_targets", "scope_kind"))
        .eq(kind.as_str())
        .and(Expr::expr(Func::lower(Expr::col(("sales_targets", "scope_key")))).is_in(lowered))
}

impl Visibility {
    fn condition(&self) -> Option<Cond> {
        if self.all {
            return None;
        }
        let kind = |k: ScopeKind| Expr::col(("sales_targets", "scope_kind")).eq(k.as_str());
        let mut c = Cond::any().add(kind(ScopeKind::Company));
        if self.regions {
            c = c.add(kind(ScopeKind::Region));
        }
        for (k, keys) in [(ScopeKind::Branch, &self.branches), (ScopeKind::Team, &self.teams)] {
            if !keys.is_empty() {
                c = c.add(lower_in(k, keys));
            }
        }
        if !self.agents.is_empty() {
            c = c.add(
                kind(ScopeKind::Agent)
                    .and(Expr::col(("sales_targets", "scope_key")).is_in(self.agents.iter().map(String::as_str))),
            );
        }
        Some(c)
    }
}

/// Filters of a listing, validated.
#[expect(missing_docs, reason = "the fields are the columns of the same names, described in the migration")]
#[derive(Debug, Clone, Default)]
pub struct TargetQuery {
    pub scope_kind: Option<ScopeKind>,
    pub scope_key: Option<String>,
    pub product_id: Option<i64>,
    pub product_line: Option<String>,
    pub period: Option<Period>,
    pub period_kind: Option<PeriodKind>,
    /// Periods starting on or after this day.
    pub from: Option<NaiveDate>,
    /// Periods ending on or before this day.
    pub to: Option<NaiveDate>,
}

/// One page of the targets `vis` may see.
pub async fn list(db: &Db, vis: &Visibility, f: &TargetQuery, page: &Page) -> Result<Vec<TargetRow>, DbError> {
    let mut q = base();
    if let Some(c) = vis.condition() {
        q.cond_where(c);
    }
    let col = |c: &'static str| Expr::col(("sales_targets", c));
    if let Some(k) = f.scope_kind {
        q.and_where(col("scope_kind").eq(k.as_str()));
    }
    if let Some(k) = &f.scope_key {
        q.and_where(Expr::expr(Func::lower(col("scope_key"))).eq(k.to_lowercase()));
    }
    if let Some(p) = f.product_id {
        q.and_where(col("product_id").eq(p));
    }
    if let Some(l) = &f.product_line {
        q.and_where(col("product_line").eq(l.as_str()));
    }
    if let Some(p) = f.period {
        q.and_where(col("period_kind").eq(p.kind().as_str())).and_where(col("period_start").eq(p.start()));
    }
    if let Some(k) = f.period_kind {
        q.and_where(col("period_kind").eq(k.as_str()));
    }
    if let Some(d) = f.from {
        q.and_where(col("period_start").gte(d));
    }
    if let Some(d) = f.to {
        q.and_where(col("period_end").lte(d));
    }
    keyset(&mut q, ("sales_targets", "id"), page);
    db.fetch_all(&q).await
}

/// One target by id, if `vis` may see it.
pub async fn get(db: &Db, vis: &Visibility, id: i64) -> Result<Option<TargetRow>, DbError> {
    let mut q = base();
    if let Some(c) = vis.condition() {
        q.cond_where(c);
    }
    q.and_where(Expr::col(("sales_targets", "id")).eq(id));
    db.fetch_optional(&q).await
}

/// One target by id inside a transaction.
pub async fn find(tx: &mut Tx, id: i64) -> Result<Option<TargetRow>, DbError> {
    let mut q = base();
    q.and_where(Expr::col(("sales_targets", "id")).eq(id));
    tx.fetch_optional(&q).await
}

/// The target with this unique key, inside a transaction.
pub async fn find_by_key(
    tx: &mut Tx,
    kind: ScopeKind,
    key: &str,
    subject: &Subject,
    period: Period,
) -> Result<Option<TargetRow>, DbError> {
    let mut q = base();
    q.and_where(Expr::col("scope_kind").eq(kind.as_str()))
        .and_where(Expr::col("scope_key").eq(key))
        .and_where(Expr::col("subject").eq(subject.key()))
        .and_where(Expr::col("period_kind").eq(period.kind().as_str()))
        .and_where(Expr::col("period_start").eq(period.start()));
    tx.fetch_optional(&q).await
}

/// Every target of one period, inside a transaction (for copying forward).
pub async fn in_period(tx: &mut Tx, period: Period) -> Result<Vec<TargetRow>, DbError> {
    let mut q = base();
    q.and_where(Expr::col("period_kind").eq(period.kind().as_str()))
        .and_where(Expr::col("period_start").eq(period.start()))
        .order_by("id", moon_db::sea_query::Order::Asc);
    tx.fetch_all(&q).await
}

/// A new target's values.
#[expect(missing_docs, reason = "the fields are the columns of the same names, described in the migration")]
#[derive(Debug, Clone)]
pub struct NewTarget {
    pub scope_kind: ScopeKind,
    pub scope_key: String,
    pub subject: Subject,
    pub product_line: Option<String>,
    pub period: Period,
    pub amount_cents: i64,
    pub policy_count: Option<i64>,
}

/// Inserts a target and logs it; a duplicate key is [`DbError::UniqueViolation`].
pub async fn insert(tx: &mut Tx, t: &NewTarget) -> Result<TargetRow, DbError> {
    let now = moon_db::now();
    let product_id = match t.subject {
        Subject::Product(id) => Some(id),
        _ => None,
    };
    let stmt = insert_row(
        "sales_targets",
        vec![
            ("scope_kind", t.scope_kind.as_str().into()),
            ("scope_key", t.scope_key.as_str().into()),
            ("product_id", product_id.into()),
            ("product_line", t.product_line.clone().into()),
            ("subject", t.subject.key().into()),
            ("period_kind", t.period.kind().as_str().into()),
            ("period_start", t.period.start().into()),
            ("period_end", t.period.end().into()),
            ("amount_cents", t.amount_cents.into()),
            ("policy_count", t.policy_count.into()),
            ("created_at", now.into()),
            ("updated_at", now.into()),
        ],
    );
    let id = tx.insert(&stmt).await?;
    let row = find(tx, id).await?.ok_or_else(vanished)?;
    moon_changelog::record(tx, &[Event::Target { id, before: None, after: Some(row.facts()) }]).await?;
    Ok(row)
}

fn vanished() -> DbError {
    DbError::Other(moon_db::sqlx::Error::Protocol(String::from("a target vanished inside its own transaction")))
}

/// Sets a target's amount and count and logs the change.
pub async fn update(
    tx: &mut Tx,
    before: &TargetRow,
    amount_cents: i64,
    policy_count: Option<i64>,
) -> Result<TargetRow, DbError> {
    let mut q = Query::update();
    q.table("sales_targets")
        .values([
            ("amount_cents", Expr::val(amount_cents)),
            ("policy_count", Expr::val(Value::from(policy_count))),
            ("updated_at", Expr::val(moon_db::now())),
        ])
        .and_where(Expr::col("id").eq(before.id));
    tx.execute(&q).await?;
    let after = find(tx, before.id).await?.ok_or_else(vanished)?;
    moon_changelog::record(
        tx,
        &[Event::Target { id: before.id, before: Some(before.facts()), after: Some(after.facts()) }],
    )
    .await?;
    Ok(after)
}

/// Deletes a target and logs it.
pub async fn delete(tx: &mut Tx, before: &TargetRow) -> Result<(), DbError> {
    let mut q = Query::delete();
    q.from_table("sales_targets").and_where(Expr::col("id").eq(before.id));
    tx.execute(&q).await?;
    moon_changelog::record(tx, &[Event::Target { id: before.id, before: Some(before.facts()), after: None }]).await?;
    Ok(())
}

/// A lock on a finished period.
#[expect(missing_docs, reason = "the fields are the columns of the same names, described in the migration")]
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LockRow {
    pub period_kind: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub locked_at: DateTime<Utc>,
    pub locked_by: String,
}

fn locks() -> SelectStatement {
    let mut q = Query::select();
    q.columns(["period_kind", "period_start", "period_end", "locked_at", "locked_by"]).from("target_period_locks");
    q
}

/// The lock that covers `period` (a lock on a quarter covers its months), if any.
pub async fn lock_covering(tx: &mut Tx, period: Period) -> Result<Option<LockRow>, DbError> {
    let mut q = locks();
    q.and_where(Expr::col("period_start").lte(period.start()))
        .and_where(Expr::col("period_end").gte(period.end()))
        .limit(1);
    tx.fetch_optional(&q).await
}

/// Locks overlapping `from..=to`, for marking listed targets.
pub async fn locks_between(db: &Db, from: NaiveDate, to: NaiveDate) -> Result<Vec<LockRow>, DbError> {
    let mut q = locks();
    q.and_where(Expr::col("period_start").lte(to)).and_where(Expr::col("period_end").gte(from));
    db.fetch_all(&q).await
}

/// The lock of exactly this period.
pub async fn find_lock(tx: &mut Tx, period: Period) -> Result<Option<LockRow>, DbError> {
    let mut q = locks();
    q.and_where(Expr::col("period_kind").eq(period.kind().as_str()))
        .and_where(Expr::col("period_start").eq(period.start()));
    tx.fetch_optional(&q).await
}

/// Locks a period.
pub async fn insert_lock(tx: &mut Tx, period: Period, by: &str) -> Result<(), DbError> {
    let stmt = insert_row(
        "target_period_locks",
        vec![
            ("period_kind", period.kind().as_str().into()),
            ("period_start", period.start().into()),
            ("period_end", period.end().into()),
            ("locked_at", moon_db::now().into()),
            ("locked_by", by.into()),
        ],
    );
    tx.execute(&stmt).await?;
    Ok(())
}
