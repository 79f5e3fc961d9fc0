//! What a digest says and how it is written: the figures arrive as plain values (the wiring's
//! digest job takes them from the performance service, as the behind-pace alerts do), and this
//! module writes them as the inbox line, the plain-text mail and the HTML mail. Every value
//! placed in the HTML is escaped: unit and agent names are typed by people.

use moon_domain::Money;

/// One unit's (or agent's, or the recipient's own) standing in the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// How people name it.
    pub name: String,
    /// Sold so far (cents).
    pub actual_cents: i64,
    /// The period's target (cents), if any.
    pub target_cents: Option<i64>,
    /// Attainment, two decimals (`87.50`), if there is a target.
    pub attainment_pct: Option<String>,
    /// Expected by today on the business calendar (cents), if there is a target.
    pub expected_cents: Option<i64>,
    /// Where the period closes at the current run rate (cents).
    pub projected_cents: i64,
    /// `achieved`, `ahead`, `behind` or `no_target`.
    pub status: String,
    /// Rank movement since the previous period (positive: climbed).
    pub movement: i64,
}

/// One digest's content, within its recipient's scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Content {
    /// Whose figures: `Colombo branch`, `the company`, `your targets`.
    pub scope: String,
    /// The period (`December 2026`).
    pub period: String,
    /// The business date the figures are of.
    pub as_of: String,
    /// The scope as a whole.
    pub summary: Option<Line>,
    /// What the units below are (`Teams`, `Branches`, `Agents`).
    pub units_heading: String,
    /// The units below the scope (empty for an agent's own digest).
    pub units: Vec<Line>,
    /// The units (or agents) that climbed most since the previous period.
    pub movers: Vec<Line>,
    /// The units (or agents) behind their expected-by-today, furthest behind first.
    pub behind: Vec<Line>,
}

/// A rendered digest: the inbox line, the mail's subject, text and HTML.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The inbox message (at most 1000 characters).
    pub inbox: String,
    /// The mail's subject.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn money(cents: i64) -> String {
    Money::from_cents(cents).to_string()
}

fn opt_money(cents: Option<i64>) -> String {
    cents.map_or_else(|| String::from("-"), money)
}

fn pct(p: Option<&String>) -> String {
    p.map_or_else(|| String::from("no target"), |p| format!("{p} %"))
}

fn one_line(l: &Line) -> String {
    format!(
        "{}: {} sold, {} of target {}, expected by today {}, projected {} ({})",
        l.name,
        money(l.actual_cents),
        pct(l.attainment_pct.as_ref()),
        opt_money(l.target_cents),
        opt_money(l.expected_cents),
        money(l.projected_cents),
        l.status.replace('_', " ")
    )
}

/// Cuts `s` to at most `max` characters, ending with `…` when cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Writes a digest. `title` is `Weekly digest`; `late` names the slot it was due at when it is
/// sent late (`Monday 08:30`); `unsubscribe` is the link that stops this digest.
pub fn render(title: &str, late: Option<&str>, c: &Content, unsubscribe: &str) -> Rendered {
    let late_note = late.map(|due| format!("late: due {due}"));
    let subject = match &late_note {
        Some(n) => format!("MoonInsurance: {title} for {}, {} ({n})", c.scope, c.period),
        None => format!("MoonInsurance: {title} for {}, {}", c.scope, c.period),
    };
    // The inbox line: the scope's standing and who is behind, short.
    let mut inbox = format!("{title} for {}, {}", c.scope, c.period);
    if let Some(n) = &late_note {
        inbox.push_str(&format!(" ({n})"));
    }
    inbox.push_str(": ");
    match &c.summary {
        Some(s) => inbox.push_str(&one_line(s)),
        None => inbox.push_str("no figures yet"),
    }
    if !c.behind.is_empty() {
        let names: Vec<&str> = c.behind.iter().map(|l| l.name.as_str()).collect();
        inbox.push_str(&format!(". Behind pace: {}", names.join(", ")));
    }
    inbox.push('.');
    let inbox = cut(&inbox, 1000);

    let mut text = format!("{title} for {}\n{} (as of {})\n", c.scope, c.period, c.as_of);
    if let Some(n) = &late_note {
        text.push_str(&format!("({n})\n"));
    }
    text.push('\n');
    if let Some(s) = &c.summary {
        text.push_str(&format!("{}\n\n", one_line(s)));
    }
    let section = |text: &mut String, heading: &str, lines: &[Line], movement: bool| {
        if lines.is_empty() {
            return;
        }
        text.push_str(&format!("{heading}\n"));
        for l in lines {
            if movement {
                text.push_str(&format!("  - {}: up {} place(s), {} sold\n", l.name, l.movement, money(l.actual_cents)));
            } else {
                text.push_str(&format!("  - {}\n", one_line(l)));
            }
        }
        text.push('\n');
    };
    section(&mut text, &c.units_heading, &c.units, false);
    section(&mut text, "Top movers", &c.movers, true);
    section(&mut text, "Behind pace", &c.behind, false);
    text.push_str(&format!("To stop receiving this digest: {unsubscribe}\n"));

    let mut html = String::from("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
    html.push_str(&escape(&subject));
    html.push_str("</title></head><body style=\"font-family:sans-serif\">");
    html.push_str(&format!("<h1>{} for {}</h1>", escape(title), escape(&c.scope)));
    html.push_str(&format!("<p>{} (as of {})</p>", escape(&c.period), escape(&c.as_of)));
    if let Some(n) = &late_note {
        html.push_str(&format!("<p><strong>{}</strong></p>", escape(n)));
    }
    let table = |html: &mut String, heading: &str, lines: &[Line]| {
        if lines.is_empty() {
            return;
        }
        html.push_str(&format!("<h2>{}</h2><table><thead><tr>", escape(heading)));
        for h in ["Name", "Sold", "Attainment", "Target", "Expected by today", "Projected", "Status"] {
            html.push_str(&format!("<th scope=\"col\">{h}</th>"));
        }
        html.push_str("</tr></thead><tbody>");
        for l in lines {
            html.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&l.name),
                money(l.actual_cents),
                escape(&pct(l.attainment_pct.as_ref())),
                opt_money(l.target_cents),
                opt_money(l.expected_cents),
                money(l.projected_cents),
                escape(&l.status.replace('_', " "))
            ));
        }
        html.push_str("</tbody></table>");
    };
    if let Some(s) = &c.summary {
        table(&mut html, "Overall", std::slice::from_ref(s));
    }
    table(&mut html, &c.units_heading, &c.units);
    if !c.movers.is_empty() {
        html.push_str("<h2>Top movers</h2><ul>");
        for l in &c.movers {
            html.push_str(&format!(
                "<li>{}: up {} place(s), {} sold</li>",
                escape(&l.name),
                l.movement,
                money(l.actual_cents)
            ));
        }
        html.push_str("</ul>");
    }
    table(&mut html, "Behind pace", &c.behind);
    html.push_str(&format!("<p><a href=\"{}\">Stop receiving this digest</a></p></body></html>", escape(unsubscribe)));
    Rendered { inbox, subject: cut(&subject, 200), text, html }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(name: &str) -> Line {
        Line {
            name: name.to_owned(),
            actual_cents: 12_345,
            target_cents: Some(100_000),
            attainment_pct: Some(String::from("12.35")),
            expected_cents: Some(50_000),
            projected_cents: 30_000,
            status: String::from("behind"),
            movement: 2,
        }
    }

    #[test]
    fn html_escapes_every_name_and_text_keeps_them() {
        let c = Content {
            scope: String::from("Colombo <branch>"),
            period: String::from("December 2026"),
            as_of: String::from("2026-12-07"),
            summary: Some(line("Colombo")),
            units_heading: String::from("Teams"),
            units: vec![line("<script>alert(1)</script>")],
            movers: vec![line("A&B")],
            behind: vec![line("\"quoted\"")],
        };
        let r = render("Weekly digest", Some("Monday 08:30"), &c, "https://moon.test/u?token=a&b");
        assert!(!r.html.contains("<script>"), "{}", r.html);
        assert!(r.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(r.html.contains("A&amp;B") && r.html.contains("&quot;quoted&quot;"));
        assert!(r.html.contains("href=\"https://moon.test/u?token=a&amp;b\""));
        assert!(r.text.contains("<script>alert(1)</script>") && r.text.contains("123.45 sold"));
        assert!(r.subject.contains("(late: due Monday 08:30)") && r.inbox.contains("late: due Monday 08:30"));
        assert!(r.inbox.chars().count() <= 1000);
    }
}
