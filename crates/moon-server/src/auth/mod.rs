//! Security: who a request acts as, what they may do, and the limits around it.
//!
//! - [`policy`]: the one table of routes → roles, checked by [`middleware::authenticate`];
//! - [`password`], [`users`]: accounts with Argon2id password hashes;
//! - [`session`], [`token`]: browser sessions (cookie + CSRF token) and API tokens (bearer);
//! - [`mfa`]: TOTP and recovery codes, secrets sealed with the server key ([`crypto`]);
//! - [`throttle`], [`ratelimit`]: sign-in throttling in the database, token buckets in memory;
//! - [`routes`]: the HTTP endpoints under `/api/v1/auth`, `/api/v1/users`, `/api/v1/tokens`;
//! - [`wallboard`], [`wallboard_routes`]: read-only tokens of branch TVs (`/api/v1/wallboard-tokens`).

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
pub mod review;
pub mod routes;
pub mod session;
pub mod signals;
pub mod throttle;
pub mod token;
pub mod token_addresses;
pub mod users;
pub mod wallboard;
pub mod wallboard_routes;

use anyhow::Context;

use moon_db::Db;

use std::collections::BTreeSet;

use moon_db::Secret;
use moon_http::tls::TlsFiles;

use ratelimit::RateLimits;
use session::SessionSettings;
use throttle::ThrottleSettings;

use moon_http::Role;

/// What the security layer and its routes need of the server: the database, the keys and
/// limits, and the largest body the authentication layer reads (for a form's CSRF field).
#[derive(Clone, Debug)]
pub struct SecurityState {
    /// The operational database (users, sessions, tokens, throttling, audit).
    pub db: Db,
    /// Keys, hasher, rate limiter and settings.
    pub auth: std::sync::Arc<AuthState>,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Route templates whose bodies are streamed to their handler (bulk imports), exempt from
    /// `body_limit`; the wiring names them, so this layer knows no component.
    pub streamed: &'static [&'static str],
}

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
    /// The buckets of each configured rate class, for tokens made for systems.
    pub class_limiters: std::collections::HashMap<String, ratelimit::RateLimiter>,
    /// The settings these came from.
    pub config: SecurityConfig,
    /// The addresses API tokens were used from lately (for anomaly detection).
    pub token_addresses: token_addresses::Recorder,
    /// Resolves a manager's branch against the organisation (given by the wiring).
    pub branches: users::BranchCheck,
}

impl AuthState {
    /// Builds the state: the sealing key comes from the configuration, or from the database, where
    /// one is generated on first start when none is configured.
    pub async fn load(db: &Db, config: &SecurityConfig, branches: users::BranchCheck) -> anyhow::Result<Self> {
        let key = tokio::sync::OnceCell::new();
        if let Some(k) = &config.secret_key {
            // A configured key that cannot work is a start-up error, not a later surprise.
            let _ = key.set(crypto::SealingKey::from_material(k.expose()).context("MOON_SECRET_KEY is unusable")?);
        }
        let state = Self {
            key,
            hasher: password::Hasher::new(config.hash_concurrency),
            limiter: ratelimit::RateLimiter::new(config.rate_limits),
            class_limiters: config
                .rate_classes
                .iter()
                .map(|(name, limits)| (name.clone(), ratelimit::RateLimiter::new(*limits)))
                .collect(),
            config: config.clone(),
            token_addresses: token_addresses::Recorder::default(),
            branches,
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
                let material = moon_db::stored_secret(db, KEY_NAME)
                    .await
                    .context("cannot read or create the stored secret key")?;
                crypto::SealingKey::from_material(material.expose())
            })
            .await
    }

    /// The buckets a request draws from: its token's rate class when it has one that is
    /// configured, else the default ones (people, and a class no longer configured).
    pub fn limiter_for(&self, credential: &middleware::Credential) -> &ratelimit::RateLimiter {
        match credential {
            middleware::Credential::Token { rate_class: Some(c), .. } => self.class_limiters.get(c).unwrap_or_else(|| {
                tracing::warn!(rate_class = %c, "a token names a rate class that is not configured; default limits apply");
                &self.limiter
            }),
            _ => &self.limiter,
        }
    }

    /// Whether users of `role` must have a second factor before using role-protected routes.
    pub fn mfa_required(&self, role: Role) -> bool {
        self.config.mfa_required_roles.contains(&role)
    }
}

const KEY_NAME: &str = "secret_key";

/// Security settings. Every field has a safe default; see docs/SECURITY.md.
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// Key material that seals TOTP secrets; when `None` a key is generated and kept in the
    /// database.
    pub secret_key: Option<Secret>,
    /// Serve HTTPS with these files instead of plain HTTP.
    pub tls: Option<TlsFiles>,
    /// Peers whose `X-Forwarded-For` is believed (reverse proxies, load balancers).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Roles that must confirm a TOTP authenticator before using anything but enrolment.
    pub mfa_required_roles: BTreeSet<Role>,
    /// Session lifetimes and cookie attributes.
    pub sessions: SessionSettings,
    /// Sign-in throttling.
    pub throttle: ThrottleSettings,
    /// Request token buckets.
    pub rate_limits: RateLimits,
    /// Named rate classes for tokens made for systems (`[rate_classes.NAME]`); people's
    /// requests never use them.
    pub rate_classes: std::collections::BTreeMap<String, RateLimits>,
    /// Largest total size of a request's headers, in bytes (431 above).
    pub max_header_bytes: usize,
    /// Password hashes computed at once (each takes ~19 MiB and a core for tens of ms).
    pub hash_concurrency: usize,
    /// Days without a sign-in or token use after which the access review flags an account
    /// dormant, unless a request says otherwise (`[access_review] dormant_days`).
    pub dormant_days: u32,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            secret_key: None,
            tls: None,
            trusted_proxies: Vec::new(),
            mfa_required_roles: BTreeSet::from([Role::Admin, Role::Manager]),
            sessions: SessionSettings::default(),
            throttle: ThrottleSettings::default(),
            rate_limits: RateLimits::default(),
            rate_classes: std::collections::BTreeMap::from([(String::from("integration"), ratelimit::integration())]),
            max_header_bytes: 16 * 1024,
            hash_concurrency: 2,
            dormant_days: review::DEFAULT_DORMANT_DAYS,
        }
    }
}
