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

use crate::config::Config;
use crate::targets::Component;
use moon_db::redact_url;
use moon_http::ApiError;
use moon_http::request_log::{self, REQUEST_ID};

/// Shared state of every handler: no globals, so each test builds its own.
#[derive(Clone)]
pub struct AppState {
    /// The operational database.
    pub db: Db,
    /// The effective configuration.
    pub config: Arc<Config>,
    /// This server's Prometheus registry.
    pub metrics: Arc<moon_http::metrics::Metrics>,
    /// The warehouse KPIs are read from, when this process serves them.
    pub warehouse: Option<moon_analytics::Warehouse>,
    /// Keys, password hasher, rate limiter and security settings.
    pub auth: Arc<crate::auth::AuthState>,
    /// The notification component's stream hub and wake-up signals.
    pub notifications: Arc<crate::notifications::Runtime>,
}

impl axum::extract::FromRef<AppState> for Db {
    fn from_ref(state: &AppState) -> Self {
        state.db.clone()
    }
}

impl axum::extract::FromRef<AppState> for Arc<moon_http::metrics::Metrics> {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
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
        (name = "kpis", description = "Sales KPIs from the warehouse, for any period"),
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

/// Builds the router for the configured components, and the OpenAPI document that describes
/// exactly those routes.
pub fn router(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let mut api = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .routes(utoipa_axum::routes!(moon_http::health::healthz))
        .routes(utoipa_axum::routes!(moon_http::health::readyz))
        .routes(utoipa_axum::routes!(index))
        .routes(utoipa_axum::routes!(openapi))
        .routes(utoipa_axum::routes!(moon_http::metrics::metrics))
        .merge(crate::auth::routes::routes());
    // The audit trail belongs to no component: every process serves it (admins only).
    api = api.merge(crate::audit::routes());
    for component in &state.config.components {
        api = api.merge(match component {
            Component::Agents => crate::agents::routes().merge(crate::legacy::agent_routes()),
            Component::Integration => {
                crate::products::routes().merge(crate::sales::routes()).merge(crate::legacy::integration_routes())
            }
            Component::Notifications => crate::notifications::routes().merge(crate::legacy::notification_routes()),
            Component::Aggregator => crate::kpis::routes(),
            // The console's pages are HTML, not API: they are routed below, outside the document.
            Component::Web => OpenApiRouter::new(),
        });
    }
    let (mut routes, doc) = api.split_for_parts();
    if state.config.components.contains(&Component::Web) {
        routes = routes.merge(crate::web::routes());
    }
    let doc_json = Arc::new(doc.clone());
    let body_limit = state.config.body_limit;
    let timeout = state.config.request_timeout;
    let tls = state.config.security.tls.is_some() || state.config.security.sessions.secure_cookies;
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
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::auth::middleware::authenticate))
        .layer(axum::middleware::from_fn(crate::web::refusals_as_pages))
        .layer(axum::middleware::from_fn_with_state(state.metrics.clone(), moon_http::metrics::track))
        .layer(axum::middleware::from_fn_with_state(state.clone(), wake_rules))
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
async fn wake_rules(axum::extract::State(state): axum::extract::State<AppState>, req: Request, next: Next) -> Response {
    let changes = !matches!(*req.method(), axum::http::Method::GET | axum::http::Method::HEAD);
    let res = next.run(req).await;
    if changes && res.status().is_success() {
        state.notifications.rules_due.notify_one();
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
async fn openapi(
    axum::Extension(doc): axum::Extension<Arc<utoipa::openapi::OpenApi>>,
) -> Json<utoipa::openapi::OpenApi> {
    Json(doc.as_ref().clone())
}

/// What this server offers, for a person or a script that opens the root URL. A browser is sent
/// on to the web console's dashboard when this process serves it.
#[utoipa::path(get, path = "/", tag = "health", security(()), responses((status = 200, description = "Name, version, components and links", content_type = "application/json"), (status = 303, description = "A browser (Accept: text/html) is sent to the console")))]
async fn index(
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
) -> Response {
    if state.config.components.contains(&Component::Web) && crate::web::accepts_html(&headers) {
        return axum::response::Redirect::to("/dashboard").into_response();
    }
    let mut links = serde_json::Map::new();
    for component in &state.config.components {
        let paths: &[(&str, &str)] = match component {
            Component::Agents => &[("agents", "/api/v1/agents"), ("original_agents", "/agent/get")],
            Component::Integration => {
                &[("products", "/api/v1/products"), ("sales", "/api/v1/sales"), ("original_sales", "/integration/get")]
            }
            Component::Notifications => {
                &[("notifications", "/api/v1/notifications"), ("original_notifications", "/notification/get")]
            }
            Component::Aggregator => &[
                ("kpi_teams", "/api/v1/kpis/teams"),
                ("kpi_branches", "/api/v1/kpis/branches"),
                ("kpi_products", "/api/v1/kpis/products"),
                ("kpi_leaderboard", "/api/v1/kpis/leaderboard"),
                ("kpi_trend", "/api/v1/kpis/trend"),
            ],
            Component::Web => &[("console", "/dashboard")],
        };
        for (name, path) in paths {
            links.insert((*name).to_owned(), serde_json::Value::from(*path));
        }
    }
    links.insert(String::from("openapi"), serde_json::Value::from("/api/v1/openapi.json"));
    links.insert(String::from("sign_in"), serde_json::Value::from("/api/v1/auth/sign-in"));
    links.insert(String::from("health"), serde_json::Value::from("/healthz"));
    links.insert(String::from("ready"), serde_json::Value::from("/readyz"));
    Json(serde_json::json!({
        "name": "MoonInsurance",
        "version": env!("CARGO_PKG_VERSION"),
        "components": state.config.components.iter().map(|c| c.name()).collect::<Vec<_>>(),
        "links": links,
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
    let options = DbOptions { max_connections: config.max_connections, ..DbOptions::default() };
    let db = Db::connect(config.database_url.expose(), &options)
        .await
        .with_context(|| format!("cannot connect to database {shown}"))?;
    db.migrate().await.with_context(|| format!("cannot migrate database {shown}"))?;
    Ok(db)
}

/// Opens the configured warehouse (creating its tables) and an aggregator feeding it from `db`.
pub async fn open_aggregator(config: &Config, db: &Db) -> anyhow::Result<moon_analytics::Aggregator> {
    let warehouse = moon_analytics::Warehouse::open(&config.warehouse_url()).await?;
    let key = moon_analytics::PseudonymKey::load(db, config.pseudonym_key.as_ref().map(|s| s.expose()))
        .await
        .context("cannot load the pseudonym key")?;
    Ok(moon_analytics::Aggregator::new(db.clone(), warehouse, key))
}

/// Seeds the configured rules and starts the notification loops: the stream hub, then (once
/// the database is migrated and the rules are seeded) the rule runner, the target-due schedule
/// and the delivery loop. They stop when the runtime's `stopping` signal is sent.
async fn start_notifications(
    config: &Config,
    db: &Db,
    metrics: &Arc<moon_http::metrics::Metrics>,
    auth: &Arc<crate::auth::AuthState>,
) -> anyhow::Result<(Arc<crate::notifications::Runtime>, Vec<tokio::task::JoinHandle<()>>)> {
    use crate::notifications::{Runtime, deliveries, pipeline::Channels, rules_api, runner::RuleRunner, schedule};
    let settings = Arc::new(config.notifications.clone());
    let mailer = match &settings.smtp {
        Some(smtp) => Some(crate::notifications::email::Mailer::new(smtp, settings.send_timeout())?),
        None => None,
    };
    let runtime = Arc::new(Runtime::new(Channels { email: mailer.is_some() }));
    let http = reqwest::Client::builder()
        .connect_timeout(settings.send_timeout())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("cannot build the webhook HTTP client")?;
    // The rules table and the sealing key live in the operational database.
    let prepare = {
        let (db, settings, auth) = (db.clone(), settings.clone(), auth.clone());
        move || {
            let (db, settings, auth) = (db.clone(), settings.clone(), auth.clone());
            async move {
                let seeded = rules_api::seed(&db, &settings.seed_rules(), &settings.timezone).await?;
                if seeded > 0 {
                    tracing::info!(rules = seeded, "notification rules created from the configuration");
                }
                auth.key(&db).await.cloned()
            }
        }
    };
    // Usually ready at once; a database not migrated yet is retried in the background.
    let first = prepare().await.ok();
    let hub = runtime.clone();
    let (hub_db, poll, hub_stop) = (db.clone(), settings.stream_poll(), runtime.stopping.subscribe());
    let hub_task = tokio::spawn(async move { hub.hub.run(hub_db, poll, hub_stop).await });
    let (db, metrics, rt) = (db.clone(), metrics.clone(), runtime.clone());
    let loops = tokio::spawn(async move {
        let mut stopped = rt.stopping.subscribe();
        let key = match first {
            Some(key) => key,
            None => loop {
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    _ = stopped.changed() => return,
                }
                match prepare().await {
                    Ok(key) => break key,
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "notifications waiting for the database"),
                }
            },
        };
        let senders = Arc::new(deliveries::Senders { http, email: mailer, key });
        // Rule-made notifications reached the inbox when their step committed.
        let told = |rt: Arc<Runtime>, metrics: Arc<moon_http::metrics::Metrics>| {
            move |n: usize| {
                for _ in 0..n {
                    metrics.count_delivery("inbox", "delivered");
                }
                rt.committed();
            }
        };
        let (committed, again) = (told(rt.clone(), metrics.clone()), told(rt.clone(), metrics.clone()));
        let runner = RuleRunner::new(db.clone(), rt.channels);
        tokio::join!(
            runner.run(settings.rules_interval(), rt.rules_due.clone(), committed, rt.stopping.subscribe()),
            schedule::run(db.clone(), rt.channels, std::time::Duration::from_secs(15), again, rt.stopping.subscribe()),
            deliveries::run(db, settings, senders, metrics, rt.deliveries_due.clone(), stopped),
        );
    });
    Ok((runtime, vec![hub_task, loops]))
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

/// Serves until `shutdown` resolves, then drains in-flight requests and closes the database.
pub async fn serve(
    config: Config,
    db: Db,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let components: Vec<&str> = config.components.iter().map(|c| c.name()).collect();
    let metrics = moon_http::metrics::Metrics::new(&db);
    let auth = Arc::new(crate::auth::AuthState::load(&db, &config.security).await?);
    warn_without_admin(&db).await;
    let tls = match &config.security.tls {
        Some(files) => Some(moon_http::tls::server_config(files)?),
        None => None,
    };
    let (stop_aggregator, aggregator_stopped) = tokio::sync::watch::channel(false);
    let mut warehouse = None;
    let mut aggregator_task = None;
    // The console's dashboard reads the warehouse too; only the aggregator writes to it.
    if config.components.contains(&Component::Web) && !config.components.contains(&Component::Aggregator) {
        warehouse = Some(moon_analytics::Warehouse::open(&config.warehouse_url()).await?);
    }
    if config.components.contains(&Component::Aggregator) {
        let wh = moon_analytics::Warehouse::open(&config.warehouse_url()).await?;
        warehouse = Some(wh.clone());
        if !config.aggregate_interval.is_zero() {
            let (db, interval, metrics) = (db.clone(), config.aggregate_interval, metrics.clone());
            let configured_key = config.pseudonym_key.as_ref().map(|s| s.expose().to_owned());
            let mut stopped = aggregator_stopped;
            aggregator_task = Some(tokio::spawn(async move {
                // The key lives in the operational database, which may not be migrated yet
                // (readiness says so); keep trying rather than refuse to serve.
                let key = loop {
                    match moon_analytics::PseudonymKey::load(&db, configured_key.as_deref()).await {
                        Ok(key) => break key,
                        Err(e) => tracing::warn!(error = %e, "aggregator waiting for the database"),
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                        _ = stopped.changed() => return,
                    }
                };
                moon_analytics::Aggregator::new(db, wh, key)
                    .run(interval, Some(Arc::new(AggregatorMetrics(metrics))), stopped)
                    .await;
            }));
        }
    }
    let (notifications, notification_tasks) = if config.components.contains(&Component::Notifications) {
        start_notifications(&config, &db, &metrics, &auth).await?
    } else {
        (Arc::new(crate::notifications::Runtime::default()), Vec::new())
    };
    let state = AppState {
        db: db.clone(),
        config: Arc::new(config),
        metrics,
        auth,
        warehouse: warehouse.clone(),
        notifications: notifications.clone(),
    };
    let (router, _) = router(state);
    // Open event streams never end by themselves: end them when shutdown begins, or the
    // graceful shutdown would wait for them forever.
    let stopping = notifications.clone();
    let shutdown = async move {
        shutdown.await;
        let _ = stopping.stopping.send(true);
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(addr = %listener.local_addr()?, scheme, components = ?components, backend = db.backend().name(), "serving");
    let service = router.into_make_service_with_connect_info::<crate::auth::middleware::PeerAddr>();
    let result = match tls {
        Some(tls) => {
            let listener = moon_http::tls::TlsListener::new(listener, tls)?;
            axum::serve(listener, service).with_graceful_shutdown(shutdown).await
        }
        None => axum::serve(listener, service).with_graceful_shutdown(shutdown).await,
    }
    .context("server failed");
    for task in notification_tasks {
        let _ = task.await;
    }
    let _ = stop_aggregator.send(true);
    if let Some(task) = aggregator_task {
        let _ = task.await;
    }
    if let Some(wh) = warehouse {
        wh.db.close().await;
    }
    db.close().await;
    tracing::info!(uptime_s = started.elapsed().as_secs(), "stopped");
    result
}
