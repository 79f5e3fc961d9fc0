//! The document a plan version's rules travel and rest in ([`RulesDoc`]: the API body's `rules`,
//! the stored column, the CLI's `--json`), and its validation into [`PlanRules`], reporting every
//! bad field at once under its path (`rules.tiers[1].from_percent`).
//!
//! Numbers may arrive as JSON numbers or strings and are read exactly; they are written back as
//! strings, so a stored version reads back as the same decimals on every backend.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Clawback, Incentive, PlanRules, Prize, Tier};
use crate::{FieldError, FieldErrors, Label, Money, parse_date};

/// Most tiers and incentives one version may carry: plans are read whole by every statement.
const MAX_ITEMS: usize = 20;
/// Longest clawback window, in days (ten years).
const MAX_CLAWBACK_DAYS: i64 = 3650;

/// A version's rules as JSON. Rates are percentages (`"5"` is 5 %), multipliers factors
/// (`"1.2"`), amounts decimal currency (`"250.00"`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesDoc {
    /// Required: percent of a new-business or endorsement credited amount, 0–100, at most four
    /// decimals.
    #[schema(value_type = Option<String>)]
    pub base_rate: Option<Value>,
    /// Percent of a renewal's credited amount (default: the base rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub renewal_rate: Option<Value>,
    /// Accelerators by attainment of the period's target; bands may not overlap.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<TierDoc>,
    /// Most commission one person earns under the plan in one period (an amount).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub cap: Option<Value>,
    /// What a cancellation soon after the sale takes back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clawback: Option<ClawbackDoc>,
    /// Contests: a window, a product and a prize.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incentives: Vec<IncentiveDoc>,
}

/// One accelerator band.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierDoc {
    /// Required: lowest attainment in the band, percent, inclusive (`100`: from exactly 100 %).
    #[schema(value_type = Option<String>)]
    pub from_percent: Option<Value>,
    /// First attainment above the band, percent, exclusive; omit for "and above".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub to_percent: Option<Value>,
    /// Required: factor on the base commission, 0–10 (`1.2`).
    #[schema(value_type = Option<String>)]
    pub multiplier: Option<Value>,
}

/// A clawback rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClawbackDoc {
    /// Required: a cancellation up to this many days after the sale (inclusive) claws back;
    /// 1–3650.
    #[schema(value_type = Option<i64>)]
    pub within_days: Option<Value>,
    /// Share of the paid commission taken back, percent, above 0 and at most 100 (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub percent: Option<Value>,
}

/// A contest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncentiveDoc {
    /// Required: what the sales force calls it.
    pub name: Option<String>,
    /// Required: first day of the window (inclusive), `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Required: last day of the window (inclusive), not before `from`.
    pub to: Option<String>,
    /// Required: the product whose sales count, by id.
    #[schema(value_type = Option<i64>)]
    pub product_id: Option<Value>,
    /// Required: what it pays.
    pub prize: Option<PrizeDoc>,
}

/// A contest's prize rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrizeDoc {
    /// Required: `per_policy` (`amount` per policy sold), `threshold` (`amount` once the
    /// credited amount reaches `at_least`) or `extra_rate` (`percent` more of the credited amount).
    pub kind: Option<String>,
    /// The prize amount (`per_policy`, `threshold`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub amount: Option<Value>,
    /// The credited amount to reach (`threshold`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub at_least: Option<Value>,
    /// Extra percent (`extra_rate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub percent: Option<Value>,
}

/// An exact decimal from a JSON number or string, within `min..=max` and at most `places`
/// decimals; `above_min` excludes the minimum itself.
fn decimal(
    field: &str,
    v: &Value,
    min: Decimal,
    max: Decimal,
    places: u32,
    above_min: bool,
) -> Result<Decimal, FieldError> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        Value::Null => return Err(FieldError::required(field)),
        other => {
            return Err(FieldError::new(
                field,
                "invalid_type",
                format!("{field} must be a number such as \"5.25\"; got {other}"),
            ));
        }
    };
    let ok_chars = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-');
    let d = ok_chars.then(|| Decimal::from_str_exact(&text).ok()).flatten().ok_or_else(|| {
        FieldError::new(field, "invalid_number", format!("{field} must be a decimal number such as 5.25; got {v}"))
    })?;
    if d.normalize().scale() > places {
        return Err(FieldError::new(
            field,
            "too_precise",
            format!("{field} may have at most {places} decimal places; got {v}"),
        ));
    }
    let low = if above_min { d <= min } else { d < min };
    if low || d > max {
        let lower = if above_min { "above" } else { "at least" };
        return Err(FieldError::new(
            field,
            "out_of_range",
            format!("{field} must be {lower} {min} and at most {max}; got {v}"),
        ));
    }
    Ok(d.normalize())
}

fn whole(field: &str, v: &Value, min: i64, max: i64) -> Result<i64, FieldError> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(FieldError::new(
            field,
            "out_of_range",
            format!("{field} must be a whole number from {min} to {max}; got {v}"),
        )),
    }
}

fn required<T>(e: &mut FieldErrors, field: &str, v: Option<T>) -> Option<T> {
    if v.is_none() {
        e.push(FieldError::required(field));
    }
    v
}

fn rate(e: &mut FieldErrors, field: &str, v: &Value) -> Option<Decimal> {
    e.take(decimal(field, v, Decimal::ZERO, Decimal::ONE_HUNDRED, 4, false))
}

fn tiers(e: &mut FieldErrors, at: &str, docs: &[TierDoc]) -> Vec<Tier> {
    if docs.len() > MAX_ITEMS {
        e.push(FieldError::new(format!("{at}.tiers"), "too_many", format!("at most {MAX_ITEMS} tiers")));
        return Vec::new();
    }
    let mut out: Vec<(usize, Tier)> = Vec::new();
    for (i, t) in docs.iter().enumerate() {
        let f = |name: &str| format!("{at}.tiers[{i}].{name}");
        let from = required(e, &f("from_percent"), t.from_percent.as_ref())
            .and_then(|v| e.take(decimal(&f("from_percent"), v, Decimal::ZERO, Decimal::from(1000), 2, false)));
        let to_given = t.to_percent.as_ref().filter(|v| !v.is_null());
        let to =
            to_given.and_then(|v| e.take(decimal(&f("to_percent"), v, Decimal::ZERO, Decimal::from(1000), 2, true)));
        let multiplier = required(e, &f("multiplier"), t.multiplier.as_ref())
            .and_then(|v| e.take(decimal(&f("multiplier"), v, Decimal::ZERO, Decimal::TEN, 4, false)));
        if let (Some(from), Some(to)) = (from, to)
            && to <= from
        {
            let message = format!("{} must be above from_percent ({from})", f("to_percent"));
            e.push(FieldError::new(f("to_percent"), "empty_band", message));
            continue;
        }
        if let (Some(from_percent), Some(multiplier)) = (from, multiplier)
            && (to_given.is_none() || to.is_some())
        {
            out.push((i, Tier { from_percent, to_percent: to, multiplier }));
        }
    }
    out.sort_by_key(|a| a.1.from_percent);
    for pair in out.windows(2) {
        let ((_, a), (j, b)) = (&pair[0], &pair[1]);
        if a.to_percent.is_none_or(|to| to > b.from_percent) {
            let message = format!(
                "the band from {} % overlaps the one from {} %{}; bands are from_percent (inclusive) to to_percent (exclusive)",
                b.from_percent,
                a.from_percent,
                a.to_percent.map_or_else(|| String::from(" (open-ended)"), |to| format!(" to {to} %")),
            );
            e.push(FieldError::new(format!("{at}.tiers[{j}].from_percent"), "overlapping_tiers", message));
        }
    }
    out.into_iter().map(|(_, t)| t).collect()
}

fn clawback(e: &mut FieldErrors, at: &str, c: &ClawbackDoc) -> Option<Clawback> {
    let field = format!("{at}.clawback.within_days");
    let days = required(e, &field, c.within_days.as_ref()).and_then(|v| e.take(whole(&field, v, 1, MAX_CLAWBACK_DAYS)));
    let percent = match c.percent.as_ref().filter(|v| !v.is_null()) {
        Some(v) => e.take(decimal(&format!("{at}.clawback.percent"), v, Decimal::ZERO, Decimal::ONE_HUNDRED, 4, true)),
        None => Some(Decimal::ONE_HUNDRED),
    };
    Some(Clawback { within_days: u32::try_from(days?).ok()?, percent: percent? })
}

fn money(e: &mut FieldErrors, field: &str, v: Option<&Value>) -> Option<i64> {
    required(e, field, v).and_then(|v| e.take(Money::parse_json(field, v))).map(Money::cents)
}

fn prize(e: &mut FieldErrors, at: &str, p: &PrizeDoc) -> Option<Prize> {
    let f = |name: &str| format!("{at}.{name}");
    let unexpected = |e: &mut FieldErrors, name: &str, v: &Option<Value>, kind: &str| {
        if v.is_some() {
            e.push(FieldError::new(f(name), "not_allowed", format!("a {kind} prize has no {name}")));
        }
    };
    match required(e, &f("kind"), p.kind.as_deref()).map(str::trim) {
        Some("per_policy") => {
            unexpected(e, "at_least", &p.at_least, "per_policy");
            unexpected(e, "percent", &p.percent, "per_policy");
            money(e, &f("amount"), p.amount.as_ref()).map(|amount_cents| Prize::PerPolicy { amount_cents })
        }
        Some("threshold") => {
            unexpected(e, "percent", &p.percent, "threshold");
            let at_least_cents = money(e, &f("at_least"), p.at_least.as_ref());
            let amount_cents = money(e, &f("amount"), p.amount.as_ref());
            Some(Prize::Threshold { at_least_cents: at_least_cents?, amount_cents: amount_cents? })
        }
        Some("extra_rate") => {
            unexpected(e, "amount", &p.amount, "extra_rate");
            unexpected(e, "at_least", &p.at_least, "extra_rate");
            let field = f("percent");
            required(e, &field, p.percent.as_ref())
                .and_then(|v| e.take(decimal(&field, v, Decimal::ZERO, Decimal::ONE_HUNDRED, 4, true)))
                .map(|percent| Prize::ExtraRate { percent })
        }
        Some(other) => {
            e.push(FieldError::new(
                f("kind"),
                "invalid_prize",
                format!("{} must be per_policy, threshold or extra_rate; got {other:?}", f("kind")),
            ));
            None
        }
        None => None,
    }
}

fn incentives(e: &mut FieldErrors, at: &str, docs: &[IncentiveDoc]) -> Vec<Incentive> {
    if docs.len() > MAX_ITEMS {
        e.push(FieldError::new(format!("{at}.incentives"), "too_many", format!("at most {MAX_ITEMS} incentives")));
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let f = |name: &str| format!("{at}.incentives[{i}].{name}");
        let name = required(e, &f("name"), d.name.as_deref()).and_then(|n| e.take(Label::parse(&f("name"), n)));
        let from: Option<NaiveDate> =
            required(e, &f("from"), d.from.as_deref()).and_then(|v| e.take(parse_date(&f("from"), v)));
        let to: Option<NaiveDate> =
            required(e, &f("to"), d.to.as_deref()).and_then(|v| e.take(parse_date(&f("to"), v)));
        if let (Some(from), Some(to)) = (from, to)
            && to < from
        {
            e.push(FieldError::new(
                f("to"),
                "window_end_before_start",
                format!("{} ({to}) is before from ({from})", f("to")),
            ));
        }
        let product_id = required(e, &f("product_id"), d.product_id.as_ref())
            .and_then(|v| e.take(whole(&f("product_id"), v, 1, i64::MAX)));
        let prize = required(e, &f("prize"), d.prize.as_ref()).and_then(|p| prize(e, &f("prize"), p));
        if let (Some(name), Some(from), Some(to), Some(product_id), Some(prize)) = (name, from, to, product_id, prize)
            && from <= to
        {
            out.push(Incentive { name: name.into_inner(), from, to, product_id, prize });
        }
    }
    out
}

/// Validates a rules document into [`PlanRules`], naming each bad field under `at`
/// (`rules.base_rate`, `rules.tiers[1].from_percent`, …); every problem is reported.
pub fn parse(at: &str, doc: &RulesDoc) -> Result<PlanRules, Vec<FieldError>> {
    let mut e = FieldErrors::new();
    let base = format!("{at}.base_rate");
    let base_rate = required(&mut e, &base, doc.base_rate.as_ref()).and_then(|v| rate(&mut e, &base, v));
    let renewal_rate =
        doc.renewal_rate.as_ref().filter(|v| !v.is_null()).and_then(|v| rate(&mut e, &format!("{at}.renewal_rate"), v));
    let tiers = tiers(&mut e, at, &doc.tiers);
    let cap_cents = doc
        .cap
        .as_ref()
        .filter(|v| !v.is_null())
        .and_then(|v| e.take(Money::parse_json(&format!("{at}.cap"), v)))
        .map(Money::cents);
    let clawback = doc.clawback.as_ref().and_then(|c| clawback(&mut e, at, c));
    let incentives = incentives(&mut e, at, &doc.incentives);
    e.finish()?;
    let base_rate = base_rate.ok_or_else(|| vec![FieldError::required(base)])?;
    Ok(PlanRules { base_rate, renewal_rate, tiers, cap_cents, clawback, incentives })
}

fn text(d: Decimal) -> Value {
    Value::String(d.normalize().to_string())
}

fn amount(cents: i64) -> Value {
    Value::String(Money::from_cents(cents).to_string())
}

impl PlanRules {
    /// The canonical document of these rules: what is stored and shown (numbers as strings,
    /// tiers sorted); [`parse`] reads it back to the same rules.
    pub fn to_doc(&self) -> RulesDoc {
        RulesDoc {
            base_rate: Some(text(self.base_rate)),
            renewal_rate: self.renewal_rate.map(text),
            tiers: self
                .tiers
                .iter()
                .map(|t| TierDoc {
                    from_percent: Some(text(t.from_percent)),
                    to_percent: t.to_percent.map(text),
                    multiplier: Some(text(t.multiplier)),
                })
                .collect(),
            cap: self.cap_cents.map(amount),
            clawback: self
                .clawback
                .as_ref()
                .map(|c| ClawbackDoc { within_days: Some(Value::from(c.within_days)), percent: Some(text(c.percent)) }),
            incentives: self
                .incentives
                .iter()
                .map(|i| IncentiveDoc {
                    name: Some(i.name.clone()),
                    from: Some(i.from.to_string()),
                    to: Some(i.to.to_string()),
                    product_id: Some(Value::from(i.product_id)),
                    prize: Some(match &i.prize {
                        Prize::PerPolicy { amount_cents } => PrizeDoc {
                            kind: Some(String::from("per_policy")),
                            amount: Some(amount(*amount_cents)),
                            ..PrizeDoc::default()
                        },
                        Prize::Threshold { at_least_cents, amount_cents } => PrizeDoc {
                            kind: Some(String::from("threshold")),
                            amount: Some(amount(*amount_cents)),
                            at_least: Some(amount(*at_least_cents)),
                            ..PrizeDoc::default()
                        },
                        Prize::ExtraRate { percent } => PrizeDoc {
                            kind: Some(String::from("extra_rate")),
                            percent: Some(text(*percent)),
                            ..PrizeDoc::default()
                        },
                    }),
                })
                .collect(),
        }
    }
}
