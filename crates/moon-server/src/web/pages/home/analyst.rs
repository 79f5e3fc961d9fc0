//! An analyst's home: is the data fit to report on (places that may be one place spelt two
//! ways, sales without a policy number, agents without a target this month), the pseudonymous
//! exports, and the branches against target. Never a person's name: agents appear under their
//! pseudonym only, and only in counts here.

use chrono::NaiveDate;
use maud::{Markup, html};
use moon_http::ApiError;

use super::drill::{rows, withheld};
use super::{HomeParams, period_line, report};
use crate::agents::org::model::fold;
use crate::performance::{DrillParams, repo as perf_repo};
use crate::web::WebState;
use crate::web::context::Ctx;
use crate::web::pace;

/// `GET /home` for an analyst.
pub async fn overview(state: &WebState, ctx: &Ctx) -> Result<(String, Markup), ApiError> {
    let at = |level: &str| DrillParams {
        level: Some(level.to_owned()),
        within: None,
        limit: Some(String::from("500")),
        ..DrillParams::default()
    };
    let agents = report(state, ctx, &at("agent")).await?;
    let branches = report(state, ctx, &at("branch")).await?;
    let no_target = agents.items.iter().filter(|r| r.figures.target.is_none()).count();
    let (from, to): (NaiveDate, NaiveDate) = (agents.period.start, agents.period.end);
    let (sales, unnumbered) =
        crate::sales::repo::without_policy_number(&state.db, from, to).await.map_err(crate::error::Error::from)?;
    let mut variants = Vec::new();
    for kind in ["region", "branch", "team"] {
        let names: Vec<String> = perf_repo::units(&state.db, kind)
            .await
            .map_err(crate::error::Error::from)?
            .into_iter()
            .map(|u| u.name)
            .collect();
        variants.extend(near_spellings(&names).into_iter().map(|(a, b)| (kind, a, b)));
    }
    let month = format!("from={from}&to={to}");
    let exports = [
        ("Team sales", format!("/api/v1/kpis/teams?{month}&format=csv")),
        ("Branch sales", format!("/api/v1/kpis/branches?{month}&format=csv")),
        ("Product targets", format!("/api/v1/kpis/products?{month}&format=csv")),
        ("Leaderboard (pseudonyms)", format!("/api/v1/kpis/leaderboard?{month}&format=csv")),
        (
            "Performance by agent (pseudonyms)",
            String::from("/api/v1/performance/drill?level=agent&within=company&limit=500&format=csv"),
        ),
    ];
    let body = html! {
        (period_line(state, &agents))
        section aria-labelledby="quality-h" {
            h2 #quality-h { "Data quality" }
            div.cards.home-cards {
                div.card #quality-variants {
                    p.label { "Names that may be spelt two ways" }
                    p.value { (variants.len()) }
                }
                div.card #quality-policies {
                    p.label { "Sales this month without a policy number" }
                    p.value { (unnumbered) " of " (sales) }
                }
                div.card #quality-targets {
                    p.label { "Agents without a target this month" }
                    p.value { (no_target) " of " (agents.items.len()) }
                    @if agents.suppressed > 0 { p.hint { "Not counted: " (agents.suppressed) " withheld for privacy." } }
                }
            }
            @if !variants.is_empty() {
                div.table-wrap {
                    table #spelling-variants {
                        caption { "Regions, branches and teams whose names differ by a letter or two" }
                        thead { tr { th scope="col" { "Kind" } th scope="col" { "One spelling" } th scope="col" { "The other" } } }
                        tbody {
                            @for (kind, a, b) in &variants {
                                tr { td { (kind) } td { (a) } td { (b) } }
                            }
                        }
                    }
                }
            }
        }
        div.home-grid {
            section.panel aria-labelledby="exports-h" {
                h2 #exports-h { "Exports (pseudonymous)" }
                p.hint { "CSV for this month; agents appear under their pseudonym only, and only those who agreed to analytics." }
                ul #exports {
                    @for (label, href) in &exports {
                        li { a href=(href) download { (label) } }
                    }
                }
                p.hint { "BI tools read the same figures from the warehouse (see the README)." }
            }
            section.panel aria-labelledby="branches-h" {
                h2 #branches-h { "Branches against target" }
                (pace::legend())
                (withheld(branches.suppressed))
                (pace::board("branches", &rows(ctx, &HomeParams::default(), &branches), state.currency))
            }
        }
    };
    Ok((String::from("Data quality and exports"), body))
}

/// Pairs of names that are probably one name spelt two ways: different, but equal once case,
/// spaces and punctuation are ignored, or one letter's edit apart (two for names of ten letters
/// or more); short names are compared exactly, so "East" and "West", or "Northern" and
/// "Southern", are not taken for one.
fn near_spellings(names: &[String]) -> Vec<(String, String)> {
    let squash = |s: &str| fold(s).chars().filter(|c| c.is_alphanumeric()).collect::<String>();
    let mut out = Vec::new();
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            let (x, y) = (squash(a), squash(b));
            let shorter = x.chars().count().min(y.chars().count());
            let allowed = match shorter {
                0..=4 => 0,
                5..=9 => 1,
                _ => 2,
            };
            let close = x == y || (allowed > 0 && edit_distance(&x, &y) <= allowed);
            if a != b && close {
                out.push((a.clone(), b.clone()));
            }
        }
    }
    out
}

/// Levenshtein distance between two strings, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_letter_apart_are_flagged_and_different_places_are_not() {
        let names: Vec<String> =
            ["Colombo", "Colmbo", "Kandy", "Galle", "East", "West", "Northern", "Southern", "Negombo-1", "negombo 1"]
                .map(String::from)
                .to_vec();
        let pairs = near_spellings(&names);
        assert!(pairs.contains(&(String::from("Colombo"), String::from("Colmbo"))), "{pairs:?}");
        assert!(pairs.contains(&(String::from("Negombo-1"), String::from("negombo 1"))), "{pairs:?}");
        assert_eq!(pairs.len(), 2, "{pairs:?}");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
