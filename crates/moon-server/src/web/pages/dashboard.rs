//! The live analytics dashboard: KPI cards, charts with their data tables, the leaderboard, a
//! period picker with presets and filters kept in the URL, CSV exports, and a fragment the page
//! polls so the figures follow new sales without a reload.
//!
//! Figures come from the same KPI functions and the same parameter validation as
//! `/api/v1/kpis/*`; the CSV links are those API routes with `format=csv`.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{Datelike, NaiveDate};
use maud::{Markup, html};
use moon_db::Db;
use moon_domain::Money;
use serde::Deserialize;

use crate::kpis::KpiParams;
use crate::web::WebState;
use crate::web::charts::{self, TargetBar};
use crate::web::context::Ctx;
use crate::web::form::{self, Input, Problems, given};
use crate::web::layout::{document, respond};
use moon_analytics::kpi::{self, BranchRow, LeaderRow, ProductRow, TeamRow, TrendRow};
use moon_http::{ApiError, Role, Scope};

/// The dashboard's query string: a preset or a custom period, and filters.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct DashQuery {
    /// `month`, `quarter`, `year` or `all`; wins over `from`/`to`.
    range: Option<String>,
    from: Option<String>,
    to: Option<String>,
    branch: Option<String>,
    team: Option<String>,
    product_id: Option<String>,
    /// `day`, `week`, `month` or `quarter`; by default chosen from the period's length.
    bucket: Option<String>,
}

/// The presets of the period picker.
const PRESETS: &[(&str, &str)] =
    &[("month", "This month"), ("quarter", "This quarter"), ("year", "This year"), ("all", "All time")];

/// First and last day of a preset period ending today.
fn preset(name: &str, today: NaiveDate) -> Option<(Option<NaiveDate>, Option<NaiveDate>)> {
    let start = match name {
        "month" => today.with_day(1),
        "quarter" => NaiveDate::from_ymd_opt(today.year(), (today.month0() / 3) * 3 + 1, 1),
        "year" => NaiveDate::from_ymd_opt(today.year(), 1, 1),
        "all" => return Some((None, None)),
        _ => return None,
    };
    Some((start, Some(today)))
}

/// The query a visit stands for: a dashboard opened without a period shows the current month
/// (the question people open it with), and a manager opened without a branch sees their own
/// branch ("All branches" in the picker still shows the company).
fn with_defaults(mut q: DashQuery, ctx: &Ctx) -> DashQuery {
    if q.range.is_none() && given(&q.from).is_none() && given(&q.to).is_none() {
        q.range = Some(String::from("month"));
    }
    if let (None, Scope::Branch(b)) = (&q.branch, &ctx.principal.scope) {
        q.branch = Some(b.clone());
    }
    q
}

/// The KPI parameters a dashboard query stands for.
fn kpi_params(q: &DashQuery, today: NaiveDate) -> KpiParams {
    let (from, to) = match q.range.as_deref().and_then(|r| preset(r, today)) {
        Some((from, to)) => (from.map(|d| d.to_string()), to.map(|d| d.to_string())),
        None => (given(&q.from), given(&q.to)),
    };
    let bucket = given(&q.bucket).or_else(|| {
        Some(String::from(match q.range.as_deref() {
            Some("month") => "day",
            Some("quarter") => "week",
            _ => "month",
        }))
    });
    KpiParams {
        from,
        to,
        branch: given(&q.branch),
        team: given(&q.team),
        product_id: given(&q.product_id),
        bucket,
        limit: None,
        format: None,
    }
}

/// Everything the live part of the page shows.
struct Figures {
    teams: Vec<TeamRow>,
    teams_hidden: usize,
    branches: Vec<BranchRow>,
    branches_hidden: usize,
    products: Vec<ProductRow>,
    products_hidden: usize,
    leaders: Vec<LeaderRow>,
    leaders_hidden: usize,
    trend: Vec<TrendRow>,
    trend_hidden: usize,
    /// The viewer's own sales in the period and pseudonym, when the viewer is an agent.
    mine: Option<(i64, Money, String)>,
}

async fn figures(state: &WebState, ctx: &Ctx, wh: &Db, p: &crate::kpis::Parsed) -> Result<Figures, ApiError> {
    let min = state.kpis.min_group_size;
    let (teams, teams_hidden) = kpi::teams(wh, &p.filter, min).await?;
    let (branches, branches_hidden) = kpi::branches(wh, &p.filter, min).await?;
    let (products, products_hidden) = kpi::products(wh, &p.filter, min).await?;
    let (leaders, leaders_hidden) = kpi::leaderboard(wh, &p.filter, p.limit, min).await?;
    let (trend, trend_hidden) = kpi::trend(wh, &p.filter, (p.bucket, state.calendar.fiscal), min).await?;
    let mine = match ctx.principal.scope {
        Scope::Agent(agent_id) => Some(own_standing(state, agent_id, &p.filter).await?),
        _ => None,
    };
    Ok(Figures {
        teams,
        teams_hidden,
        branches,
        branches_hidden,
        products,
        products_hidden,
        leaders,
        leaders_hidden,
        trend,
        trend_hidden,
        mine,
    })
}

/// An agent's own sales in the period (from the operational records, which they may see) and
/// the pseudonym they appear under on the leaderboard.
async fn own_standing(state: &WebState, agent_id: i64, f: &kpi::KpiFilter) -> Result<(i64, Money, String), ApiError> {
    let (count, cents) = crate::sales::repo::agent_totals(&state.db, agent_id, f.from, f.to).await?;
    let code = crate::agents::repo::get(&state.db, &Scope::All, agent_id).await?.map(|a| a.agent_code);
    let key = moon_analytics::PseudonymKey::load(&state.db, state.pseudonym_key.as_ref().map(|s| s.expose())).await?;
    let alias = code.map(|c| key.of(&c)).unwrap_or_default();
    Ok((count, Money::from_cents(cents), alias))
}

fn warehouse(state: &WebState) -> Result<&Db, ApiError> {
    state.kpis.warehouse.as_ref().map(|w| &w.db).ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "warehouse_unavailable",
            "this process does not read the KPI warehouse; serve the web target with a warehouse URL",
        )
    })
}

/// `GET /dashboard`.
pub async fn page(State(state): State<WebState>, ctx: Ctx, Query(q): Query<DashQuery>) -> Response {
    let today = crate::sales::today(&state.calendar);
    let q = with_defaults(q, &ctx);
    let params = kpi_params(&q, today);
    let wh = match warehouse(&state) {
        Ok(wh) => wh,
        Err(e) => {
            return respond(
                e.status(),
                document(Some(&ctx), "Dashboard", html! { p.alert role="alert" { (e.detail()) } }),
            );
        }
    };
    let choices = match kpi::filter_choices(wh).await.map_err(ApiError::from) {
        Ok(c) => c,
        Err(e) => {
            return respond(
                e.status(),
                document(Some(&ctx), "Dashboard", html! { p.alert role="alert" { (e.detail()) } }),
            );
        }
    };
    let view = View { ctx: &ctx, params: &params, currency: state.currency, today, fiscal: state.calendar.fiscal };
    let (status, live) = match params.parse(&HeaderMap::new()) {
        Err(e) => (e.status(), Err(Problems::from_error(&e))),
        Ok(p) => match figures(&state, &ctx, wh, &p).await {
            Ok(f) => (StatusCode::OK, Ok(fragment(&view, &f, p.bucket))),
            Err(e) => (e.status(), Err(Problems::from_error(&e))),
        },
    };
    let problems = live.as_ref().err();
    // The fragment is asked for with the defaults made explicit, so it shows what the page does.
    let live_src = format!("/dashboard/live?{}", live_query(&q));
    let body = html! {
        div.dash {
            (filters(&q, &params, &choices, problems.unwrap_or(&Problems::default())))
            p.muted #live-status role="status" { "Figures refresh by themselves when a sale is recorded." }
            @match &live {
                Ok(markup) => { div #live data-live-src=(live_src) { (markup) } }
                Err(p) => { (p.summary()) }
            }
        }
    };
    respond(status, document(Some(&ctx), "Dashboard", body))
}

/// `GET /dashboard/live`: the live part of the dashboard alone, for the page to swap in.
///
/// Tagged with an ETag: a refetch whose `If-None-Match` names the current version is a `304`
/// without reading the warehouse, one whose figures did not change a `304` without a body.
pub async fn live(State(state): State<WebState>, ctx: Ctx, headers: HeaderMap, Query(q): Query<DashQuery>) -> Response {
    let version = crate::web::live::version(&state);
    if let Some(unchanged) = crate::web::live::unchanged(&headers, &version) {
        return unchanged;
    }
    let today = crate::sales::today(&state.calendar);
    let q = with_defaults(q, &ctx);
    let params = kpi_params(&q, today);
    let result = async {
        let wh = warehouse(&state)?;
        let p = params.parse(&HeaderMap::new())?;
        Ok::<_, ApiError>((figures(&state, &ctx, wh, &p).await?, p.bucket))
    }
    .await;
    let view = View { ctx: &ctx, params: &params, currency: state.currency, today, fiscal: state.calendar.fiscal };
    match result {
        Ok((f, bucket)) => crate::web::live::tagged(&headers, &version, StatusCode::OK, fragment(&view, &f, bucket)),
        Err(e) => respond(e.status(), Problems::from_error(&e).summary()),
    }
}

/// `pairs` as a query string, each given value (an empty one too) in order.
fn query_string(pairs: &[(&str, &Option<String>)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v {
            s.append_pair(k, v);
        }
    }
    s.finish()
}

/// The query string of a dashboard view with every default spelled out.
fn live_query(q: &DashQuery) -> String {
    query_string(&[
        ("range", &q.range),
        ("from", &q.from),
        ("to", &q.to),
        ("branch", &q.branch),
        ("team", &q.team),
        ("product_id", &q.product_id),
        ("bucket", &q.bucket),
    ])
}

/// What every part of the live fragment needs to know of the view.
struct View<'a> {
    ctx: &'a Ctx,
    params: &'a KpiParams,
    currency: moon_domain::CurrencyCode,
    today: NaiveDate,
    /// Where quarter and year buckets start.
    fiscal: moon_domain::FiscalYearStart,
}

/// The period and filter form; every choice lands in the URL, so a view can be shared.
fn filters(q: &DashQuery, params: &KpiParams, c: &kpi::FilterChoices, problems: &Problems) -> Markup {
    let current = q.range.as_deref().filter(|r| PRESETS.iter().any(|(p, _)| p == r));
    let keep = |range: &str| -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        s.append_pair("range", range);
        for (k, v) in [("branch", &q.branch), ("team", &q.team), ("product_id", &q.product_id)] {
            if let Some(v) = given(v) {
                s.append_pair(k, &v);
            }
        }
        format!("/dashboard?{}", s.finish())
    };
    let options = |all: &str, values: Vec<(String, String)>| -> Vec<(String, String)> {
        let mut out = vec![(String::new(), all.to_owned())];
        out.extend(values);
        out
    };
    // A filter in effect is always among the choices (a manager's branch before its first sale),
    // so the picker shows what the figures are of.
    let with_current = |known: &[String], current: &Option<String>| -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = known.iter().map(|v| (v.clone(), v.clone())).collect();
        if let Some(v) = given(current).filter(|v| !known.contains(v)) {
            out.push((v.clone(), v));
        }
        out
    };
    let branches = options("All branches", with_current(&c.branches, &params.branch));
    let teams = options("All teams", with_current(&c.teams, &params.team));
    let products = options("All products", c.products.iter().map(|(id, n)| (id.to_string(), n.clone())).collect());
    let buckets: Vec<(String, String)> = [("day", "Day"), ("week", "Week"), ("month", "Month"), ("quarter", "Quarter")]
        .iter()
        .map(|(v, l)| ((*v).to_owned(), (*l).to_owned()))
        .collect();
    html! {
        section.panel aria-labelledby="period-h" {
            h2 #period-h { "Period and filters" }
            ul.presets aria-label="Period presets" {
                @for (value, label) in PRESETS {
                    li { a href=(keep(value)) aria-current=[(current == Some(*value)).then_some("true")] { (label) } }
                }
            }
            form.filters method="get" action="/dashboard" {
                (form::input(Input { name: "from", label: "From", value: params.from.as_deref().unwrap_or(""), kind: "date", required: false }, problems))
                (form::input(Input { name: "to", label: "To", value: params.to.as_deref().unwrap_or(""), kind: "date", required: false }, problems))
                (form::select("branch", "Branch", &branches, params.branch.as_deref().unwrap_or(""), problems))
                (form::select("team", "Team", &teams, params.team.as_deref().unwrap_or(""), problems))
                (form::select("product_id", "Product", &products, params.product_id.as_deref().unwrap_or(""), problems))
                (form::select("bucket", "Trend by", &buckets, params.bucket.as_deref().unwrap_or("month"), problems))
                div.field { button type="submit" { "Apply" } }
                div.field { a.button.secondary href="/dashboard" { "Reset" } }
            }
        }
    }
}

/// The CSV export of one KPI table: the API route with the same period and filters.
fn csv_link(kind: &str, params: &KpiParams, label: &str) -> Markup {
    let csv = Some(String::from("csv"));
    let query = query_string(&[
        ("format", &csv),
        ("from", &params.from),
        ("to", &params.to),
        ("branch", &params.branch),
        ("team", &params.team),
        ("product_id", &params.product_id),
        ("bucket", &params.bucket),
    ]);
    let href = format!("/api/v1/kpis/{kind}?{query}");
    html! { a.csv href=(href) download=(format!("{kind}.csv")) data-export=(kind) { "Export " (label) " as CSV" } }
}

fn card(id: &str, label: &str, value: Markup) -> Markup {
    html! { div.card { p.label { (label) } p.value #(id) { (value) } } }
}

/// An amount cell: grouped by thousands for reading, the plain amount (as the CSV export has
/// it) in `data-value` for sorting and comparing.
fn amount_cell(m: Money) -> Markup {
    html! { td.num data-value=(m) { (m.grouped()) } }
}

/// A count cell, grouped by thousands.
fn count_cell(n: i64) -> Markup {
    html! { td.num data-value=(n) { (moon_domain::group_thousands(&n.to_string())) } }
}

/// What a period that is still running is called beside its label, so a short last bar reads
/// as "so far" rather than as a collapse.
fn to_date(bucket: kpi::Bucket) -> &'static str {
    match bucket {
        kpi::Bucket::Day => "today so far",
        kpi::Bucket::Week => "week to date",
        kpi::Bucket::Month => "month to date",
        kpi::Bucket::Quarter => "quarter to date",
        kpi::Bucket::Year => "year to date",
    }
}

/// The trend's period labels, the running period marked ([`to_date`]).
fn period_labels(
    rows: &[TrendRow],
    bucket: kpi::Bucket,
    today: NaiveDate,
    fiscal: moon_domain::FiscalYearStart,
) -> Vec<String> {
    let (running, _) = bucket.period_in(today, fiscal);
    rows.iter()
        .map(|t| if t.period == running { format!("{} ({})", t.period, to_date(bucket)) } else { t.period.clone() })
        .collect()
}

/// One grouped-total figure of the dashboard (sales by team, by branch).
struct Group<'a> {
    /// The KPI name, used in element ids and the CSV link.
    key: &'a str,
    /// The grouping column's heading.
    label: &'a str,
    title: &'a str,
    /// (group, number of sales, total)
    rows: &'a [(&'a str, i64, Money)],
    /// Groups left out for privacy.
    hidden: usize,
}

/// A bar chart with its data as a table beside it, the privacy note and the CSV link.
fn group_figure(g: &Group<'_>, params: &KpiParams, currency: moon_domain::CurrencyCode) -> Markup {
    let bars: Vec<(String, Money)> = g.rows.iter().map(|(name, _, total)| ((*name).to_owned(), *total)).collect();
    let cap = format!("c-{}-cap", g.key);
    html! {
        figure.chart aria-labelledby=(cap) {
            figcaption id=(cap) { (g.title) }
            div.chart-scroll { (charts::bars(&format!("c-{}", g.key), g.title, &bars)) }
            div.table-wrap { table id=(format!("t-{}", g.key)) data-sortable {
                caption.sr-only { (g.title) }
                thead { tr { th scope="col" { (g.label) } th.num scope="col" { "Sales" } th.num scope="col" { "Total (" (currency) ")" } } }
                tbody { @for (name, count, total) in g.rows { tr { td { (name) } (count_cell(*count)) (amount_cell(*total)) } } }
            } }
            (hidden_note(g.hidden))
            (csv_link(g.key, params, &g.title.to_lowercase()))
        }
    }
}

fn hidden_note(n: usize) -> Markup {
    html! {
        @if n > 0 {
            p.muted { (n) " row(s) standing for too few agents are left out, so no row shows one person's figures." }
        }
    }
}

/// The live part: cards, charts with their tables, and the leaderboard.
fn fragment(view: &View<'_>, f: &Figures, bucket: kpi::Bucket) -> Markup {
    let (ctx, params, currency) = (view.ctx, view.params, view.currency);
    let count: i64 = f.trend.iter().map(|t| t.sales_count).sum();
    let total = Money::from_cents(f.trend.iter().map(|t| t.total_sales.cents()).sum());
    let achieved = f.products.iter().filter(|p| p.status == "Achieved").count();
    let team_rows: Vec<(&str, i64, Money)> =
        f.teams.iter().map(|t| (t.team.as_str(), t.sales_count, t.total_sales)).collect();
    let branch_rows: Vec<(&str, i64, Money)> =
        f.branches.iter().map(|b| (b.branch.as_str(), b.sales_count, b.total_sales)).collect();
    let targets: Vec<TargetBar<'_>> = f
        .products
        .iter()
        .map(|p| TargetBar { name: &p.product_name, target: p.target_amount, actual: p.total_sales, status: p.status })
        .collect();
    let labels = period_labels(&f.trend, bucket, view.today, view.fiscal);
    let trend: Vec<(String, Money)> = labels.iter().cloned().zip(f.trend.iter().map(|t| t.total_sales)).collect();
    let my_alias = f.mine.as_ref().map(|(_, _, a)| a.as_str());
    html! {
        section.kpis aria-labelledby="kpi-h" {
            h2 #kpi-h .sr-only { "Key figures" }
            div.cards {
                @if f.trend_hidden > 0 {
                    // The selection stands for too few agents: its totals would be theirs.
                    (card("kpi-total", "Total sales", html! { "—" }))
                    (card("kpi-count", "Number of sales", html! { "—" }))
                } @else {
                    (card("kpi-total", &format!("Total sales ({currency})"), html! { (total.grouped()) }))
                    (card("kpi-count", "Number of sales", html! { (moon_domain::group_thousands(&count.to_string())) }))
                }
                (card("kpi-achieved", "Products achieved", html! { (achieved) " of " (f.products.len()) }))
                (card("kpi-top-team", "Top team", html! { (f.teams.first().map_or("—", |t| t.team.as_str())) }))
                (card("kpi-top-branch", "Top branch", html! { (f.branches.first().map_or("—", |b| b.branch.as_str())) }))
                @if let Some((n, amount, _)) = &f.mine {
                    (card("kpi-mine", &format!("Your sales ({currency})"), html! { (amount.grouped()) " (" (n) ")" }))
                }
            }
        }
        div.charts {
            (group_figure(&Group { key: "teams", label: "Team", title: "Sales by team", rows: &team_rows, hidden: f.teams_hidden }, params, currency))
            (group_figure(&Group { key: "branches", label: "Branch", title: "Sales by branch", rows: &branch_rows, hidden: f.branches_hidden }, params, currency))
            figure.chart aria-labelledby="c-products-cap" {
                figcaption #c-products-cap { "Target against actual per product" }
                div.chart-scroll { (charts::target_vs_actual("c-products", "Target against actual per product", &targets)) }
                div.table-wrap { table #t-products data-sortable {
                    caption.sr-only { "Target against actual per product" }
                    thead { tr { th scope="col" { "Product" } th.num scope="col" { "Target (" (currency) ")" } th.num scope="col" { "Actual (" (currency) ")" } th.num scope="col" { "%" } th scope="col" { "Status" } } }
                    tbody { @for p in &f.products { tr {
                        td { (p.product_name) } (amount_cell(p.target_amount)) (amount_cell(p.total_sales)) td.num { (p.attainment_pct) }
                        td { span class=(if p.status == "Achieved" { "status-achieved" } else { "status-not" }) { (p.status) } }
                    } } }
                } }
                (hidden_note(f.products_hidden))
                (csv_link("products", params, "target against actual"))
            }
            figure.chart aria-labelledby="c-trend-cap" {
                figcaption #c-trend-cap { "Sales over time" }
                div.chart-scroll { (charts::trend("c-trend", "Sales over time", &trend)) }
                div.table-wrap { table #t-trend data-sortable {
                    caption.sr-only { "Sales over time" }
                    thead { tr { th scope="col" { "Period" } th.num scope="col" { "Sales" } th.num scope="col" { "Total (" (currency) ")" } } }
                    tbody { @for (t, label) in f.trend.iter().zip(&labels) { tr { td data-value=(t.period) { (label) } (count_cell(t.sales_count)) (amount_cell(t.total_sales)) } } }
                } }
                (hidden_note(f.trend_hidden))
                (csv_link("trend", params, "the trend"))
            }
        }
        section.leaders aria-labelledby="leader-h" {
            h2 #leader-h { "Leaderboard" }
            p.muted { "Agents appear under a pseudonym, and only those who agreed to per-agent analytics."
                @if ctx.role() == Role::Agent { " Your row is highlighted." } }
            div.table-wrap { table #t-leaderboard data-sortable {
                thead { tr { th.num scope="col" { "Rank" } th scope="col" { "Agent" } th scope="col" { "Team" } th scope="col" { "Branch" } th.num scope="col" { "Sales" } th.num scope="col" { "Total (" (currency) ")" } } }
                tbody { @for l in &f.leaders {
                    @let you = my_alias == Some(l.agent.as_str());
                    tr.you[you] {
                        td.num { (l.rank) } td { (l.agent) @if you { " (you)" } } td { (l.team) } td { (l.branch) }
                        (count_cell(l.sales_count)) (amount_cell(l.total_sales))
                    }
                } }
            } }
            (hidden_note(f.leaders_hidden))
            (csv_link("leaderboard", params, "the leaderboard"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_period_is_labelled_to_date() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default();
        let row = |period: &str, start| TrendRow {
            period: period.to_owned(),
            start,
            sales_count: 1,
            total_sales: Money::from_cents(100),
            target: None,
        };
        let rows = [row("2026-11", d(2026, 11, 1)), row("2026-12", d(2026, 12, 1))];
        assert_eq!(
            period_labels(&rows, kpi::Bucket::Month, d(2026, 12, 7), Default::default()),
            ["2026-11", "2026-12 (month to date)"]
        );
        assert_eq!(period_labels(&rows, kpi::Bucket::Month, d(2027, 1, 2), Default::default()), ["2026-11", "2026-12"]);
    }

    #[test]
    fn presets_cover_the_current_period_up_to_today() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap_or_default();
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day);
        assert_eq!(preset("month", today), Some((d(2026, 11, 1), Some(today))));
        assert_eq!(preset("quarter", today), Some((d(2026, 10, 1), Some(today))));
        assert_eq!(preset("year", today), Some((d(2026, 1, 1), Some(today))));
        assert_eq!(preset("all", today), Some((None, None)));
        assert_eq!(preset("decade", today), None);
    }
}
