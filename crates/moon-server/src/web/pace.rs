//! Pace at a glance: one bar per unit against its target, with a marker where the unit should be
//! by today at an even pace over the period's working days, and its attainment band told in
//! words, an icon and a pattern as well as a colour (never colour alone: axe, and people who do
//! not tell amber from green). Used by each role's home and the wallboard.
//!
//! The figures are those of the performance service ([`crate::performance`]); this module only
//! draws them.

use maud::{Markup, html};
use moon_domain::Money;
use moon_domain::performance::{Comparison, Figures, PaceStatus};

/// Drawing width of a bar, in SVG units (the SVG scales to its box).
const W: i64 = 400;
/// Height of a bar.
const H: i64 = 28;

/// One unit as a pace bar shows it.
pub struct PaceRow<'a> {
    /// The unit's name as the viewer may see it (a name or a pseudonym).
    pub name: &'a str,
    /// Where clicking the name goes (the next level down, or the agent's sales), if anywhere.
    pub link: Option<String>,
    /// The figures for the period.
    pub figures: &'a Figures,
    /// The previous period, for the delta.
    pub previous: Option<&'a Comparison>,
}

/// How a status is told: (CSS modifier, icon, words).
pub fn status_words(s: PaceStatus) -> (&'static str, &'static str, &'static str) {
    match s {
        PaceStatus::Achieved => ("achieved", "✓", "Target achieved"),
        PaceStatus::Ahead => ("ahead", "▲", "On or ahead of pace"),
        PaceStatus::Behind => ("behind", "▼", "Behind pace"),
        PaceStatus::NoTarget => ("none", "–", "No target"),
    }
}

/// An amount with thousands separators and the currency code.
pub fn amount(m: Money, currency: moon_domain::CurrencyCode) -> String {
    format!("{} {currency}", m.grouped())
}

/// A signed amount (`+1,200.00`, `-300.00`), for deltas and gaps.
pub fn signed(m: Money) -> String {
    if m.cents() > 0 { format!("+{}", m.grouped()) } else { m.grouped() }
}

/// Scales `v` of `full` to the bar's width (0 when there is nothing to scale against).
fn x(v: i64, full: i64) -> i64 {
    if full <= 0 || v <= 0 {
        return 0;
    }
    (i128::from(v.min(full)) * i128::from(W) / i128::from(full)) as i64
}

/// The bar itself: the actual as a filled bar (hatched when behind pace), the target as a solid
/// line and expected-by-today as a dashed one. `id` makes the hatch pattern's id unique.
pub fn bar(id: &str, f: &Figures) -> Markup {
    let target = f.target.map_or(0, Money::cents);
    let expected = f.expected_by_today.map_or(0, Money::cents);
    // The target sits at five sixths of the width, so an overshoot stays visible.
    let full = (target * 6 / 5).max(f.actual.cents()).max(expected).max(1);
    let (modifier, _, words) = status_words(f.status);
    let fill = if f.status == PaceStatus::Behind { format!("url(#{id}-hatch)") } else { String::new() };
    let label = match (f.target, f.expected_by_today) {
        (Some(t), Some(e)) => format!("{words}: {} of target {}, expected by today {}", f.actual, t, e),
        (Some(t), None) => format!("{words}: {} of target {}", f.actual, t),
        _ => format!("{words}: {} sold", f.actual),
    };
    html! {
        svg.pace-svg viewBox=(format!("0 0 {W} {H}")) preserveAspectRatio="none" role="img" aria-label=(label) {
            @if f.status == PaceStatus::Behind {
                defs {
                    pattern id=(format!("{id}-hatch")) width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)" {
                        rect width="8" height="8" class="pace-behind" {}
                        rect width="3" height="8" fill="#fff" fill-opacity="0.45" {}
                    }
                }
            }
            rect x="0" y="4" width=(W) height=(H - 8) class="pace-track" {}
            @if fill.is_empty() {
                rect x="0" y="4" width=(x(f.actual.cents(), full)) height=(H - 8) class=(format!("pace-{modifier}")) {}
            } @else {
                rect x="0" y="4" width=(x(f.actual.cents(), full)) height=(H - 8) fill=(fill) {}
            }
            @if expected > 0 {
                line x1=(x(expected, full)) x2=(x(expected, full)) y1="0" y2=(H) class="pace-expected" {}
            }
            @if target > 0 {
                line x1=(x(target, full)) x2=(x(target, full)) y1="0" y2=(H) class="pace-target" {}
            }
        }
    }
}

/// The key to the bars' marks, shown once above a board.
pub fn legend() -> Markup {
    html! {
        p.pace-legend {
            span.key.key-actual aria-hidden="true" {} " sold so far · "
            span.key.key-target aria-hidden="true" {} " target · "
            span.key.key-expected aria-hidden="true" {} " expected by today · "
            span.key.key-behind aria-hidden="true" {} " hatched: behind pace"
        }
    }
}

/// A board: one row per unit with its bar, figures, status in words and the delta on the
/// previous period. `id` prefixes the rows' pattern ids.
pub fn board(id: &str, rows: &[PaceRow<'_>], currency: moon_domain::CurrencyCode) -> Markup {
    html! {
        @if rows.is_empty() {
            p.muted { "Nothing to show for this view." }
        } @else {
            ol.pace-board #(id) {
                @for (i, r) in rows.iter().enumerate() {
                    (row(&format!("{id}-{i}"), r, currency))
                }
            }
        }
    }
}

fn row(id: &str, r: &PaceRow<'_>, currency: moon_domain::CurrencyCode) -> Markup {
    let f = r.figures;
    let (modifier, icon, words) = status_words(f.status);
    html! {
        li.pace-row data-status=(f.status.as_str()) {
            div.pace-name {
                @match &r.link {
                    Some(link) => a href=(link) { (r.name) },
                    None => span { (r.name) },
                }
            }
            div.pace-bar { (bar(id, f)) }
            div.pace-figures {
                span.pace-actual { (amount(f.actual, currency)) }
                @if let Some(t) = f.target {
                    " of " (t.grouped())
                    @if let Some(p) = f.attainment_pct { " (" (format!("{p:.1}")) " %)" }
                }
                " "
                span class=(format!("pace-status status-{modifier}")) {
                    span aria-hidden="true" { (icon) } " " (words)
                    @if let (PaceStatus::Behind, Some(gap)) = (f.status, f.gap_to_pace) {
                        " by " (Money::from_cents(-gap.cents()).grouped())
                    }
                }
                @if let Some(p) = r.previous {
                    " "
                    span.pace-delta { (delta(p)) }
                }
            }
        }
    }
}

/// "▲ +1,200.00 (+12.5 %) vs all of 2026-11": the change on the whole previous period (as the
/// performance figures compare, ADR 0014), with an arrow and a sign, not colour, telling its
/// direction.
pub fn delta(p: &Comparison) -> String {
    let arrow = match p.delta.cents() {
        c if c > 0 => "▲",
        c if c < 0 => "▼",
        _ => "=",
    };
    let pct =
        p.delta_pct.map(|d| format!(" ({}{d:.1} %)", if d.is_sign_positive() && !d.is_zero() { "+" } else { "" }));
    // A running period is compared with the previous one up to the same working day.
    let against = match p.to_working_day {
        Some(day) => format!("{} to working day {day}", p.period),
        None => format!("all of {}", p.period),
    };
    format!("{arrow} {}{} vs {against}", signed(p.delta), pct.unwrap_or_default())
}

/// One step of a breadcrumb trail: a label and, except for the page itself, a link.
pub struct Crumb {
    /// What the step is called.
    pub label: String,
    /// Where it goes; `None` for the current page.
    pub href: Option<String>,
}

/// The trail back up the drill-down; the last step is the page itself.
pub fn breadcrumbs(crumbs: &[Crumb]) -> Markup {
    html! {
        nav.breadcrumbs aria-label="Breadcrumb" {
            ol {
                @for c in crumbs {
                    li {
                        @match &c.href {
                            Some(h) => a href=(h) { (c.label) },
                            None => span aria-current="page" { (c.label) },
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_with_the_target_at_five_sixths_and_cap_an_overshoot() {
        assert_eq!(x(500, 1200), 166);
        assert_eq!(x(1200, 1200), W);
        assert_eq!(x(5000, 1200), W, "an actual beyond the scale fills the bar, no more");
        assert_eq!(x(-5, 100), 0);
        assert_eq!(x(5, 0), 0);
    }

    #[test]
    fn deltas_say_their_direction_in_signs_and_arrows() {
        let c = Comparison {
            period: String::from("2026-11"),
            actual: Money::from_cents(100_000),
            period_actual: Money::from_cents(100_000),
            to_working_day: None,
            attainment_pct: None,
            delta: Money::from_cents(120_000),
            delta_pct: Some(rust_decimal::Decimal::new(1200, 2)),
            attainment_delta_pts: None,
        };
        assert_eq!(delta(&c), "▲ +1,200.00 (+12.0 %) vs all of 2026-11");
        let running = Comparison { to_working_day: Some(4), ..c };
        assert_eq!(delta(&running), "▲ +1,200.00 (+12.0 %) vs 2026-11 to working day 4");
        assert_eq!(signed(Money::from_cents(-30_000)), "-300.00");
    }
}
