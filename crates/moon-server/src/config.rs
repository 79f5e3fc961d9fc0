//! The effective configuration of a server, after layering flags, environment, file and defaults
//! (that layering lives in the `moon` binary; this is its typed result).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use crate::auth::SecurityConfig;
use crate::targets::Component;
use moon_db::Secret;

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
    /// SQLite only: page cache of the one writer connection in MiB. Counts fully towards the
    /// process's memory once the cache has filled, so a small pod may lower it.
    pub sqlite_cache_mib: u32,
    /// SQLite warehouse only: page cache of its one writer (the aggregator's) in MiB; default
    /// [`moon_analytics::DEFAULT_WAREHOUSE_CACHE_MIB`]. Fills as the warehouse grows, so it too
    /// counts towards the process's memory.
    pub warehouse_sqlite_cache_mib: u32,
    /// SQLite only (both databases): page cache of each reader connection in MiB; `None`:
    /// SQLite's default (2 MiB). Up to `max_connections` readers each fill theirs with use.
    pub sqlite_reader_cache_mib: Option<u32>,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Longest a request may run before it is answered 503.
    pub request_timeout: Duration,
    /// Connection limits: header read timeout (also the idle keep-alive limit) and open
    /// connections.
    pub connections: moon_http::serve::ConnLimits,
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
    /// The business calendar (`[business]`): time zone for "today" and period boundaries,
    /// fiscal year start month, working days.
    pub business: moon_domain::BusinessCalendar,
    /// Attainment bands of sales targets (`[targets] bands`).
    pub target_bands: moon_domain::Bands,
    /// How long sessions, throttle rows, deliveries, applied change-log entries and audit
    /// entries are kept (`[retention]`).
    pub retention: crate::retention::RetentionSettings,
    /// The currency amounts are in (`[business] currency`), shown beside them in the console.
    pub currency: moon_domain::CurrencyCode,
    /// Anomaly detectors and their thresholds (`[anomalies]`).
    pub anomalies: crate::anomalies::AnomalySettings,
}

impl Config {
    /// The warehouse URL in effect.
    pub fn warehouse_url(&self) -> String {
        self.warehouse_url.as_ref().map_or_else(
            || moon_analytics::warehouse::default_url(self.database_url.expose()),
            |s| s.expose().to_owned(),
        )
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
            sqlite_cache_mib: moon_db::DEFAULT_WRITER_CACHE_MIB,
            warehouse_sqlite_cache_mib: moon_analytics::DEFAULT_WAREHOUSE_CACHE_MIB,
            sqlite_reader_cache_mib: None,
            body_limit: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            connections: moon_http::serve::ConnLimits::default(),
            warehouse_url: None,
            aggregate_interval: Duration::from_millis(200),
            pseudonym_key: None,
            min_group_size: 1,
            security: SecurityConfig::default(),
            notifications: Default::default(),
            business: moon_domain::BusinessCalendar::default(),
            target_bands: moon_domain::Bands::default(),
            retention: crate::retention::RetentionSettings::default(),
            currency: moon_domain::CurrencyCode::default(),
            // Off for tests and tools: a scenario opts in, so detection's alerts never land in
            // the inboxes other scenarios count.
            anomalies: crate::anomalies::AnomalySettings { enabled: false, ..Default::default() },
        }
    }
}
