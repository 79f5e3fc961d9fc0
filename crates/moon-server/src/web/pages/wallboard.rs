//! A branch's wallboard, for a TV in the branch: full screen, large type, the branch this month
//! against its target, its teams and agents as pace bars, and a ticker of the sales as they
//! land. It follows new sales with the console's live mechanism (the console's event stream
//! says a sale landed, the page refetches `/wallboard/live`; `console.js`), so it needs no
//! script of its own.
//!
//! Who may open it: a manager for their own branch, an admin any branch (it shows names), and
//! a branch's TV holding a read-only wallboard token ([`crate::auth::wallboard`]) that branch
//! only. The TV claims its token at `/wallboard/tv?token=…` ([`tv`]), which sets the screen's
//! cookie and sends it on here without the token in the address.

use axum::extract::{Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{DOCTYPE, Markup, html};
use moon_domain::{FieldError, Money};
use moon_http::{ApiError, Scope};
use serde::Deserialize;

use crate::agents::org::model::fold;
use crate::performance::{DrillParams, PerformanceReport, drill_report, repo as perf_repo, service};
use crate::sales_targets::model::ScopeKind;
use crate::web::WebState;
use crate::web::context::Ctx;
use crate::web::form::given;
use crate::web::layout::respond;
use crate::web::pace::{self, PaceRow};

/// How many sales the ticker shows.
const TICKER: usize = 8;
/// How many agents the board shows (the top by rank).
const AGENTS: usize = 12;

/// The wallboard's query string.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WallParams {
    /// The branch (code or name); a manager's default is their own.
    branch: Option<String>,
}

/// The branch a viewer may put on the wall: a manager their own, an admin the one asked for.
async fn branch_for(state: &WebState, ctx: &Ctx, raw: Option<&str>) -> Result<String, ApiError> {
    let p: WallParams = serde_urlencoded::from_str(raw.unwrap_or_default())
        .map_err(|e| ApiError::bad_request("invalid_query", format!("this page does not know a parameter: {e}")))?;
    let asked = given(&p.branch);
    let branch = match (&ctx.principal.scope, asked) {
        (Scope::Branch(mine), None) => mine.clone(),
        (Scope::Branch(mine), Some(b)) if fold(&b) == fold(mine) => mine.clone(),
        (Scope::Branch(_), Some(_)) => {
            return Err(crate::web::pages::forbidden(if ctx.principal.role == moon_http::Role::Wallboard {
                "this screen's wallboard token opens its own branch's wallboard only"
            } else {
                "a manager's wallboard shows their own branch"
            }));
        }
        (Scope::All, Some(b)) => b,
        (Scope::All, None) => return Err(ApiError::validation(vec![FieldError::required("branch")])),
        (Scope::Agent(_), _) => return Err(crate::web::pages::forbidden("wallboards are for managers and admins")),
    };
    Ok(service::resolve(&state.db, ScopeKind::Branch, "branch", &branch).await?)
}

/// `GET /wallboard?branch=…`: the full-screen page.
pub async fn page(State(state): State<WebState>, ctx: Ctx, RawQuery(raw): RawQuery) -> Response {
    let shown = match branch_for(&state, &ctx, raw.as_deref()).await {
        Ok(branch) => fragment(&state, &ctx, &branch).await.map(|f| (branch, f)),
        Err(e) => Err(e),
    };
    match shown {
        Ok((branch, live)) => {
            let src: String = form_urlencoded::Serializer::new(String::new()).append_pair("branch", &branch).finish();
            let body = html! {
                header.wall-head {
                    h1 { "Branch " (branch) }
                    @if ctx.principal.role != moon_http::Role::Wallboard {
                        p { a href="/home" { "Leave the wallboard" } }
                    }
                }
                main #main {
                    div #live data-live-src=(format!("/wallboard/live?{src}")) { (live) }
                    p.muted #live-status role="status" { "Sales appear here within seconds of being recorded." }
                }
            };
            let stream = crate::web::layout::live_stream(&ctx);
            respond(StatusCode::OK, shell(&format!("Wallboard: {branch}"), body, stream))
        }
        Err(e) => {
            let body = html! {
                main #main {
                    h1 { "Wallboard" }
                    p.alert role="alert" { (detail(&e)) }
                    p { a href="/home" { "Back to your home" } }
                }
            };
            respond(e.status(), shell("Wallboard", body, None))
        }
    }
}

/// `?token=`: the one-time link's secret.
#[derive(Debug, Default, Deserialize)]
pub struct TvQuery {
    token: Option<String>,
}

/// `GET /wallboard/tv?token=…`: a TV opens the one-time link an admin was given. A link that
/// is unused, unrevoked, unexpired and at most a week old is claimed: the screen gets its
/// cookie (HttpOnly, SameSite=Strict, `Secure` with the server's secure cookies) and is sent to
/// its branch's wallboard, so the token leaves the address bar; any other link opens nothing.
pub async fn tv(
    State(state): State<WebState>,
    crate::audit::RequestOrigin(origin): crate::audit::RequestOrigin,
    Query(q): Query<TvQuery>,
) -> Response {
    use axum::response::IntoResponse;
    let claimed = match given(&q.token) {
        Some(secret) => crate::auth::wallboard::claim(&state.db, &secret, origin).await.map_err(ApiError::from),
        None => Ok(None),
    };
    let (screen, secret) = match claimed {
        Ok(Some(x)) => x,
        Ok(None) => {
            return crate::web::layout::error_page(
                StatusCode::FORBIDDEN,
                "This wallboard link has been used already, has expired or was revoked. Ask an admin for a new one.",
            );
        }
        Err(e) => return crate::web::layout::error_page(e.status(), e.detail()),
    };
    let to: String = form_urlencoded::Serializer::new(String::new()).append_pair("branch", &screen.branch).finish();
    let mut res = axum::response::Redirect::to(&format!("/wallboard?{to}")).into_response();
    let secure = state.auth.config.sessions.secure_cookies;
    if let Some(cookie) = crate::auth::wallboard::set_cookie(&secret, screen.expires_at, secure) {
        res.headers_mut().insert(axum::http::header::SET_COOKIE, cookie);
    }
    res.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    res
}

/// `GET /wallboard/live?branch=…`: the live part alone, for the page to swap in.
/// Tagged with an ETag, as the dashboard's fragment is (see [`crate::web::live::tagged`]).
pub async fn live(
    State(state): State<WebState>,
    ctx: Ctx,
    headers: axum::http::HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let version = crate::web::live::version(&state);
    if let Some(unchanged) = crate::web::live::unchanged(&headers, &version) {
        return unchanged;
    }
    let shown = match branch_for(&state, &ctx, raw.as_deref()).await {
        Ok(branch) => fragment(&state, &ctx, &branch).await,
        Err(e) => Err(e),
    };
    match shown {
        Ok(markup) => crate::web::live::tagged(&headers, &version, StatusCode::OK, markup),
        Err(e) => respond(e.status(), html! { p.alert role="alert" { (detail(&e)) } }),
    }
}

/// An error's detail, with every bad field.
fn detail(e: &ApiError) -> String {
    let fields: Vec<&str> = e.field_errors().iter().map(|f| f.message.as_str()).collect();
    if fields.is_empty() { e.detail().to_owned() } else { fields.join("; ") }
}

/// The page around the wallboard: no navigation, large type.
/// `stream`: the live stream the ticker follows.
fn shell(title: &str, body: Markup, stream: Option<String>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (crate::web::layout::head(None, title))
            body.wallboard data-live-stream=[stream] { (body) }
        }
    }
}

async fn level(state: &WebState, ctx: &Ctx, level: &str, branch: &str) -> Result<PerformanceReport, ApiError> {
    let p = DrillParams {
        level: Some(level.to_owned()),
        branch: Some(branch.to_owned()),
        limit: Some(String::from("500")),
        ..DrillParams::default()
    };
    drill_report(&state.kpis, &state.planning, &ctx.principal, &p).await
}

/// The live part: the branch's figures, its teams and top agents, and the latest sales.
async fn fragment(state: &WebState, ctx: &Ctx, branch: &str) -> Result<Markup, ApiError> {
    let whole = level(state, ctx, "branch", branch).await?;
    let teams = level(state, ctx, "team", branch).await?;
    let agents = level(state, ctx, "agent", branch).await?;
    let scope = Scope::Branch(branch.to_owned());
    let page =
        moon_http::PageParams { limit: Some(TICKER.to_string()), cursor: None, order: Some(String::from("desc")) }
            .parse_sorted(moon_http::paging::ListingSort::spec(crate::sales::model::SaleSort::Id))?;
    let query = crate::sales::repo::SaleQuery::default();
    let sales =
        crate::sales::repo::list_sorted(&state.db, &scope, &query, &page).await.map_err(crate::error::Error::from)?;
    let ids: Vec<i64> = sales.iter().map(|s| s.agent_id).collect();
    let names: std::collections::HashMap<i64, String> = perf_repo::agents(&state.db, &ids)
        .await
        .map_err(crate::error::Error::from)?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect();
    let zone = state.calendar.zone;
    let currency = state.currency;
    let team_rows: Vec<PaceRow<'_>> = teams
        .items
        .iter()
        .map(|r| PaceRow { name: &r.name, link: None, figures: &r.figures, previous: None })
        .collect();
    let agent_rows: Vec<PaceRow<'_>> = agents
        .items
        .iter()
        .take(AGENTS)
        .map(|r| PaceRow { name: &r.name, link: None, figures: &r.figures, previous: None })
        .collect();
    Ok(html! {
        @if let Some(b) = whole.items.first() {
            @let f = &b.figures;
            @let (modifier, icon, words) = pace::status_words(f.status);
            section.wall-top aria-label="The branch this month" {
                p.wall-figure { span.label { (whole.period.label) " sold" } span.value #wall-actual { (pace::amount(f.actual, currency)) } }
                p.wall-figure { span.label { "Target" } span.value { (f.target.map_or_else(|| String::from("—"), |t| t.grouped())) } }
                p.wall-figure { span.label { "Attainment" } span.value { (f.attainment_pct.map_or_else(|| String::from("—"), |p| format!("{p:.1} %"))) } }
                p class=(format!("wall-figure status-{modifier}")) { span.label { "Pace" } span.value { span aria-hidden="true" { (icon) } " " (words) } }
                div.pace-wide { (pace::bar("wall", f)) }
            }
        }
        div.wall-grid {
            section aria-labelledby="wall-teams-h" {
                h2 #wall-teams-h { "Teams" }
                (pace::board("wall-teams", &team_rows, currency))
                h2 { "Agents" }
                (pace::board("wall-agents", &agent_rows, currency))
                (pace::legend())
            }
            section aria-labelledby="wall-ticker-h" {
                h2 #wall-ticker-h { "Latest sales" }
                ol.ticker #ticker {
                    @for (i, s) in sales.iter().take(TICKER).enumerate() {
                        li class=[(i == 0).then_some("newest")] data-sale=(s.id) {
                            span.when { (s.created_at.with_timezone(&zone).format("%H:%M")) }
                            " "
                            span.who { (names.get(&s.agent_id).map_or(s.agent_code.as_str(), String::as_str)) }
                            " "
                            span.what { (s.product_name) }
                            " "
                            span.amount { (Money::grouped(s.amount)) " " (currency) }
                        }
                    }
                    @if sales.is_empty() { li { "No sales yet." } }
                }
                p.hint { "Times in " (zone.name()) " time." }
            }
        }
    })
}
