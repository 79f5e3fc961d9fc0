//! Sign-in throttling kept in the database, so it holds across replicas and restarts.
//!
//! Each failed password or MFA code counts against the account and against the client address.
//! Past a number of free failures, every further failure locks the key for a delay that doubles
//! each time (up to a ceiling); while locked, sign-in answers 429 with `Retry-After`, even for the
//! right password. A success clears the account's count; the address count only fades with time,
//! so one valid account cannot be used to reset an address that is guessing others.

use std::time::Duration;

use chrono::{DateTime, Utc};
use moon_db::sea_query::{Expr, ExprTrait, Query, Value};
use moon_db::{Db, DbError, insert_row};

/// Throttling thresholds.
#[derive(Debug, Clone)]
pub struct ThrottleSettings {
    /// Failures per account before delays start.
    pub account_free_failures: u32,
    /// Failures per client address before delays start (higher: offices share addresses).
    pub ip_free_failures: u32,
    /// The first delay; each further failure doubles it.
    pub base_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// A key whose last failure is older than this starts counting afresh.
    pub forget_after: Duration,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            account_free_failures: 5,
            ip_free_failures: 30,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(3600),
        }
    }
}

/// The throttle key of an account: a keyed digest of the name as typed (normalised), never the
/// name itself, since a mistyped password often lands in the user-name field. Rows written in
/// clear by earlier versions (`account:<name>`) are no longer read and expire like any other.
pub fn account_key(key: &super::crypto::SealingKey, username: &str) -> String {
    let name: String = username.trim().to_lowercase().chars().take(150).collect();
    format!("account:h1:{}", key.keyed_digest("sign-in-throttle", &name))
}

/// The throttle key of a client address.
pub fn ip_key(ip: std::net::IpAddr) -> String {
    format!("ip:{ip}")
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    failures: i32,
    last_failure_at: DateTime<Utc>,
    locked_until: Option<DateTime<Utc>>,
}

async fn row(db: &Db, key: &str) -> Result<Option<Row>, DbError> {
    let mut q = Query::select();
    q.columns(["failures", "last_failure_at", "locked_until"])
        .from("sign_in_throttle")
        .and_where(Expr::col("throttle_key").eq(key));
    db.fetch_optional(&q).await
}

/// Seconds until the first of `keys` unlocks, or `None` when none is locked.
pub async fn locked_for(db: &Db, keys: &[String]) -> Result<Option<u64>, DbError> {
    let now = moon_db::now();
    let mut longest: Option<u64> = None;
    for key in keys {
        if let Some(until) = row(db, key).await?.and_then(|r| r.locked_until).filter(|u| *u > now) {
            let millis = u64::try_from((until - now).num_milliseconds()).unwrap_or(0);
            let secs = std::cmp::max(millis.div_ceil(1000), 1);
            longest = Some(longest.map_or(secs, |l| std::cmp::max(l, secs)));
        }
    }
    Ok(longest)
}

/// Counts a failure against `key`, locking it once past `free` failures.
pub async fn record_failure(db: &Db, settings: &ThrottleSettings, key: &str, free: u32) -> Result<(), DbError> {
    let now = moon_db::now();
    let forget = chrono::Duration::from_std(settings.forget_after).unwrap_or(chrono::Duration::MAX);
    let failures = match row(db, key).await? {
        Some(r) if now - r.last_failure_at < forget => u32::try_from(r.failures).unwrap_or(0).saturating_add(1),
        _ => 1,
    };
    let locked_until = (failures >= free).then(|| {
        let doublings = std::cmp::min(failures - free, 20);
        let delay = settings.base_delay.saturating_mul(1u32 << doublings).min(settings.max_delay);
        now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX)
    });
    let count = i32::try_from(failures).unwrap_or(i32::MAX);
    let mut tx = db.begin().await?;
    // Failures for made-up names add rows; forget the stale, unlocked ones as new ones come, so
    // the table stays the size of recent activity.
    let mut stale = Query::delete();
    stale
        .from_table("sign_in_throttle")
        .and_where(Expr::col("last_failure_at").lt(now - forget))
        .and_where(Expr::col("locked_until").is_null().or(Expr::col("locked_until").lt(now)));
    tx.execute(&stale).await?;
    let mut update = Query::update();
    update
        .table("sign_in_throttle")
        .values([
            ("failures", Expr::val(count)),
            ("last_failure_at", Expr::val(now)),
            ("locked_until", Expr::val(locked_until)),
        ])
        .and_where(Expr::col("throttle_key").eq(key));
    if tx.execute(&update).await? == 0 {
        let insert = insert_row(
            "sign_in_throttle",
            vec![
                ("throttle_key", Value::from(key.to_owned())),
                ("failures", Value::from(count)),
                ("last_failure_at", Value::from(now)),
                ("locked_until", Value::from(locked_until)),
            ],
        );
        match tx.execute(&insert).await {
            // Another replica counted the first failure at the same moment: one is enough.
            Err(DbError::UniqueViolation) => return Ok(()),
            other => {
                other?;
            }
        }
    }
    tx.commit().await
}

/// Forgets the failures of `key` (after a successful sign-in).
pub async fn clear(db: &Db, key: &str) -> Result<(), DbError> {
    let mut stmt = Query::delete();
    stmt.from_table("sign_in_throttle").and_where(Expr::col("throttle_key").eq(key));
    let mut tx = db.begin().await?;
    tx.execute(&stmt).await?;
    tx.commit().await
}

/// Deletes throttle rows whose last failure is older than `before` and that lock nothing any
/// more (retention): they name accounts and addresses, and throttle nobody. Returns how many.
pub async fn prune_idle(db: &Db, before: DateTime<Utc>) -> Result<u64, DbError> {
    let now = moon_db::now();
    let mut del = Query::delete();
    del.from_table("sign_in_throttle")
        .and_where(Expr::col("last_failure_at").lt(before))
        .and_where(Expr::col("locked_until").is_null().or(Expr::col("locked_until").lt(now)));
    let mut tx = db.begin().await?;
    let n = tx.execute(&del).await?;
    tx.commit().await?;
    Ok(n)
}
