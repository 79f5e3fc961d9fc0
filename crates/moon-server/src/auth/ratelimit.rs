//! Request rate limits: token buckets per client address and per principal, one set per route
//! class (auth, read, write), kept in memory.
//!
//! These are coarse abuse protection per process (each replica counts alone); the sign-in limits
//! that must hold across replicas live in the database ([`super::throttle`]). The client address
//! is the socket peer, or the `X-Forwarded-For` entry added by the nearest untrusted hop when the
//! peer is one of the configured trusted proxies.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use ipnet::IpNet;

use super::policy::RateClass;

/// One bucket's size and refill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Sustained requests per minute.
    pub per_minute: u32,
    /// Requests allowed in a burst (bucket capacity).
    pub burst: u32,
}

/// Limits per route class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Sign-in and MFA verification.
    pub auth: Limit,
    /// GET and HEAD.
    pub read: Limit,
    /// Everything that changes state.
    pub write: Limit,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            auth: Limit { per_minute: 30, burst: 10 },
            read: Limit { per_minute: 1200, burst: 300 },
            write: Limit { per_minute: 600, burst: 150 },
        }
    }
}

/// The default `integration` class: 1,000 writes and reads a second, the same sign-in limits.
pub fn integration() -> RateLimits {
    RateLimits {
        read: Limit { per_minute: 60_000, burst: 6_000 },
        write: Limit { per_minute: 60_000, burst: 6_000 },
        ..RateLimits::default()
    }
}

impl RateLimits {
    fn get(&self, class: RateClass) -> Option<Limit> {
        match class {
            RateClass::Exempt => None,
            RateClass::Auth => Some(self.auth),
            RateClass::Read => Some(self.read),
            RateClass::Write => Some(self.write),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets above this many are pruned of full (idle) ones, bounding memory.
const PRUNE_ABOVE: usize = 50_000;

/// The token buckets of one process.
#[derive(Debug)]
pub struct RateLimiter {
    limits: RateLimits,
    buckets: Mutex<HashMap<(RateClass, String), Bucket>>,
}

impl RateLimiter {
    /// Empty buckets for these limits.
    pub fn new(limits: RateLimits) -> Self {
        Self { limits, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes a token from `key`'s bucket of `class`, or says how long until one is available.
    pub fn check(&self, class: RateClass, key: &str) -> Result<(), Duration> {
        let Some(limit) = self.limits.get(class) else { return Ok(()) };
        if limit.per_minute == 0 {
            return Ok(());
        }
        let rate = f64::from(limit.per_minute) / 60.0;
        let capacity = f64::from(limit.burst.max(1));
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else { return Ok(()) };
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|(c, _), b| {
                let cap = self.limits.get(*c).map_or(0.0, |l| f64::from(l.burst.max(1)));
                let r = self.limits.get(*c).map_or(1.0, |l| f64::from(l.per_minute) / 60.0);
                b.tokens + now.duration_since(b.at).as_secs_f64() * r < cap
            });
        }
        let bucket = buckets.entry((class, key.to_owned())).or_insert(Bucket { tokens: capacity, at: now });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

/// The client's address: the peer, unless the peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries further left
/// are written by the client and cannot be believed).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    let mut client = peer;
    for entry in forwarded.iter().rev() {
        match entry.parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => client = ip,
            Ok(ip) => return ip,
            Err(_) => return client,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_with_a_wait() {
        let limiter =
            RateLimiter::new(RateLimits { auth: Limit { per_minute: 60, burst: 2 }, ..RateLimits::default() });
        assert!(limiter.check(RateClass::Auth, "ip:1").is_ok());
        assert!(limiter.check(RateClass::Auth, "ip:1").is_ok());
        let wait = limiter.check(RateClass::Auth, "ip:1").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
        assert!(limiter.check(RateClass::Auth, "ip:2").is_ok(), "buckets are per key");
        assert!(limiter.check(RateClass::Exempt, "ip:1").is_ok());
    }

    #[test]
    fn forwarded_addresses_count_only_behind_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.0.0.2".parse().unwrap());
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(client_ip(proxy, &h, &trusted), "203.0.113.7".parse::<IpAddr>().unwrap());
        let direct: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(client_ip(direct, &h, &trusted), direct, "an untrusted peer cannot claim an address");
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &trusted), proxy);
    }
}
