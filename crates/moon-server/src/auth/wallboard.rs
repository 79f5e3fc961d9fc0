//! Read-only wallboard tokens: a branch's TV shows that branch's wallboard without anybody's
//! session on it (docs/adr/0019-role-homes-and-wallboard.md, "Built: a read-only wallboard
//! token").
//!
//! An admin issues a token for one branch and gets a one-time link (`/wallboard/tv?token=…`).
//! Opening the link on the TV claims it: the link's secret stops working and the TV receives a
//! cookie with a second, fresh secret (the screen's), so a link that leaks later (a browser
//! history, a chat message) opens nothing. The screen's requests then act as a principal of
//! [`Role::Wallboard`] scoped to the branch, and the policy table alone decides where that role
//! may go: the branch's wallboard, its live fragment and the console's event stream.
//!
//! As with API tokens only SHA-256 hashes are stored; a token expires (365 days unless the
//! admin says otherwise: a TV is set up once and should not go dark every quarter, and a year
//! still bounds a forgotten screen) and can be revoked. Issue, claim and revoke are audited.

use chrono::{DateTime, Utc};
use moon_db::sea_query::{Expr, ExprTrait, Order, Query, Value};
use moon_db::{Db, DbError, insert_row};
use moon_domain::FieldError;
use moon_http::principal::Origin;
use moon_http::{Principal, Role, Scope};
use serde::Serialize;

use super::crypto;
use super::users::{Binding, BranchCheck};
use crate::audit::{self, Event};
use crate::error::{Error, Result};

/// The recognisable start of a wallboard link's secret (and of a screen's cookie secret).
pub const PREFIX: &str = "moonwb_";

/// Days a token lives when its issuer names no lifetime.
pub const DEFAULT_EXPIRY_DAYS: u32 = 365;

/// The longest lifetime an issuer may give (two years: a screen is re-linked at least that often).
pub const MAX_EXPIRY_DAYS: u32 = 730;

/// Days within which the one-time link must be opened; an unused link should not lie around
/// for the token's whole life.
pub const LINK_DAYS: i64 = 7;

/// The cookie that carries the screen's secret.
pub const COOKIE: &str = "moon_wallboard";

/// A wallboard token as listed: never a secret.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct WallboardToken {
    /// Identifier (used to revoke it).
    pub id: i64,
    /// What the screen is (shown in listings), such as "Colombo lobby TV".
    pub name: String,
    /// The branch (its code) whose wallboard the token opens, and no other.
    pub branch: String,
    /// The first characters of the link's secret, to recognise it.
    pub token_prefix: String,
    /// Who issued it (`user:<id>`).
    pub created_by: String,
    /// Issued.
    pub created_at: DateTime<Utc>,
    /// After this the screen is refused.
    pub expires_at: DateTime<Utc>,
    /// When the one-time link was opened on the screen; `null`: not yet (the link works until
    /// `created_at` plus 7 days).
    pub claimed_at: Option<DateTime<Utc>>,
    /// The screen's last request (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

const COLUMNS: [&str; 10] = [
    "id",
    "name",
    "branch",
    "token_prefix",
    "created_by",
    "created_at",
    "expires_at",
    "claimed_at",
    "last_used_at",
    "revoked_at",
];

/// What an admin asks for, as sent (the API's body and the console's form alike).
#[derive(Debug, Default, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueWallboardToken {
    /// What the screen is, 1-100 characters.
    #[schema(example = "Colombo lobby TV")]
    pub name: Option<String>,
    /// The branch, by code or name.
    #[schema(example = "Colombo")]
    pub branch: Option<String>,
    /// Days until it expires, 1-730; absent: 365.
    pub expires_in_days: Option<u32>,
}

/// A token just issued, with its one-time link: shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IssuedWallboardToken {
    /// The token's record.
    pub token: WallboardToken,
    /// The link's secret.
    pub secret: String,
    /// Where the TV goes to claim it (this server's address in front): `/wallboard/tv?token=…`.
    pub link: String,
}

debug_without_secrets!(IssuedWallboardToken, token);

/// The one-time link of a secret.
pub fn link_of(secret: &str) -> String {
    let q: String = form_urlencoded::Serializer::new(String::new()).append_pair("token", secret).finish();
    format!("/wallboard/tv?{q}")
}

/// Checks and issues a token (admins; the policy table lets no one else reach this). Every bad
/// field is reported at once; the row and its audit entry commit together.
pub async fn issue(
    db: &Db,
    branches: &BranchCheck,
    principal: &Principal,
    request: &IssueWallboardToken,
) -> Result<IssuedWallboardToken> {
    if principal.role != Role::Admin {
        return Err(Error::forbidden("only admins issue wallboard tokens"));
    }
    let mut errors = Vec::new();
    let name = request.name.as_deref().map(str::trim).unwrap_or_default().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push(FieldError::new("name", "invalid_name", "name the screen in 1-100 characters"));
    }
    let days = request.expires_in_days.unwrap_or(DEFAULT_EXPIRY_DAYS);
    if !(1..=MAX_EXPIRY_DAYS).contains(&days) {
        errors.push(FieldError::new(
            "expires_in_days",
            "out_of_range",
            format!("expires_in_days must be 1-{MAX_EXPIRY_DAYS}"),
        ));
    }
    let branch = match request.branch.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
        None => {
            errors.push(FieldError::required("branch"));
            None
        }
        Some(b) => {
            let binding = Binding { role: Role::Manager, branch: Some(b.to_owned()), agent_code: None };
            match branches.resolve(db, binding).await? {
                Ok(resolved) => resolved.branch,
                Err(e) => {
                    errors.push(e);
                    None
                }
            }
        }
    };
    let Some(branch) = branch.filter(|_| errors.is_empty()) else { return Err(Error::Invalid(errors)) };
    let secret = format!("{PREFIX}{}", crypto::random_token().map_err(Error::Internal)?);
    let now = moon_db::now();
    let expires_at = now + chrono::Duration::days(i64::from(days));
    let stmt = insert_row(
        "wallboard_tokens",
        vec![
            ("name", Value::from(name)),
            ("branch", Value::from(branch.clone())),
            ("token_prefix", Value::from(secret.chars().take(14).collect::<String>())),
            ("link_hash", Value::from(crypto::sha256_hex(&secret))),
            ("created_by", Value::from(principal.id.clone())),
            ("created_at", Value::from(now)),
            ("expires_at", Value::from(expires_at)),
        ],
    );
    let mut tx = db.begin().await?;
    let id = tx.insert(&stmt).await?;
    let detail = serde_json::json!({"branch": branch, "expires_at": expires_at});
    audit::append(&mut tx, principal, Event::on("wallboard_token.issue", "wallboard_token", id).with_detail(detail))
        .await?;
    tx.commit().await?;
    let token = get(db, id).await?.ok_or_else(|| Error::internal("the wallboard token vanished after insert"))?;
    tracing::info!(wallboard_token_id = id, "wallboard token issued");
    let link = link_of(&secret);
    Ok(IssuedWallboardToken { token, secret, link })
}

/// One token.
pub async fn get(db: &Db, id: i64) -> std::result::Result<Option<WallboardToken>, DbError> {
    let mut q = Query::select();
    q.columns(COLUMNS).from("wallboard_tokens").and_where(Expr::col("id").eq(id));
    db.fetch_optional(&q).await
}

/// Every token, newest first (a company has a screen or two per branch, not thousands).
pub async fn list(db: &Db) -> std::result::Result<Vec<WallboardToken>, DbError> {
    let mut q = Query::select();
    q.columns(COLUMNS).from("wallboard_tokens").order_by("id", Order::Desc);
    db.fetch_all(&q).await
}

/// Revokes a token: its screen is refused from its next request on. Revoking twice changes
/// nothing and audits once.
pub async fn revoke(db: &Db, id: i64, principal: &Principal) -> Result<WallboardToken> {
    if principal.role != Role::Admin {
        return Err(Error::forbidden("only admins revoke wallboard tokens"));
    }
    get(db, id).await?.ok_or_else(|| Error::not_found(format!("wallboard token {id}")))?;
    let mut stmt = Query::update();
    stmt.table("wallboard_tokens")
        .value("revoked_at", moon_db::now())
        .and_where(Expr::col("id").eq(id))
        .and_where(Expr::col("revoked_at").is_null());
    let mut tx = db.begin().await?;
    if tx.execute(&stmt).await? > 0 {
        audit::append(&mut tx, principal, Event::on("wallboard_token.revoke", "wallboard_token", id)).await?;
    }
    tx.commit().await?;
    tracing::info!(wallboard_token_id = id, "wallboard token revoked");
    get(db, id).await?.ok_or_else(|| Error::internal("the wallboard token vanished after it was revoked"))
}

/// A screen: the token it holds and the branch it shows.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Screen {
    /// Token id.
    pub id: i64,
    /// The branch's code.
    pub branch: String,
    /// When the token expires (the cookie's lifetime).
    pub expires_at: DateTime<Utc>,
    /// Last use, to record it at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl Screen {
    /// The principal a screen's requests act as: the wallboard role, scoped to its branch.
    pub fn principal(&self, origin: Origin) -> Principal {
        Principal {
            id: format!("wallboard:{}", self.id),
            role: Role::Wallboard,
            scope: Scope::Branch(self.branch.clone()),
            user_id: None,
            origin,
        }
    }
}

/// Claims a one-time link: when `link_secret` names a token that is unclaimed, unrevoked,
/// unexpired and at most [`LINK_DAYS`] old, it becomes claimed (in one conditional update, so
/// two screens racing for one link cannot both win) and the screen's new secret is returned
/// for its cookie. Anything else is `None`.
pub async fn claim(db: &Db, link_secret: &str, origin: Origin) -> Result<Option<(Screen, String)>> {
    if !link_secret.starts_with(PREFIX) {
        return Ok(None);
    }
    let screen_secret = format!("{PREFIX}{}", crypto::random_token().map_err(Error::Internal)?);
    let now = moon_db::now();
    let mut stmt = Query::update();
    stmt.table("wallboard_tokens")
        .value("claimed_at", now)
        .value("screen_hash", crypto::sha256_hex(&screen_secret))
        .and_where(Expr::col("link_hash").eq(crypto::sha256_hex(link_secret)))
        .and_where(Expr::col("claimed_at").is_null())
        .and_where(Expr::col("revoked_at").is_null())
        .and_where(Expr::col("expires_at").gt(now))
        .and_where(Expr::col("created_at").gt(now - chrono::Duration::days(LINK_DAYS)));
    let mut tx = db.begin().await?;
    if tx.execute(&stmt).await? == 0 {
        return Ok(None);
    }
    let mut q = Query::select();
    q.columns(["id", "branch", "expires_at", "last_used_at"])
        .from("wallboard_tokens")
        .and_where(Expr::col("screen_hash").eq(crypto::sha256_hex(&screen_secret)));
    let screen: Screen = tx.fetch_optional(&q).await?.ok_or_else(|| Error::internal("a claimed token vanished"))?;
    let who = screen.principal(origin);
    audit::append(&mut tx, &who, Event::on("wallboard_token.claim", "wallboard_token", screen.id)).await?;
    tx.commit().await?;
    tracing::info!(wallboard_token_id = screen.id, "wallboard link opened on a screen");
    Ok(Some((screen, screen_secret)))
}

/// The live screen a cookie's secret names, or `None` (unknown, revoked, expired).
pub async fn lookup(db: &Db, screen_secret: &str) -> std::result::Result<Option<Screen>, DbError> {
    if !screen_secret.starts_with(PREFIX) {
        return Ok(None);
    }
    let now = moon_db::now();
    let mut q = Query::select();
    q.columns(["id", "branch", "expires_at", "last_used_at"])
        .from("wallboard_tokens")
        .and_where(Expr::col("screen_hash").eq(crypto::sha256_hex(screen_secret)))
        .and_where(Expr::col("revoked_at").is_null())
        .and_where(Expr::col("expires_at").gt(now));
    let Some(screen) = db.fetch_optional::<Screen>(&q).await? else { return Ok(None) };
    if screen.last_used_at.is_none_or(|t| now - t >= chrono::Duration::seconds(60)) {
        let mut stmt = Query::update();
        stmt.table("wallboard_tokens").value("last_used_at", now).and_where(Expr::col("id").eq(screen.id));
        super::session::record_use(db, &stmt).await;
    }
    Ok(Some(screen))
}

/// The screen secret a request's cookie carries, if any.
pub fn read_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// `Set-Cookie` for a screen: HttpOnly (no script reads it), SameSite=Strict (no other site's
/// page sends it), `Secure` when the server's cookies are, and kept until the token expires.
pub fn set_cookie(secret: &str, expires_at: DateTime<Utc>, secure: bool) -> Option<axum::http::HeaderValue> {
    let max_age = std::cmp::max((expires_at - moon_db::now()).num_seconds(), 0);
    let secure = if secure { "; Secure" } else { "" };
    axum::http::HeaderValue::from_str(&format!(
        "{COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_carries_the_secret_and_the_cookie_is_strict() {
        assert_eq!(link_of("moonwb_abc-_"), "/wallboard/tv?token=moonwb_abc-_");
        let c = set_cookie("moonwb_x", moon_db::now() + chrono::Duration::days(1), true).unwrap();
        let c = c.to_str().unwrap();
        assert!(c.starts_with("moon_wallboard=moonwb_x; Path=/; HttpOnly; SameSite=Strict; Max-Age="), "{c}");
        assert!(c.ends_with("; Secure"), "{c}");
        let mut h = axum::http::HeaderMap::new();
        h.insert(axum::http::header::COOKIE, axum::http::HeaderValue::from_static("a=b; moon_wallboard=moonwb_y"));
        assert_eq!(read_cookie(&h).as_deref(), Some("moonwb_y"));
    }
}
