//! Performance against targets: one drill-down table (company → region → branch → team → agent →
//! the agent's sales) with pace, projection, the previous period and rank, and the four questions
//! people who coach a sales force ask first as one-click views.
//!
//! The figures, the validation of every parameter, the caller's scope, names or pseudonyms and
//! the minimum group size are those of `GET /api/v1/performance/drill`
//! ([`crate::performance::drill_report`]); the page's query string is that route's, so a view can
//! be shared as a link and its CSV is the API route with `format=csv`.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use moon_domain::{Money, PeriodKind};

use crate::performance::{DrillParams, PerformanceReport, drill_report};
use crate::sales_targets::model::ScopeKind;
use crate::web::WebState;
use crate::web::context::Ctx;
use crate::web::form::{self, Input, Problems};
use crate::web::layout::{document, pager, respond};
use moon_domain::performance::PaceStatus;
use moon_http::{ApiError, Scope};

/// `GET /performance`: the drill-down for the query string, or a form with every problem shown.
pub async fn page(State(state): State<WebState>, ctx: Ctx, RawQuery(raw): RawQuery) -> Response {
    let raw = raw.unwrap_or_default();
    let params: DrillParams = match serde_urlencoded::from_str(&raw) {
        Ok(p) => p,
        Err(e) => {
            let problem = ApiError::bad_request("invalid_query", format!("this page does not know a parameter: {e}"));
            return render(&state, &ctx, &DrillParams::default(), Err(problem));
        }
    };
    let report = drill_report(&state.kpis, &state.planning, &ctx.principal, &params).await;
    render(&state, &ctx, &params, report)
}

fn v(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

fn opts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(v, l)| ((*v).to_owned(), (*l).to_owned())).collect()
}

/// The one-click questions, as (label, query string), for this caller and today.
fn questions(state: &WebState, ctx: &Ctx) -> Vec<(String, String)> {
    let today = state.planning.today();
    let fiscal = state.calendar.fiscal;
    let month = fiscal.period(PeriodKind::Month, today);
    let quarter = fiscal.period(PeriodKind::Quarter, today);
    let at = |p: moon_domain::Period| format!("{}:{}", p.kind().as_str(), p.start());
    let mine = match &ctx.principal.scope {
        Scope::Branch(b) => format!("in {b} "),
        _ => String::new(),
    };
    vec![
        (
            format!("Which agents {mine}are behind pace this month, and by how much?"),
            format!("level=agent&status=behind&sort=gap&period={}", at(month)),
        ),
        (
            String::from("What will each branch close the quarter at, at this pace, against its target?"),
            format!("level=branch&sort=gap&period={}&within=company", at(quarter)),
        ),
        (
            String::from("Which branch improved most against last month?"),
            format!("level=branch&sort=improvement&period={}&within=company", at(month)),
        ),
        (
            String::from("How did each team do last quarter, counting only the agents it had then?"),
            format!("level=team&sort=rank&period={}&within=company", at(quarter.previous())),
        ),
    ]
}

fn money(m: Option<Money>) -> String {
    m.map_or_else(|| String::from("—"), |m| m.to_string())
}

fn pct(p: Option<rust_decimal::Decimal>) -> String {
    p.map_or_else(|| String::from("—"), |p| format!("{:.1} %", p))
}

fn status_text(s: PaceStatus) -> &'static str {
    match s {
        PaceStatus::Achieved => "Achieved",
        PaceStatus::Ahead => "Ahead of pace",
        PaceStatus::Behind => "Behind pace",
        PaceStatus::NoTarget => "No target",
    }
}

/// The console's link for a row's drill-down: the next level on this page, or an agent's sales.
fn console_link(api: &str, key: &str, level: ScopeKind, report: &PerformanceReport) -> Option<String> {
    if let Some(q) = api.strip_prefix("/api/v1/performance/drill?") {
        return Some(format!("/performance?{q}"));
    }
    (level == ScopeKind::Agent).then(|| {
        let agent: String = form_urlencoded::byte_serialize(key.as_bytes()).collect();
        format!("/sales?agent_code={agent}&from={}&to={}", report.period.start, report.period.end)
    })
}

fn render(state: &WebState, ctx: &Ctx, p: &DrillParams, report: Result<PerformanceReport, ApiError>) -> Response {
    let levels =
        opts(&[("", "Default"), ("region", "Regions"), ("branch", "Branches"), ("team", "Teams"), ("agent", "Agents")]);
    let statuses = opts(&[
        ("all", "All"),
        ("behind", "Behind pace"),
        ("ahead", "On or ahead of pace"),
        ("achieved", "Achieved"),
        ("no_target", "No target"),
    ]);
    let sorts = opts(&[
        ("rank", "Rank"),
        ("gap", "Furthest behind pace"),
        ("attainment", "Attainment"),
        ("improvement", "Most improved"),
        ("actual", "Actual"),
        ("name", "Name"),
    ]);
    let (status, problems, report) = match report {
        Ok(r) => (StatusCode::OK, Problems::default(), Some(r)),
        Err(e) => (e.status(), Problems::from_error(&e), None),
    };
    let keep: Vec<(&str, Option<String>)> = [
        ("level", &p.level),
        ("region", &p.region),
        ("branch", &p.branch),
        ("team", &p.team),
        ("within", &p.within),
        ("period", &p.period),
        ("status", &p.status),
        ("sort", &p.sort),
        ("product_id", &p.product_id),
        ("product_line", &p.product_line),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.clone()))
    .collect();
    let csv = {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &keep {
            if let Some(v) = v {
                s.append_pair(k, v);
            }
        }
        s.append_pair("format", "csv");
        format!("/api/v1/performance/drill?{}", s.finish())
    };
    let is_manager = matches!(ctx.principal.scope, Scope::Branch(_));
    let body = html! {
        section.panel aria-labelledby="questions-h" {
            h2 #questions-h { "Questions" }
            ul.questions {
                @for (label, query) in questions(state, ctx) {
                    li { a href=(format!("/performance?{query}")) { (label) } }
                }
            }
        }
        section.panel aria-labelledby="filters-h" {
            h2 #filters-h { "View" }
            (problems.summary())
            form.filters method="get" action="/performance" {
                (form::filter_select("level", "Level", &levels, v(&p.level)))
                (form::filter_input(Input { name: "period", label: "Period", value: v(&p.period), kind: "text", required: false }))
                (form::filter_input(Input { name: "region", label: "Region", value: v(&p.region), kind: "text", required: false }))
                (form::filter_input(Input { name: "branch", label: "Branch", value: v(&p.branch), kind: "text", required: false }))
                (form::filter_input(Input { name: "team", label: "Team", value: v(&p.team), kind: "text", required: false }))
                (form::filter_select("status", "Pace", &statuses, v(&p.status)))
                (form::filter_select("sort", "Order", &sorts, v(&p.sort)))
                @if is_manager {
                    (form::filter_select("within", "Scope", &opts(&[("", "My branch"), ("company", "Whole company")]), v(&p.within)))
                }
                div.field { button type="submit" { "Show" } }
                div.field { a.button.secondary href="/performance" { "Reset" } }
            }
            p.hint { "Period: 2026-12, FY2027 Q1 or FY2027 (the fiscal year named by the year it ends in)." }
        }
        @if let Some(r) = &report {
            section.panel aria-labelledby="figures-h" {
                h2 #figures-h {
                    (r.period.label) " (" (r.period.start) " to " (r.period.end) "), as of " (r.today)
                }
                p.hint {
                    "Expected by today is the target pro-rated by working days elapsed (holidays excluded); the projection continues the current rate per working day to the period's end. "
                    "A team counts the agents it had during the period, with the sales they made while in it. "
                    a href=(csv) download { "Download CSV" }
                }
                @if r.suppressed > 0 {
                    p.notice role="status" { (r.suppressed) " row(s) withheld: too few agents behind them to show without singling someone out, or agents who have not agreed to analytics." }
                }
                div.table-wrap {
                    table #performance-table {
                        thead { tr {
                            th scope="col" class="num" { "#" }
                            th scope="col" { "Name" }
                            th scope="col" class="num" { "Actual" }
                            th scope="col" class="num" { "Target" }
                            th scope="col" class="num" { "Attainment" }
                            th scope="col" class="num" { "Expected by today" }
                            th scope="col" class="num" { "Gap to pace" }
                            th scope="col" class="num" { "Projected" }
                            th scope="col" class="num" { "Needed per working day" }
                            th scope="col" { "Pace" }
                            th scope="col" class="num" { "vs previous" }
                            th scope="col" class="num" { "Rank (move)" }
                        } }
                        tbody {
                            @for row in &r.items {
                                @let f = &row.figures;
                                tr data-status=(f.status.as_str()) {
                                    td.num { (row.rank.rank) }
                                    td {
                                        @match row.drill.as_deref().and_then(|d| console_link(d, &row.key, row.level, r)) {
                                            Some(link) => a href=(link) { (row.name) },
                                            None => (row.name),
                                        }
                                    }
                                    td.num { (f.actual) }
                                    td.num { (money(f.target)) }
                                    td.num { (pct(f.attainment_pct)) }
                                    td.num { (money(f.expected_by_today)) }
                                    td.num.gap { (money(f.gap_to_pace)) }
                                    td.num { (f.projected) }
                                    td.num { (money(f.needed_per_working_day)) }
                                    td { (status_text(f.status)) }
                                    td.num { (row.previous.delta) }
                                    td.num { (row.rank.rank) " (" (movement(row.rank.movement)) ")" }
                                }
                            }
                            @if r.items.is_empty() { tr { td colspan="12" { "Nothing to show for this view." } } }
                        }
                    }
                }
                @if let Some(page) = &r.page {
                    (pager("/performance", &keep, page.next_cursor.as_deref(), p.cursor.is_some()))
                }
            }
        }
    };
    respond(status, document(Some(ctx), "Performance", body))
}

fn movement(m: i64) -> String {
    match m {
        0 => String::from("="),
        m if m > 0 => format!("▲{m}"),
        m => format!("▼{}", -m),
    }
}
