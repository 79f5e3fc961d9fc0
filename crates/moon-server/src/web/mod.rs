//! The web console and live dashboard (target `web`): server-rendered HTML pages for people,
//! over the same use cases, validation and scoping as the JSON API.
//!
//! - every page and form goes through the one authentication middleware and the policy table
//!   ([`crate::auth::policy::POLICY`]); a refusal becomes a redirect to sign-in or an HTML error
//!   page ([`refusal`]) instead of problem JSON;
//! - forms that change something carry the session's CSRF token in a hidden field, which the
//!   middleware checks like the `X-CSRF-Token` header;
//! - pages call the components' Rust functions directly (never the API over HTTP), so a form
//!   shows the same [`moon_domain::FieldError`]s, beside its fields, that the API returns;
//! - charts are SVG drawn on the server ([`charts`]), each with its data as a table; one small
//!   embedded script ([`assets`]) adds live refresh, column sorting, mark-as-read (one or all,
//!   through the API) and, for an agent, live notifications from the API's event stream.
//!
//! Why server-rendered Rust templates rather than a JavaScript application: docs/adr/0007.

mod assets;
mod charts;
mod context;
mod form;
mod layout;
pub mod live;
mod pace;
mod pages;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use moon_http::ApiError;

/// The console as the wiring sees it: its pages (outside the API document, with their own
/// state), the link `GET /` lists, and a readiness condition: the warehouse the dashboard reads
/// answers.
pub fn describe<S>(state: WebState) -> crate::component::Description<S>
where
    S: Clone + Send + Sync + 'static,
{
    let ready = state.kpis.warehouse.clone().map(crate::kpis::warehouse_ready);
    // Live views: one reader of the change log per process, woken right after a commit here (on
    // PostgreSQL in any process) and by each warehouse refresh; the interval finds other
    // processes' commits on SQLite and MariaDB.
    state.db.wake_on_commit(&state.live.wake_signal());
    let live = moon_jobs::Schedule::every("console_live", std::time::Duration::from_secs(1))
        .woken_by(state.live.wake_signal())
        .settle(moon_jobs::COMMIT_SETTLE)
        .max_backoff(std::time::Duration::from_secs(5));
    let job = live::LiveJob::new(state.live.clone(), state.db.clone(), state.kpis.warehouse.clone());
    let mut description = crate::component::Description::new("web", utoipa_axum::router::OpenApiRouter::new())
        .with_pages(routes().with_state(state))
        .with_links(&[("console", "/dashboard")])
        .with_job(moon_jobs::Pending::job(job, live));
    if let Some(check) = ready {
        description = description.with_ready("warehouse", check);
    }
    description
}

/// The console's routes: a table of contents. Who may use each is in the policy table.
fn routes() -> Router<WebState> {
    use pages::{
        account, admin, agents, anomalies, calendar, dashboard, home, notifications, organisation, performance,
        products, rules, sales, screens, sign_in, targets, wallboard, webhooks,
    };
    Router::new()
        .route("/assets/{file}", get(assets::serve))
        .route("/sign-in", get(sign_in::form).post(sign_in::submit))
        .route("/sign-in/mfa", get(sign_in::code_form).post(sign_in::code_submit))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/account/mfa", get(account::show).post(account::start))
        .route("/account/mfa/confirm", post(account::confirm))
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard/live", get(dashboard::live))
        .route("/performance", get(performance::page))
        .route("/home", get(home::page))
        .route("/home/live", get(home::live))
        .route("/live/events", get(live::events))
        .route("/wallboard", get(wallboard::page))
        .route("/wallboard/live", get(wallboard::live))
        .route("/wallboard/tv", get(wallboard::tv))
        .route("/agents", get(agents::list).post(agents::create))
        .route("/agents/{id}", get(agents::edit).post(agents::update))
        .route("/agents/{id}/deactivate", post(agents::deactivate))
        .route("/agents/{id}/move", post(agents::move_agent))
        .route("/organisation", get(organisation::page).post(organisation::create))
        .route("/organisation/{kind}/{id}", post(organisation::change))
        .route("/organisation/wallboard-tokens", post(screens::issue))
        .route("/organisation/wallboard-tokens/{id}/revoke", post(screens::revoke))
        .route("/targets", get(targets::page).post(targets::set))
        .route("/targets/copy", post(targets::periods::copy))
        .route("/targets/import", post(targets::periods::import))
        .route("/targets/lock", post(targets::periods::lock))
        .route("/targets/{id}/delete", post(targets::delete::delete))
        .route("/calendar", get(calendar::page))
        .route("/calendar/holidays", post(calendar::add))
        .route("/calendar/holidays/{date}/delete", post(calendar::remove))
        .route("/rules", get(rules::page).post(rules::create))
        .route("/rules/{id}", post(rules::switch))
        .route("/rules/{id}/delete", post(rules::remove))
        .route("/webhooks", get(webhooks::page).post(webhooks::create))
        .route("/webhooks/{id}", post(webhooks::switch))
        .route("/webhooks/{id}/delete", post(webhooks::remove))
        .route("/webhooks/deliveries/{id}/redeliver", post(webhooks::redeliver))
        .route("/sales", get(sales::list).post(sales::create))
        .route("/sales/{id}", get(sales::edit).post(sales::update))
        .route("/sales/{id}/delete", post(sales::delete))
        .route("/products", get(products::list).post(products::create))
        .route("/products/{id}", post(products::update))
        .route("/notifications", get(notifications::list).post(notifications::send))
        .route("/notifications/broadcast", axum::routing::post(notifications::broadcast))
        .route("/notifications/digests", axum::routing::post(notifications::digests))
        .route("/users", get(admin::users).post(admin::create_user))
        .route("/users/{id}", post(admin::change_user))
        .route("/tokens", get(admin::tokens).post(admin::create_token))
        .route("/tokens/{id}/revoke", post(admin::revoke_token))
        .route("/audit", get(admin::audit))
        .route("/access-review", get(admin::access_review))
        .route("/anomalies", get(anomalies::page))
        .route("/anomalies/{id}/dismiss", post(anomalies::dismiss))
        .route("/commission-plans", get(pages::commission_plans::page))
        .layer(axum::middleware::from_fn(forget_notice))
}

/// The cookie that carries a confirmation from a form post to the page after it.
const NOTICE_COOKIE: &str = "moon_notice";

/// `Set-Cookie` for a confirmation, kept a minute at most.
fn notice_cookie(text: &str) -> Option<axum::http::HeaderValue> {
    let value: String = form_urlencoded::byte_serialize(text.as_bytes()).collect();
    axum::http::HeaderValue::from_str(&format!("{NOTICE_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"))
        .ok()
}

/// The confirmation a request carries, if any.
fn notice_from(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == NOTICE_COOKIE)
        .map(|(_, v)| form_urlencoded::parse(format!("n={v}").as_bytes()).map(|(_, v)| v.into_owned()).collect())
        .filter(|v: &String| !v.is_empty())
}

/// Clears the confirmation once a page has shown it (not on redirects, nor on the dashboard's or
/// wallboard's background refresh, which show none).
async fn forget_notice(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let carried = notice_from(req.headers()).is_some()
        && !["/dashboard/live", "/wallboard/live", "/home/live", "/live/events"].contains(&req.uri().path());
    let mut res = next.run(req).await;
    if carried && !res.status().is_redirection() {
        let clear = format!("{NOTICE_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
        if let Ok(v) = axum::http::HeaderValue::from_str(&clear) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

/// Path prefixes of the console's pages (as opposed to the API, the original routes and probes).
const CONSOLE_PREFIXES: &[&str] = &[
    "/assets/",
    "/sign-in",
    "/sign-out",
    "/account/",
    "/dashboard",
    "/performance",
    "/home",
    "/wallboard",
    "/agents",
    "/organisation",
    "/targets",
    "/calendar",
    "/rules",
    "/webhooks",
    "/sales",
    "/products",
    "/notifications",
    "/users",
    "/tokens",
    "/audit",
    "/access-review",
    "/anomalies",
    "/commission-plans",
];

/// What the console's pages need of the server. The console calls the components' own
/// functions, so it carries their sub-states ([`crate::auth::SecurityState`],
/// [`crate::notifications::NotificationsState`], [`crate::kpis::KpiState`]) rather than the
/// whole application state.
#[derive(Clone, Debug)]
pub struct WebState {
    /// The operational database.
    pub db: moon_db::Db,
    /// Keys, hasher and security settings.
    pub auth: std::sync::Arc<crate::auth::AuthState>,
    /// What sign-in and account pages share with the security routes.
    pub security: crate::auth::SecurityState,
    /// What the notification pages share with the notification routes.
    pub notify: crate::notifications::NotificationsState,
    /// The warehouse the dashboard reads, and the smallest group a row may stand for.
    pub kpis: crate::kpis::KpiState,
    /// The key agents' pseudonyms are made with, when configured (`None`: the stored one).
    pub pseudonym_key: Option<moon_db::Secret>,
    /// Whether this process serves the notification API (the console's live inbox uses it).
    pub serves_notifications: bool,
    /// The business calendar: "today" for sale dates and the dashboard's periods.
    pub calendar: moon_domain::BusinessCalendar,
    /// The currency amounts are in, shown beside them.
    pub currency: moon_domain::CurrencyCode,
    /// Calendar, bands and database as the performance figures read them.
    pub planning: crate::calendar::PlanningState,
    /// The fan-out of committed changes to open console views ([`live`]).
    pub live: std::sync::Arc<live::LiveHub>,
}

/// Whether a browser sent this request: it prefers HTML.
pub fn accepts_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"))
}

/// Whether a refusal of this route template should be answered as a page (or a redirect to
/// sign-in) rather than problem JSON: every console route, and the root URL opened in a browser.
fn wants_page(template: &str, headers: &HeaderMap) -> bool {
    CONSOLE_PREFIXES.iter().any(|p| template.starts_with(p)) || (template == "/" && accepts_html(headers))
}

/// Answers the security layer's refusals of console routes as a browser can use them (see
/// [`refusal`]); every other response passes unchanged. Installed outside the authentication
/// layer, so the security layer itself knows nothing of the console.
pub async fn refusals_as_pages(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let page = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .is_some_and(|m| wants_page(m.as_str(), req.headers()))
        .then(|| req.uri().clone());
    let res = next.run(req).await;
    match (page, res.extensions().get::<moon_http::error::Refusal>()) {
        (Some(uri), Some(refused)) => refusal(refused.0.clone(), &uri),
        _ => res,
    }
}

/// Turns a refusal by the authentication layer into what a browser can use: to sign-in (keeping
/// where the user was going), to the code step or to MFA enrolment, or an HTML page saying why.
fn refusal(e: ApiError, uri: &Uri) -> Response {
    match (e.status(), e.code()) {
        (StatusCode::UNAUTHORIZED, "mfa_required") => Redirect::to("/sign-in/mfa").into_response(),
        (StatusCode::UNAUTHORIZED, _) => {
            let next = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/dashboard");
            let target: String = form_urlencoded::Serializer::new(String::new()).append_pair("next", next).finish();
            Redirect::to(&format!("/sign-in?{target}")).into_response()
        }
        (StatusCode::FORBIDDEN, "mfa_enrolment_required") => Redirect::to("/account/mfa").into_response(),
        // A signed-in user back at the code step (the browser's back button) is done with it.
        (StatusCode::FORBIDDEN, _) if uri.path() == "/sign-in/mfa" => Redirect::to("/home").into_response(),
        (status, _) => layout::error_page(status, e.detail()),
    }
}

/// Whether a browser says the request comes from one of our own pages: `Sec-Fetch-Site` when
/// sent (every current browser does), else `Origin` against `Host`; a client sending neither is
/// not a browser a third-party page could steer. Guards the public sign-in form against login
/// CSRF (another site signing a visitor into the attacker's account), where no session token
/// exists yet.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return site == "same-origin" || site == "none";
    }
    match (text("origin"), text("host")) {
        (Some(origin), Some(host)) => origin.split_once("://").is_some_and(|(_, rest)| rest == host),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

/// A local path to return to after signing in; anything else is replaced by the viewer's home.
///
/// Only a same-origin absolute path is followed: it starts with one `/` (`//host` and `/\host`
/// are other sites to a browser), holds no control character (a tab or newline is dropped by
/// browsers, so `/\t/evil.example` becomes `//evil.example`, and CR/LF cannot go into a
/// `Location` header at all) and no backslash (which browsers read as `/`), and parses as a path.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.chars().any(|c| c.is_control() || c == '\\' || c.is_whitespace())
                && n.parse::<axum::http::uri::PathAndQuery>().is_ok() =>
        {
            n
        }
        _ => "/home",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn notices_survive_the_cookie_round_trip() {
        let cookie = notice_cookie("Agent AGT900 created; 100% done").unwrap_or_else(|| HeaderValue::from_static(""));
        let pair = cookie.to_str().unwrap_or_default().split(';').next().unwrap_or_default().to_owned();
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(&format!("moon_session=x; {pair}")).unwrap_or(cookie.clone()));
        assert_eq!(notice_from(&h).as_deref(), Some("Agent AGT900 created; 100% done"));
    }

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/sales?from=2026-01-01")), "/sales?from=2026-01-01");
        assert_eq!(safe_next(Some("//evil.example/")), "/home");
        assert_eq!(safe_next(Some("https://evil.example/")), "/home");
        assert_eq!(safe_next(None), "/home");
        for hostile in
            ["/\t/evil.example", "/\r\nX-Injected: 1", "/\\evil.example", "/\\/evil.example", "/%09/x\u{0}", "/ /x"]
        {
            assert_eq!(safe_next(Some(hostile)), "/home", "{hostile:?}");
        }
    }

    #[test]
    fn sign_in_posts_from_other_sites_are_told_apart() {
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, axum::http::HeaderValue::from_static(v));
            }
            m
        };
        assert!(same_origin(&h(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&h(&[("sec-fetch-site", "cross-site")])));
        assert!(same_origin(&h(&[("origin", "http://127.0.0.1:8080"), ("host", "127.0.0.1:8080")])));
        assert!(!same_origin(&h(&[("origin", "https://evil.example"), ("host", "127.0.0.1:8080")])));
        assert!(same_origin(&h(&[])), "curl and scripts send neither");
    }

    #[test]
    fn console_routes_want_pages_and_the_api_does_not() {
        let none = HeaderMap::new();
        assert!(wants_page("/agents/{id}", &none));
        assert!(!wants_page("/api/v1/agents", &none));
        assert!(!wants_page("/agent/get", &none));
        assert!(!wants_page("/", &none));
        let mut html = HeaderMap::new();
        html.insert(header::ACCEPT, axum::http::HeaderValue::from_static("text/html,*/*"));
        assert!(wants_page("/", &html));
    }
}
