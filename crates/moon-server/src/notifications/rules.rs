//! What a notification rule is, parsed at the edge: its kind and parameters, the periods sales
//! are summed over, and message templates. Pure: no database, no clock of its own.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use moon_domain::{FieldError, FieldErrors, Money};
use serde::{Deserialize, Serialize};

/// The kinds of rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// An agent's sales in a period cross a threshold.
    Milestone,
    /// A product's sales in the current period reach its target.
    TargetAchieved,
    /// On a schedule: what remains of each product's target not yet met.
    TargetDue,
    /// A team, branch or agent is more than a threshold behind its expected-by-today: tells
    /// the managers of its branch (and optionally the agent), and again once back on pace.
    BehindPace,
}

impl RuleKind {
    /// The name stored and shown; also the notification's `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Milestone => "milestone",
            RuleKind::TargetAchieved => "target_achieved",
            RuleKind::TargetDue => "target_due",
            RuleKind::BehindPace => "behind_pace",
        }
    }

    /// Parses a stored or submitted name.
    pub fn parse(raw: &str) -> Option<Self> {
        [RuleKind::Milestone, RuleKind::TargetAchieved, RuleKind::TargetDue, RuleKind::BehindPace]
            .into_iter()
            .find(|k| k.as_str() == raw)
    }

    /// The template used when a rule gives none, in the spirit of the original messages
    /// ("Nimal has reached 150k sales milestone!").
    pub fn default_template(self) -> &'static str {
        match self {
            RuleKind::Milestone => "{agent_name} has reached {amount} sales milestone for {period}!",
            RuleKind::TargetAchieved => "{product} target of {target} achieved for {period}!",
            RuleKind::TargetDue => "Reminder: {product} sales target for {period} is due; {remaining} remaining.",
            RuleKind::BehindPace => {
                "{unit} is {behind_pct}% behind pace for {period}: {amount} sold, {expected} expected by today."
            }
        }
    }
}

/// What a behind-pace rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaceLevel {
    /// Each team (its managers: those of the branches its members belonged to).
    Team,
    /// Each branch.
    Branch,
    /// Each agent (its managers: those of the agent's home branch).
    Agent,
}

impl PaceLevel {
    /// The name stored (in the rule's `scope` column) and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            PaceLevel::Team => "team",
            PaceLevel::Branch => "branch",
            PaceLevel::Agent => "agent",
        }
    }

    /// Parses a stored or submitted name.
    pub fn parse(raw: &str) -> Option<Self> {
        [PaceLevel::Team, PaceLevel::Branch, PaceLevel::Agent].into_iter().find(|l| l.as_str() == raw)
    }
}

/// The parameters of a behind-pace rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PaceSpec {
    /// Team, branch or agent.
    pub level: PaceLevel,
    /// How far behind expected-by-today counts, in basis points (1000 = 10 %).
    pub behind_bp: i64,
    /// The rule starts on this working day of the period (1 = the first).
    pub from_working_day: u32,
    /// Whether an agent-level alert also goes to the agent.
    pub notify_agent: bool,
}

impl PaceSpec {
    /// Whether `actual` is more than the threshold behind `expected` (exact, in integers).
    pub fn is_behind(&self, actual_cents: i64, expected_cents: i64) -> bool {
        expected_cents > 0
            && i128::from(actual_cents) * 10_000 < i128::from(expected_cents) * i128::from(10_000 - self.behind_bp)
    }
}

/// Reads a percentage (`10`, `12.5`, `"12.5"`) as basis points, 0 < p < 100.
fn percent_bp(field: &str, v: &serde_json::Value) -> Result<i64, FieldError> {
    let bad = || {
        FieldError::new(
            field,
            "invalid_percent",
            format!("{field} is a percentage above 0 and below 100, such as 10 or 12.5"),
        )
    };
    let text = match v {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.trim().to_owned(),
        _ => return Err(bad()),
    };
    let d: rust_decimal::Decimal = text.parse().map_err(|_| bad())?;
    let bp = (d * rust_decimal::Decimal::from(100)).normalize();
    if bp.fract() != rust_decimal::Decimal::ZERO
        || bp <= rust_decimal::Decimal::ZERO
        || bp >= rust_decimal::Decimal::from(10_000)
    {
        return Err(bad());
    }
    i64::try_from(bp).map_err(|_| bad())
}

/// The span of sale dates a total is taken over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// Calendar month.
    Month,
    /// Calendar quarter.
    Quarter,
    /// Calendar year.
    Year,
    /// Since the beginning.
    All,
}

impl Period {
    /// Every period, in the order totals are kept.
    pub const EVERY: [Period; 4] = [Period::Month, Period::Quarter, Period::Year, Period::All];

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Month => "month",
            Period::Quarter => "quarter",
            Period::Year => "year",
            Period::All => "all",
        }
    }

    /// Parses a stored or submitted name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::EVERY.into_iter().find(|p| p.as_str() == raw)
    }

    /// The key of the period that contains `day`: `m:2026-11`, `q:2026-4`, `y:2026`, `all`.
    pub fn key(self, day: NaiveDate) -> String {
        match self {
            Period::Month => format!("m:{:04}-{:02}", day.year(), day.month()),
            Period::Quarter => format!("q:{:04}-{}", day.year(), day.month0() / 3 + 1),
            Period::Year => format!("y:{:04}", day.year()),
            Period::All => String::from("all"),
        }
    }

    /// How a person names the period that contains `day`: `November 2026`, `Q4 2026`.
    pub fn label(self, day: NaiveDate) -> String {
        match self {
            Period::Month => day.format("%B %Y").to_string(),
            Period::Quarter => format!("Q{} {}", day.month0() / 3 + 1, day.year()),
            Period::Year => day.year().to_string(),
            Period::All => String::from("all time"),
        }
    }

    /// First and last day of the period that contains `day` (inclusive).
    pub fn range(self, day: NaiveDate) -> (NaiveDate, NaiveDate) {
        let ymd = |y: i32, m: u32, d: u32| NaiveDate::from_ymd_opt(y, m, d).unwrap_or(day);
        let (first, next) = match self {
            Period::Month => {
                let first = ymd(day.year(), day.month(), 1);
                let next =
                    if day.month() == 12 { ymd(day.year() + 1, 1, 1) } else { ymd(day.year(), day.month() + 1, 1) };
                (first, next)
            }
            Period::Quarter => {
                let m = day.month0() / 3 * 3 + 1;
                let first = ymd(day.year(), m, 1);
                let next = if m == 10 { ymd(day.year() + 1, 1, 1) } else { ymd(day.year(), m + 3, 1) };
                (first, next)
            }
            Period::Year => (ymd(day.year(), 1, 1), ymd(day.year() + 1, 1, 1)),
            Period::All => (NaiveDate::MIN, NaiveDate::MAX),
        };
        (first, next.pred_opt().unwrap_or(next))
    }
}

/// Whose sales a target rule measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetScope {
    /// The product's sales company-wide.
    Company,
    /// Each branch's sales of the product, measured against the product's target.
    Branch,
}

impl TargetScope {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetScope::Company => "company",
            TargetScope::Branch => "branch",
        }
    }

    /// Parses a stored or submitted name.
    pub fn parse(raw: &str) -> Option<Self> {
        [TargetScope::Company, TargetScope::Branch].into_iter().find(|s| s.as_str() == raw)
    }
}

/// A rule as submitted (API body, or an entry of `[[notifications.rules]]` in `moon.toml`). On
/// PATCH only the fields present change.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Unique name, 1–100 characters.
    pub name: Option<String>,
    /// `milestone`, `target_achieved` or `target_due`.
    pub kind: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
    /// `month` (default), `quarter`, `year` or `all` (milestones only).
    pub period: Option<String>,
    /// Milestones: the amounts that count, such as `["50000", "100000", "150000"]`.
    #[schema(value_type = Option<Vec<String>>)]
    pub thresholds: Option<Vec<serde_json::Value>>,
    /// Milestones: every multiple of this amount counts (instead of, or besides, `thresholds`).
    #[schema(value_type = Option<String>)]
    pub every: Option<serde_json::Value>,
    /// Target achieved: `company` (default) or `branch`.
    pub scope: Option<String>,
    /// Target due: a cron expression (default `0 9 * * MON`, Mondays 09:00).
    pub schedule: Option<String>,
    /// IANA time zone of the schedule and of "the current period" (default: the configured one).
    pub timezone: Option<String>,
    /// Message template; placeholders `{agent_name}`, `{amount}`, `{product}`, `{period}`,
    /// `{target}`, `{remaining}`, `{unit}`, `{expected}`, `{behind_pct}`. Default: a message
    /// per kind.
    pub template: Option<String>,
    /// Behind pace: `team`, `branch` or `agent`.
    pub level: Option<String>,
    /// Behind pace: how far behind expected-by-today counts, in percent (`10`, `12.5`).
    #[schema(value_type = Option<String>)]
    pub behind_percent: Option<serde_json::Value>,
    /// Behind pace: the working day of the period the rule starts on (default 1).
    pub from_working_day: Option<u32>,
    /// Behind pace, agent level: also tell the agent (default false).
    pub notify_agent: Option<bool>,
}

/// A rule, parsed: every field known good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Rule {
    /// Numeric id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// What it watches.
    pub kind: RuleKind,
    /// Whether it fires.
    pub enabled: bool,
    /// Period of the totals.
    pub period: Period,
    /// Milestone amounts, ascending.
    pub thresholds: Vec<Money>,
    /// Milestone step: every multiple counts.
    pub every: Option<Money>,
    /// Target scope (target rules).
    pub scope: TargetScope,
    /// Cron expression (target-due rules).
    pub schedule: Option<String>,
    /// IANA time zone.
    pub timezone: String,
    /// Message template.
    pub template: String,
    /// Behind-pace parameters (behind-pace rules only).
    pub pace: Option<PaceSpec>,
    /// When created (UTC).
    pub created_at: DateTime<Utc>,
    /// When last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

/// The default schedule of reminders: Mondays at 09:00.
pub const DEFAULT_SCHEDULE: &str = "0 9 * * MON";

/// The placeholders a template may use.
pub const PLACEHOLDERS: [&str; 9] =
    ["agent_name", "amount", "product", "period", "target", "remaining", "unit", "expected", "behind_pct"];

/// Checks a template: 1–500 characters, only known `{placeholders}`, braces balanced.
pub fn parse_template(field: &str, raw: &str) -> Result<String, FieldError> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > 500 {
        return Err(FieldError::new(field, "invalid_length", "a template has 1–500 characters"));
    }
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(FieldError::new(field, "unbalanced_brace", "a `{` without its `}`"));
        };
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(FieldError::new(
                field,
                "unknown_placeholder",
                format!("unknown placeholder {{{name}}}; known: {}", PLACEHOLDERS.join(", ")),
            ));
        }
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err(FieldError::new(field, "unbalanced_brace", "a `}` without its `{`"));
    }
    Ok(t.to_owned())
}

/// Values for a template's placeholders; an absent one renders as empty text.
#[derive(Debug, Clone, Default)]
pub struct Fill {
    /// The agent's first name.
    pub agent_name: Option<String>,
    /// The amount reached (milestone) or sold (target).
    pub amount: Option<Money>,
    /// The product's name.
    pub product: Option<String>,
    /// The period's label.
    pub period: Option<String>,
    /// The product's target.
    pub target: Option<Money>,
    /// What remains of the target.
    pub remaining: Option<Money>,
    /// The team, branch or agent a pace alert is about.
    pub unit: Option<String>,
    /// Expected by today.
    pub expected: Option<Money>,
    /// How far behind expected-by-today, in percent with two decimals.
    pub behind_pct: Option<String>,
}

/// Fills a checked template; the result is cut to the 1000 characters a message may have.
pub fn render(template: &str, fill: &Fill) -> String {
    let money = |m: Option<Money>| m.map(|m| m.to_string()).unwrap_or_default();
    let mut out = template.to_owned();
    for (name, value) in [
        ("agent_name", fill.agent_name.clone().unwrap_or_default()),
        ("amount", money(fill.amount)),
        ("product", fill.product.clone().unwrap_or_default()),
        ("period", fill.period.clone().unwrap_or_default()),
        ("target", money(fill.target)),
        ("remaining", money(fill.remaining)),
        ("unit", fill.unit.clone().unwrap_or_default()),
        ("expected", money(fill.expected)),
        ("behind_pct", fill.behind_pct.clone().unwrap_or_default()),
    ] {
        out = out.replace(&format!("{{{name}}}"), &value);
    }
    out.chars().take(1000).collect()
}

/// Checks a cron expression (five or six fields, croner syntax).
pub fn parse_schedule(field: &str, raw: &str) -> Result<croner::Cron, FieldError> {
    raw.trim().parse::<croner::Cron>().map_err(|e| FieldError::new(field, "invalid_schedule", format!("{e}")))
}

/// Checks an IANA time zone name.
pub fn parse_timezone(field: &str, raw: &str) -> Result<chrono_tz::Tz, FieldError> {
    raw.parse::<chrono_tz::Tz>()
        .map_err(|_| FieldError::new(field, "unknown_timezone", format!("{raw:?} is not an IANA time zone")))
}

fn amount(field: &str, v: &serde_json::Value) -> Result<Money, FieldError> {
    let m = Money::parse_json(field, v)?;
    if m.cents() <= 0 {
        return Err(FieldError::new(field, "not_positive", format!("{field} must be above zero")));
    }
    Ok(m)
}

impl RuleSpec {
    /// Applies this spec over `base` (a stored rule, or a blank one on create) and checks the
    /// result as a whole, naming every offending field.
    pub fn apply(&self, base: Option<&Rule>, default_tz: &str) -> Result<Rule, Vec<FieldError>> {
        let mut e = FieldErrors::new();
        let now = moon_db::now();
        if base.is_none() {
            for (field, missing) in [("name", self.name.is_none()), ("kind", self.kind.is_none())] {
                if missing {
                    e.push(FieldError::required(field));
                }
            }
        }
        let name = match &self.name {
            Some(n) if n.trim().is_empty() || n.trim().chars().count() > 100 => {
                e.push(FieldError::new("name", "invalid_length", "a rule name has 1–100 characters"));
                None
            }
            Some(n) => Some(n.trim().to_owned()),
            None => base.map(|b| b.name.clone()),
        };
        let kind = match &self.kind {
            Some(k) => {
                let parsed = RuleKind::parse(k);
                if parsed.is_none() {
                    e.push(FieldError::new("kind", "unknown_kind", "kind is milestone, target_achieved or target_due"));
                }
                if let (Some(p), Some(b)) = (parsed, base)
                    && p != b.kind
                {
                    e.push(FieldError::new("kind", "immutable", "a rule's kind cannot change; create another rule"));
                }
                parsed
            }
            None => base.map(|b| b.kind),
        };
        let period = match &self.period {
            Some(p) => {
                let parsed = Period::parse(p);
                if parsed.is_none() {
                    e.push(FieldError::new("period", "unknown_period", "period is month, quarter, year or all"));
                }
                parsed
            }
            None => Some(base.map_or(Period::Month, |b| b.period)),
        };
        let thresholds = match &self.thresholds {
            Some(list) => {
                let mut out = Vec::new();
                for (i, v) in list.iter().enumerate() {
                    if let Some(m) = e.take(amount(&format!("thresholds[{i}]"), v)) {
                        out.push(m);
                    }
                }
                out.sort();
                out.dedup();
                out
            }
            None => base.map(|b| b.thresholds.clone()).unwrap_or_default(),
        };
        let every = match &self.every {
            Some(serde_json::Value::Null) => None,
            Some(v) => e.take(amount("every", v)),
            None => base.and_then(|b| b.every),
        };
        let scope = match &self.scope {
            Some(s) => {
                let parsed = TargetScope::parse(s);
                if parsed.is_none() {
                    e.push(FieldError::new("scope", "unknown_scope", "scope is company or branch"));
                }
                parsed.unwrap_or(TargetScope::Company)
            }
            None => base.map_or(TargetScope::Company, |b| b.scope),
        };
        let timezone = match &self.timezone {
            Some(t) => e.take(parse_timezone("timezone", t)).map(|_| t.clone()),
            None => Some(base.map_or_else(|| default_tz.to_owned(), |b| b.timezone.clone())),
        };
        let schedule = match &self.schedule {
            Some(s) => e.take(parse_schedule("schedule", s)).map(|_| s.trim().to_owned()),
            None => base.and_then(|b| b.schedule.clone()),
        };
        let template = match &self.template {
            Some(t) => e.take(parse_template("template", t)),
            None => base.map(|b| b.template.clone()),
        };
        let base_pace = base.and_then(|b| b.pace);
        let level = match &self.level {
            Some(l) => {
                let parsed = PaceLevel::parse(l.trim());
                if parsed.is_none() {
                    e.push(FieldError::new("level", "unknown_level", "level is team, branch or agent"));
                }
                parsed
            }
            None => base_pace.map(|p| p.level),
        };
        let behind_bp = match &self.behind_percent {
            Some(v) => e.take(percent_bp("behind_percent", v)),
            None => base_pace.map(|p| p.behind_bp),
        };
        let from_working_day = match self.from_working_day {
            Some(0) => {
                e.push(FieldError::new("from_working_day", "invalid", "working days count from 1"));
                None
            }
            Some(d) if d > 260 => {
                e.push(FieldError::new("from_working_day", "invalid", "a period has at most 260 working days"));
                None
            }
            Some(d) => Some(d),
            None => Some(base_pace.map_or(1, |p| p.from_working_day)),
        };
        if let Some(kind) = kind {
            match kind {
                RuleKind::Milestone if thresholds.is_empty() && every.is_none() => {
                    e.push(FieldError::new("thresholds", "required", "a milestone rule needs thresholds or every"))
                }
                RuleKind::TargetAchieved | RuleKind::TargetDue | RuleKind::BehindPace
                    if period == Some(Period::All) =>
                {
                    e.push(FieldError::new("period", "unsupported_period", "targets are per month, quarter or year"))
                }
                RuleKind::BehindPace if level.is_none() && self.level.is_none() => e.push(FieldError::new(
                    "level",
                    "required",
                    "a behind_pace rule needs a level: team, branch or agent",
                )),
                RuleKind::BehindPace if behind_bp.is_none() && self.behind_percent.is_none() => {
                    e.push(FieldError::new(
                        "behind_percent",
                        "required",
                        "a behind_pace rule needs behind_percent, such as 10",
                    ))
                }
                _ => {}
            }
        }
        e.finish()?;
        let (Some(name), Some(kind), Some(period), Some(timezone)) = (name, kind, period, timezone) else {
            return Err(vec![FieldError::new("body", "invalid", "the rule is incomplete")]);
        };
        let schedule = match kind {
            RuleKind::TargetDue => Some(schedule.unwrap_or_else(|| DEFAULT_SCHEDULE.to_owned())),
            _ => schedule,
        };
        let pace = match (kind, level, behind_bp, from_working_day) {
            (RuleKind::BehindPace, Some(level), Some(behind_bp), Some(from_working_day)) => Some(PaceSpec {
                level,
                behind_bp,
                from_working_day,
                notify_agent: self.notify_agent.unwrap_or(base_pace.is_some_and(|p| p.notify_agent)),
            }),
            (RuleKind::BehindPace, ..) => {
                return Err(vec![FieldError::new("body", "invalid", "the behind_pace rule is incomplete")]);
            }
            _ => None,
        };
        Ok(Rule {
            pace,
            id: base.map_or(0, |b| b.id),
            name,
            kind,
            enabled: self.enabled.unwrap_or(base.is_none_or(|b| b.enabled)),
            period,
            thresholds,
            every,
            scope,
            schedule,
            timezone,
            template: template.unwrap_or_else(|| kind.default_template().to_owned()),
            created_at: base.map_or(now, |b| b.created_at),
            updated_at: now,
        })
    }
}

impl Rule {
    /// The milestone amounts in `(before, after]`: what a rise from `before` to `after` crosses.
    pub fn crossed(&self, before: i64, after: i64) -> Vec<i64> {
        if after <= before {
            return Vec::new();
        }
        let mut out: Vec<i64> =
            self.thresholds.iter().map(|m| m.cents()).filter(|c| *c > before && *c <= after).collect();
        if let Some(step) = self.every.map(Money::cents).filter(|s| *s > 0) {
            // At most a few hundred steps per rise, so a tiny step cannot flood an inbox.
            let first = before.div_euclid(step) + 1;
            let last = after.div_euclid(step);
            let from = std::cmp::max(first, last - 200);
            out.extend((from..=last).filter(|k| *k > 0).map(|k| k * step));
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The rule's time zone (UTC if the stored name no longer parses).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::UTC)
    }

    /// Today in the rule's time zone.
    pub fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.tz()).date_naive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn periods_have_keys_labels_and_ranges() {
        let d = day(2026, 11, 26);
        assert_eq!(Period::Month.key(d), "m:2026-11");
        assert_eq!(Period::Quarter.key(d), "q:2026-4");
        assert_eq!(Period::Year.key(d), "y:2026");
        assert_eq!(Period::Month.label(d), "November 2026");
        assert_eq!(Period::Month.range(d), (day(2026, 11, 1), day(2026, 11, 30)));
        assert_eq!(Period::Quarter.range(d), (day(2026, 10, 1), day(2026, 12, 31)));
        assert_eq!(Period::Month.range(day(2026, 12, 5)), (day(2026, 12, 1), day(2026, 12, 31)));
    }

    #[test]
    fn templates_reject_unknown_placeholders_and_render_known_ones() {
        assert!(parse_template("template", "{agent_name} did {nope}").is_err());
        assert!(parse_template("template", "{agent_name").is_err());
        assert!(parse_template("template", "oops}").is_err());
        let t = parse_template("template", RuleKind::Milestone.default_template()).unwrap();
        let fill = Fill {
            agent_name: Some("Nimal".into()),
            amount: Some(Money::from_cents(15_000_000)),
            period: Some("November 2026".into()),
            ..Fill::default()
        };
        assert_eq!(render(&t, &fill), "Nimal has reached 150000.00 sales milestone for November 2026!");
    }

    #[test]
    fn crossings_count_each_threshold_once_per_rise() {
        let spec = RuleSpec {
            name: Some("m".into()),
            kind: Some("milestone".into()),
            thresholds: Some(vec!["100".into(), "50".into()]),
            ..RuleSpec::default()
        };
        let rule = spec.apply(None, "UTC").unwrap();
        assert_eq!(rule.crossed(0, 4_999), Vec::<i64>::new());
        assert_eq!(rule.crossed(0, 12_000), vec![5_000, 10_000]);
        assert_eq!(rule.crossed(5_000, 9_000), Vec::<i64>::new());
        assert_eq!(rule.crossed(9_000, 5_000), Vec::<i64>::new());
        let every = RuleSpec { every: Some("10".into()), thresholds: None, ..spec }.apply(None, "UTC").unwrap();
        assert_eq!(every.crossed(500, 3_000), vec![1_000, 2_000, 3_000]);
    }

    #[test]
    fn invalid_specs_name_their_fields() {
        let spec = RuleSpec {
            name: Some("x".into()),
            kind: Some("target_due".into()),
            schedule: Some("not cron".into()),
            timezone: Some("Mars/Olympus".into()),
            ..RuleSpec::default()
        };
        let errors = spec.apply(None, "UTC").unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"schedule") && fields.contains(&"timezone"), "{fields:?}");
        let ok = RuleSpec { name: Some("r".into()), kind: Some("target_due".into()), ..RuleSpec::default() };
        assert_eq!(ok.apply(None, "Asia/Colombo").unwrap().schedule.as_deref(), Some(DEFAULT_SCHEDULE));
    }
}
