//! API tokens for programs: `moon_` followed by 256 random bits, sent as
//! `Authorization: Bearer ...`. The prefix lets secret scanners and people recognise a leaked
//! token; the database keeps only its SHA-256 and the first characters (to tell tokens apart in a
//! listing). A token acts as its user, with the user's role, until it expires or is revoked.

use chrono::{DateTime, Utc};
use moon_db::sea_query::{Expr, ExprTrait, Order, Query, Value};
use moon_db::{Db, DbError, insert_row};
use serde::Serialize;

use super::crypto;
use super::users::{Account, account_select};

/// The recognisable start of every API token.
pub const PREFIX: &str = "moon_";

/// How long a token lives when its creator names no lifetime (API, console and CLI alike): a
/// forgotten token stops working within a quarter instead of never.
pub const DEFAULT_EXPIRY_DAYS: u32 = 90;

/// An API token as listed: never its secret.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ApiToken {
    /// Identifier (used to revoke it).
    pub id: i64,
    /// The user it acts as.
    pub user_id: i64,
    /// What the token is for.
    pub name: String,
    /// The first characters of the secret, to recognise it.
    pub token_prefix: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// After this the token no longer works; `null` never expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last accepted (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The rate class of a token made for a system (`[rate_classes.NAME]` in the
    /// configuration); `null` for a person's token, which keeps the default limits.
    pub rate_class: Option<String>,
}

const COLUMNS: [&str; 9] =
    ["id", "user_id", "name", "token_prefix", "created_at", "expires_at", "last_used_at", "revoked_at", "rate_class"];

/// Creates a token for a user and returns it with its secret, which is shown this once.
/// The creation is audited as `who`'s, in the same transaction.
pub async fn create(
    db: &Db,
    user_id: i64,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
    who: impl Into<crate::audit::Actor>,
) -> anyhow::Result<(ApiToken, String)> {
    create_with_class(db, user_id, name, expires_at, None, who).await
}

/// Whether `name` can be a rate class: 1 to 40 lower-case letters, digits, `_` or `-`.
pub fn valid_class_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// [`create`] for a system: the token draws on the named rate class instead of the default
/// limits (an integration posting sales all day would otherwise be throttled like a person).
pub async fn create_with_class(
    db: &Db,
    user_id: i64,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
    rate_class: Option<&str>,
    who: impl Into<crate::audit::Actor>,
) -> anyhow::Result<(ApiToken, String)> {
    let secret = format!("{PREFIX}{}", crypto::random_token()?);
    let prefix: String = secret.chars().take(12).collect();
    let stmt = insert_row(
        "api_tokens",
        vec![
            ("user_id", Value::from(user_id)),
            ("name", Value::from(name.trim().to_owned())),
            ("token_prefix", Value::from(prefix)),
            ("token_hash", Value::from(crypto::sha256_hex(&secret))),
            ("created_at", Value::from(moon_db::now())),
            ("expires_at", Value::from(expires_at)),
            ("rate_class", Value::from(rate_class.map(str::to_owned))),
        ],
    );
    let mut tx = db.begin().await?;
    let id = tx.insert(&stmt).await?;
    let detail = serde_json::json!({"user_id": user_id, "expires_at": expires_at, "rate_class": rate_class});
    crate::audit::append(&mut tx, who, crate::audit::Event::on("token.create", "token", id).with_detail(detail))
        .await?;
    tx.commit().await?;
    let token = get(db, id, None).await?.ok_or_else(|| anyhow::anyhow!("token {id} vanished after insert"))?;
    Ok((token, secret))
}

/// One token, if it exists and belongs to `owner` (any owner when `None`).
pub async fn get(db: &Db, id: i64, owner: Option<i64>) -> Result<Option<ApiToken>, DbError> {
    let mut q = Query::select();
    q.columns(COLUMNS).from("api_tokens").and_where(Expr::col("id").eq(id));
    if let Some(u) = owner {
        q.and_where(Expr::col("user_id").eq(u));
    }
    db.fetch_optional(&q).await
}

/// Tokens of one user, or of everyone when `owner` is `None`.
pub async fn list(db: &Db, owner: Option<i64>) -> Result<Vec<ApiToken>, DbError> {
    let mut q = Query::select();
    q.columns(COLUMNS).from("api_tokens").order_by("id", Order::Asc);
    if let Some(u) = owner {
        q.and_where(Expr::col("user_id").eq(u));
    }
    db.fetch_all(&q).await
}

/// Revokes a token of `owner` (any owner when `None`); a token not visible is a 404.
pub async fn revoke(
    db: &Db,
    id: i64,
    owner: Option<i64>,
    who: impl Into<crate::audit::Actor>,
) -> crate::error::Result<ApiToken> {
    use crate::error::Error;
    get(db, id, owner).await?.ok_or_else(|| Error::not_found(format!("token {id}")))?;
    let mut stmt = Query::update();
    stmt.table("api_tokens")
        .value("revoked_at", moon_db::now())
        .and_where(Expr::col("id").eq(id))
        .and_where(Expr::col("revoked_at").is_null());
    let mut tx = db.begin().await?;
    if tx.execute(&stmt).await? > 0 {
        crate::audit::append(&mut tx, who, crate::audit::Event::on("token.revoke", "token", id)).await?;
    }
    tx.commit().await?;
    tracing::info!(token_id = id, "API token revoked");
    get(db, id, owner).await?.ok_or_else(|| Error::internal("the token vanished after it was revoked"))
}

/// A usable token's row and its account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    /// Token id.
    pub token_id: i64,
    /// Expiry.
    pub token_expires_at: Option<DateTime<Utc>>,
    /// Revocation.
    pub token_revoked_at: Option<DateTime<Utc>>,
    /// Last use.
    pub token_last_used_at: Option<DateTime<Utc>>,
    /// Its rate class, if made for a system.
    pub token_rate_class: Option<String>,
    /// The user.
    #[sqlx(flatten)]
    pub account: Account,
}

/// The live token a bearer secret names, or `None` (unknown, revoked, expired).
pub async fn lookup(db: &Db, secret: &str) -> Result<Option<TokenRow>, DbError> {
    if !secret.starts_with(PREFIX) {
        return Ok(None);
    }
    let mut q = account_select();
    q.expr_as(Expr::col(("api_tokens", "id")), "token_id")
        .expr_as(Expr::col(("api_tokens", "expires_at")), "token_expires_at")
        .expr_as(Expr::col(("api_tokens", "revoked_at")), "token_revoked_at")
        .expr_as(Expr::col(("api_tokens", "last_used_at")), "token_last_used_at")
        .expr_as(Expr::col(("api_tokens", "rate_class")), "token_rate_class")
        .inner_join("api_tokens", Expr::col(("api_tokens", "user_id")).equals(("users", "id")))
        .and_where(Expr::col(("api_tokens", "token_hash")).eq(crypto::sha256_hex(secret)));
    let Some(row) = db.fetch_optional::<TokenRow>(&q).await? else { return Ok(None) };
    let now = moon_db::now();
    if row.token_revoked_at.is_some() || row.token_expires_at.is_some_and(|e| now >= e) {
        return Ok(None);
    }
    if row.token_last_used_at.is_none_or(|t| now - t >= chrono::Duration::seconds(60)) {
        let mut stmt = Query::update();
        stmt.table("api_tokens").value("last_used_at", now).and_where(Expr::col("id").eq(row.token_id));
        super::session::record_use(db, &stmt).await;
    }
    Ok(Some(row))
}
