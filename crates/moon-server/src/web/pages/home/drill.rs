//! The drill-down as pace bars: one level of the organisation under its parent, each row a link
//! one level down, an agent's row down to the agent's sales, with breadcrumbs back up and the
//! period's neighbours one click away. Also the admin's overview: the company, its regions and
//! its branches.

use maud::{Markup, html};
use moon_domain::Money;
use moon_domain::performance::Figures;
use moon_http::{ApiError, Scope};

use super::{HomeParams, period_line, report};
use crate::performance::service::{self, Row};
use crate::performance::{DrillParams, PerformanceReport};
use crate::sales_targets::model::ScopeKind;
use crate::web::WebState;
use crate::web::context::Ctx;
use crate::web::form::given;
use crate::web::pace::{self, Crumb, PaceRow};

/// What a level's rows are called.
fn plural(level: ScopeKind) -> &'static str {
    match level {
        ScopeKind::Company => "Company",
        ScopeKind::Region => "Regions",
        ScopeKind::Branch => "Branches",
        ScopeKind::Team => "Teams",
        ScopeKind::Agent => "Agents",
    }
}

/// The level a view lists: as asked, else the drill-down's default for the viewer.
fn level_of(ctx: &Ctx, p: &HomeParams) -> ScopeKind {
    given(&p.level).and_then(|l| ScopeKind::parse("level", &l).ok()).unwrap_or(match ctx.principal.scope {
        Scope::Branch(_) => ScopeKind::Agent,
        _ => ScopeKind::Branch,
    })
}

/// Where a row leads: the next level down under it, or (for an agent the viewer may see by
/// name, and whose sales the viewer may list) the agent's sales.
pub(super) fn child_link(ctx: &Ctx, p: &HomeParams, row: &Row) -> Option<String> {
    let down = |level: &str, key: &str, value: &str| {
        p.href(&[("level", Some(level)), (key, Some(value)), ("status", None), ("agent", None)])
    };
    match row.level {
        ScopeKind::Company => Some(p.href(&[("level", Some("region")), ("status", None)])),
        ScopeKind::Region => Some(down("branch", "region", &row.key)),
        ScopeKind::Branch => Some(down("team", "branch", &row.key)),
        ScopeKind::Team => Some(down("agent", "team", &row.key)),
        ScopeKind::Agent => (row.named && ctx.may("GET", "/sales"))
            .then(|| p.href(&[("agent", Some(&row.key)), ("level", None), ("status", None), ("sort", None)])),
    }
}

/// The rows of a report as pace bars, each linking one level down.
pub(super) fn rows<'a>(ctx: &Ctx, p: &HomeParams, r: &'a PerformanceReport) -> Vec<PaceRow<'a>> {
    r.items
        .iter()
        .map(|row| PaceRow {
            name: &row.name,
            link: child_link(ctx, p, row),
            figures: &row.figures,
            previous: Some(&row.previous),
        })
        .collect()
}

/// The trail from the company down to the view's parent and the view itself.
fn crumbs(ctx: &Ctx, p: &HomeParams, agent: Option<&str>) -> Vec<Crumb> {
    // The ancestors keep only what frames a view: the period and the product.
    let frame = HomeParams {
        period: p.period.clone(),
        product_id: p.product_id.clone(),
        product_line: p.product_line.clone(),
        within: p.within.clone(),
        ..HomeParams::default()
    };
    let mut trail =
        vec![Crumb { label: String::from("Company"), href: Some(frame.href(&[("level", Some("branch"))])) }];
    let mut at = frame.clone();
    // A manager's view without a parent is their branch.
    let implied = match (&ctx.principal.scope, given(&p.within)) {
        (Scope::Branch(b), None) if p.region.is_none() && p.branch.is_none() && p.team.is_none() => Some(b.clone()),
        _ => None,
    };
    let level = level_of(ctx, p);
    if agent.is_none() && implied.is_some() && matches!(level, ScopeKind::Team | ScopeKind::Agent) {
        trail[0].href = Some(frame.href(&[("level", Some("branch")), ("within", Some("company"))]));
    }
    let steps = [
        ("region", given(&p.region), "Region", "branch"),
        ("branch", given(&p.branch).or(implied), "Branch", "team"),
        ("team", given(&p.team), "Team", "agent"),
    ];
    for (key, value, label, below) in steps {
        if let Some(v) = value {
            at.level = Some(below.to_owned());
            match key {
                "region" => at.region = Some(v.clone()),
                "branch" => at.branch = Some(v.clone()),
                _ => at.team = Some(v.clone()),
            }
            trail.push(Crumb { label: format!("{label} {v}"), href: Some(at.href(&[])) });
        }
    }
    if let Some(name) = agent {
        trail.push(Crumb { label: format!("Agent {name}"), href: None });
    } else if let Some(last) = trail.last_mut() {
        last.href = None;
    }
    trail
}

/// The key figures of one scope as cards: what is sold, against what, where it should be by
/// today, where it is heading, and what each remaining working day needs.
pub(super) fn cards(f: &Figures, currency: moon_domain::CurrencyCode) -> Markup {
    let opt = |m: Option<Money>| m.map_or_else(|| String::from("—"), |m| pace::amount(m, currency));
    let (modifier, icon, words) = pace::status_words(f.status);
    html! {
        div.cards.home-cards {
            div.card { p.label { "Sold so far" } p.value { (pace::amount(f.actual, currency)) } }
            div.card { p.label { "Target" } p.value { (opt(f.target)) } }
            div.card { p.label { "Attainment" } p.value { (f.attainment_pct.map_or_else(|| String::from("—"), |p| format!("{p:.1} %"))) } }
            div.card { p.label { "Expected by today" } p.value { (opt(f.expected_by_today)) } }
            div.card {
                p.label { "Pace" }
                p class=(format!("value status-{modifier}")) { span aria-hidden="true" { (icon) } " " (words) }
                @if let Some(g) = f.gap_to_pace { p.hint { "Gap to pace " (pace::signed(g)) } }
            }
            div.card { p.label { "Projected at this pace" } p.value { (pace::amount(f.projected, currency)) } }
            div.card {
                p.label { "Needed per working day" }
                p.value { (opt(f.needed_per_working_day)) }
                p.hint { (f.working_days.remaining) " of " (f.working_days.total) " working days left" }
            }
        }
    }
}

/// Links to the previous and next period of the same kind, keeping the rest of the view.
fn period_nav(state: &WebState, p: &HomeParams, r: &PerformanceReport) -> Markup {
    let Ok(now) = state.calendar.fiscal.period_at("period", r.period.kind, r.period.start) else { return html! {} };
    let at = |q: moon_domain::Period| format!("{}:{}", q.kind().as_str(), q.start());
    let label = |q: moon_domain::Period| state.calendar.fiscal.label(q);
    html! {
        nav.period-nav aria-label="Periods" {
            a href=(p.href(&[("period", Some(&at(now.previous())))])) { "◀ " (label(now.previous())) }
            a href=(p.href(&[("period", None)])) { "Current period" }
            a href=(p.href(&[("period", Some(&at(now.next())))])) { (label(now.next())) " ▶" }
        }
    }
}

/// A notice for rows withheld to protect people's privacy.
pub(super) fn withheld(n: usize) -> Markup {
    html! {
        @if n > 0 {
            p.notice role="status" { (n) " row(s) withheld: too few agents behind them to show without singling someone out, or agents who have not agreed to analytics." }
        }
    }
}

/// The drill-down view the query string names.
pub async fn view(state: &WebState, ctx: &Ctx, p: &HomeParams) -> Result<(String, Markup), ApiError> {
    if let Some(code) = given(&p.agent) {
        return agent_sales(state, ctx, p, &code).await;
    }
    let r = report(state, ctx, &p.drill(None)).await?;
    let level = level_of(ctx, p);
    let trail = crumbs(ctx, p, None);
    let here = trail.last().map(|c| c.label.clone()).unwrap_or_default();
    let table: String = p.href(&[]).replacen("/home", "/performance", 1);
    let body = html! {
        (pace::breadcrumbs(&trail))
        (period_line(state, &r))
        (period_nav(state, p, &r))
        section.panel aria-labelledby="board-h" {
            h2 #board-h { (plural(level)) }
            (pace::legend())
            (withheld(r.suppressed))
            (pace::board("board", &rows(ctx, p, &r), state.currency))
            p.hint { "Every view is a link you can share. " a href=(table) { "The same view as a table, with CSV" } }
        }
    };
    Ok((format!("{} · {here}", plural(level)), body))
}

/// The admin's home: the company's figures, then its regions and branches to drill into.
pub async fn company(state: &WebState, ctx: &Ctx) -> Result<(String, Markup), ApiError> {
    let p = HomeParams::default();
    let level =
        |l: &str| DrillParams { level: Some(l.to_owned()), limit: Some(String::from("500")), ..DrillParams::default() };
    let whole = report(state, ctx, &level("company")).await?;
    let regions = report(state, ctx, &level("region")).await?;
    let branches = report(state, ctx, &level("branch")).await?;
    let body = html! {
        (period_line(state, &whole))
        @if let Some(c) = whole.items.first() {
            section aria-labelledby="company-h" {
                h2 #company-h { "The company this period" }
                (cards(&c.figures, state.currency))
                div.pace-wide { (pace::bar("company", &c.figures)) }
                @if let Some(prev) = Some(&c.previous) { p.pace-delta { (pace::delta(prev)) } }
            }
        }
        div.home-grid {
            @if !regions.items.is_empty() {
                section.panel aria-labelledby="regions-h" {
                    h2 #regions-h { "Regions" }
                    (pace::legend())
                    (pace::board("regions", &rows(ctx, &p, &regions), state.currency))
                }
            }
            section.panel aria-labelledby="branches-h" {
                h2 #branches-h { "Branches" }
                @if regions.items.is_empty() { (pace::legend()) }
                (withheld(branches.suppressed))
                (pace::board("branches", &rows(ctx, &p, &branches), state.currency))
            }
        }
        p.hint {
            "Click a region, branch or team to go down a level, and an agent for their sales. "
            a href="/dashboard" { "The dashboard" } " · " a href="/performance" { "Performance as a table" }
        }
    };
    Ok((String::from("The company"), body))
}

/// The bottom of the drill-down: one agent's figures and sales in the period, for a viewer who
/// may see the agent by name and list their sales.
async fn agent_sales(state: &WebState, ctx: &Ctx, p: &HomeParams, code: &str) -> Result<(String, Markup), ApiError> {
    if !ctx.may("GET", "/sales") {
        return Err(crate::web::pages::forbidden("your role does not see individual sales"));
    }
    // The agent must be visible by name during the period shown (names follow the branch of
    // the period); a malformed period is reported by the drill-down below.
    let today = state.calendar.today(chrono::Utc::now());
    let period = p
        .period
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .and_then(|s| state.calendar.fiscal.parse("period", s).ok())
        .unwrap_or_else(|| state.calendar.fiscal.period(moon_domain::PeriodKind::Month, today));
    let agent = service::check_agent_visible(&state.db, &ctx.principal, code, period).await?;
    let drill = DrillParams {
        level: Some(String::from("agent")),
        branch: Some(agent.branch.clone()),
        period: p.period.clone(),
        product_id: p.product_id.clone(),
        product_line: p.product_line.clone(),
        limit: Some(String::from("500")),
        ..DrillParams::default()
    };
    let r = report(state, ctx, &drill).await?;
    let mine = r.items.iter().find(|row| row.named && row.key == agent.code);
    let query = crate::sales::repo::SaleQuery {
        agent_id: Some(agent.id),
        from: Some(r.period.start),
        to: Some(r.period.end),
        ..Default::default()
    };
    let page =
        moon_http::PageParams { limit: Some(String::from("200")), cursor: None, order: Some(String::from("desc")) }
            .parse_sorted(moon_http::paging::ListingSort::spec(crate::sales::model::SaleSort::SaleDate))?;
    let sales = crate::sales::repo::list_sorted(&state.db, &ctx.principal.scope, &query, &page).await?;
    let (count, cents) = crate::sales::repo::totals(&state.db, &ctx.principal.scope, &query).await?;
    let all: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("agent_code", agent.code.as_str()),
            ("from", &r.period.start.to_string()),
            ("to", &r.period.end.to_string()),
        ])
        .finish();
    let mut trail_params = p.clone();
    if trail_params.branch.is_none() && trail_params.team.is_none() {
        trail_params.branch = Some(agent.branch.clone());
    }
    let trail = crumbs(ctx, &trail_params, Some(&agent.name));
    let body = html! {
        (pace::breadcrumbs(&trail))
        (period_line(state, &r))
        (period_nav(state, p, &r))
        @if let Some(row) = mine {
            (cards(&row.figures, state.currency))
            div.pace-wide { (pace::bar("agent", &row.figures)) }
            p.pace-delta { (pace::delta(&row.previous)) }
        }
        section.panel aria-labelledby="sales-h" {
            h2 #sales-h { "Sales in " (r.period.label) }
            p { (count) " sale(s), " (pace::amount(Money::from_cents(cents), state.currency)) " in total. "
                a href=(format!("/sales?{all}")) { "Open them in Sales" } }
            div.table-wrap {
                table #home-sales {
                    caption.sr-only { "Sales of " (agent.name) " in " (r.period.label) ", newest first" }
                    thead { tr {
                        th scope="col" { "Date" }
                        th scope="col" { "Product" }
                        th scope="col" { "Policy number" }
                        th.num scope="col" { "Amount (" (state.currency) ")" }
                    } }
                    tbody {
                        @for s in &sales {
                            tr {
                                td { (s.sale_date) }
                                td { (s.product_name) }
                                td { (s.policy_number.as_deref().unwrap_or("—")) }
                                td.num { (s.amount.grouped()) }
                            }
                        }
                        @if sales.is_empty() { tr { td colspan="4" { "No sales in this period." } } }
                    }
                }
            }
            @if count > i64::try_from(sales.len()).unwrap_or(i64::MAX) {
                p.hint { "The newest " (sales.len()) " are shown; " a href=(format!("/sales?{all}")) { "Sales lists them all" } "." }
            }
        }
    };
    Ok((format!("{} ({})", agent.name, agent.code), body))
}
