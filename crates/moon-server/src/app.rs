//! Wiring: state, the router assembled from the selected components, middleware, and serving
//! with graceful shutdown. Tests boot exactly this.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use moon_db::{Db, DbOptions};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::SecurityState;
use crate::calendar::PlanningState;
use crate::component::Description;
use crate::config::Config;
use crate::kpis::KpiState;
use crate::notifications::NotificationsState;
use crate::targets::Component;
use crate::web::WebState;
use moon_db::redact_url;
use moon_http::ApiError;
use moon_http::health::Readiness;
use moon_http::request_log::{self, REQUEST_ID};

/// Routes whose bodies go to their handler as a stream (the bulk imports, each with its own
/// limit) rather than read whole under the general body limit by the security layers.
const STREAMED_ROUTES: &[&str] = &[crate::sales::import::ROUTE, crate::agents::import::ROUTE];

/// The state of one server, as the wiring holds it. Handlers never take it whole: each takes the
/// sub-state its component declares ([`Db`], [`SecurityState`], [`NotificationsState`],
/// [`KpiState`], [`WebState`], [`Readiness`], [`Index`]), extracted through `FromRef`, so a
/// component cannot reach what it was not given. No globals, so each test builds its own.
#[derive(Clone)]
pub struct AppState {
    /// The operational database.
    pub db: Db,
    /// This server's Prometheus registry.
    pub metrics: Arc<moon_http::metrics::Metrics>,
    /// What the security layer and its routes use.
    pub security: SecurityState,
    /// What the notification routes use.
    pub notifications: NotificationsState,
    /// What the KPI routes use.
    pub kpis: KpiState,
    /// What the calendar and sales-target routes use (and the business "today" of sales).
    pub planning: PlanningState,
    /// What `/readyz` checks.
    pub readiness: Readiness,
    /// What `GET /` lists.
    pub index: Arc<Index>,
}

/// Implements `FromRef<AppState>` for a sub-state held in one of its fields.
macro_rules! sub_state {
    ($($ty:ty => $field:ident),* $(,)?) => {
        $(impl axum::extract::FromRef<AppState> for $ty {
            fn from_ref(state: &AppState) -> Self {
                state.$field.clone()
            }
        })*
    };
}

sub_state!(
    Db => db,
    Arc<moon_http::metrics::Metrics> => metrics,
    SecurityState => security,
    NotificationsState => notifications,
    KpiState => kpis,
    PlanningState => planning,
    Readiness => readiness,
    Arc<Index> => index,
);

/// Sales check dates against the business calendar's "today".
impl axum::extract::FromRef<AppState> for moon_domain::BusinessCalendar {
    fn from_ref(state: &AppState) -> Self {
        state.planning.calendar
    }
}

/// The aggregator reports its refreshes into this server's Prometheus registry.
struct AggregatorMetrics(Arc<moon_http::metrics::Metrics>);

impl moon_analytics::RefreshMetrics for AggregatorMetrics {
    fn observe_refresh(&self, mode: &'static str, took: std::time::Duration) {
        self.0.observe_refresh(mode, took);
    }

    fn refresh_failed(&self) {
        self.0.refresh_failed();
    }

    fn set_lag(&self, seconds: f64, backlog: i64) {
        self.0.set_aggregator_lag(seconds, backlog);
        // Entries a newer colour wrote that this one skipped (ADR 0024, slice 2).
        self.0.observe_unknown_changelog_entries(moon_changelog::unknown_entries_read());
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "MoonInsurance API",
        description = "Agents, products, sales and notifications of an insurer's sales force. \
            Errors are application/problem+json (RFC 9457) with a stable `code`. \
            The original system's routes (/agent/..., /integration/..., /notification/...) are kept for existing clients.",
    ),
    tags(
        (name = "agents", description = "Agent records"),
        (name = "products", description = "Products and their sales targets"),
        (name = "sales", description = "Policy sales"),
        (name = "notifications", description = "Messages to agents"),
        (name = "calendar", description = "The business calendar: zone, fiscal periods, working days, holidays"),
        (name = "targets", description = "Sales targets per scope, product and fiscal period"),
        (name = "policies", description = "Policies with their transactions and split credit"),
        (name = "commissions", description = "Commission plans: effective-dated versions per role and product, with tiers, caps, clawbacks and contests"),
        (name = "kpis", description = "Sales KPIs from the warehouse, for any period"),
        (name = "performance", description = "Performance against targets per fiscal period, with pace, projection and drill-down"),
        (name = "audit", description = "The tamper-evident audit trail (admins)"),
        (name = "legacy", description = "The original Flask services' routes, kept for existing clients"),
        (name = "health", description = "Liveness and readiness"),
        (name = "auth", description = "Sign-in, sessions and MFA"),
        (name = "users", description = "User accounts (admins)"),
        (name = "tokens", description = "API tokens"),
    ),
    modifiers(&SecuritySchemes),
    security(("bearer" = []), ("session" = [])),
)]
struct ApiDoc;

/// Declares the two ways to authenticate: an API token (`Authorization: Bearer moon_...`) or the
/// session cookie set by sign-in (which also needs `X-CSRF-Token` on changes).
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token from POST /api/v1/tokens or `moon token create`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "moon_session",
                "The session cookie from POST /api/v1/auth/sign-in (__Host-moon_session under TLS)",
            ))),
        );
    }
}

/// Builds the router from the components' descriptions, and the OpenAPI document that
/// describes exactly those routes.
fn router(state: AppState, config: &Config, parts: Vec<Description<AppState>>) -> (Router, utoipa::openapi::OpenApi) {
    let mut api = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .routes(utoipa_axum::routes!(moon_http::health::healthz))
        .routes(utoipa_axum::routes!(moon_http::health::readyz))
        .routes(utoipa_axum::routes!(index))
        .routes(utoipa_axum::routes!(openapi))
        .routes(utoipa_axum::routes!(moon_http::metrics::metrics))
        .merge(crate::auth::routes::routes());
    // The audit trail belongs to no component: every process serves it (admins only).
    api = api.merge(crate::audit::routes());
    // Subject access gathers from every component: served by every process (admins only).
    api = api.merge(crate::privacy::routes());
    // Anomaly findings span components too (admins only).
    api = api.merge(crate::anomalies::routes::routes());
    let mut pages = Router::new();
    for part in parts {
        api = api.merge(part.api);
        // Pages (the console) are HTML, not API: routed outside the document.
        pages = pages.merge(part.pages);
    }
    let (routes, doc) = api.split_for_parts();
    let routes = routes.merge(pages);
    // The shared error responses are added here, once, for every operation.
    let mut doc_json = serde_json::to_value(&doc).unwrap_or_default();
    crate::idempotency::document(&mut doc_json, STREAMED_ROUTES);
    let doc_json = Arc::new(moon_http::openapi::complete(doc_json));
    let body_limit = config.body_limit;
    let timeout = config.request_timeout;
    let tls = config.security.tls.is_some() || config.security.sessions.secure_cookies;
    let router = routes
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "no such route; see /api/v1/openapi.json")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not accept that method; see /api/v1/openapi.json",
            )
        })
        // Innermost: Idempotency-Key replays (needs the principal and the body already read).
        .layer(axum::middleware::from_fn_with_state(
            crate::idempotency::Keys { db: state.db.clone(), streamed: STREAMED_ROUTES },
            crate::idempotency::idempotent,
        ))
        // Inside authentication, so a protected route still answers 401 first: the body read
        // within the limit (413) and control characters refused wherever text enters.
        .layer(axum::middleware::from_fn_with_state(
            moon_http::input::InputLimits { body_limit, streamed: STREAMED_ROUTES },
            moon_http::input::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(state.security.clone(), crate::auth::middleware::authenticate))
        .layer(axum::middleware::from_fn(crate::web::refusals_as_pages))
        .layer(axum::middleware::from_fn_with_state(state.metrics.clone(), moon_http::metrics::track))
        .layer(axum::middleware::from_fn_with_state(state.notifications.notifications.clone(), wake_rules))
        .layer(axum::Extension(doc_json))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(axum::middleware::from_fn(move |req: Request, next: Next| {
                    crate::auth::middleware::security_headers(tls, req, next)
                }))
                .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION, header::COOKIE]))
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(axum::middleware::from_fn(request_log::log_request))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(CatchPanicLayer::custom(|_panic: Box<dyn std::any::Any + Send>| {
                    tracing::error!("handler panicked");
                    ApiError::internal().into_response()
                }))
                .layer(axum::middleware::from_fn(move |req: Request, next: Next| deadline(timeout, req, next))),
        );
    (router, doc)
}

/// After a successful change in this process, wakes the notification rule runner so a sale
/// reaches its agent in milliseconds rather than after the next poll; the runner then reads one
/// row to see whether the change log moved, so waking it for other changes costs little.
async fn wake_rules(
    axum::extract::State(runtime): axum::extract::State<Arc<crate::notifications::Runtime>>,
    req: Request,
    next: Next,
) -> Response {
    let changes = !matches!(*req.method(), axum::http::Method::GET | axum::http::Method::HEAD);
    let res = next.run(req).await;
    if changes && res.status().is_success() {
        runtime.rules_due.notify_one();
    }
    res
}

/// Answers a request that runs longer than the configured timeout with a 503 problem, so even a
/// stuck database call ends in the documented error format.
async fn deadline(limit: std::time::Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!(timeout_s = limit.as_secs(), "request timed out");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "request_timeout",
                "the request took too long; retry shortly",
            )
            .into_response()
        }
    }
}

/// This document: the OpenAPI 3.1 description of exactly the routes this target serves.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health", security(()), responses((status = 200, description = "OpenAPI document", content_type = "application/json")))]
async fn openapi(axum::Extension(doc): axum::Extension<Arc<serde_json::Value>>) -> Json<serde_json::Value> {
    Json(doc.as_ref().clone())
}

/// What `GET /` tells: the components this process serves and their links.
#[derive(Debug)]
pub struct Index {
    /// Component names, in target order.
    components: Vec<&'static str>,
    /// Name → path of every served component's entry points.
    links: serde_json::Map<String, serde_json::Value>,
    /// Whether this process serves the console (a browser is sent there).
    console: bool,
}

impl Index {
    fn new(parts: &[Description<AppState>], console: bool) -> Self {
        let mut links = serde_json::Map::new();
        for (name, path) in parts.iter().flat_map(|p| p.links.iter()) {
            links.insert((*name).to_owned(), serde_json::Value::from(*path));
        }
        for (name, path) in [
            ("openapi", "/api/v1/openapi.json"),
            ("sign_in", "/api/v1/auth/sign-in"),
            ("health", "/healthz"),
            ("ready", "/readyz"),
        ] {
            links.insert(name.to_owned(), serde_json::Value::from(path));
        }
        Self { components: parts.iter().map(|p| p.name).collect(), links, console }
    }
}

/// What this server offers, for a person or a script that opens the root URL. A browser is sent
/// on to their home in the web console when this process serves it.
#[utoipa::path(get, path = "/", tag = "health", security(()), responses((status = 200, description = "Name, version, components and links", content_type = "application/json"), (status = 303, description = "A browser (Accept: text/html) is sent to the console")))]
async fn index(
    axum::extract::State(index): axum::extract::State<Arc<Index>>,
    headers: axum::http::HeaderMap,
) -> Response {
    if index.console && crate::web::accepts_html(&headers) {
        return axum::response::Redirect::to("/home").into_response();
    }
    Json(serde_json::json!({
        "name": "MoonInsurance",
        "version": env!("CARGO_PKG_VERSION"),
        "components": index.components,
        "links": index.links,
    }))
    .into_response()
}

/// Without an enabled admin nobody can manage users over HTTP, and there are no default
/// passwords: say how to create the first admin.
async fn warn_without_admin(db: &Db) {
    match crate::auth::users::count_enabled_admins(db).await {
        Ok(0) => tracing::warn!(
            "no admin user exists; create one with: moon user add <name> --role admin \
             (it prints a generated password, or reads one with --password-stdin)"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot count admin users"),
    }
}

/// Connects to the configured database and applies pending migrations.
pub async fn open_database(config: &Config) -> anyhow::Result<Db> {
    let shown = redact_url(config.database_url.expose());
    let options = DbOptions {
        max_connections: config.max_connections,
        writer_cache_mib: Some(config.sqlite_cache_mib),
        reader_cache_mib: config.sqlite_reader_cache_mib,
        ..DbOptions::default()
    };
    let db = Db::connect(config.database_url.expose(), &options)
        .await
        .with_context(|| format!("cannot connect to database {shown}"))?;
    db.migrate().await.with_context(|| format!("cannot migrate database {shown}"))?;
    // The data half of the organisation migration: agents still on free text get records.
    crate::organisation::run(&db)
        .await
        .map_err(anyhow::Error::new)
        .context("cannot place agents in the organisation")?;
    // The data half of the policies migration: sales without their policy mirror get one.
    let mirrored = crate::policies::mirror::backfill(&db).await.context("cannot mirror sales as policies")?;
    if mirrored.mirrored > 0 || mirrored.conflicts > 0 {
        tracing::info!(mirrored = mirrored.mirrored, conflicts = mirrored.conflicts, "sales mirrored as policies");
    }
    Ok(db)
}

/// Opens the configured warehouse, creating its tables, with the configured SQLite caches.
pub async fn open_warehouse(config: &Config) -> anyhow::Result<moon_analytics::Warehouse> {
    moon_analytics::Warehouse::open_with_cache(
        &config.warehouse_url(),
        config.warehouse_sqlite_cache_mib,
        config.sqlite_reader_cache_mib,
    )
    .await
}

/// Opens the configured warehouse (creating its tables) and an aggregator feeding it from `db`.
pub async fn open_aggregator(config: &Config, db: &Db) -> anyhow::Result<moon_analytics::Aggregator> {
    let warehouse = open_warehouse(config).await?;
    let key = moon_analytics::PseudonymKey::load(db, config.pseudonym_key.as_ref().map(|s| s.expose()))
        .await
        .context("cannot load the pseudonym key")?;
    Ok(moon_analytics::Aggregator::new(db.clone(), warehouse, key).with_calendar(config.business))
}

/// What the descriptions of this process's components are built from.
struct Parts<'a> {
    config: &'a Config,
    db: &'a Db,
    metrics: &'a Arc<moon_http::metrics::Metrics>,
    notify: &'a NotificationsState,
    kpis: &'a KpiState,
    web: &'a WebState,
}

/// The table the wiring loops over: each component of a target, as it describes itself (plus
/// the original system's routes that belong to it).
async fn describe(component: Component, parts: &Parts<'_>) -> anyhow::Result<Description<AppState>> {
    Ok(match component {
        Component::Agents => crate::agents::describe()
            .with_api(crate::legacy::agent_routes())
            .with_links(&[("original_agents", "/agent/get")]),
        Component::Integration => crate::products::describe()
            .merge(crate::sales::describe())
            .merge(crate::calendar::describe())
            .merge(crate::sales_targets::describe())
            .merge(crate::commissions::describe())
            .merge(crate::policies::describe())
            .with_api(crate::legacy::integration_routes())
            .with_links(&[("original_sales", "/integration/get")]),
        Component::Notifications => {
            let settings = Arc::new(parts.config.notifications.clone());
            let interval = settings.pace_interval();
            let mut description = crate::notifications::describe(parts.notify, settings)
                .await?
                .with_api(crate::legacy::notification_routes())
                .with_links(&[("original_notifications", "/notification/get")]);
            // Behind-pace alerts join the performance figures to the rules (see pace_alerts.rs).
            if let Some(wh) = parts.kpis.warehouse.clone() {
                let rt = parts.notify.notifications.clone();
                let job = crate::pace_alerts::PaceJob::new(
                    (parts.db.clone(), wh.clone()),
                    parts.config.business,
                    parts.config.target_bands.clone(),
                    rt.channels,
                    move |_| rt.committed(),
                );
                description = description
                    .with_job(moon_jobs::Pending::job(job, moon_jobs::Schedule::every("notification_pace", interval)));
                description = description.with_job(digest_job(parts, wh));
            }
            description
        }
        Component::Aggregator => {
            let mut description = crate::kpis::describe(parts.kpis).merge(crate::performance::describe());
            if let Some(job) = aggregator_job(parts) {
                description = description.with_job(job);
            }
            description
        }
        Component::Web => crate::web::describe(parts.web.clone()),
    })
}

/// Scheduled digests join the performance figures to the recipients (see digest_job.rs).
fn digest_job(parts: &Parts<'_>, warehouse: moon_analytics::Warehouse) -> moon_jobs::Pending {
    let rt = parts.notify.notifications.clone();
    let inputs = crate::digest_job::Inputs::from_config(parts.config, parts.db.clone(), warehouse);
    let interval = inputs.settings.interval();
    let job = crate::digest_job::DigestJob::new(inputs, parts.notify.auth.clone(), move |_| rt.committed());
    moon_jobs::Pending::job(job, moon_jobs::Schedule::every("notification_digests", interval))
}

/// The aggregator's continuous refresh, unless this process only serves KPIs (interval zero).
fn aggregator_job(parts: &Parts<'_>) -> Option<moon_jobs::Pending> {
    let config = parts.config;
    let wh = parts.kpis.warehouse.clone()?;
    if config.aggregate_interval.is_zero() {
        return None;
    }
    let metrics: Arc<dyn moon_analytics::RefreshMetrics> = Arc::new(AggregatorMetrics(parts.metrics.clone()));
    let configured_key = config.pseudonym_key.as_ref().map(|s| s.expose().to_owned());
    let refresh = moon_analytics::RefreshJob::new(parts.db.clone(), wh, configured_key, Some(metrics));
    // Console views announce a change once the warehouse reflects it: each refresh wakes them.
    let job = ThenWake(refresh, parts.web.live.wake_signal());
    // A commit that changed the log (here, or on PostgreSQL in another process) starts a
    // refresh at once; the interval remains the fallback.
    let wake = Arc::new(tokio::sync::Notify::new());
    parts.db.wake_on_commit(&wake);
    Some(moon_jobs::Pending::job(
        job,
        moon_analytics::RefreshJob::schedule(config.aggregate_interval).woken_by(wake).settle(moon_jobs::COMMIT_SETTLE),
    ))
}

/// A job that wakes `1` after each of its steps (a warehouse refresh wakes the live console).
struct ThenWake<J>(J, Arc<tokio::sync::Notify>);

impl<J: moon_jobs::Job> moon_jobs::Job for ThenWake<J> {
    async fn step(&mut self) -> anyhow::Result<moon_jobs::Step> {
        let step = self.0.step().await;
        self.1.notify_one();
        step
    }
}

/// Every background job reports its steps into this server's Prometheus registry.
struct JobMetrics(Arc<moon_http::metrics::Metrics>);

impl moon_jobs::JobMetrics for JobMetrics {
    fn observe_step(&self, job: &'static str, outcome: &'static str, took: std::time::Duration) {
        self.0.observe_job_step(job, outcome, took);
    }
}

/// A server that is accepting connections.
pub struct Running {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish, closes the pool.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task.await.context("server task failed")?
    }
}

/// Binds, migrates and starts serving in the background; returns once the server accepts
/// connections.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let listener =
        TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
    let db = open_database(&config).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(config, db, listener, async {
        let _ = stopped.await;
    }));
    Ok(Running { addr, stop, task })
}

/// How users' manager branches are checked: against the organisation's active branches, as
/// targets and agents are (the security component asks this; it does not know the organisation).
/// The CLI's `moon user` uses the same check.
pub fn branch_check() -> crate::auth::users::BranchCheck {
    crate::auth::users::BranchCheck::new(|db, branch| {
        Box::pin(async move {
            let mut tx = db.begin().await?;
            let unit = crate::agents::org::service::lookup(
                &mut tx,
                crate::agents::org::model::UnitKind::Branch,
                "branch",
                &branch,
            )
            .await?;
            tx.rollback().await?;
            Ok(unit.map(|u| u.code))
        })
    })
}

/// Serves until `shutdown` resolves, then drains in-flight requests, stops the background jobs
/// and closes the databases.
pub async fn serve(
    config: Config,
    db: Db,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let metrics = moon_http::metrics::Metrics::new(&db);
    let auth = Arc::new(crate::auth::AuthState::load(&db, &config.security, branch_check()).await?);
    warn_without_admin(&db).await;
    let tls = match &config.security.tls {
        Some(files) => Some(moon_http::tls::server_config(files)?),
        None => None,
    };
    // The KPI API and the console read the warehouse; only the aggregator writes to it.
    let warehouse =
        if config.components.iter().any(|c| c.reads_warehouse()) { Some(open_warehouse(&config).await?) } else { None };
    let runtime = if config.components.contains(&Component::Notifications) {
        let channels = crate::notifications::pipeline::Channels {
            email: config.notifications.smtp.is_some(),
            zone: config.business.zone,
        };
        Arc::new(crate::notifications::Runtime::new(channels))
    } else {
        Arc::new(crate::notifications::Runtime::default())
    };
    let security =
        SecurityState { db: db.clone(), auth: auth.clone(), body_limit: config.body_limit, streamed: STREAMED_ROUTES };
    let notify = NotificationsState {
        db: db.clone(),
        notifications: runtime.clone(),
        auth: auth.clone(),
        timezone: Arc::from(config.notifications.timezone.as_str()),
        metrics: metrics.clone(),
        digests: Arc::new(config.notifications.digests.clone()),
    };
    let kpis = KpiState { warehouse: warehouse.clone(), min_group_size: config.min_group_size };
    let planning =
        PlanningState { db: db.clone(), calendar: config.business, bands: Arc::new(config.target_bands.clone()) };
    let web = WebState {
        db: db.clone(),
        auth: auth.clone(),
        security: security.clone(),
        notify: notify.clone(),
        kpis: kpis.clone(),
        pseudonym_key: config.pseudonym_key.clone(),
        calendar: config.business,
        currency: config.currency,
        planning: planning.clone(),
        serves_notifications: config.components.contains(&Component::Notifications),
        live: Arc::default(),
    };
    let mut descriptions = Vec::new();
    {
        let parts = Parts { config: &config, db: &db, metrics: &metrics, notify: &notify, kpis: &kpis, web: &web };
        for component in &config.components {
            descriptions.push(describe(*component, &parts).await?);
        }
    }
    let mut jobs = moon_jobs::JobSet::new(Some(Arc::new(JobMetrics(metrics.clone()))));
    let mut checks = Vec::new();
    for description in &mut descriptions {
        for job in description.jobs.drain(..) {
            jobs.start(job);
        }
        // The KPI API and the console both contribute "warehouse": check each condition once.
        for (name, check) in description.ready.drain(..) {
            if !checks.iter().any(|(n, _)| *n == name) {
                checks.push((name, check));
            }
        }
    }
    // Retention belongs to no component: a process applies it when its settings ask.
    if let Some(job) = crate::retention::RetentionJob::pending(db.clone(), config.retention.clone()) {
        jobs.start(job);
    }
    // Anomaly detection belongs to no component; it alerts through the notification pipeline,
    // so the processes serving notifications run it.
    if config.anomalies.enabled && config.components.contains(&Component::Notifications) {
        let inputs = crate::anomalies::job::Inputs {
            settings: config.anomalies.clone(),
            calendar: config.business,
            channels: runtime.channels,
            metrics: metrics.clone(),
        };
        let rt = runtime.clone();
        let detection =
            crate::anomalies::job::Detection::new(db.clone(), auth.clone(), inputs, Box::new(move || rt.committed()));
        jobs.start(detection.pending());
    }
    let readiness = Readiness { db: db.clone(), checks: Arc::new(checks) };
    let index = Arc::new(Index::new(&descriptions, config.components.contains(&Component::Web)));
    let state = AppState { db: db.clone(), metrics, security, notifications: notify, kpis, planning, readiness, index };
    let (router, _) = router(state, &config, descriptions);
    // Open event streams never end by themselves: end them when shutdown begins, or the
    // graceful shutdown would wait for them forever.
    let stopping = runtime.clone();
    let shutdown = async move {
        shutdown.await;
        let _ = stopping.stopping.send(true);
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let components: Vec<&str> = config.components.iter().map(|c| c.name()).collect();
    tracing::info!(addr = %listener.local_addr()?, scheme, components = ?components, jobs = ?jobs.names(), backend = db.backend().name(), "serving");
    let peer = |addr: &std::net::SocketAddr| crate::auth::middleware::PeerAddr(*addr);
    let limits = config.connections;
    let result: anyhow::Result<()> = match tls {
        Some(tls) => {
            let listener = moon_http::tls::TlsListener::new(listener, tls).context("cannot start the TLS listener")?;
            moon_http::serve::serve(listener, router, limits, peer, shutdown).await;
            Ok(())
        }
        None => {
            moon_http::serve::serve(listener, router, limits, peer, shutdown).await;
            Ok(())
        }
    };
    jobs.shutdown().await;
    if let Some(wh) = warehouse {
        wh.db.close().await;
    }
    db.close().await;
    tracing::info!(uptime_s = started.elapsed().as_secs(), "stopped");
    result
}
