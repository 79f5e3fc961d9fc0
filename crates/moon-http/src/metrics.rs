//! Prometheus metrics at `/metrics`, with bounded cardinality: requests are labelled by route
//! template (`/api/v1/agents/{id}`), never by raw path or id, and by status class.
//!
//! Each server owns its registry (no global recorder), so tests and several servers in one
//! process never mix their counts.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: &'static str,
}

/// A rate-limited request's labels: the status class 4xx of the request histogram cannot tell a
/// 429 from a client's mistake, and a rise in either means something different.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: &'static str,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    channel: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeLabels {
    mode: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

/// `moon_db_query_errors_total{kind}`: read at each scrape from the counts the database handle
/// keeps (moon-db counts every failed statement, whether a handler, the sign-in path or a job
/// ran it). `kind` is one of four fixed names, so the series stay bounded.
#[derive(Debug)]
struct QueryErrorCollector(Arc<moon_db::QueryErrors>);

impl Collector for QueryErrorCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "db_query_errors",
            "Failed database statements by kind (unique_violation, foreign_key, unavailable, other)",
            None,
            MetricType::Counter,
        )?;
        for (kind, count) in self.0.counts() {
            ConstCounter::new(count).encode(family.encode_family(&KindLabels { kind })?)?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    commit: &'static str,
    backend: &'static str,
}

/// Latency buckets from 0.5 ms to about 16 s, doubling: fine where this service lives (a few
/// milliseconds) and still bounded for a stuck request.
fn request_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The metrics of one server.
pub struct Metrics {
    /// The database whose pools are sampled at each scrape.
    db: moon_db::Db,
    registry: Registry,
    requests: Family<RequestLabels, Histogram, fn() -> Histogram>,
    in_flight: Gauge<i64, AtomicI64>,
    rate_limited: Family<RouteLabels, Counter>,
    pool: Family<PoolLabels, Gauge<i64, AtomicI64>>,
    refresh: Family<ModeLabels, Histogram, fn() -> Histogram>,
    refresh_failures: Counter,
    lag: Gauge<f64, AtomicU64>,
    backlog: Gauge<i64, AtomicI64>,
    deliveries: Family<DeliveryLabels, Counter>,
    job_steps: Family<JobLabels, Counter>,
    job_step_seconds: Family<JobLabels, Histogram, fn() -> Histogram>,
    anomalies_open: Family<KindLabels, Gauge<i64, AtomicI64>>,
    anomalies_found: Family<KindLabels, Counter>,
    unknown_entries: Counter,
    /// The process total last added to `unknown_entries`.
    unknown_seen: AtomicU64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Registers every series for the server of `db`.
    pub fn new(db: &moon_db::Db) -> Arc<Self> {
        let backend = db.backend().name();
        let mut registry = Registry::with_prefix("moon");
        registry.register_collector(Box::new(QueryErrorCollector(db.query_errors())));
        let requests = Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(request_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status class",
            requests.clone(),
        );
        let in_flight = Gauge::<i64, AtomicI64>::default();
        registry.register("http_requests_in_flight", "HTTP requests being answered now", in_flight.clone());
        let rate_limited = Family::<RouteLabels, Counter>::default();
        registry.register(
            "http_rate_limited",
            "Requests refused with 429 Too Many Requests (rate limits and the sign-in throttle), by method and route template",
            rate_limited.clone(),
        );
        let pool = Family::<PoolLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "db_pool_connections",
            "Database pool connections by pool and state (idle, in_use)",
            pool.clone(),
        );
        let build = Family::<BuildLabels, Gauge<i64, AtomicI64>>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                commit: option_env!("MOON_COMMIT").unwrap_or("unknown"),
                backend,
            })
            .set(1);
        registry.register("build_info", "The running build; always 1", build);
        let refresh = Family::<ModeLabels, Histogram, fn() -> Histogram>::new_with_constructor(request_histogram);
        registry.register(
            "aggregator_refresh_duration_seconds",
            "Time to apply a batch of the change log to the warehouse, by mode (incremental, full)",
            refresh.clone(),
        );
        let refresh_failures = Counter::default();
        registry.register("aggregator_refresh_failures", "Warehouse refreshes that failed", refresh_failures.clone());
        let lag = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "aggregator_lag_seconds",
            "Age of the oldest change the warehouse has not applied yet; 0 when caught up",
            lag.clone(),
        );
        let backlog = Gauge::<i64, AtomicI64>::default();
        registry.register("changelog_backlog", "Change-log entries the warehouse has not applied yet", backlog.clone());
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "notification_deliveries",
            "Notification deliveries by channel (inbox today; webhook and e-mail with the rules) and outcome",
            deliveries.clone(),
        );
        let job_steps = Family::<JobLabels, Counter>::default();
        registry.register(
            "job_steps",
            "Steps of background jobs by job and outcome (idle, more, failed)",
            job_steps.clone(),
        );
        let job_step_seconds =
            Family::<JobLabels, Histogram, fn() -> Histogram>::new_with_constructor(request_histogram);
        registry.register(
            "job_step_duration_seconds",
            "Time a background job's step took, by job and outcome",
            job_step_seconds.clone(),
        );
        let anomalies_open = Family::<KindLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "anomalies_open",
            "Anomaly findings not yet dismissed, by detector kind (as of this process's last detection step)",
            anomalies_open.clone(),
        );
        let anomalies_found = Family::<KindLabels, Counter>::default();
        registry.register(
            "anomalies_found",
            "Anomaly findings stored by this process, by detector kind",
            anomalies_found.clone(),
        );
        let unknown_entries = Counter::default();
        registry.register(
            "changelog_unknown_entries",
            "Change-log entries of a kind this release does not know (written by a newer release), read and skipped",
            unknown_entries.clone(),
        );
        Arc::new(Self {
            unknown_entries,
            unknown_seen: AtomicU64::new(0),
            anomalies_open,
            anomalies_found,
            db: db.clone(),
            job_steps,
            job_step_seconds,
            registry,
            requests,
            in_flight,
            rate_limited,
            pool,
            refresh,
            refresh_failures,
            lag,
            backlog,
            deliveries,
        })
    }

    /// Brings `moon_changelog_unknown_entries_total` up to `total`, the process's count of
    /// entries of unknown kinds read so far (kept where they are decoded, below this crate).
    pub fn observe_unknown_changelog_entries(&self, total: u64) {
        let before = self.unknown_seen.fetch_max(total, std::sync::atomic::Ordering::Relaxed);
        if total > before {
            self.unknown_entries.inc_by(total - before);
        }
    }

    /// Records how long a warehouse refresh took.
    pub fn observe_refresh(&self, mode: &'static str, took: Duration) {
        self.refresh.get_or_create(&ModeLabels { mode }).observe(took.as_secs_f64());
    }

    /// Counts one notification delivery attempt on `channel` with its `outcome` (`delivered`,
    /// `failed`, `dead`).
    pub fn count_delivery(&self, channel: &'static str, outcome: &'static str) {
        self.deliveries.get_or_create(&DeliveryLabels { channel, outcome }).inc();
    }

    /// Records one step of a background job.
    pub fn observe_job_step(&self, job: &'static str, outcome: &'static str, took: Duration) {
        let labels = JobLabels { job, outcome };
        self.job_steps.get_or_create(&labels).inc();
        self.job_step_seconds.get_or_create(&labels).observe(took.as_secs_f64());
    }

    /// Counts one new anomaly finding of `kind`.
    pub fn count_anomaly(&self, kind: &'static str) {
        self.anomalies_found.get_or_create(&KindLabels { kind }).inc();
    }

    /// Sets the open findings of every kind (kinds absent from `open` are set to 0, so a
    /// dismissed kind's series drops back rather than keeping its last value).
    pub fn set_open_anomalies(&self, kinds: &[&'static str], open: &[(&'static str, i64)]) {
        for kind in kinds {
            let n = open.iter().find(|(k, _)| k == kind).map_or(0, |(_, n)| *n);
            self.anomalies_open.get_or_create(&KindLabels { kind }).set(n);
        }
    }

    /// Counts a failed warehouse refresh.
    pub fn refresh_failed(&self) {
        self.refresh_failures.inc();
    }

    /// Sets how far behind the warehouse is.
    pub fn set_aggregator_lag(&self, seconds: f64, backlog: i64) {
        self.lag.set(seconds);
        self.backlog.set(backlog);
    }

    fn status_class(status: u16) -> &'static str {
        match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        }
    }
}

/// Times every request and counts it under its route template. Installed with `Router::layer`,
/// so it runs after routing and sees the matched template; unmatched requests count as
/// `unmatched`, keeping the label set bounded.
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_owned();
    let route =
        req.extensions().get::<MatchedPath>().map_or_else(|| String::from("unmatched"), |m| m.as_str().to_owned());
    let started = Instant::now();
    metrics.in_flight.inc();
    let res = next.run(req).await;
    metrics.in_flight.dec();
    if res.status() == axum::http::StatusCode::TOO_MANY_REQUESTS {
        metrics.rate_limited.get_or_create(&RouteLabels { method: method.clone(), route: route.clone() }).inc();
    }
    let labels = RequestLabels { method, route, status: Metrics::status_class(res.status().as_u16()) };
    metrics.requests.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
    res
}

/// The metrics in the OpenMetrics text format that Prometheus scrapes.
#[utoipa::path(get, path = "/metrics", tag = "health", security(()), responses((status = 200, description = "Prometheus/OpenMetrics text", content_type = "application/openmetrics-text")))]
pub async fn metrics(State(metrics): State<Arc<Metrics>>) -> Response {
    for (pool, size, idle) in metrics.db.pool_stats() {
        let idle = i64::from(idle);
        metrics.pool.get_or_create(&PoolLabels { pool, state: "idle" }).set(idle);
        metrics.pool.get_or_create(&PoolLabels { pool, state: "in_use" }).set(i64::from(size) - idle);
    }
    let mut body = String::new();
    if prometheus_client::encoding::text::encode(&mut body, &metrics.registry).is_err() {
        return crate::ApiError::internal().into_response();
    }
    let mut res = body.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    res
}
