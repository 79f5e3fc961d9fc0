//! What the benchmark examples share: a client acting as a user made through the library.

use std::time::Duration;

use moon_db::Db;
use moon_server::{Config, Secret};

/// Milliseconds with one decimal, as the tables show them.
pub fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// The `p` quantile of sorted samples (nearest rank).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A server configuration over these databases without request rate limits (the samples come
/// from one client, and the buckets are not what is measured), and the migrated database.
pub async fn config(db_url: &str, wh_url: &str) -> (Config, Db) {
    let mut config = Config::for_database(db_url);
    config.warehouse_url = Some(Secret::new(wh_url));
    let off = moon_server::auth::ratelimit::Limit { per_minute: 0, burst: 0 };
    config.security.rate_limits = moon_server::auth::ratelimit::RateLimits { auth: off, read: off, write: off };
    let db = moon_server::app::open_database(&config).await.unwrap();
    (config, db)
}

/// A client sending an API token of a new user of `role` (bound to `agent_code` for an agent),
/// made through the library as `moon user add` and `moon token create` would.
pub async fn client_as(db: &Db, name: &str, role: &str, agent_code: Option<&str>) -> reqwest::Client {
    let op = moon_http::Principal::operator();
    let binding = moon_server::auth::users::Binding::parse(role, None, agent_code).unwrap();
    let hasher = moon_server::auth::password::Hasher::new(1);
    let password = moon_server::auth::password::generate().unwrap();
    let user = moon_server::auth::users::create(db, &hasher, name, &password, binding, &op).await.unwrap();
    let (_, token) = moon_server::auth::token::create(db, user.id, "bench", None, &op).await.unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
    reqwest::Client::builder().default_headers(headers).build().unwrap()
}
