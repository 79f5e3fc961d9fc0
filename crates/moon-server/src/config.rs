//! The effective configuration of a server, after layering flags, environment, file and defaults
//! (that layering lives in the `moon` binary; this is its typed result).

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::ratelimit::RateLimits;
use crate::auth::session::SessionSettings;
use crate::auth::throttle::ThrottleSettings;
use crate::http::Role;
use crate::targets::Component;

/// A secret string (a database URL with its password, the secret key). Its `Debug` never shows
/// it, and it has no `Display`.
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

/// Everything a server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Operational database URL.
    pub database_url: Secret,
    /// Components to run.
    pub components: BTreeSet<Component>,
    /// Most connections per database pool.
    pub max_connections: u32,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Longest a request may run before it is answered 503.
    pub request_timeout: Duration,
    /// Warehouse URL; `None`: a SQLite file beside the operational database.
    pub warehouse_url: Option<Secret>,
    /// How often the aggregator looks for new changes; zero: no continuous refresh in this
    /// process (KPIs are still served, as refreshed by `moon aggregate`).
    pub aggregate_interval: Duration,
    /// Key for agent pseudonyms; `None`: generated once and kept in the database.
    pub pseudonym_key: Option<Secret>,
    /// KPI rows by team or branch backed by fewer agents than this are suppressed (k-anonymity;
    /// 1 suppresses nothing).
    pub min_group_size: u32,
    /// Authentication, sessions, MFA, rate limits, TLS.
    pub security: SecurityConfig,
    /// Notification rules, delivery and the SMTP relay (`[notifications]` in `moon.toml`).
    pub notifications: crate::notifications::settings::NotificationSettings,
}

impl Config {
    /// The warehouse URL in effect.
    pub fn warehouse_url(&self) -> String {
        self.warehouse_url.as_ref().map_or_else(
            || crate::analytics::warehouse::default_url(self.database_url.expose()),
            |s| s.expose().to_owned(),
        )
    }
}

/// The certificate chain and private key of the TLS listener (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

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
    /// Largest total size of a request's headers, in bytes (431 above).
    pub max_header_bytes: usize,
    /// Password hashes computed at once (each takes ~19 MiB and a core for tens of ms).
    pub hash_concurrency: usize,
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
            max_header_bytes: 16 * 1024,
            hash_concurrency: 2,
        }
    }
}

impl Config {
    /// A configuration for tests and tools: every component, loopback on an ephemeral port.
    pub fn for_database(url: impl Into<String>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: Secret::new(url),
            components: crate::targets::resolve("all").unwrap_or_default(),
            max_connections: 10,
            body_limit: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            warehouse_url: None,
            aggregate_interval: Duration::from_millis(200),
            pseudonym_key: None,
            min_group_size: 1,
            security: SecurityConfig::default(),
            notifications: Default::default(),
        }
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
