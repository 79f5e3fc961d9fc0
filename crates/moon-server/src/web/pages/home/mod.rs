//! Each role's home: what `/` opens after sign-in, answering the viewer's first question on the
//! first screen, for the current period in the business time zone.
//!
//! - a manager: their branch this month: teams and agents against target with pace, who is
//!   behind and by how much, the top movers ([`manager`]);
//! - an agent: their progress against their targets, what each remaining working day needs,
//!   the next milestone and their rank among those who share their figures ([`agent`]);
//! - an admin: the company by region and branch, with drill-down ([`drill`]);
//! - an analyst: data quality and the pseudonymous exports ([`analyst`]).
//!
//! With a query string the page is the drill-down (company → region → branch → team → agent →
//! the agent's sales), every view a shareable URL. Its parameters are those of
//! `GET /api/v1/performance/drill` plus `agent`: an unknown parameter is a 400 page, a bad value
//! a 422 page listing every bad field. The figures are the performance service's
//! ([`crate::performance::drill_report`]), never recomputed here.

mod agent;
mod analyst;
mod drill;
mod manager;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use moon_http::{ApiError, Role};
use serde::Deserialize;

use crate::performance::{DrillParams, PerformanceReport, drill_report};
use crate::web::WebState;
use crate::web::context::Ctx;
use crate::web::layout::{document, respond};

/// The home page's query string: a drill-down view. Empty: the viewer's overview.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HomeParams {
    /// The level listed: region, branch, team or agent.
    pub level: Option<String>,
    /// Only under this region.
    pub region: Option<String>,
    /// Only this branch.
    pub branch: Option<String>,
    /// Only this team.
    pub team: Option<String>,
    /// `company` lifts a manager's default to their branch.
    pub within: Option<String>,
    /// `2026-12`, `FY2027 Q1`, `FY2027` or `kind:start`; default this month.
    pub period: Option<String>,
    /// `all`, `behind`, `ahead`, `achieved` or `no_target`.
    pub status: Option<String>,
    /// `rank`, `gap`, `attainment`, `improvement`, `actual` or `name`.
    pub sort: Option<String>,
    /// Only this product.
    pub product_id: Option<String>,
    /// Only this line of business.
    pub product_line: Option<String>,
    /// An agent's code: the bottom of the drill-down, their sales in the period.
    pub agent: Option<String>,
}

impl HomeParams {
    /// The parameters as (name, value) pairs, the empty ones left out.
    fn pairs(&self) -> Vec<(&'static str, String)> {
        [
            ("level", &self.level),
            ("region", &self.region),
            ("branch", &self.branch),
            ("team", &self.team),
            ("within", &self.within),
            ("period", &self.period),
            ("status", &self.status),
            ("sort", &self.sort),
            ("product_id", &self.product_id),
            ("product_line", &self.product_line),
            ("agent", &self.agent),
        ]
        .into_iter()
        .filter_map(|(k, v)| crate::web::form::given(v).map(|v| (k, v)))
        .collect()
    }

    /// Whether nothing was asked: the overview.
    fn is_empty(&self) -> bool {
        self.pairs().is_empty()
    }

    /// The drill-down's parameters for this view at `level` (every row of the level: the home
    /// shows a board, not a page of one).
    pub fn drill(&self, level: Option<&str>) -> DrillParams {
        DrillParams {
            level: level.map(str::to_owned).or_else(|| self.level.clone()),
            region: self.region.clone(),
            branch: self.branch.clone(),
            team: self.team.clone(),
            within: self.within.clone(),
            period: self.period.clone(),
            status: self.status.clone(),
            sort: self.sort.clone(),
            product_id: self.product_id.clone(),
            product_line: self.product_line.clone(),
            limit: Some(String::from("500")),
            ..DrillParams::default()
        }
    }

    /// `/home` with these parameters, `changes` applied (`None` removes one).
    pub fn href(&self, changes: &[(&str, Option<&str>)]) -> String {
        let mut pairs: Vec<(&str, String)> = self.pairs();
        for (k, v) in changes {
            pairs.retain(|(name, _)| name != k);
            if let Some(v) = v {
                pairs.push((k, (*v).to_owned()));
            }
        }
        let query: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
        if query.is_empty() { String::from("/home") } else { format!("/home?{query}") }
    }
}

/// `GET /home`: the viewer's overview, or the drill-down view the query string names. The view
/// sits in a live region that refetches `/home/live` with the same query when its figures change.
pub async fn page(State(state): State<WebState>, ctx: Ctx, RawQuery(raw): RawQuery) -> Response {
    let raw = raw.unwrap_or_default();
    match shown(&state, &ctx, &raw).await {
        Ok((title, body)) => {
            let src = if raw.is_empty() { String::from("/home/live") } else { format!("/home/live?{raw}") };
            let body = html! { div #live data-live-src=(src) { (body) } };
            respond(StatusCode::OK, document(Some(&ctx), &title, body))
        }
        Err(e) => failed(&ctx, &e),
    }
}

/// `GET /home/live`: the view alone, for the page to swap in when its figures changed; tagged
/// with an ETag as the dashboard's fragment is (see [`crate::web::live::tagged`]).
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
    match shown(&state, &ctx, &raw.unwrap_or_default()).await {
        Ok((_, body)) => crate::web::live::tagged(&headers, &version, StatusCode::OK, body),
        Err(e) => respond(e.status(), html! { p.alert role="alert" { (e.detail()) } }),
    }
}

/// The view the query string names: its title and body.
async fn shown(state: &WebState, ctx: &Ctx, raw: &str) -> Result<(String, Markup), ApiError> {
    let params: HomeParams = serde_urlencoded::from_str(raw)
        .map_err(|e| ApiError::bad_request("invalid_query", format!("this page does not know a parameter: {e}")))?;
    if !params.is_empty() {
        drill::view(state, ctx, &params).await
    } else {
        match ctx.role() {
            Role::Manager => manager::overview(state, ctx).await,
            Role::Agent => agent::overview(state, ctx).await,
            Role::Analyst => analyst::overview(state, ctx).await,
            Role::Admin => drill::company(state, ctx).await,
            // The policy keeps screens away from /home; should one arrive, it has no home.
            Role::Wallboard => Err(crate::web::pages::forbidden("a wallboard screen has no home page")),
        }
    }
}

/// The page for a refused view: the status of the API's answer, every problem listed.
fn failed(ctx: &Ctx, e: &ApiError) -> Response {
    let problems = crate::web::form::Problems::from_error(e);
    let body = html! {
        div.alert role="alert" {
            @if let Some(g) = &problems.general { p { (g) } }
            @if !problems.fields.is_empty() {
                p { "This view cannot be shown:" }
                ul { @for f in &problems.fields { li { (f.message) } } }
            }
        }
        p { a href="/home" { "Back to your home" } }
    };
    respond(e.status(), document(Some(ctx), "Home", body))
}

/// The figures of one level for the viewer, as the drill-down API computes them.
async fn report(state: &WebState, ctx: &Ctx, p: &DrillParams) -> Result<PerformanceReport, ApiError> {
    drill_report(&state.kpis, &state.planning, &ctx.principal, p).await
}

/// The period line under a home's heading: label, dates, as of when, in which time zone.
fn period_line(state: &WebState, r: &PerformanceReport) -> Markup {
    html! {
        p.period-line {
            strong { (r.period.label) } " (" (r.period.start) " to " (r.period.end) "), as of " (r.today)
            " · " (state.calendar.zone.name()) " time"
        }
    }
}
