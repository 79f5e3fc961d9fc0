//! An agent's home: my progress this month against my target with the expected-by-today marker,
//! what each remaining working day needs, my next milestone, my rank among the agents who share
//! their figures, and the quarter.

use maud::{Markup, html};
use moon_domain::{Money, PeriodKind};
use moon_http::{ApiError, Scope};

use super::drill::cards;
use super::{period_line, report};
use crate::notifications::rules::{Period as RulePeriod, RuleKind};
use crate::performance::service::Row;
use crate::performance::{DrillParams, repo as perf_repo};
use crate::web::WebState;
use crate::web::context::Ctx;
use crate::web::pace;

/// `GET /home` for an agent.
pub async fn overview(state: &WebState, ctx: &Ctx) -> Result<(String, Markup), ApiError> {
    let Scope::Agent(id) = ctx.principal.scope else {
        return Err(crate::web::pages::forbidden("an agent's home needs the agent's record"));
    };
    let me = perf_repo::agents(&state.db, &[id])
        .await
        .map_err(crate::error::Error::from)?
        .into_iter()
        .next()
        .ok_or_else(|| crate::web::pages::forbidden("this user is bound to no agent record"))?;
    let today = state.planning.today();
    let quarter = state.calendar.fiscal.period(PeriodKind::Quarter, today);
    let everyone = |period: Option<String>| DrillParams {
        level: Some(String::from("agent")),
        period,
        limit: Some(String::from("500")),
        ..DrillParams::default()
    };
    let month = report(state, ctx, &everyone(None)).await?;
    let q = report(state, ctx, &everyone(Some(format!("quarter:{}", quarter.start())))).await?;
    let mine = |r: &'_ crate::performance::PerformanceReport| -> Option<Row> {
        r.items.iter().find(|row| row.named && row.key == me.code).cloned()
    };
    let (Some(row), quarter_row) = (mine(&month), mine(&q)) else {
        let body = html! {
            (period_line(state, &month))
            p { "Your figures for this month are not available yet." }
        };
        return Ok((String::from("My progress"), body));
    };
    // Rank among the rows the viewer may see: their own and those of agents who agreed to show
    // their figures (named or under a pseudonym).
    let ahead_of_me = month.items.iter().filter(|r| r.figures.actual > row.figures.actual).count();
    let rank = ahead_of_me + 1;
    let milestone = next_milestone(state, row.figures.actual).await?;
    let currency = state.currency;
    let f = &row.figures;
    let body = html! {
        (period_line(state, &month))
        section aria-labelledby="mine-h" {
            h2 #mine-h { "This month against my target" }
            div.pace-wide { (pace::bar("me", f)) }
            (pace::legend())
            p.pace-delta { (pace::delta(&row.previous)) }
            (cards(f, currency))
        }
        div.home-grid {
            section.panel aria-labelledby="need-h" {
                h2 #need-h { "What I need" }
                @match (f.needed_per_working_day, f.target) {
                    (Some(n), Some(_)) if n.cents() > 0 => p.big #need-per-day {
                        (pace::amount(n, currency)) " per working day for the " (f.working_days.remaining) " working day(s) left"
                    },
                    (_, Some(_)) if f.actual >= f.target.unwrap_or(f.actual) => p.big #need-per-day { "Target reached. Well done!" },
                    (_, Some(_)) => p.big #need-per-day { "No working day is left in this month." },
                    _ => p #need-per-day { "You have no target this month." },
                }
                @match milestone {
                    Some(m) => p #next-milestone {
                        "Next milestone: " strong { (pace::amount(m, currency)) } ", "
                        (Money::from_cents(m.cents() - f.actual.cents()).grouped()) " to go."
                    },
                    None => p #next-milestone { "No milestone is set up for this month." },
                }
            }
            section.panel aria-labelledby="rank-h" {
                h2 #rank-h { "My rank" }
                p.big #my-rank { (ordinal(rank)) " of " (month.items.len()) }
                p.hint { "Among the agents who share their figures with colleagues, by sales this month." }
                @if let Some(qr) = &quarter_row {
                    h3 { "This quarter (" (q.period.label) ")" }
                    div.pace-wide { (pace::bar("quarter", &qr.figures)) }
                    p {
                        (pace::amount(qr.figures.actual, currency))
                        @if let Some(t) = qr.figures.target { " of " (t.grouped()) }
                        " · " (pace::status_words(qr.figures.status).2)
                    }
                }
            }
        }
        p { a href=(format!("/sales?from={}&to={}", month.period.start, month.period.end)) { "My sales this month" } " · " a href="/dashboard" { "The dashboard" } }
    };
    Ok((format!("My progress, {}", me.name), body))
}

/// The smallest milestone above `actual` among the enabled monthly milestone rules (their
/// thresholds and multiples of their step), if any rule is set up.
async fn next_milestone(state: &WebState, actual: Money) -> Result<Option<Money>, ApiError> {
    let mut tx = state.db.begin().await.map_err(crate::error::Error::from)?;
    let rules = crate::notifications::rules_api::load(&mut tx).await.map_err(crate::error::Error::from)?;
    tx.rollback().await.map_err(crate::error::Error::from)?;
    let now = actual.cents();
    let next = rules
        .iter()
        .filter(|r| r.enabled && r.kind == RuleKind::Milestone && r.period == RulePeriod::Month)
        .flat_map(|r| {
            let fixed = r.thresholds.iter().map(|m| m.cents()).filter(|c| *c > now).min();
            let step = r.every.map(Money::cents).filter(|s| *s > 0).map(|s| (now.div_euclid(s) + 1) * s);
            [fixed, step]
        })
        .flatten()
        .min();
    Ok(next.map(Money::from_cents))
}

/// 1st, 2nd, 3rd, 4th … 11th, 12th, 13th, 21st.
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn ranks_read_as_people_say_them() {
        let said: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101].into_iter().map(super::ordinal).collect();
        assert_eq!(said, ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st"]);
    }
}
