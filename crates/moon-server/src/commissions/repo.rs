//! The queries commission plans own: `commission_plans` and `commission_plan_versions`. Versions
//! are only ever inserted; the caller's visibility arrives as the roles whose plans it may read.

use chrono::{DateTime, NaiveDate, Utc};
use moon_db::sea_query::{Expr, ExprTrait, Order, Query, SelectStatement};
use moon_db::{Db, DbError, Tx, insert_row};
use moon_http::Page;
use moon_http::paging::keyset;

use super::model::{PlanRole, Subject, VersionStatus};

/// A plan row as stored.
#[expect(missing_docs, reason = "the fields are the columns of the same names, described in the migration")]
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PlanRow {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub product_id: Option<i64>,
    pub product_line: Option<String>,
    pub subject: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A version row as stored.
#[expect(missing_docs, reason = "the fields are the columns of the same names, described in the migration")]
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionRow {
    pub id: i64,
    pub plan_id: i64,
    pub version: i64,
    pub effective_from: NaiveDate,
    pub status: String,
    pub rules: Option<String>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

const PLAN_COLUMNS: [&str; 8] =
    ["id", "name", "role", "product_id", "product_line", "subject", "created_at", "updated_at"];
const VERSION_COLUMNS: [&str; 9] =
    ["id", "plan_id", "version", "effective_from", "status", "rules", "note", "created_at", "created_by"];

fn plans() -> SelectStatement {
    let mut q = Query::select();
    q.columns(PLAN_COLUMNS.map(|c| ("commission_plans", c))).from("commission_plans");
    q
}

fn versions() -> SelectStatement {
    let mut q = Query::select();
    q.columns(VERSION_COLUMNS.map(|c| ("commission_plan_versions", c))).from("commission_plan_versions");
    q
}

/// Filters of a listing, validated.
#[derive(Debug, Clone, Default)]
pub struct PlanQuery {
    /// Only plans for this role.
    pub role: Option<PlanRole>,
    /// Only the plan of this product.
    pub product_id: Option<i64>,
    /// Only the plan of this line.
    pub product_line: Option<String>,
}

fn readable(q: &mut SelectStatement, roles: Option<&[PlanRole]>) {
    if let Some(roles) = roles {
        q.and_where(Expr::col(("commission_plans", "role")).is_in(roles.iter().map(|r| r.as_str())));
    }
}

/// One page of plans; `roles` limits them to those the caller may read (`None`: all).
pub async fn list(db: &Db, roles: Option<&[PlanRole]>, f: &PlanQuery, page: &Page) -> Result<Vec<PlanRow>, DbError> {
    let mut q = plans();
    readable(&mut q, roles);
    let col = |c: &'static str| Expr::col(("commission_plans", c));
    if let Some(r) = f.role {
        q.and_where(col("role").eq(r.as_str()));
    }
    if let Some(p) = f.product_id {
        q.and_where(col("product_id").eq(p));
    }
    if let Some(l) = &f.product_line {
        q.and_where(col("product_line").eq(l.as_str()));
    }
    keyset(&mut q, ("commission_plans", "id"), page);
    db.fetch_all(&q).await
}

/// One plan, if `roles` may read it.
pub async fn get(db: &Db, roles: Option<&[PlanRole]>, id: i64) -> Result<Option<PlanRow>, DbError> {
    let mut q = plans();
    readable(&mut q, roles);
    q.and_where(Expr::col(("commission_plans", "id")).eq(id));
    db.fetch_optional(&q).await
}

/// The plans of one role among these subjects, for the lookup of the applicable plan.
pub async fn for_subjects(db: &Db, role: PlanRole, subjects: &[Subject]) -> Result<Vec<PlanRow>, DbError> {
    let mut q = plans();
    q.and_where(Expr::col("role").eq(role.as_str()))
        .and_where(Expr::col("subject").is_in(subjects.iter().map(Subject::key)));
    db.fetch_all(&q).await
}

/// Every version of these plans, by plan and date.
pub async fn versions_of(db: &Db, plan_ids: &[i64]) -> Result<Vec<VersionRow>, DbError> {
    if plan_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = versions();
    q.and_where(Expr::col("plan_id").is_in(plan_ids.iter().copied()))
        .order_by("plan_id", Order::Asc)
        .order_by("effective_from", Order::Asc);
    db.fetch_all(&q).await
}

/// One plan inside a transaction.
pub async fn find(tx: &mut Tx, id: i64) -> Result<Option<PlanRow>, DbError> {
    let mut q = plans();
    q.and_where(Expr::col("id").eq(id));
    tx.fetch_optional(&q).await
}

/// The plan of a role and subject, inside a transaction.
pub async fn find_by_key(tx: &mut Tx, role: PlanRole, subject: &Subject) -> Result<Option<PlanRow>, DbError> {
    let mut q = plans();
    q.and_where(Expr::col("role").eq(role.as_str())).and_where(Expr::col("subject").eq(subject.key()));
    tx.fetch_optional(&q).await
}

/// The versions of one plan inside a transaction, oldest first.
pub async fn versions_in(tx: &mut Tx, plan_id: i64) -> Result<Vec<VersionRow>, DbError> {
    let mut q = versions();
    q.and_where(Expr::col("plan_id").eq(plan_id)).order_by("effective_from", Order::Asc);
    tx.fetch_all(&q).await
}

/// Inserts a plan (without versions); a second plan for the same role and subject is
/// [`DbError::UniqueViolation`].
pub async fn insert_plan(tx: &mut Tx, name: &str, role: PlanRole, subject: &Subject) -> Result<i64, DbError> {
    let now = moon_db::now();
    let (product_id, product_line) = match subject {
        Subject::Product(id) => (Some(*id), None),
        Subject::Line(l) => (None, Some(l.clone())),
        Subject::All => (None, None),
    };
    let stmt = insert_row(
        "commission_plans",
        vec![
            ("name", name.into()),
            ("role", role.as_str().into()),
            ("product_id", product_id.into()),
            ("product_line", product_line.into()),
            ("subject", subject.key().into()),
            ("created_at", now.into()),
            ("updated_at", now.into()),
        ],
    );
    tx.insert(&stmt).await
}

/// Marks a plan changed. Run first in a version's transaction: on PostgreSQL and MySQL the row
/// lock serialises concurrent versions of one plan, so each reads the latest before numbering.
pub async fn touch(tx: &mut Tx, id: i64) -> Result<(), DbError> {
    let mut q = Query::update();
    q.table("commission_plans").values([("updated_at", Expr::val(moon_db::now()))]).and_where(Expr::col("id").eq(id));
    tx.execute(&q).await.map(drop)
}

/// A version to insert.
#[expect(missing_docs, reason = "the fields are the columns of the same names, described in the migration")]
#[derive(Debug, Clone)]
pub struct NewVersionRow<'a> {
    pub plan_id: i64,
    pub version: i64,
    pub effective_from: NaiveDate,
    pub status: VersionStatus,
    pub rules: Option<String>,
    pub note: Option<&'a str>,
    pub created_by: &'a str,
}

/// Inserts a version; a clash of number or date is [`DbError::UniqueViolation`].
pub async fn insert_version(tx: &mut Tx, v: &NewVersionRow<'_>) -> Result<i64, DbError> {
    let stmt = insert_row(
        "commission_plan_versions",
        vec![
            ("plan_id", v.plan_id.into()),
            ("version", v.version.into()),
            ("effective_from", v.effective_from.into()),
            ("status", v.status.as_str().into()),
            ("rules", v.rules.clone().into()),
            ("note", v.note.map(str::to_owned).into()),
            ("created_at", moon_db::now().into()),
            ("created_by", v.created_by.into()),
        ],
    );
    tx.insert(&stmt).await
}
