//! Security: who a request acts as, what they may do, and the limits around it.
//!
//! - [`policy`]: the one table of routes → roles, checked by [`middleware::authenticate`];
//! - [`password`], [`users`]: accounts with Argon2id password hashes;
//! - [`session`], [`token`]: browser sessions (cookie + CSRF token) and API tokens (bearer);
//! - [`mfa`]: TOTP and recovery codes, secrets sealed with the server key ([`crypto`]);
//! - [`throttle`], [`ratelimit`]: sign-in throttling in the database, token buckets in memory;
//! - [`routes`]: the HTTP endpoints under `/api/v1/auth`, `/api/v1/users`, `/api/v1/tokens`.

/// Implements `Debug` showing only the named fields, for types that hold a secret (a password,
/// token, code or secret key) in another field: a stray `{:?}` in a log line can then never leak
/// it.
macro_rules! debug_without_secrets {
    ($ty:ident $(, $field:ident)* $(,)?) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))$(.field(stringify!($field), &self.$field))*.finish_non_exhaustive()
            }
        }
    };
}

pub mod crypto;
pub mod mfa;
pub mod middleware;
pub mod password;
pub mod policy;
pub mod ratelimit;
pub mod routes;
pub mod session;
pub mod throttle;
pub mod token;
pub mod users;

use anyhow::Context;
use moon_db::sea_query::{Expr, ExprTrait, Query, Value};
use moon_db::{Db, DbError, insert_row};

use crate::config::SecurityConfig;
use crate::http::Role;

/// The security state shared by every request of one server.
#[derive(Debug)]
pub struct AuthState {
    /// Seals TOTP secrets at rest; read lazily, since a fresh database gets its generated key
    /// only once migrated.
    key: tokio::sync::OnceCell<crypto::SealingKey>,
    /// Password hashing, bounded in concurrency.
    pub hasher: password::Hasher,
    /// In-memory request buckets.
    pub limiter: ratelimit::RateLimiter,
    /// The settings these came from.
    pub config: SecurityConfig,
}

impl AuthState {
    /// Builds the state: the sealing key comes from the configuration, or from the database, where
    /// one is generated on first start when none is configured.
    pub async fn load(db: &Db, config: &SecurityConfig) -> anyhow::Result<Self> {
        let key = tokio::sync::OnceCell::new();
        if let Some(k) = &config.secret_key {
            // A configured key that cannot work is a start-up error, not a later surprise.
            let _ = key.set(crypto::SealingKey::from_material(k.expose()).context("MOON_SECRET_KEY is unusable")?);
        }
        let state = Self {
            key,
            hasher: password::Hasher::new(config.hash_concurrency),
            limiter: ratelimit::RateLimiter::new(config.rate_limits),
            config: config.clone(),
        };
        if let Err(e) = state.key(db).await {
            tracing::warn!(error = %format!("{e:#}"), "the secret key is not available yet; MFA will retry");
        }
        Ok(state)
    }

    /// The sealing key: the configured one, or the one stored in (or generated into) the
    /// database.
    pub async fn key(&self, db: &Db) -> anyhow::Result<&crypto::SealingKey> {
        self.key
            .get_or_try_init(|| async {
                let material =
                    stored_secret(db, KEY_NAME).await.context("cannot read or create the stored secret key")?;
                crypto::SealingKey::from_material(&material)
            })
            .await
    }

    /// Whether users of `role` must have a second factor before using role-protected routes.
    pub fn mfa_required(&self, role: Role) -> bool {
        self.config.mfa_required_roles.contains(&role)
    }
}

const KEY_NAME: &str = "secret_key";

#[derive(sqlx::FromRow)]
struct StoredSecret {
    secret_value: String,
}

/// A generated secret kept in `server_secrets` under `name`, created on first use (32 random
/// bytes, base64). Replicas starting together race on the insert; the loser reads the winner's.
pub async fn stored_secret(db: &Db, name: &'static str) -> Result<String, anyhow::Error> {
    let read = || async {
        let mut q = Query::select();
        q.column("secret_value").from("server_secrets").and_where(Expr::col("name").eq(name));
        Ok::<_, DbError>(db.fetch_optional::<StoredSecret>(&q).await?.map(|s| s.secret_value))
    };
    if let Some(k) = read().await? {
        return Ok(k);
    }
    let material = crypto::SealingKey::generate_material()?;
    let stmt = insert_row(
        "server_secrets",
        vec![
            ("name", Value::from(name)),
            ("secret_value", Value::from(material.clone())),
            ("created_at", Value::from(moon_db::now())),
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
            Ok(material)
        }
        Err(DbError::UniqueViolation) => {
            drop(tx);
            read().await?.ok_or_else(|| anyhow::anyhow!("the stored secret key vanished"))
        }
        Err(e) => Err(e.into()),
    }
}
