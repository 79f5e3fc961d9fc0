//! Secrets the storage layer handles: connection URLs with passwords, and the generated keys a
//! deployment keeps in its own database (`server_secrets`).
//!
//! They live here, below every component, because the database URL is the first secret any
//! part of the system touches, and because a generated key is a row like any other: the
//! security layer (sealing key) and the analytics pipeline (pseudonym key) both need one
//! without needing each other.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sea_query::{Expr, ExprTrait, Query, Value};

use crate::{Db, DbError, insert_row};

/// A secret string (a database URL with its password, a key). Its `Debug` never shows it, and it
/// has no `Display`, so it cannot reach a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Shows a URL without its password: `postgres://moon:***@db/moon`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return String::from("[redacted]") };
    let (authority, tail) = rest.split_once('/').map_or((rest, ""), |(a, t)| (a, t));
    let host = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{user}:***@{host}")
        }
        None => authority.to_owned(),
    };
    let path = tail.split('?').next().unwrap_or_default();
    if rest.contains('/') { format!("{scheme}://{host}/{path}") } else { format!("{scheme}://{host}") }
}

/// Why a stored secret could not be had.
#[derive(Debug, thiserror::Error)]
pub enum StoredSecretError {
    /// Reading or writing `server_secrets` failed.
    #[error("cannot read or store the generated secret")]
    Db(#[from] DbError),
    /// The operating system's random generator failed.
    #[error("the system random generator failed")]
    Random,
}

#[derive(sqlx::FromRow)]
struct StoredSecret {
    secret_value: String,
}

/// A generated secret kept in `server_secrets` under `name`, created on first use (32 random
/// bytes, base64). Replicas starting together race on the insert; the loser reads the winner's.
pub async fn stored_secret(db: &Db, name: &'static str) -> Result<Secret, StoredSecretError> {
    let read = || async {
        let mut q = Query::select();
        q.column("secret_value").from("server_secrets").and_where(Expr::col("name").eq(name));
        Ok::<_, DbError>(db.fetch_optional::<StoredSecret>(&q).await?.map(|s| Secret(s.secret_value)))
    };
    if let Some(k) = read().await? {
        return Ok(k);
    }
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| StoredSecretError::Random)?;
    let material = STANDARD.encode(bytes);
    let stmt = insert_row(
        "server_secrets",
        vec![
            ("name", Value::from(name)),
            ("secret_value", Value::from(material.clone())),
            ("created_at", Value::from(crate::now())),
        ],
    );
    let mut tx = db.begin().await?;
    match tx.execute(&stmt).await {
        Ok(_) => {
            tx.commit().await?;
            tracing::warn!(
                secret = name,
                "no key configured: generated one and stored it in the database; configure it \
                 (MOON_SECRET_KEY, MOON_PSEUDONYM_KEY, or their _FILE forms) to keep it apart from the data it protects"
            );
            Ok(Secret(material))
        }
        Err(DbError::UniqueViolation) => {
            drop(tx);
            // The other replica's insert committed before ours failed, so it is there now.
            read().await?.ok_or(StoredSecretError::Db(DbError::Other(sqlx::Error::RowNotFound)))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_urls_are_redacted() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "[redacted]");
        assert_eq!(
            redact_url("postgres://moon:hunter2@db:5432/moon?sslmode=require"),
            "postgres://moon:***@db:5432/moon"
        );
        assert_eq!(redact_url("sqlite://data/moon.db"), "sqlite://data/moon.db");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
        assert!(!redact_url("mysql://root:pw@127.0.0.1/x").contains("pw"));
    }
}
