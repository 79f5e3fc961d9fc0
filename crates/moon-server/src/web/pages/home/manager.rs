//! A branch manager's home: my branch this month against its target, who is behind and by how
//! much, who moved most since last month, then the teams and agents as pace bars to click into.

use maud::{Markup, html};
use moon_domain::Money;
use moon_domain::performance::PaceStatus;
use moon_http::{ApiError, Scope};

use super::drill::{cards, child_link, rows, withheld};
use super::{HomeParams, period_line, report};
use crate::performance::DrillParams;
use crate::performance::service::Row;
use crate::web::WebState;
use crate::web::context::Ctx;
use crate::web::pace;

/// How many agents the "behind" and "top movers" lists show.
const SHORT_LIST: usize = 5;

/// `GET /home` for a manager.
pub async fn overview(state: &WebState, ctx: &Ctx) -> Result<(String, Markup), ApiError> {
    let Scope::Branch(branch) = &ctx.principal.scope else {
        return Err(crate::web::pages::forbidden("a manager's home needs the manager's branch"));
    };
    let at = |level: &str| DrillParams {
        level: Some(level.to_owned()),
        branch: Some(branch.clone()),
        limit: Some(String::from("500")),
        ..DrillParams::default()
    };
    let whole = report(state, ctx, &at("branch")).await?;
    let teams = report(state, ctx, &at("team")).await?;
    let agents = report(state, ctx, &at("agent")).await?;
    let p = HomeParams { branch: Some(branch.clone()), ..HomeParams::default() };
    let mut behind: Vec<&Row> = agents.items.iter().filter(|r| r.figures.status == PaceStatus::Behind).collect();
    behind.sort_by_key(|r| r.figures.gap_to_pace.map_or(0, Money::cents));
    // Movers: places gained in the ranking since the previous period, then the amount gained.
    let mut movers: Vec<&Row> =
        agents.items.iter().filter(|r| r.rank.movement > 0 || r.previous.delta.cents() > 0).collect();
    movers.sort_by_key(|r| (std::cmp::Reverse(r.rank.movement), std::cmp::Reverse(r.previous.delta.cents())));
    let currency = state.currency;
    let body = html! {
        (period_line(state, &whole))
        @if let Some(b) = whole.items.first() {
            section aria-labelledby="branch-h" {
                h2 #branch-h { "Branch " (b.name) " this month" }
                (cards(&b.figures, currency))
                div.pace-wide { (pace::bar("branch", &b.figures)) }
                p.pace-delta { (pace::delta(&b.previous)) }
            }
        }
        div.home-grid {
            section.panel aria-labelledby="behind-h" {
                h2 #behind-h { "Behind pace" }
                @if behind.is_empty() {
                    p { "Nobody in the branch is behind pace." }
                } @else {
                    p.hint { (behind.len()) " agent(s) behind; furthest first." }
                    ol.short-list #behind-list {
                        @for r in behind.iter().take(SHORT_LIST) {
                            li {
                                (name(ctx, &p, r)) ": behind by "
                                strong { (r.figures.gap_to_pace.map_or_else(String::new, |g| Money::from_cents(-g.cents()).grouped())) }
                                @if let Some(n) = r.figures.needed_per_working_day { ", needs " (n.grouped()) " per working day" }
                            }
                        }
                    }
                    @if behind.len() > SHORT_LIST {
                        a href=(p.href(&[("level", Some("agent")), ("status", Some("behind")), ("sort", Some("gap"))])) { "All " (behind.len()) " behind pace" }
                    }
                }
            }
            section.panel aria-labelledby="movers-h" {
                h2 #movers-h { "Top movers" }
                @if movers.is_empty() {
                    p { "Nobody has moved up the ranking or passed the previous period's sales yet." }
                } @else {
                    p.hint { "Places gained in the branch's ranking since the previous period, then the amount gained." }
                    ol.short-list #movers-list {
                        @for r in movers.iter().take(SHORT_LIST) {
                            li {
                                (name(ctx, &p, r)) ": now " (r.rank.rank)
                                @if r.rank.movement > 0 { ", up " (r.rank.movement) " place(s)" }
                                " · " (pace::delta(&r.previous))
                            }
                        }
                    }
                }
            }
        }
        section.panel aria-labelledby="teams-h" {
            h2 #teams-h { "Teams" }
            (pace::legend())
            (withheld(teams.suppressed))
            (pace::board("teams", &rows(ctx, &p, &teams), currency))
        }
        section.panel aria-labelledby="agents-h" {
            h2 #agents-h { "Agents" }
            (withheld(agents.suppressed))
            (pace::board("agents", &rows(ctx, &p, &agents), currency))
        }
    };
    Ok((format!("My branch: {branch}"), body))
}

/// An agent's name, linked to their sales when the viewer may open them.
fn name(ctx: &Ctx, p: &HomeParams, r: &Row) -> Markup {
    html! {
        @match child_link(ctx, p, r) {
            Some(link) => a href=(link) { (r.name) },
            None => (r.name),
        }
    }
}
