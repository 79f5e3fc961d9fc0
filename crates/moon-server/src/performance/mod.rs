//! Performance against targets over `/api/v1/performance` (served where the KPIs are): one
//! scope's figures for a fiscal period (actual, attainment, expected by today, gap to pace,
//! projection, need per remaining working day, previous period, last year, rank and movement),
//! and one parameterised drill-down listing the children of a level, company → region → branch →
//! team → agent → the agent's sales. Sales are read from the warehouse's daily cells, a team's by
//! the team each agent belonged to on the sale date; the organisation, memberships, targets and
//! holidays from the operational database. The arithmetic is `moon_domain::performance`.

pub mod repo;
pub mod service;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use moon_domain::FieldError;
use moon_domain::FieldErrors;
use moon_domain::performance::PaceStatus;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::service::{Context, Question, Row, SortBy};
use crate::calendar::{PeriodInfo, PlanningState};
use crate::kpis::KpiState;
use crate::sales_targets::model::{ScopeKind, Subject};
use moon_http::paging::{Page, PageState};
use moon_http::{ApiError, ApiQuery, ApiResult, PageParams, Principal, Scope};

/// The component as the wiring sees it: served with the KPIs (it reads the warehouse).
pub fn describe<S>() -> crate::component::Description<S>
where
    S: Clone + Send + Sync + 'static,
    KpiState: axum::extract::FromRef<S>,
    PlanningState: axum::extract::FromRef<S>,
{
    let api = OpenApiRouter::new().routes(routes!(figures)).routes(routes!(drill));
    crate::component::Description::new("aggregator", api)
        .with_links(&[("performance", "/api/v1/performance"), ("performance_drill", "/api/v1/performance/drill")])
}

/// Parameters of `GET /api/v1/performance`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FigureParams {
    /// company (default), region, branch, team or agent.
    #[param(example = "branch")]
    pub scope: Option<String>,
    /// The region, branch or team code (or name), or the agent code; not for the company.
    #[param(example = "Colombo")]
    pub key: Option<String>,
    /// `2026-12`, `FY2027 Q3`, `FY2027` or `kind:start`; default: this month.
    #[param(example = "2026-12")]
    pub period: Option<String>,
    /// Only this product's sales, against its product target.
    pub product_id: Option<String>,
    /// Only this line's sales, against its line target.
    pub product_line: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// Parameters of `GET /api/v1/performance/drill`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DrillParams {
    /// The level listed: company, region, branch, team or agent (default: agent for managers and
    /// agents, branch otherwise).
    #[param(example = "agent")]
    pub level: Option<String>,
    /// The unit one level up: a region (branch level), a branch (team level) or a team (agent
    /// level).
    pub parent: Option<String>,
    /// Only under this region.
    pub region: Option<String>,
    /// Only this branch's teams or agents; a manager's default is their own branch.
    #[param(example = "Colombo")]
    pub branch: Option<String>,
    /// Only this team's agents: those who belonged to it during the period, with the sales they
    /// made while in it.
    pub team: Option<String>,
    /// `company` lifts a manager's default to their branch.
    pub within: Option<String>,
    /// `2026-12`, `FY2027 Q3`, `FY2027` or `kind:start`; default: this month.
    #[param(example = "2026-12")]
    pub period: Option<String>,
    /// `all` (default), `behind`, `ahead` (at or above pace), `achieved` or `no_target`.
    #[param(example = "behind")]
    pub status: Option<String>,
    /// `gap` (furthest behind first), `attainment`, `actual`, `rank` (default), `improvement`
    /// (largest increase over the previous period first) or `name`.
    #[param(example = "gap")]
    pub sort: Option<String>,
    /// Only this product.
    pub product_id: Option<String>,
    /// Only this line of business.
    pub product_line: Option<String>,
    /// Rows per page, 1–500 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// The answer of both routes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PerformanceReport {
    /// The period.
    pub period: PeriodInfo,
    /// The business date the figures are computed on.
    pub today: chrono::NaiveDate,
    /// The rows (one for `/api/v1/performance`).
    pub items: Vec<Row>,
    /// Rows withheld: fewer agents than the minimum group size behind them, or agents who have
    /// not agreed to per-agent analytics (for callers who may not see their names).
    pub suppressed: usize,
    /// Paging (drill-down only).
    pub page: Option<PageState>,
}

fn text(s: &Option<String>) -> Option<String> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn subject(e: &mut FieldErrors, product_id: &Option<String>, product_line: &Option<String>) -> Subject {
    let id = e.take_opt(text(product_id).map(|p| {
        p.parse::<i64>().map_err(|_| {
            FieldError::new("product_id", "invalid_id", format!("product_id must be a whole number; got {p:?}"))
        })
    }));
    match (id, text(product_line)) {
        (Some(_), Some(_)) => {
            e.push(FieldError::new("product_line", "ambiguous", "give a product_id or a product_line, not both"));
            Subject::All
        }
        (Some(id), None) => Subject::Product(id),
        (None, Some(l)) => Subject::Line(l),
        (None, None) => Subject::All,
    }
}

fn csv_wanted(e: &mut FieldErrors, format: &Option<String>, headers: &HeaderMap) -> bool {
    match text(format).as_deref() {
        Some("csv") => true,
        Some("json") => false,
        Some(other) => {
            e.push(FieldError::new("format", "invalid_format", format!("format must be json or csv; got {other:?}")));
            false
        }
        None => headers
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.split(',').any(|m| m.trim().starts_with("text/csv"))),
    }
}

fn context<'a>(kpis: &'a KpiState, planning: &'a PlanningState) -> ApiResult<Context<'a>> {
    let warehouse = kpis.warehouse.as_ref().ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "warehouse_unavailable",
            "this process does not serve performance figures; run the aggregator target",
        )
    })?;
    Ok(Context {
        db: &planning.db,
        warehouse,
        calendar: &planning.calendar,
        bands: &planning.bands,
        min_group: kpis.min_group_size,
        today: planning.today(),
    })
}

const CSV_COLUMNS: [&str; 17] = [
    "position",
    "level",
    "key",
    "name",
    "actual",
    "actual_count",
    "target",
    "attainment_pct",
    "expected_by_today",
    "gap_to_pace",
    "projected",
    "needed_per_working_day",
    "status",
    "previous_actual",
    "previous_delta",
    "rank",
    "rank_movement",
];

fn respond(csv: bool, name: &str, report: PerformanceReport) -> Response {
    if !csv {
        return axum::Json(report).into_response();
    }
    let money = |m: Option<moon_domain::Money>| m.map(|m| m.to_string()).unwrap_or_default();
    let mut out = CSV_COLUMNS.join(",");
    out.push_str("\r\n");
    for r in &report.items {
        let f = &r.figures;
        let cells = [
            r.position.to_string(),
            r.level.as_str().to_owned(),
            crate::kpis::csv_field(&r.key),
            crate::kpis::csv_field(&r.name),
            f.actual.to_string(),
            f.actual_count.to_string(),
            money(f.target),
            f.attainment_pct.map(|p| format!("{p:.2}")).unwrap_or_default(),
            money(f.expected_by_today),
            money(f.gap_to_pace),
            f.projected.to_string(),
            money(f.needed_per_working_day),
            f.status.as_str().to_owned(),
            r.previous.actual.to_string(),
            r.previous.delta.to_string(),
            r.rank.rank.to_string(),
            r.rank.movement.to_string(),
        ];
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    crate::kpis::csv_response(out, name)
}

/// One scope's performance for a period: actual, attainment and band, expected by today (the
/// target pro-rated by working days elapsed), gap to pace, projected period end at the current
/// run rate, amount needed per remaining working day, the previous period and the same period
/// last year with deltas, and rank (among all units of the same kind) with its movement.
/// A single agent's figures are for admins, the agent's branch manager and the agent.
#[utoipa::path(get, path = "/api/v1/performance", tag = "performance", params(FigureParams),
    responses((status = 200, description = "The scope's figures; CSV with format=csv", content((PerformanceReport = "application/json"), (String = "text/csv"))),
        (status = 403, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn figures(
    State(kpis): State<KpiState>,
    State(planning): State<PlanningState>,
    principal: Principal,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<FigureParams>,
) -> ApiResult<Response> {
    let mut e = FieldErrors::new();
    let level = e.take_opt(text(&p.scope).map(|s| ScopeKind::parse("scope", &s))).unwrap_or(ScopeKind::Company);
    let period = e.take_opt(text(&p.period).map(|s| planning.calendar.fiscal.parse("period", &s)));
    let subject = subject(&mut e, &p.product_id, &p.product_line);
    let csv = csv_wanted(&mut e, &p.format, &headers);
    let key = text(&p.key);
    match (level, &key) {
        (ScopeKind::Company, Some(_)) => {
            e.push(FieldError::new("key", "not_allowed", "the company scope has no key"));
        }
        (ScopeKind::Company, None) => {}
        (_, None) => e.push(FieldError::required("key")),
        _ => {}
    }
    e.finish().map_err(ApiError::validation)?;
    let ctx = context(&kpis, &planning)?;
    let period = period.unwrap_or_else(|| planning.calendar.fiscal.period(moon_domain::PeriodKind::Month, ctx.today));
    let key = match &key {
        Some(k) => Some(service::resolve(ctx.db, level, "key", k).await?),
        None => None,
    };
    if level == ScopeKind::Agent
        && let Some(code) = &key
    {
        service::check_agent_visible(ctx.db, &principal, code, period).await?;
    }
    let only = key.as_deref().map(crate::agents::org::model::fold);
    let q = Question { level, region: None, branch: None, team: None, period, subject, only };
    let listing = service::drill(&ctx, &principal, &q).await?;
    let mut suppressed = 0;
    let items: Vec<Row> = listing.rows;
    if items.is_empty() {
        // The scope exists but its figures are withheld (too few agents behind them).
        suppressed = 1;
    }
    let report = PerformanceReport {
        period: PeriodInfo::of(&planning.calendar, period),
        today: ctx.today,
        items,
        suppressed,
        page: None,
    };
    Ok(respond(csv, "performance", report))
}

/// The drill-down: the units of one level under a parent (regions; a region's branches; a
/// branch's teams; a team's or branch's agents, counting the agents it had during the period and
/// the sales they made while in it), each with the figures of `/api/v1/performance`, units that
/// sold nothing as zeros; filtered by pace status, sorted, paged. An agent row links to the
/// agent's sales for callers who may see the agent's name; others see pseudonyms.
#[utoipa::path(get, path = "/api/v1/performance/drill", tag = "performance", params(DrillParams),
    responses((status = 200, description = "One page of rows; CSV with format=csv", content((PerformanceReport = "application/json"), (String = "text/csv"))),
        (status = 422, body = moon_http::error::Problem)))]
async fn drill(
    State(kpis): State<KpiState>,
    State(planning): State<PlanningState>,
    principal: Principal,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<DrillParams>,
) -> ApiResult<Response> {
    let mut e = FieldErrors::new();
    let csv = csv_wanted(&mut e, &p.format, &headers);
    e.finish().map_err(ApiError::validation)?;
    Ok(respond(csv, "performance-drill", drill_report(&kpis, &planning, &principal, &p).await?))
}

/// The drill-down's answer for `p` (its `format` aside): the API route and the console's
/// performance page share it, so both validate, scope and page alike.
pub async fn drill_report(
    kpis: &KpiState,
    planning: &PlanningState,
    principal: &Principal,
    p: &DrillParams,
) -> ApiResult<PerformanceReport> {
    let mut e = FieldErrors::new();
    let manager_branch = match &principal.scope {
        Scope::Branch(b) => Some(b.clone()),
        _ => None,
    };
    let default_level = if manager_branch.is_some() { ScopeKind::Agent } else { ScopeKind::Branch };
    let level = e.take_opt(text(&p.level).map(|s| ScopeKind::parse("level", &s))).unwrap_or(default_level);
    let period = e.take_opt(text(&p.period).map(|s| planning.calendar.fiscal.parse("period", &s)));
    let subject = subject(&mut e, &p.product_id, &p.product_line);
    let (status, ahead) = match text(&p.status).as_deref() {
        None | Some("all") => (None, false),
        Some("behind") => (Some(PaceStatus::Behind), false),
        Some("ahead") => (None, true),
        Some("achieved") => (Some(PaceStatus::Achieved), false),
        Some("no_target") => (Some(PaceStatus::NoTarget), false),
        Some(other) => {
            e.push(FieldError::new(
                "status",
                "invalid_status",
                format!("status must be all, behind, ahead, achieved or no_target; got {other:?}"),
            ));
            (None, false)
        }
    };
    let sort = match text(&p.sort).as_deref() {
        None | Some("rank") => SortBy::Rank,
        Some("gap") => SortBy::Gap,
        Some("attainment") => SortBy::Attainment,
        Some("actual") => SortBy::Actual,
        Some("improvement") => SortBy::Improvement,
        Some("name") => SortBy::Name,
        Some(other) => {
            e.push(FieldError::new(
                "sort",
                "invalid_sort",
                format!("sort must be gap, attainment, actual, rank, improvement or name; got {other:?}"),
            ));
            SortBy::Rank
        }
    };
    let company_wide = match text(&p.within).as_deref() {
        None => false,
        Some("company") => true,
        Some(other) => {
            e.push(FieldError::new("within", "invalid_within", format!("within must be company; got {other:?}")));
            false
        }
    };
    let page = PageParams { limit: p.limit.clone(), cursor: p.cursor.clone(), order: None }.parse();
    let page: Option<Page> = match page {
        Ok(page) => Some(page),
        Err(_) => {
            e.push(FieldError::new("limit", "invalid_paging", "limit must be 1–500 and cursor a next_cursor"));
            None
        }
    };
    // `parent` is the unit one level up.
    let (mut region, mut branch, mut team) = (text(&p.region), text(&p.branch), text(&p.team));
    if let Some(parent) = text(&p.parent) {
        match level {
            ScopeKind::Branch => region = Some(parent),
            ScopeKind::Team => branch = Some(parent),
            ScopeKind::Agent => team = Some(parent),
            _ => e.push(FieldError::new("parent", "not_allowed", "the company and regions have no parent")),
        }
    }
    e.finish().map_err(ApiError::validation)?;
    let ctx = context(kpis, planning)?;
    let period = period.unwrap_or_else(|| planning.calendar.fiscal.period(moon_domain::PeriodKind::Month, ctx.today));
    // A manager's view defaults to their branch at the team and agent levels.
    if !company_wide
        && branch.is_none()
        && region.is_none()
        && team.is_none()
        && matches!(level, ScopeKind::Team | ScopeKind::Agent)
    {
        branch = manager_branch;
    }
    let region = match region {
        Some(r) => Some(service::resolve(ctx.db, ScopeKind::Region, "region", &r).await?),
        None => None,
    };
    let branch = match branch {
        Some(b) => Some(service::resolve(ctx.db, ScopeKind::Branch, "branch", &b).await?),
        None => None,
    };
    let team = match team {
        Some(t) => Some(service::resolve(ctx.db, ScopeKind::Team, "team", &t).await?),
        None => None,
    };
    let q = Question { level, region, branch, team, period, subject, only: None };
    let listing = service::drill(&ctx, principal, &q).await?;
    let mut rows: Vec<Row> = listing.rows.into_iter().filter(|r| service::keep(status, ahead, r)).collect();
    service::sort(&mut rows, sort);
    let page = page.unwrap_or(Page { limit: 50, after: None, descending: false });
    let rows: Vec<Row> = rows.into_iter().filter(|r| page.after.is_none_or(|a| r.position > a)).collect();
    let paged = page.finish(rows, |r| r.position);
    let report = PerformanceReport {
        period: PeriodInfo::of(&planning.calendar, period),
        today: ctx.today,
        items: paged.items,
        suppressed: listing.suppressed,
        page: Some(paged.page),
    };
    Ok(report)
}
