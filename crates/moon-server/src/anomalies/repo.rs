//! The queries of the anomaly findings: store (once per kind, subject and window), list,
//! dismiss, the scan cursors, and the open counts the metric shows.

use chrono::{DateTime, Utc};
use moon_db::sea_query::{Expr, ExprTrait, Func, Query, Value};
use moon_db::{Db, DbError, Tx, insert_row};
use serde::Serialize;

use super::detect::Finding;
use moon_http::Page;
use moon_http::paging::keyset;

/// A stored finding, as admins list it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema, sqlx::FromRow)]
pub struct Anomaly {
    /// Id.
    pub id: i64,
    /// The detector (`sale_amount_outlier`, `failed_sign_ins_account`, …).
    pub kind: String,
    /// What it is about (`sale:12`, `user:3 from 203.0.113.7`, `branch:colombo`, …).
    pub subject: String,
    /// The window it covers (a day, an hour or minutes).
    #[sqlx(rename = "window_key")]
    #[serde(rename = "window")]
    pub window_key: String,
    /// The figures that fired it, as JSON text.
    #[serde(skip)]
    pub figures: String,
    /// Why it fired, in one sentence.
    pub why: String,
    /// `open` or `dismissed`.
    pub status: String,
    /// When it was found (UTC).
    pub detected_at: DateTime<Utc>,
    /// When it was dismissed.
    pub dismissed_at: Option<DateTime<Utc>>,
    /// Who dismissed it (`user:3`).
    pub dismissed_by: Option<String>,
    /// The reason given.
    pub dismiss_reason: Option<String>,
}

/// A finding with its figures parsed, for the API.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AnomalyView {
    /// The finding.
    #[serde(flatten)]
    pub anomaly: Anomaly,
    /// The figures that fired it.
    #[schema(value_type = Object)]
    pub figures: serde_json::Value,
}

impl From<Anomaly> for AnomalyView {
    fn from(anomaly: Anomaly) -> Self {
        let figures = serde_json::from_str(&anomaly.figures).unwrap_or(serde_json::Value::Null);
        Self { anomaly, figures }
    }
}

const COLUMNS: [&str; 11] = [
    "id",
    "kind",
    "subject",
    "window_key",
    "figures",
    "why",
    "status",
    "detected_at",
    "dismissed_at",
    "dismissed_by",
    "dismiss_reason",
];

/// Stores `f` in the caller's transaction; its id, or `None` when the same kind, subject and
/// window is already stored (open or dismissed: a dismissed window stays quiet).
pub async fn insert(tx: &mut Tx, f: &Finding) -> Result<Option<i64>, DbError> {
    let mut q = Query::select();
    q.column("id")
        .from("anomalies")
        .and_where(Expr::col("kind").eq(f.kind.as_str()))
        .and_where(Expr::col("subject").eq(f.subject.as_str()))
        .and_where(Expr::col("window_key").eq(f.window.as_str()));
    if tx.fetch_optional::<(i64,)>(&q).await?.is_some() {
        return Ok(None);
    }
    let stmt = insert_row(
        "anomalies",
        vec![
            ("kind", f.kind.as_str().into()),
            ("subject", f.subject.chars().take(200).collect::<String>().into()),
            ("window_key", f.window.as_str().into()),
            ("figures", f.figures.to_string().into()),
            ("why", f.why.chars().take(1000).collect::<String>().into()),
            ("status", "open".into()),
            ("detected_at", moon_db::now().into()),
            ("dismissed_at", Value::ChronoDateTimeUtc(None)),
            ("dismissed_by", Value::String(None)),
            ("dismiss_reason", Value::String(None)),
        ],
    );
    match tx.insert(&stmt).await {
        Ok(id) => Ok(Some(id)),
        // Another replica stored the same finding at the same moment.
        Err(DbError::UniqueViolation) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Conditions of a listing.
#[derive(Debug, Clone, Default)]
pub struct AnomalyQuery {
    /// Only `open` or only `dismissed`; `None`: both.
    pub status: Option<String>,
    /// Only this detector.
    pub kind: Option<String>,
}

/// Findings, newest first, filtered and paged.
pub async fn list(db: &Db, f: &AnomalyQuery, page: &Page) -> Result<Vec<Anomaly>, DbError> {
    let mut q = Query::select();
    q.columns(COLUMNS).from("anomalies");
    if let Some(s) = &f.status {
        q.and_where(Expr::col("status").eq(s.as_str()));
    }
    if let Some(k) = &f.kind {
        q.and_where(Expr::col("kind").eq(k.as_str()));
    }
    keyset(&mut q, ("anomalies", "id"), page);
    db.fetch_all(&q).await
}

/// One finding.
pub async fn get(db: &Db, id: i64) -> Result<Option<Anomaly>, DbError> {
    let mut q = Query::select();
    q.columns(COLUMNS).from("anomalies").and_where(Expr::col("id").eq(id));
    db.fetch_optional(&q).await
}

/// Marks an open finding dismissed in the caller's transaction; false when it was not open.
pub async fn dismiss(tx: &mut Tx, id: i64, by: &str, reason: &str) -> Result<bool, DbError> {
    let mut stmt = Query::update();
    stmt.table("anomalies")
        .values([
            ("status", Expr::val("dismissed")),
            ("dismissed_at", Expr::val(moon_db::now())),
            ("dismissed_by", Expr::val(by)),
            ("dismiss_reason", Expr::val(reason)),
        ])
        .and_where(Expr::col("id").eq(id))
        .and_where(Expr::col("status").eq("open"));
    Ok(tx.execute(&stmt).await? == 1)
}

/// Open findings per kind (for `moon_anomalies_open`).
pub async fn open_counts(db: &Db) -> Result<Vec<(String, i64)>, DbError> {
    let mut q = Query::select();
    q.column("kind")
        .expr(Func::count(Expr::col("id")))
        .from("anomalies")
        .and_where(Expr::col("status").eq("open"))
        .group_by_col("kind");
    db.fetch_all(&q).await
}

/// Where the scan `name` stopped last time.
pub async fn cursor(db: &Db, name: &str) -> Result<Option<i64>, DbError> {
    let mut q = Query::select();
    q.column("position").from("anomaly_cursors").and_where(Expr::col("name").eq(name));
    Ok(db.fetch_optional::<(i64,)>(&q).await?.map(|(p,)| p))
}

/// Moves the scan `name` to `position`.
pub async fn set_cursor(db: &Db, name: &str, position: i64) -> Result<(), DbError> {
    let now = moon_db::now();
    let mut tx = db.begin().await?;
    let mut up = Query::update();
    up.table("anomaly_cursors")
        .values([("position", Expr::val(position)), ("updated_at", Expr::val(now))])
        .and_where(Expr::col("name").eq(name));
    if tx.execute(&up).await? == 0 {
        let ins = insert_row(
            "anomaly_cursors",
            vec![("name", name.into()), ("position", position.into()), ("updated_at", now.into())],
        );
        match tx.execute(&ins).await {
            Err(DbError::UniqueViolation) => {}
            other => {
                other?;
            }
        }
    }
    tx.commit().await
}
