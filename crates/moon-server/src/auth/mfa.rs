//! Second factor: TOTP (RFC 6238, 30-second steps, 6 digits, SHA-1 as authenticator apps expect)
//! and single-use recovery codes.
//!
//! Secrets are sealed with the server key before they reach the database. A code is accepted
//! once: the last accepted time step is stored and only a later step passes, with a conditional
//! UPDATE so two concurrent sign-ins cannot both use the same code. Recovery codes are stored as
//! SHA-256 digests and consumed by an UPDATE that only succeeds while the code is unused.

use base64::Engine;
use moon_db::sea_query::{Expr, ExprTrait, Query, Value};
use moon_db::{Db, insert_row};
use serde::Serialize;
use totp_rs::{Builder, Secret, Totp};

use super::crypto::{self, SealingKey};
use super::users::Account;
use crate::error::{Error, Result as ApiResult};

/// Shown in authenticator apps next to the user name.
pub const ISSUER: &str = "MoonInsurance";
/// How many recovery codes a user gets at enrolment.
pub const RECOVERY_CODES: usize = 10;

/// What a user needs to add the account to an authenticator app.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Enrolment {
    /// The `otpauth://totp/...` URI (what the QR code encodes).
    pub otpauth_uri: String,
    /// The secret in base32, for typing in by hand.
    pub secret: String,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: String,
}

debug_without_secrets!(Enrolment);

fn context(user_id: i64) -> String {
    format!("totp:{user_id}")
}

fn totp(secret: &[u8], username: &str) -> anyhow::Result<Totp> {
    Builder::new()
        .with_secret(secret)
        .with_account_name(username)
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build the TOTP generator: {e}"))
}

fn unix_now() -> u64 {
    u64::try_from(moon_db::now().timestamp()).unwrap_or(0)
}

/// The code an authenticator shows at `unix_time` for a base32 secret (for scripts and tests).
pub fn code_at(secret_base32: &str, unix_time: u64) -> Option<String> {
    let secret = Secret::try_from_base32(secret_base32).ok()?;
    let t = Builder::new().with_secret(secret).build().ok()?;
    Some(t.generate(unix_time).to_string())
}

/// Starts enrolment: a fresh secret, kept sealed as *pending* until a code from it is confirmed.
pub async fn enrol(db: &Db, key: &SealingKey, account: &Account) -> ApiResult<Enrolment> {
    if account.mfa_enabled {
        return Err(Error::conflict(
            "mfa_already_enabled",
            "an authenticator is already confirmed; an admin can reset it",
        ));
    }
    let secret = crypto::random_bytes::<20>().map_err(Error::Internal)?;
    let t = totp(&secret, &account.username).map_err(Error::Internal)?;
    let uri = t.to_url().map_err(|e| Error::Internal(anyhow::anyhow!("cannot build the otpauth URI: {e}")))?;
    let qr = qrcode::QrCode::new(uri.as_bytes())
        .map_err(|e| Error::Internal(anyhow::anyhow!("cannot draw the QR code: {e}")))?;
    let qr_svg = qr.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).build();
    let sealed = key.seal(&context(account.id), &secret).map_err(Error::Internal)?;
    let mut stmt = Query::update();
    stmt.table("users")
        .value("mfa_pending_secret", sealed)
        .value("updated_at", moon_db::now())
        .and_where(Expr::col("id").eq(account.id));
    let mut tx = db.begin().await?;
    tx.execute(&stmt).await?;
    tx.commit().await?;
    Ok(Enrolment { otpauth_uri: uri, secret: t.secret().to_base32(), qr_svg })
}

fn bad_code() -> Error {
    Error::Unauthenticated {
        code: "invalid_mfa_code",
        detail: String::from("the code is wrong, expired or already used"),
    }
}

/// Records `step` as the last accepted one, only if it is later than any before: the single
/// statement that makes a code single-use even under concurrent requests.
async fn claim_step(db: &Db, user_id: i64, step: i64, extra: Vec<(&'static str, Value)>) -> ApiResult<bool> {
    let mut stmt = Query::update();
    let mut values = vec![("mfa_last_step", Value::from(step)), ("updated_at", Value::from(moon_db::now()))];
    values.extend(extra);
    stmt.table("users")
        .values(values.into_iter().map(|(c, v)| (c, Expr::val(v))))
        .and_where(Expr::col("id").eq(user_id))
        .and_where(Expr::col("mfa_last_step").is_null().or(Expr::col("mfa_last_step").lt(step)));
    let mut tx = db.begin().await?;
    let claimed = tx.execute(&stmt).await? == 1;
    tx.commit().await?;
    Ok(claimed)
}

fn check_code(secret: &[u8], account: &Account, code: &str) -> ApiResult<Option<i64>> {
    let t = totp(secret, &account.username).map_err(Error::Internal)?;
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    Ok(t.check(&code, unix_now()).and_then(|s| i64::try_from(s).ok()))
}

/// Confirms enrolment with a code from the pending secret; returns the recovery codes, shown
/// this once.
pub async fn confirm(db: &Db, key: &SealingKey, account: &Account, code: &str) -> ApiResult<Vec<String>> {
    let sealed = account
        .mfa_pending_secret
        .as_deref()
        .ok_or_else(|| Error::conflict("mfa_not_enrolling", "start enrolment first (POST /api/v1/auth/mfa/enrol)"))?;
    let secret = key.open(&context(account.id), sealed).map_err(Error::Internal)?;
    let step = check_code(&secret, account, code)?.ok_or_else(bad_code)?;
    let extra = vec![
        ("mfa_secret", Value::from(sealed.to_owned())),
        ("mfa_pending_secret", Value::from(None::<String>)),
        ("mfa_enabled", Value::from(true)),
    ];
    if !claim_step(db, account.id, step, extra).await? {
        return Err(bad_code());
    }
    let codes = replace_recovery_codes(db, account.id).await?;
    tracing::info!(user_id = account.id, "MFA enrolled");
    Ok(codes)
}

async fn replace_recovery_codes(db: &Db, user_id: i64) -> ApiResult<Vec<String>> {
    let mut tx = db.begin().await?;
    let mut del = Query::delete();
    del.from_table("recovery_codes").and_where(Expr::col("user_id").eq(user_id));
    tx.execute(&del).await?;
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let raw = crypto::random_bytes::<8>().map_err(Error::Internal)?;
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw).to_lowercase().replace(['-', '_'], "x");
        let code = format!("{}-{}", &text[..5], &text[5..10]);
        let stmt = insert_row(
            "recovery_codes",
            vec![
                ("user_id", Value::from(user_id)),
                ("code_hash", Value::from(recovery_hash(&code))),
                ("created_at", Value::from(moon_db::now())),
            ],
        );
        tx.insert(&stmt).await?;
        codes.push(code);
    }
    tx.commit().await?;
    Ok(codes)
}

fn recovery_hash(code: &str) -> String {
    let normal: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_lowercase();
    crypto::sha256_hex(&format!("moon-recovery:{normal}"))
}

/// Checks the second factor at sign-in: a current TOTP code not used before, or an unused
/// recovery code (which is then spent).
pub async fn verify(db: &Db, key: &SealingKey, account: &Account, code: &str) -> ApiResult<()> {
    let trimmed = code.trim();
    if trimmed.chars().all(|c| c.is_ascii_digit() || c.is_whitespace()) {
        let sealed = account.mfa_secret.as_deref().ok_or_else(bad_code)?;
        let secret = key.open(&context(account.id), sealed).map_err(Error::Internal)?;
        let step = check_code(&secret, account, trimmed)?.ok_or_else(bad_code)?;
        return if claim_step(db, account.id, step, Vec::new()).await? { Ok(()) } else { Err(bad_code()) };
    }
    let mut stmt = Query::update();
    stmt.table("recovery_codes")
        .value("used_at", moon_db::now())
        .and_where(Expr::col("user_id").eq(account.id))
        .and_where(Expr::col("code_hash").eq(recovery_hash(trimmed)))
        .and_where(Expr::col("used_at").is_null());
    let mut tx = db.begin().await?;
    let spent = tx.execute(&stmt).await? == 1;
    tx.commit().await?;
    if spent {
        tracing::info!(user_id = account.id, "recovery code used");
        Ok(())
    } else {
        Err(bad_code())
    }
}
