//! Configuration layering: flags > `MOON_*` environment > `moon.toml` > defaults.
//!
//! clap reads flags and their `MOON_*` environment variables; whatever neither gives is taken
//! from the optional TOML file, then from defaults. A secret may also come from a file named by
//! `MOON_<NAME>_FILE`, as Kubernetes mounts Secrets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use moon_db::{Secret, redact_url};
use moon_http::Role;
use moon_http::tls::TlsFiles;
use moon_server::Config;
use moon_server::auth::SecurityConfig;
use moon_server::auth::ratelimit::Limit;
use serde::Deserialize;

/// The default embedded database: a SQLite file under `./data`, created on first run.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/moon.db";
/// The default listen address: loopback only, so a first run exposes nothing.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Options every subcommand that touches the database shares.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Database URL: sqlite://path, postgres://user:pass@host/db or mysql://user:pass@host/db.
    #[arg(long, env = "MOON_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Configuration file (TOML); defaults to ./moon.toml when it exists.
    #[arg(long, env = "MOON_CONFIG")]
    pub config: Option<PathBuf>,
    /// Warehouse URL: sqlite://path or postgres://… (PostgreSQL or Amazon Redshift)
    /// [default: warehouse.db beside a SQLite database, else sqlite://data/warehouse.db].
    #[arg(long, env = "MOON_WAREHOUSE_URL", hide_env_values = true)]
    pub warehouse_url: Option<String>,
}

/// Options of `moon serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "MOON_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Targets to run: all, or a comma-separated list of agent, integration, notification,
    /// aggregator, web [default: all].
    #[arg(long, env = "MOON_TARGET")]
    pub target: Option<String>,
    /// Most connections per database pool [default: 10].
    #[arg(long, env = "MOON_MAX_CONNECTIONS")]
    pub max_connections: Option<u32>,
    /// Suppress KPI rows by team or branch that fewer than this many agents stand behind
    /// (k-anonymity) [default: 1, nothing suppressed].
    #[arg(long, env = "MOON_MIN_GROUP_SIZE")]
    pub min_group_size: Option<u32>,
    /// How often the aggregator looks for new changes, in milliseconds; 0 turns the continuous
    /// refresh off in this process [default: 200].
    #[arg(long, env = "MOON_AGGREGATE_INTERVAL_MS")]
    pub aggregate_interval_ms: Option<u64>,
    /// Load the demo data set before serving (MOON_DEMO accepts true/false, 1/0, yes/no, on/off).
    #[arg(long, env = "MOON_DEMO", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0, default_missing_value = "true")]
    pub demo: bool,
    /// TLS certificate chain (PEM); with --tls-key the server speaks HTTPS only.
    #[arg(long, env = "MOON_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "MOON_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed [default: none].
    #[arg(long, env = "MOON_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
    /// Comma-separated roles that must use MFA, or `none` [default: admin,manager].
    #[arg(long, env = "MOON_MFA_REQUIRED_ROLES")]
    pub mfa_required_roles: Option<String>,
    /// Mark session cookies Secure without TLS here (TLS ends at a proxy in front).
    #[arg(long, env = "MOON_SECURE_COOKIES", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0, default_missing_value = "true")]
    pub secure_cookies: bool,
}

impl From<CommonArgs> for ServeArgs {
    fn from(common: CommonArgs) -> Self {
        ServeArgs {
            common,
            listen: None,
            target: None,
            max_connections: None,
            aggregate_interval_ms: None,
            min_group_size: None,
            demo: false,
            tls_cert: None,
            tls_key: None,
            trusted_proxies: None,
            mfa_required_roles: None,
            secure_cookies: false,
        }
    }
}

/// The optional `moon.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    target: Option<String>,
    database_url: Option<String>,
    max_connections: Option<u32>,
    sqlite_cache_mib: Option<u32>,
    warehouse_sqlite_cache_mib: Option<u32>,
    sqlite_reader_cache_mib: Option<u32>,
    body_limit_bytes: Option<usize>,
    request_timeout_secs: Option<u64>,
    header_read_timeout_secs: Option<u64>,
    max_open_connections: Option<usize>,
    warehouse_url: Option<String>,
    aggregate_interval_ms: Option<u64>,
    min_group_size: Option<u32>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    trusted_proxies: Option<Vec<String>>,
    mfa_required_roles: Option<Vec<String>>,
    secure_cookies: Option<bool>,
    session_idle_minutes: Option<u64>,
    session_absolute_hours: Option<u64>,
    max_header_bytes: Option<usize>,
    rate_limit_auth_per_minute: Option<u32>,
    rate_limit_auth_burst: Option<u32>,
    rate_limit_read_per_minute: Option<u32>,
    rate_limit_read_burst: Option<u32>,
    rate_limit_write_per_minute: Option<u32>,
    rate_limit_write_burst: Option<u32>,
    notifications: Option<moon_server::notifications::settings::NotificationSettings>,
    business: Option<BusinessFile>,
    targets: Option<TargetsFile>,
    rate_classes: Option<std::collections::BTreeMap<String, RateClassFile>>,
    retention: Option<moon_server::retention::RetentionSettings>,
    anomalies: Option<moon_server::anomalies::AnomalySettings>,
    access_review: Option<AccessReviewFile>,
}

/// `[access_review]` in `moon.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessReviewFile {
    /// Days without a sign-in or token use that make an account dormant (1–3650, default 90).
    dormant_days: Option<u32>,
}

/// `[rate_classes.NAME]` in `moon.toml`: the limits of tokens made for systems
/// (`moon token create --rate-class NAME`). Unset values keep the built-in `integration`
/// class's (60,000 a minute, bursts of 6,000).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateClassFile {
    writes_per_minute: Option<u32>,
    write_burst: Option<u32>,
    reads_per_minute: Option<u32>,
    read_burst: Option<u32>,
}

/// `[business]` in `moon.toml`: the business calendar.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct BusinessFile {
    /// IANA zone such as `Asia/Colombo` (default `UTC`); `MOON_BUSINESS_TIME_ZONE` wins.
    time_zone: Option<String>,
    /// 1–12 (default 1); `MOON_FISCAL_YEAR_START_MONTH` wins.
    fiscal_year_start_month: Option<u32>,
    /// Working weekdays, such as `["mon", "tue", "wed", "thu", "fri"]` (the default).
    working_days: Option<Vec<String>>,
    /// ISO 4217 code the amounts are in (default `LKR`); `MOON_BUSINESS_CURRENCY` wins.
    currency: Option<String>,
}

/// `[targets]` in `moon.toml`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetsFile {
    /// Attainment band thresholds in whole percent, ascending (default `[80, 100, 120]`).
    bands: Option<Vec<u32>>,
}

/// The business calendar: environment > `[business]` > defaults (UTC, January, Monday–Friday).
fn business(file: &FileConfig) -> anyhow::Result<moon_domain::BusinessCalendar> {
    let b = file.business.clone().unwrap_or_default();
    let zone = std::env::var("MOON_BUSINESS_TIME_ZONE").ok().filter(|z| !z.trim().is_empty()).or(b.time_zone);
    let month = match std::env::var("MOON_FISCAL_YEAR_START_MONTH").ok().filter(|m| !m.trim().is_empty()) {
        Some(m) => Some(
            m.trim()
                .parse::<u32>()
                .with_context(|| format!("MOON_FISCAL_YEAR_START_MONTH must be 1 to 12; got {m:?}"))?,
        ),
        None => b.fiscal_year_start_month,
    };
    moon_domain::BusinessCalendar::new(zone.as_deref().unwrap_or("UTC"), month.unwrap_or(1), b.working_days.as_deref())
        .map_err(|e| anyhow::anyhow!("invalid [business] settings: {e}"))
}

/// The attainment bands of `[targets]`.
fn bands(file: &FileConfig) -> anyhow::Result<moon_domain::Bands> {
    match file.targets.as_ref().and_then(|t| t.bands.clone()) {
        None => Ok(moon_domain::Bands::default()),
        Some(b) => moon_domain::Bands::new(b.into_iter().map(rust_decimal::Decimal::from).collect())
            .map_err(|e| anyhow::anyhow!("invalid [targets] bands: {e}")),
    }
}

fn read_file_config(explicit: Option<&PathBuf>) -> anyhow::Result<FileConfig> {
    let path = match explicit {
        Some(p) => p.clone(),
        None => {
            let default = PathBuf::from("moon.toml");
            if !default.exists() {
                return Ok(FileConfig::default());
            }
            default
        }
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("cannot read configuration file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid configuration file {}", path.display()))
}

/// A secret from `MOON_<NAME>_FILE`, trimmed of the trailing newline editors add.
fn secret_from_file(var: &str) -> anyhow::Result<Option<String>> {
    match std::env::var_os(var) {
        None => Ok(None),
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {var}={}", PathBuf::from(&path).display()))?;
            Ok(Some(text.trim().to_owned()))
        }
    }
}

/// Layers flags, environment, file and defaults into a server configuration.
pub fn resolve(args: &ServeArgs) -> anyhow::Result<Config> {
    let file = read_file_config(args.common.config.as_ref())?;
    let database_url = match &args.common.database_url {
        Some(url) => url.clone(),
        None => match secret_from_file("MOON_DATABASE_URL_FILE")? {
            Some(url) => url,
            None => file.database_url.clone().unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
        },
    };
    moon_db::Backend::from_url(&database_url).map_err(|e| anyhow::anyhow!(e))?;
    let warehouse_url = match &args.common.warehouse_url {
        Some(url) => Some(url.clone()),
        None => secret_from_file("MOON_WAREHOUSE_URL_FILE")?.or(file.warehouse_url.clone()),
    };
    if let Some(url) = &warehouse_url {
        moon_db::Backend::from_url(url).map_err(|e| anyhow::anyhow!("MOON_WAREHOUSE_URL: {e}"))?;
    }
    let pseudonym_key = match std::env::var("MOON_PSEUDONYM_KEY").ok().filter(|k| !k.is_empty()) {
        Some(k) => Some(k),
        None => secret_from_file("MOON_PSEUDONYM_KEY_FILE")?,
    };
    let target = args.target.clone().or(file.target.clone()).unwrap_or_else(|| String::from("all"));
    let components = moon_server::targets::resolve(&target).map_err(|e| anyhow::anyhow!(e))?;
    let listen = match args.listen.or(file.listen) {
        Some(l) => l,
        None => DEFAULT_LISTEN.parse().context("default listen address")?,
    };
    let security = security(args, &file)?;
    let mut notifications = file.notifications.clone().unwrap_or_default();
    if let Some(smtp) = notifications.smtp.as_mut() {
        let password = match std::env::var("MOON_SMTP_PASSWORD").ok().filter(|p| !p.is_empty()) {
            Some(p) => Some(p),
            None => secret_from_file("MOON_SMTP_PASSWORD_FILE")?,
        };
        smtp.password = password.map(Secret::new);
    }
    notifications.check().context("invalid [notifications] settings")?;
    let business = business(&file)?;
    let currency = currency(&file)?;
    let target_bands = bands(&file)?;
    let retention = retention(&file)?;
    let anomalies = file.anomalies.clone().unwrap_or_default();
    anomalies.check().map_err(|e| anyhow::anyhow!("invalid [anomalies] settings: {e}"))?;
    Ok(Config {
        listen,
        database_url: Secret::new(database_url),
        components,
        max_connections: args.max_connections.or(file.max_connections).unwrap_or(10).max(1),
        sqlite_cache_mib: file.sqlite_cache_mib.unwrap_or(moon_db::DEFAULT_WRITER_CACHE_MIB).max(1),
        warehouse_sqlite_cache_mib: file
            .warehouse_sqlite_cache_mib
            .unwrap_or(moon_analytics::DEFAULT_WAREHOUSE_CACHE_MIB)
            .max(1),
        sqlite_reader_cache_mib: file.sqlite_reader_cache_mib.map(|m| m.max(1)),
        body_limit: file.body_limit_bytes.unwrap_or(64 * 1024),
        request_timeout: Duration::from_secs(file.request_timeout_secs.unwrap_or(30)),
        connections: moon_http::serve::ConnLimits {
            header_read_timeout: Duration::from_secs(file.header_read_timeout_secs.unwrap_or(10).max(1)),
            max_connections: file.max_open_connections.unwrap_or(1024).max(1),
        },
        warehouse_url: warehouse_url.map(Secret::new),
        aggregate_interval: Duration::from_millis(
            args.aggregate_interval_ms.or(file.aggregate_interval_ms).unwrap_or(200),
        ),
        pseudonym_key: pseudonym_key.map(Secret::new),
        min_group_size: args.min_group_size.or(file.min_group_size).unwrap_or(1).max(1),
        security,
        notifications,
        business,
        target_bands,
        retention,
        currency,
        anomalies,
    })
}

/// The currency amounts are in: environment > `[business] currency` > LKR.
fn currency(file: &FileConfig) -> anyhow::Result<moon_domain::CurrencyCode> {
    let configured = std::env::var("MOON_BUSINESS_CURRENCY")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| file.business.as_ref().and_then(|b| b.currency.clone()));
    configured.map_or(Ok(moon_domain::CurrencyCode::default()), |c| {
        moon_domain::CurrencyCode::parse(&c).map_err(|e| anyhow::anyhow!("invalid [business] settings: {e}"))
    })
}

/// `[retention]`, with the audit checkpoint read from its file and its key from the
/// environment (never from the file, which may sit beside the database).
fn retention(file: &FileConfig) -> anyhow::Result<moon_server::retention::RetentionSettings> {
    let mut r = file.retention.clone().unwrap_or_default();
    if let Some(path) = &r.audit_checkpoint_file {
        let line = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the audit checkpoint {}", path.display()))?;
        r.audit_checkpoint = Some(Secret::new(line.trim().to_owned()));
    }
    r.audit_checkpoint_key = std::env::var("MOON_AUDIT_CHECKPOINT_KEY").ok().filter(|k| !k.is_empty()).map(Secret::new);
    Ok(r)
}

fn list(raw: &str) -> Vec<String> {
    raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// The security settings: TLS, proxies, MFA roles, sessions, limits, and the secret key (from
/// `MOON_SECRET_KEY` or `MOON_SECRET_KEY_FILE` only, never a flag or the TOML file, so it stays
/// out of process listings and configuration files).
fn security(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<SecurityConfig> {
    let secret_key = match std::env::var("MOON_SECRET_KEY").ok().filter(|k| !k.is_empty()) {
        Some(k) => Some(Secret::new(k)),
        None => secret_from_file("MOON_SECRET_KEY_FILE")?.map(Secret::new),
    };
    let mut s = SecurityConfig { secret_key, ..SecurityConfig::default() };
    if let Some(days) = file.access_review.as_ref().and_then(|a| a.dormant_days) {
        s.dormant_days = moon_server::auth::review::parse_dormant_days(Some(&days.to_string()), days)
            .map_err(|e| anyhow::anyhow!("[access_review] {}", e.message))?;
    }
    if let Some(k) = &s.secret_key {
        anyhow::ensure!(k.expose().len() >= 32, "MOON_SECRET_KEY must be at least 32 characters long");
    }
    let cert = args.tls_cert.clone().or_else(|| file.tls_cert.clone());
    let key = args.tls_key.clone().or_else(|| file.tls_key.clone());
    s.tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        _ => anyhow::bail!("TLS needs both a certificate (--tls-cert) and a key (--tls-key)"),
    };
    let proxies = match &args.trusted_proxies {
        Some(raw) => list(raw),
        None => file.trusted_proxies.clone().unwrap_or_default(),
    };
    s.trusted_proxies = proxies
        .iter()
        .map(|p| {
            p.parse::<ipnet::IpNet>()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .with_context(|| format!("trusted proxy {p:?} is not an address or CIDR"))
        })
        .collect::<anyhow::Result<_>>()?;
    let roles = match &args.mfa_required_roles {
        Some(raw) => Some(list(raw)),
        None => file.mfa_required_roles.clone(),
    };
    if let Some(roles) = roles {
        s.mfa_required_roles = roles
            .iter()
            .filter(|r| !r.eq_ignore_ascii_case("none"))
            .map(|r| Role::parse(r).with_context(|| format!("unknown role {r:?} in the MFA-required roles")))
            .collect::<anyhow::Result<_>>()?;
    }
    s.sessions.secure_cookies = s.tls.is_some() || args.secure_cookies || file.secure_cookies.unwrap_or(false);
    if let Some(m) = file.session_idle_minutes {
        s.sessions.idle = Duration::from_secs(m.max(1) * 60);
    }
    if let Some(h) = file.session_absolute_hours {
        s.sessions.absolute = Duration::from_secs(h.max(1) * 3600);
    }
    if let Some(b) = file.max_header_bytes {
        s.max_header_bytes = b;
    }
    let limit = |l: Limit, per_minute: Option<u32>, burst: Option<u32>| Limit {
        per_minute: per_minute.unwrap_or(l.per_minute),
        burst: burst.unwrap_or(l.burst),
    };
    let r = &mut s.rate_limits;
    r.auth = limit(r.auth, file.rate_limit_auth_per_minute, file.rate_limit_auth_burst);
    r.read = limit(r.read, file.rate_limit_read_per_minute, file.rate_limit_read_burst);
    r.write = limit(r.write, file.rate_limit_write_per_minute, file.rate_limit_write_burst);
    for (name, c) in file.rate_classes.iter().flatten() {
        anyhow::ensure!(
            moon_server::auth::token::valid_class_name(name),
            "rate class names are 1-40 lower-case letters, digits, _ or -; got {name:?}"
        );
        let base = moon_server::auth::ratelimit::integration();
        let limits = moon_server::auth::ratelimit::RateLimits {
            read: limit(base.read, c.reads_per_minute, c.read_burst),
            write: limit(base.write, c.writes_per_minute, c.write_burst),
            ..base
        };
        s.rate_classes.insert(name.clone(), limits);
    }
    Ok(s)
}

/// The effective configuration as TOML-like lines, with the database password and the secret
/// key redacted.
pub fn describe(c: &Config) -> String {
    let targets: Vec<&str> = c.components.iter().map(|c| c.name()).collect();
    let s = &c.security;
    let roles: Vec<&str> = s.mfa_required_roles.iter().map(|r| r.as_str()).collect();
    let proxies: Vec<String> = s.trusted_proxies.iter().map(ToString::to_string).collect();
    let tls = s
        .tls
        .as_ref()
        .map_or_else(|| String::from("off"), |t| format!("cert={} key={}", t.cert.display(), t.key.display()));
    let r = &s.rate_limits;
    format!(
        "listen = \"{}\"\ndatabase_url = \"{}\"\nwarehouse_url = \"{}\"\ntargets = \"{}\"\nmax_connections = {}\nsqlite_cache_mib = {}\nwarehouse_sqlite_cache_mib = {}\nsqlite_reader_cache_mib = {}\nbody_limit_bytes = {}\nrequest_timeout_secs = {}\n\
         header_read_timeout_secs = {}\nmax_open_connections = {}\n\
         aggregate_interval_ms = {}\npseudonym_key = \"{}\"\nmin_group_size = {}\n\
         tls = \"{tls}\"\nencryption_key = \"{}\"\ntrusted_proxies = \"{}\"\nmfa_required_roles = \"{}\"\nsecure_cookies = {}\n\
         session_idle_minutes = {}\nsession_absolute_hours = {}\nmax_header_bytes = {}\n\
         rate_limits = \"auth {}/min burst {}, read {}/min burst {}, write {}/min burst {}\"",
        c.listen,
        redact_url(c.database_url.expose()),
        redact_url(&c.warehouse_url()),
        targets.join(","),
        c.max_connections,
        c.sqlite_cache_mib,
        c.warehouse_sqlite_cache_mib,
        c.sqlite_reader_cache_mib.map_or_else(|| String::from("default"), |m| m.to_string()),
        c.body_limit,
        c.request_timeout.as_secs(),
        c.connections.header_read_timeout.as_secs(),
        c.connections.max_connections,
        c.aggregate_interval.as_millis(),
        if c.pseudonym_key.is_some() { "[from MOON_PSEUDONYM_KEY]" } else { "[generated, kept in the database]" },
        c.min_group_size,
        if s.secret_key.is_some() { "[from MOON_SECRET_KEY]" } else { "[generated, kept in the database]" },
        proxies.join(","),
        roles.join(","),
        s.sessions.secure_cookies,
        s.sessions.idle.as_secs() / 60,
        s.sessions.absolute.as_secs() / 3600,
        s.max_header_bytes,
        r.auth.per_minute,
        r.auth.burst,
        r.read.per_minute,
        r.read.burst,
        r.write.per_minute,
        r.write.burst,
    ) + &describe_notifications(&c.notifications)
        + &format!(
            "\nbusiness.time_zone = \"{}\"\nbusiness.fiscal_year_start_month = {}\nbusiness.working_days = \"{}\"\nbusiness.currency = \"{}\"\ntargets.bands = \"{}\"",
            c.business.zone.name(),
            c.business.fiscal.month(),
            c.business.week.names().join(","),
            c.currency,
            c.target_bands.thresholds().iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
        )
        + &describe_retention(&c.retention)
        + &describe_anomalies(&c.anomalies)
        + &format!("\naccess_review.dormant_days = {}", c.security.dormant_days)
}

/// The `[anomalies]` lines of [`describe`].
fn describe_anomalies(a: &moon_server::anomalies::AnomalySettings) -> String {
    format!(
        "\nanomalies.enabled = {}\nanomalies.interval_seconds = {}\n\
         anomalies.failed_sign_ins = {{ enabled = {}, account_failures = {}, address_failures = {} }}\n\
         anomalies.new_address = {{ enabled = {} }}\n\
         anomalies.token_addresses = {{ enabled = {}, addresses = {}, window_minutes = {} }}\n\
         anomalies.permission_denied = {{ enabled = {}, count = {}, window_minutes = {} }}\n\
         anomalies.sale_amount = {{ enabled = {}, mads = {}, min_history = {} }}\n\
         anomalies.past_sale = {{ enabled = {}, days = {} }}\n\
         anomalies.sales_burst = {{ enabled = {}, count = {}, window_minutes = {} }}\n\
         anomalies.duplicate_sale = {{ enabled = {} }}\n\
         anomalies.branch_day = {{ enabled = {}, mads = {}, min_history = {}, history_weeks = {} }}",
        a.enabled,
        a.interval_seconds,
        a.failed_sign_ins.enabled,
        a.failed_sign_ins.account_failures,
        a.failed_sign_ins.address_failures,
        a.new_address.enabled,
        a.token_addresses.enabled,
        a.token_addresses.addresses,
        a.token_addresses.window_minutes,
        a.permission_denied.enabled,
        a.permission_denied.count,
        a.permission_denied.window_minutes,
        a.sale_amount.enabled,
        a.sale_amount.mads,
        a.sale_amount.min_history,
        a.past_sale.enabled,
        a.past_sale.days,
        a.sales_burst.enabled,
        a.sales_burst.count,
        a.sales_burst.window_minutes,
        a.duplicate_sale.enabled,
        a.branch_day.enabled,
        a.branch_day.mads,
        a.branch_day.min_history,
        a.branch_day.history_weeks,
    )
}

/// The `[retention]` lines of [`describe`]; the checkpoint and its key show only whether set.
fn describe_retention(r: &moon_server::retention::RetentionSettings) -> String {
    format!(
        "\nretention.interval_minutes = {}\nretention.sessions_days = {}\nretention.throttle_days = {}\n\
         retention.deliveries_days = {}\nretention.read_notifications_days = {}\nretention.change_log_days = {}\n\
         retention.audit_years = {}\nretention.audit_checkpoint = \"{}\"",
        r.interval_minutes,
        r.sessions_days,
        r.throttle_days,
        r.deliveries_days,
        r.read_notifications_days,
        r.change_log_days,
        r.audit_years,
        match (&r.audit_checkpoint, &r.audit_checkpoint_key) {
            (Some(_), Some(_)) => "[file, key from MOON_AUDIT_CHECKPOINT_KEY]",
            (Some(_), None) => "[file, no key: audit pruning off]",
            _ => "[none: audit pruning off]",
        }
    )
}

/// The `[notifications]` lines of [`describe`]; the SMTP password shows only where it comes from.
fn describe_notifications(n: &moon_server::notifications::settings::NotificationSettings) -> String {
    let rules = n.rules.as_ref().map_or_else(|| String::from("defaults"), |r| format!("{} configured", r.len()));
    let smtp = n.smtp.as_ref().map_or_else(
        || String::from("off"),
        |m| {
            let password = if m.password.is_some() { ", password from MOON_SMTP_PASSWORD" } else { "" };
            let tls = format!("{:?}", m.tls).to_lowercase();
            format!("{}:{} from {} tls {tls}{password}", m.host, m.port, m.from)
        },
    );
    format!(
        "\nnotifications.timezone = \"{}\"\nnotifications.rules = \"{rules}\"\nnotifications.max_attempts = {}\n\
         notifications.backoff_ms = {}\nnotifications.smtp = \"{smtp}\"",
        n.timezone, n.max_attempts, n.backoff_ms
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(database_url: Option<&str>, config: Option<PathBuf>, listen: Option<&str>) -> ServeArgs {
        ServeArgs {
            common: CommonArgs { database_url: database_url.map(str::to_owned), config, warehouse_url: None },
            listen: listen.map(|l| l.parse().unwrap()),
            target: None,
            max_connections: None,
            aggregate_interval_ms: None,
            min_group_size: None,
            demo: false,
            tls_cert: None,
            tls_key: None,
            trusted_proxies: None,
            mfa_required_roles: None,
            secure_cookies: false,
        }
    }

    #[test]
    fn flags_override_the_file_and_the_file_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("moon-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("moon.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9999\"\ndatabase_url = \"postgres://u:secret@db/moon\"\ntarget = \"agent\"\nmax_connections = 3\nsqlite_cache_mib = 8\nwarehouse_sqlite_cache_mib = 16\nsqlite_reader_cache_mib = 1\n").unwrap();

        let from_file = resolve(&args(None, Some(file.clone()), None)).unwrap();
        assert_eq!(from_file.listen.port(), 9999);
        assert_eq!(from_file.database_url.expose(), "postgres://u:secret@db/moon");
        assert_eq!(from_file.components.len(), 1);
        assert_eq!(from_file.max_connections, 3);
        assert_eq!(from_file.sqlite_cache_mib, 8);
        assert_eq!(from_file.warehouse_sqlite_cache_mib, 16);
        assert!(describe(&from_file).contains("warehouse_sqlite_cache_mib = 16"));
        assert_eq!(from_file.sqlite_reader_cache_mib, Some(1));
        assert!(describe(&from_file).contains("sqlite_cache_mib = 8"));
        assert!(!describe(&from_file).contains("secret"), "printed configuration hides the password");

        let flagged = resolve(&args(Some("sqlite://x.db"), Some(file.clone()), Some("127.0.0.1:7000"))).unwrap();
        assert_eq!((flagged.listen.port(), flagged.database_url.expose()), (7000, "sqlite://x.db"));

        std::fs::write(&file, "lisen = \"typo\"\n").unwrap();
        assert!(resolve(&args(None, Some(file.clone()), None)).is_err(), "unknown keys are refused");
        assert!(resolve(&args(Some("oracle://x"), None, None)).is_err(), "unsupported backends are refused");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn security_settings_layer_and_refuse_nonsense() {
        let mut a = args(None, Some(PathBuf::from("/nonexistent")), None);
        a.common.config = None;
        let d = resolve(&a).unwrap();
        assert_eq!(d.security.mfa_required_roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(), ["admin", "manager"]);
        assert!(d.security.tls.is_none() && !d.security.sessions.secure_cookies);
        a.mfa_required_roles = Some(String::from("none"));
        a.trusted_proxies = Some(String::from("10.0.0.0/8, 192.0.2.7"));
        let c = resolve(&a).unwrap();
        assert!(c.security.mfa_required_roles.is_empty());
        assert_eq!(c.security.trusted_proxies.len(), 2);
        a.trusted_proxies = Some(String::from("not-a-network"));
        assert!(resolve(&a).is_err());
        a.trusted_proxies = None;
        a.mfa_required_roles = Some(String::from("admin,wizard"));
        assert!(resolve(&a).is_err(), "unknown roles are refused");
        a.mfa_required_roles = None;
        a.tls_cert = Some(PathBuf::from("cert.pem"));
        assert!(resolve(&a).is_err(), "a certificate without a key is refused");
        a.tls_key = Some(PathBuf::from("key.pem"));
        let t = resolve(&a).unwrap();
        assert!(t.security.sessions.secure_cookies, "TLS makes cookies Secure");
        assert!(describe(&t).contains("cert=cert.pem"));
    }

    #[test]
    fn defaults_are_the_embedded_database_on_loopback() {
        let c = resolve(&args(None, Some(PathBuf::from("/nonexistent/moon.toml")), None));
        assert!(c.is_err(), "an explicitly named missing file is an error");
        let d =
            resolve(&ServeArgs::from(CommonArgs { database_url: None, config: None, warehouse_url: None })).unwrap();
        assert_eq!(d.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(d.components.len(), 5);
        assert_eq!(d.warehouse_url(), "sqlite://data/warehouse.db");
        assert_eq!((d.business.zone.name(), d.business.fiscal.month()), ("UTC", 1));
        assert_eq!(d.currency.as_str(), "LKR", "the insurer's currency unless configured");
    }

    #[test]
    fn the_business_calendar_and_bands_come_from_the_file() {
        let dir = std::env::temp_dir().join(format!("moon-settings-business-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("moon.toml");
        std::fs::write(
            &file,
            "[business]\ntime_zone = \"Asia/Colombo\"\nfiscal_year_start_month = 4\nworking_days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\"]\ncurrency = \"usd\"\n[targets]\nbands = [70, 100]\n",
        )
        .unwrap();
        let c = resolve(&args(None, Some(file.clone()), None)).unwrap();
        assert_eq!(
            (c.business.zone.name(), c.business.fiscal.month(), c.business.week.names().len()),
            ("Asia/Colombo", 4, 6)
        );
        assert_eq!(c.target_bands.thresholds().len(), 2);
        assert!(describe(&c).contains("business.time_zone = \"Asia/Colombo\""));
        assert!(describe(&c).contains("business.currency = \"USD\""), "{}", describe(&c));
        std::fs::write(&file, "[business]\ncurrency = \"rupees\"\n").unwrap();
        assert!(resolve(&args(None, Some(file.clone()), None)).is_err(), "a currency is a three-letter code");
        std::fs::write(&file, "[business]\ntime_zone = \"Mars/Olympus\"\n").unwrap();
        assert!(resolve(&args(None, Some(file.clone()), None)).is_err(), "an unknown zone is refused");
        std::fs::write(&file, "[targets]\nbands = [100, 80]\n").unwrap();
        assert!(resolve(&args(None, Some(file.clone()), None)).is_err(), "bands must ascend");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
