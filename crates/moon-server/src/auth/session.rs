//! Browser sessions: an opaque 256-bit token in an HttpOnly cookie, of which the database keeps
//! only the SHA-256. A session ends at sign-out, after an idle period, at an absolute lifetime,
//! or when its user is disabled or changed (rows deleted), whichever comes first.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use chrono::{DateTime, Utc};
use moon_db::sea_query::{Expr, ExprTrait, Query, Value};
use moon_db::{Db, DbError, insert_row};

use super::crypto;
use super::users::{Account, account_select};

/// Session lifetimes and cookie attributes.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// A session unused this long ends.
    pub idle: Duration,
    /// A session ends this long after sign-in however busy it is.
    pub absolute: Duration,
    /// How long the password step stays valid while the second factor is awaited.
    pub mfa_pending: Duration,
    /// Mark cookies `Secure` and use the `__Host-` name (when served over TLS).
    pub secure_cookies: bool,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3600),
            mfa_pending: Duration::from_secs(5 * 60),
            secure_cookies: false,
        }
    }
}

impl SessionSettings {
    /// The cookie name: `__Host-` requires `Secure`, no `Domain` and `Path=/`, which pins the
    /// cookie to this exact origin, so it is used whenever the cookie can be `Secure`.
    pub fn cookie_name(&self) -> &'static str {
        if self.secure_cookies { "__Host-moon_session" } else { "moon_session" }
    }

    /// `Set-Cookie` for a new session token.
    pub fn set_cookie(&self, token: &str, max_age: Duration) -> Option<HeaderValue> {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            self.cookie_name(),
            max_age.as_secs()
        ))
        .ok()
    }

    /// `Set-Cookie` that deletes the session cookie.
    pub fn clear_cookie(&self) -> Option<HeaderValue> {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        HeaderValue::from_str(&format!("{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}", self.cookie_name()))
            .ok()
    }

    /// The session token a request carries, if any.
    pub fn read_cookie(&self, headers: &HeaderMap) -> Option<String> {
        let name = self.cookie_name();
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
            .filter(|v| !v.is_empty())
    }
}

/// The anti-CSRF token of a session: derived from the session secret (so it needs no storage and
/// cannot be computed without the HttpOnly cookie), handed to the page at sign-in, and required
/// in `X-CSRF-Token` on every state-changing request that authenticates with the cookie.
pub fn csrf_token(session_token: &str) -> String {
    crypto::sha256_hex(&format!("moon-csrf:{session_token}"))
}

/// A live session and its account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    /// Session id.
    pub session_id: i64,
    /// Still owes the second factor.
    pub session_mfa_pending: bool,
    /// When the session was last used.
    pub session_last_seen_at: DateTime<Utc>,
    /// Absolute end.
    pub session_expires_at: DateTime<Utc>,
    /// The user.
    #[sqlx(flatten)]
    pub account: Account,
}

/// Starts a session for a user and returns its secret token (shown to the client once, as a
/// cookie). `mfa_pending` sessions last only long enough to enter a code.
pub async fn create(db: &Db, settings: &SessionSettings, user_id: i64, mfa_pending: bool) -> anyhow::Result<String> {
    let token = crypto::random_token()?;
    let now = moon_db::now();
    let life = if mfa_pending { settings.mfa_pending } else { settings.absolute };
    let expires = now + chrono::Duration::from_std(life)?;
    let stmt = insert_row(
        "sessions",
        vec![
            ("token_hash", Value::from(crypto::sha256_hex(&token))),
            ("user_id", Value::from(user_id)),
            ("mfa_pending", Value::from(mfa_pending)),
            ("created_at", Value::from(now)),
            ("last_seen_at", Value::from(now)),
            ("expires_at", Value::from(expires)),
        ],
    );
    let mut tx = db.begin().await?;
    tx.insert(&stmt).await?;
    tx.commit().await?;
    Ok(token)
}

/// The live session a token names, or `None` (unknown, expired, idle too long). Expired rows are
/// deleted on sight.
pub async fn lookup(db: &Db, settings: &SessionSettings, token: &str) -> Result<Option<SessionRow>, DbError> {
    let mut q = account_select();
    q.expr_as(Expr::col(("sessions", "id")), "session_id")
        .expr_as(Expr::col(("sessions", "mfa_pending")), "session_mfa_pending")
        .expr_as(Expr::col(("sessions", "last_seen_at")), "session_last_seen_at")
        .expr_as(Expr::col(("sessions", "expires_at")), "session_expires_at")
        .inner_join("sessions", Expr::col(("sessions", "user_id")).equals(("users", "id")))
        .and_where(Expr::col(("sessions", "token_hash")).eq(crypto::sha256_hex(token)));
    let Some(row) = db.fetch_optional::<SessionRow>(&q).await? else { return Ok(None) };
    let now = moon_db::now();
    let idle = chrono::Duration::from_std(settings.idle).unwrap_or(chrono::Duration::MAX);
    if now >= row.session_expires_at || now - row.session_last_seen_at >= idle {
        delete(db, row.session_id).await?;
        return Ok(None);
    }
    // Record use at most once a minute: enough for the idle timeout, and a busy page does not
    // write on every request.
    if now - row.session_last_seen_at >= chrono::Duration::seconds(60) {
        let mut stmt = Query::update();
        stmt.table("sessions").value("last_seen_at", now).and_where(Expr::col("id").eq(row.session_id));
        record_use(db, &stmt).await;
    }
    Ok(Some(row))
}

/// Records when a credential was last used. Best effort: a busy writer must not fail the read
/// this rides on; the worst outcome is an idle timeout counted from an older use.
pub(crate) async fn record_use(db: &Db, stmt: &moon_db::sea_query::UpdateStatement) {
    let done = async {
        let mut tx = db.begin().await?;
        tx.execute(stmt).await?;
        tx.commit().await
    };
    if let Err(e) = done.await {
        tracing::debug!(error = %e, "could not record a credential's last use");
    }
}

/// Ends one session.
pub async fn delete(db: &Db, session_id: i64) -> Result<(), DbError> {
    let mut stmt = Query::delete();
    stmt.from_table("sessions").and_where(Expr::col("id").eq(session_id));
    let mut tx = db.begin().await?;
    tx.execute(&stmt).await?;
    tx.commit().await
}

/// Deletes sessions that expired before `before` (retention): they can no longer be used, and
/// each holds when and how long someone was signed in. Returns how many went.
pub async fn prune_expired(db: &Db, before: DateTime<Utc>) -> Result<u64, DbError> {
    let mut del = Query::delete();
    del.from_table("sessions").and_where(Expr::col("expires_at").lt(before));
    let mut tx = db.begin().await?;
    let n = tx.execute(&del).await?;
    tx.commit().await?;
    Ok(n)
}
