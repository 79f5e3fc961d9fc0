//! What the security layer already records, read back for the anomaly detectors: failures the
//! sign-in throttle counts, sign-ins, refusals and sales recorded in the audit trail, and the
//! addresses tokens are used from. Read-only; the detectors decide (`crate::anomalies`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use moon_db::sea_query::{Expr, ExprTrait, Func, Order, Query};
use moon_db::{Db, DbError};

use super::AuthState;

/// One throttle key over a threshold: an account (by name when it is a user's) or an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedKey {
    /// `account:<name>`, `account:unknown name (digest …)` or `address:<ip>`.
    pub subject: String,
    /// Whether it is an account (else an address).
    pub account: bool,
    /// Failures counted within the throttle's memory.
    pub failures: u32,
    /// The latest failure.
    pub last_failure_at: DateTime<Utc>,
}

/// Throttle keys with at least `min` failures still remembered (failures older than the
/// throttle's `forget_after` no longer count).
pub async fn failed_sign_ins(db: &Db, auth: &AuthState, min: u32) -> anyhow::Result<Vec<FailedKey>> {
    let forget = chrono::Duration::from_std(auth.config.throttle.forget_after).unwrap_or(chrono::Duration::hours(1));
    let mut q = Query::select();
    q.columns(["throttle_key", "failures", "last_failure_at"])
        .from("sign_in_throttle")
        .and_where(Expr::col("failures").gte(i64::from(min)))
        .and_where(Expr::col("last_failure_at").gte(moon_db::now() - forget));
    let rows: Vec<(String, i32, DateTime<Utc>)> = db.fetch_all(&q).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let key = auth.key(db).await?;
    let names: HashMap<String, String> = super::users::list(db)
        .await?
        .into_iter()
        .map(|u| (super::throttle::account_key(key, &u.username), u.username))
        .collect();
    Ok(rows
        .into_iter()
        // Keys of earlier versions (`account:<name>` in clear) are no longer counted: left out.
        .filter(|(k, ..)| k.starts_with("ip:") || k.starts_with("account:h1:"))
        .map(|(k, failures, at)| {
            let failures = u32::try_from(failures).unwrap_or(0);
            let (subject, account) = if let Some(ip) = k.strip_prefix("ip:") {
                (format!("address:{ip}"), false)
            } else if let Some(name) = names.get(&k) {
                (format!("account:{name}"), true)
            } else {
                let digest: String = k.trim_start_matches("account:h1:").chars().take(12).collect();
                (format!("account:unknown name (digest {digest})"), true)
            };
            FailedKey { subject, account, failures, last_failure_at: at }
        })
        .collect())
}

/// One successful sign-in from the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    /// The audit entry's id.
    pub entry: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// The user's id, as the trail writes it.
    pub user_id: String,
    /// The client address.
    pub address: String,
}

/// An `auth.sign_in` entry as read: id, time, user id, address.
type SignInRow = (i64, DateTime<Utc>, Option<String>, Option<String>);

/// Sign-ins recorded after audit entry `after`, oldest first, at most `limit`.
pub async fn sign_ins_after(db: &Db, after: i64, limit: u64) -> Result<Vec<SignIn>, DbError> {
    let mut q = Query::select();
    q.columns(["id", "occurred_at", "entity_id", "source_ip"])
        .from("audit_log")
        .and_where(Expr::col("action").eq("auth.sign_in"))
        .and_where(Expr::col("id").gt(after))
        .order_by("id", Order::Asc)
        .limit(limit);
    let rows: Vec<SignInRow> = db.fetch_all(&q).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(entry, at, user, ip)| Some(SignIn { entry, at, user_id: user?, address: ip? }))
        .collect())
}

/// How many sign-ins of `user_id` came before entry `before`, and how many of them from
/// `address`.
pub async fn earlier_sign_ins(db: &Db, user_id: &str, address: &str, before: i64) -> Result<(u64, u64), DbError> {
    let base = || {
        let mut q = Query::select();
        q.expr(Func::count(Expr::col("id")))
            .from("audit_log")
            .and_where(Expr::col("action").eq("auth.sign_in"))
            .and_where(Expr::col("entity").eq("user"))
            .and_where(Expr::col("entity_id").eq(user_id))
            .and_where(Expr::col("id").lt(before));
        q
    };
    let (all,): (i64,) = db.fetch_optional(&base()).await?.unwrap_or((0,));
    let mut same = base();
    same.and_where(Expr::col("source_ip").eq(address));
    let (same,): (i64,) = db.fetch_optional(&same).await?.unwrap_or((0,));
    Ok((u64::try_from(all).unwrap_or(0), u64::try_from(same).unwrap_or(0)))
}

/// The newest audit entry's id (0 for an empty trail).
pub async fn last_entry(db: &Db) -> Result<i64, DbError> {
    let mut q = Query::select();
    q.expr(Func::max(Expr::col("id"))).from("audit_log");
    Ok(db.fetch_optional::<(Option<i64>,)>(&q).await?.and_then(|(m,)| m).unwrap_or(0))
}

/// Entries with `action` since `since`, counted per actor (the operator, who runs the
/// command-line tools, left out: their loads are deliberate).
pub async fn per_actor(db: &Db, action: &str, since: DateTime<Utc>) -> Result<Vec<(String, u64)>, DbError> {
    let mut q = Query::select();
    q.column("actor")
        .expr(Func::count(Expr::col("id")))
        .from("audit_log")
        .and_where(Expr::col("action").eq(action))
        .and_where(Expr::col("occurred_at").gte(since))
        .and_where(Expr::col("actor").ne("operator"))
        .group_by_col("actor");
    let rows: Vec<(String, i64)> = db.fetch_all(&q).await?;
    Ok(rows.into_iter().map(|(a, n)| (a, u64::try_from(n).unwrap_or(0))).collect())
}

/// Sales accepted by bulk imports since `since`, per actor (operator left out).
pub async fn imported_per_actor(db: &Db, since: DateTime<Utc>) -> Result<Vec<(String, u64)>, DbError> {
    let mut q = Query::select();
    q.columns(["actor", "changes"])
        .from("audit_log")
        .and_where(Expr::col("action").eq("sale.import"))
        .and_where(Expr::col("occurred_at").gte(since))
        .and_where(Expr::col("actor").ne("operator"));
    let rows: Vec<(String, Option<String>)> = db.fetch_all(&q).await?;
    let mut out: HashMap<String, u64> = HashMap::new();
    for (actor, changes) in rows {
        let accepted = changes
            .and_then(|c| serde_json::from_str::<serde_json::Value>(&c).ok())
            .and_then(|v| v.get("accepted").and_then(serde_json::Value::as_u64))
            .unwrap_or(0);
        *out.entry(actor).or_default() += accepted;
    }
    Ok(out.into_iter().collect())
}

/// Who recorded each of `sales` (the `sale.create` entry's actor); imported sales have none.
pub async fn sale_creators(db: &Db, sales: &[i64]) -> Result<HashMap<i64, String>, DbError> {
    let mut out = HashMap::new();
    for chunk in sales.chunks(500) {
        let ids: Vec<String> = chunk.iter().map(ToString::to_string).collect();
        let mut q = Query::select();
        q.columns(["entity_id", "actor"])
            .from("audit_log")
            .and_where(Expr::col("entity").eq("sale"))
            .and_where(Expr::col("entity_id").is_in(ids))
            .and_where(Expr::col("action").eq("sale.create"));
        let rows: Vec<(Option<String>, String)> = db.fetch_all(&q).await?;
        for (id, actor) in rows {
            if let Some(id) = id.and_then(|i| i.parse::<i64>().ok()) {
                out.insert(id, actor);
            }
        }
    }
    Ok(out)
}
