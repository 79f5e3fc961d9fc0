//! Charts drawn on the server as SVG: no chart script, nothing to download, readable without
//! JavaScript. Each chart is an image with a title and description; the page puts its data in a
//! table beside it. Status is never told by colour alone (bars carry their words and values).

use maud::{Markup, html};
use moon_domain::Money;

const WIDTH: i64 = 640;
const ROW: i64 = 30;
const LABEL_W: i64 = 170;
const VALUE_W: i64 = 120;
const BAR: &str = "#1d4ed8";
const TARGET: &str = "#6b7280";
const SHORT: &str = "#b45309";
const INK: &str = "#1f2937";

fn clip(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        label.to_owned()
    } else {
        let mut s: String = label.chars().take(max - 1).collect();
        s.push('…');
        s
    }
}

/// Scales `v` of `max` to `span` pixels; a non-zero value gets at least one pixel.
fn scale(v: i64, max: i64, span: i64) -> i64 {
    if max <= 0 || v <= 0 {
        return 0;
    }
    ((i128::from(v) * i128::from(span)) / i128::from(max)).max(1) as i64
}

/// Horizontal bars, one per (label, amount), in the order given.
pub fn bars(id: &str, title: &str, rows: &[(String, Money)]) -> Markup {
    let max = rows.iter().map(|(_, m)| m.cents()).max().unwrap_or(0);
    let height = (rows.len() as i64).max(1) * ROW + 10;
    let span = WIDTH - LABEL_W - VALUE_W;
    html! {
        svg viewBox=(format!("0 0 {WIDTH} {height}")) role="img" aria-labelledby=(format!("{id}-t {id}-d")) {
            title #(format!("{id}-t")) { (title) }
            desc #(format!("{id}-d")) { (describe(rows)) }
            @if rows.is_empty() {
                text x="10" y="24" fill=(INK) font-size="14" { "No sales in this period" }
            }
            @for (i, (label, amount)) in rows.iter().enumerate() {
                @let y = i as i64 * ROW + 5;
                text x=(LABEL_W - 8) y=(y + 19) text-anchor="end" fill=(INK) font-size="14" { (clip(label, 22)) }
                rect x=(LABEL_W) y=(y + 4) width=(scale(amount.cents(), max, span)) height=(ROW - 10) fill=(BAR) {}
                text x=(LABEL_W + scale(amount.cents(), max, span) + 6) y=(y + 19) fill=(INK) font-size="13" { (amount) }
            }
        }
    }
}

fn describe(rows: &[(String, Money)]) -> String {
    rows.iter().map(|(l, m)| format!("{l}: {m}")).collect::<Vec<_>>().join("; ")
}

/// One product's target and actual, for [`target_vs_actual`].
pub struct TargetBar<'a> {
    /// Product name.
    pub name: &'a str,
    /// Sales target.
    pub target: Money,
    /// Sales in the period.
    pub actual: Money,
    /// `Achieved` or `Not Achieved`.
    pub status: &'a str,
}

/// Pairs of bars per product: the target (grey) and the actual (blue when achieved, amber when
/// not), each labelled with its amount and the status in words.
pub fn target_vs_actual(id: &str, title: &str, rows: &[TargetBar<'_>]) -> Markup {
    let max = rows.iter().map(|r| r.target.cents().max(r.actual.cents())).max().unwrap_or(0);
    let pair = ROW * 2 + 8;
    let height = (rows.len() as i64).max(1) * pair + 30;
    let span = WIDTH - LABEL_W - VALUE_W - 40;
    let desc: Vec<String> =
        rows.iter().map(|r| format!("{}: target {}, actual {}, {}", r.name, r.target, r.actual, r.status)).collect();
    html! {
        svg viewBox=(format!("0 0 {WIDTH} {height}")) role="img" aria-labelledby=(format!("{id}-t {id}-d")) {
            title #(format!("{id}-t")) { (title) }
            desc #(format!("{id}-d")) { (desc.join("; ")) }
            rect x=(LABEL_W) y="4" width="14" height="14" fill=(TARGET) {}
            text x=(LABEL_W + 20) y="16" fill=(INK) font-size="13" { "Target" }
            rect x=(LABEL_W + 90) y="4" width="14" height="14" fill=(BAR) {}
            text x=(LABEL_W + 110) y="16" fill=(INK) font-size="13" { "Actual (achieved)" }
            rect x=(LABEL_W + 250) y="4" width="14" height="14" fill=(SHORT) {}
            text x=(LABEL_W + 270) y="16" fill=(INK) font-size="13" { "Actual (not achieved)" }
            @for (i, r) in rows.iter().enumerate() {
                @let y = i as i64 * pair + 28;
                @let achieved = r.status == "Achieved";
                text x=(LABEL_W - 8) y=(y + 19) text-anchor="end" fill=(INK) font-size="13" { (clip(r.name, 22)) }
                text x=(LABEL_W - 8) y=(y + ROW + 17) text-anchor="end" fill=(INK) font-size="12" font-weight="700" { (r.status) }
                rect x=(LABEL_W) y=(y + 4) width=(scale(r.target.cents(), max, span)) height=(ROW - 10) fill=(TARGET) {}
                text x=(LABEL_W + scale(r.target.cents(), max, span) + 6) y=(y + 19) fill=(INK) font-size="12" { "target " (r.target) }
                rect x=(LABEL_W) y=(y + ROW + 2) width=(scale(r.actual.cents(), max, span)) height=(ROW - 10) fill=(if achieved { BAR } else { SHORT }) {}
                text x=(LABEL_W + scale(r.actual.cents(), max, span) + 6) y=(y + ROW + 17) fill=(INK) font-size="12" { "actual " (r.actual) }
            }
        }
    }
}

/// A line over periods (oldest first) with a dot and value per period.
pub fn trend(id: &str, title: &str, points: &[(String, Money)]) -> Markup {
    let (w, h, left, bottom, top) = (WIDTH, 260_i64, 20_i64, 40_i64, 30_i64);
    let max = points.iter().map(|(_, m)| m.cents()).max().unwrap_or(0);
    let n = points.len() as i64;
    let step = if n > 1 { (w - 2 * left - 40) / (n - 1) } else { 0 };
    let xy: Vec<(i64, i64)> = points
        .iter()
        .enumerate()
        .map(|(i, (_, m))| (left + 20 + i as i64 * step, h - bottom - scale(m.cents(), max, h - bottom - top)))
        .collect();
    let path: Vec<String> = xy.iter().map(|(x, y)| format!("{x},{y}")).collect();
    // Label at most ~8 periods so the axis stays readable on a phone.
    let every = (n / 8).max(1) as usize;
    html! {
        svg viewBox=(format!("0 0 {w} {h}")) role="img" aria-labelledby=(format!("{id}-t {id}-d")) {
            title #(format!("{id}-t")) { (title) }
            desc #(format!("{id}-d")) { (describe(points)) }
            line x1=(left) y1=(h - bottom) x2=(w - left) y2=(h - bottom) stroke=(TARGET) stroke-width="1" {}
            @if points.is_empty() {
                text x="10" y="24" fill=(INK) font-size="14" { "No sales in this period" }
            }
            @if points.len() > 1 {
                polyline points=(path.join(" ")) fill="none" stroke=(BAR) stroke-width="3" {}
            }
            @for (i, ((label, m), (x, y))) in points.iter().zip(xy.iter()).enumerate() {
                circle cx=(x) cy=(y) r="4" fill=(BAR) {}
                @if i % every == 0 || i + 1 == points.len() {
                    text x=(x) y=(h - bottom + 18) text-anchor="middle" fill=(INK) font-size="12" { (label) }
                    text x=(x) y=(y - 8) text-anchor="middle" fill=(INK) font-size="11" { (short_money(*m)) }
                }
            }
        }
    }
}

/// An amount in thousands or millions, for labels where space is short (the table has it exact).
fn short_money(m: Money) -> String {
    let units = m.cents() / 100;
    if units >= 1_000_000 {
        format!("{}.{}M", units / 1_000_000, (units % 1_000_000) / 100_000)
    } else if units >= 1_000 {
        format!("{}k", units / 1_000)
    } else {
        units.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_say_everything_in_text() {
        assert_eq!(scale(50, 100, 300), 150);
        assert_eq!(scale(1, 1_000_000, 300), 1, "a tiny value stays visible");
        assert_eq!(scale(0, 100, 300), 0);
        let svg = bars("c", "Sales", &[(String::from("Alpha"), Money::from_cents(12_345))]).into_string();
        assert!(svg.contains("Alpha: 123.45"), "{svg}");
        assert_eq!(short_money(Money::from_cents(250_000_000)), "2.5M");
        assert_eq!(clip("Life Insurance - Platinum Plan", 10), "Life Insu…");
    }
}
