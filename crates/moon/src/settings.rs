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
use moon_server::config::{Config, Secret, redact_url};
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
    /// Targets to run: all, or a comma-separated list of agent, integration, notification
    /// [default: all].
    #[arg(long, env = "MOON_TARGET")]
    pub target: Option<String>,
    /// Most connections per database pool [default: 10].
    #[arg(long, env = "MOON_MAX_CONNECTIONS")]
    pub max_connections: Option<u32>,
    /// How often the aggregator looks for new changes, in milliseconds; 0 turns the continuous
    /// refresh off in this process [default: 200].
    #[arg(long, env = "MOON_AGGREGATE_INTERVAL_MS")]
    pub aggregate_interval_ms: Option<u64>,
    /// Load the demo data set before serving (MOON_DEMO accepts true/false, 1/0, yes/no, on/off).
    #[arg(long, env = "MOON_DEMO", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0, default_missing_value = "true")]
    pub demo: bool,
}

impl From<CommonArgs> for ServeArgs {
    fn from(common: CommonArgs) -> Self {
        ServeArgs {
            common,
            listen: None,
            target: None,
            max_connections: None,
            aggregate_interval_ms: None,
            demo: false,
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
    body_limit_bytes: Option<usize>,
    request_timeout_secs: Option<u64>,
    warehouse_url: Option<String>,
    aggregate_interval_ms: Option<u64>,
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
    let target = args.target.clone().or(file.target).unwrap_or_else(|| String::from("all"));
    let components = moon_server::targets::resolve(&target).map_err(|e| anyhow::anyhow!(e))?;
    let listen = match args.listen.or(file.listen) {
        Some(l) => l,
        None => DEFAULT_LISTEN.parse().context("default listen address")?,
    };
    Ok(Config {
        listen,
        database_url: Secret::new(database_url),
        components,
        max_connections: args.max_connections.or(file.max_connections).unwrap_or(10).max(1),
        body_limit: file.body_limit_bytes.unwrap_or(64 * 1024),
        request_timeout: Duration::from_secs(file.request_timeout_secs.unwrap_or(30)),
        warehouse_url: warehouse_url.map(Secret::new),
        aggregate_interval: Duration::from_millis(
            args.aggregate_interval_ms.or(file.aggregate_interval_ms).unwrap_or(200),
        ),
        pseudonym_key: pseudonym_key.map(Secret::new),
    })
}

/// The effective configuration as TOML-like lines, with the database password redacted.
pub fn describe(c: &Config) -> String {
    let targets: Vec<&str> = c.components.iter().map(|c| c.name()).collect();
    format!(
        "listen = \"{}\"\ndatabase_url = \"{}\"\nwarehouse_url = \"{}\"\ntargets = \"{}\"\nmax_connections = {}\nbody_limit_bytes = {}\nrequest_timeout_secs = {}\naggregate_interval_ms = {}\npseudonym_key = \"{}\"",
        c.listen,
        redact_url(c.database_url.expose()),
        redact_url(&c.warehouse_url()),
        targets.join(","),
        c.max_connections,
        c.body_limit,
        c.request_timeout.as_secs(),
        c.aggregate_interval.as_millis(),
        if c.pseudonym_key.is_some() { "(configured, hidden)" } else { "(generated, kept in the database)" }
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
            demo: false,
        }
    }

    #[test]
    fn flags_override_the_file_and_the_file_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("moon-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("moon.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9999\"\ndatabase_url = \"postgres://u:secret@db/moon\"\ntarget = \"agent\"\nmax_connections = 3\n").unwrap();

        let from_file = resolve(&args(None, Some(file.clone()), None)).unwrap();
        assert_eq!(from_file.listen.port(), 9999);
        assert_eq!(from_file.database_url.expose(), "postgres://u:secret@db/moon");
        assert_eq!(from_file.components.len(), 1);
        assert_eq!(from_file.max_connections, 3);
        assert!(!describe(&from_file).contains("secret"), "printed configuration hides the password");

        let flagged = resolve(&args(Some("sqlite://x.db"), Some(file.clone()), Some("127.0.0.1:7000"))).unwrap();
        assert_eq!((flagged.listen.port(), flagged.database_url.expose()), (7000, "sqlite://x.db"));

        std::fs::write(&file, "lisen = \"typo\"\n").unwrap();
        assert!(resolve(&args(None, Some(file.clone()), None)).is_err(), "unknown keys are refused");
        assert!(resolve(&args(Some("oracle://x"), None, None)).is_err(), "unsupported backends are refused");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn defaults_are_the_embedded_database_on_loopback() {
        let c = resolve(&args(None, Some(PathBuf::from("/nonexistent/moon.toml")), None));
        assert!(c.is_err(), "an explicitly named missing file is an error");
        let d =
            resolve(&ServeArgs::from(CommonArgs { database_url: None, config: None, warehouse_url: None })).unwrap();
        assert_eq!(d.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(d.components.len(), 4);
        assert_eq!(d.warehouse_url(), "sqlite://data/warehouse.db");
    }
}
