//! Commission plan rules and the commission they pay, with no I/O (issue 15, item 4; see
//! `docs/adr/0024-policy-lifecycle-and-commissions.md`).
//!
//! A plan version's [`PlanRules`] are parsed once at the edge ([`parse`]) and stored as the
//! canonical document [`RulesDoc`]; statements (a later slice) call [`commission`],
//! [`clawback`] and [`Incentive::award`] on them. Everything is exact: rates and multipliers are
//! [`Decimal`]s, amounts are cents, and each result is rounded once, half away from zero, to
//! the cent — so a line and its reversal cancel to the cent.

mod parse;

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};

pub use parse::{ClawbackDoc, IncentiveDoc, PrizeDoc, RulesDoc, TierDoc, parse};

/// One accelerator band: from `from_percent` attainment (inclusive) up to `to_percent`
/// (exclusive; open-ended when `None`), the base commission is multiplied by `multiplier`.
/// Inclusive lower bounds mean "1.2× from 100 %" pays 1.2× at exactly 100 %.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    /// Lowest attainment (percent of the period's target) in the band, inclusive.
    pub from_percent: Decimal,
    /// First attainment above the band (exclusive), or `None` for "and above".
    pub to_percent: Option<Decimal>,
    /// Factor on the base commission, such as 1.2.
    pub multiplier: Decimal,
}

impl Tier {
    /// Whether `attainment` (percent) falls in this band: `from <= a < to`.
    pub fn contains(&self, attainment: Decimal) -> bool {
        attainment >= self.from_percent && self.to_percent.is_none_or(|to| attainment < to)
    }
}

/// A cancellation or lapse within `within_days` of the sale (inclusive) takes back `percent` of
/// the commission paid on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clawback {
    /// Days after the sale during which a cancellation claws back (day `within_days` included).
    pub within_days: u32,
    /// Share of the paid commission taken back, 0 < percent <= 100.
    pub percent: Decimal,
}

/// What a contest pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prize {
    /// A fixed amount (cents) for every policy of the product sold in the window.
    PerPolicy {
        /// Cents per policy.
        amount_cents: i64,
    },
    /// A fixed amount (cents), once, when the credited amount in the window reaches a threshold.
    Threshold {
        /// Credited cents needed in the window (inclusive).
        at_least_cents: i64,
        /// Cents paid once.
        amount_cents: i64,
    },
    /// An extra percentage of the credited amount in the window.
    ExtraRate {
        /// Percent of the credited amount.
        percent: Decimal,
    },
}

/// A one-off incentive: a contest on one product over a window of days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incentive {
    /// What the sales force calls it.
    pub name: String,
    /// First day of the window (inclusive).
    pub from: NaiveDate,
    /// Last day of the window (inclusive).
    pub to: NaiveDate,
    /// The product whose sales count.
    pub product_id: i64,
    /// What it pays.
    pub prize: Prize,
}

impl Incentive {
    /// Whether a transaction of `product_id` dated `on` counts for this contest.
    pub fn counts(&self, product_id: i64, on: NaiveDate) -> bool {
        product_id == self.product_id && self.from <= on && on <= self.to
    }

    /// The prize for an agent who sold `policies` policies for `credited_cents` (net) of the
    /// product in the window; never negative.
    pub fn award(&self, policies: u64, credited_cents: i64) -> i64 {
        let award = match &self.prize {
            Prize::PerPolicy { amount_cents } => {
                i64::try_from(policies).ok().and_then(|n| n.checked_mul(*amount_cents)).unwrap_or(i64::MAX)
            }
            Prize::Threshold { at_least_cents, amount_cents } => {
                if credited_cents >= *at_least_cents {
                    *amount_cents
                } else {
                    0
                }
            }
            Prize::ExtraRate { percent } => percent_of(credited_cents, *percent, Decimal::ONE),
        };
        award.max(0)
    }
}

/// One version's rules: what it pays on a credited amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRules {
    /// Percent of a new-business (or endorsement) credited amount, such as 5 or 2.5.
    pub base_rate: Decimal,
    /// Percent of a renewal's credited amount; the base rate when absent.
    pub renewal_rate: Option<Decimal>,
    /// Accelerators by attainment, sorted, not overlapping; none: always 1×.
    pub tiers: Vec<Tier>,
    /// Most commission (cents) one person earns under the plan in one period.
    pub cap_cents: Option<i64>,
    /// What a cancellation soon after the sale takes back.
    pub clawback: Option<Clawback>,
    /// Contests.
    pub incentives: Vec<Incentive>,
}

/// Which base rate applies to a credited amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateKind {
    /// New business and endorsements (up or down): the base rate.
    NewBusiness,
    /// Renewals: the renewal rate (or the base rate).
    Renewal,
}

/// The commission of one credited amount, with how it was reached (a statement line shows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commission {
    /// The rate applied, percent.
    pub rate: Decimal,
    /// The accelerator applied (1 when no tier matched or the attainment is unknown).
    pub multiplier: Decimal,
    /// `credited × rate / 100 × multiplier`, rounded half away from zero to the cent.
    pub uncapped_cents: i64,
    /// What is paid: the uncapped amount, limited by what the cap leaves.
    pub cents: i64,
}

impl Commission {
    /// Whether the cap took something away.
    pub fn capped(&self) -> bool {
        self.cents != self.uncapped_cents
    }
}

/// `cents × percent / 100 × factor`, exact, then rounded once half away from zero to the cent
/// (saturating at the `i64` range, far beyond any real amount).
pub fn percent_of(cents: i64, percent: Decimal, factor: Decimal) -> i64 {
    let exact = Decimal::from(cents)
        .checked_mul(percent)
        .and_then(|v| v.checked_mul(factor))
        .and_then(|v| v.checked_div(Decimal::ONE_HUNDRED));
    match exact {
        Some(v) => {
            let rounded = v.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
            i64::try_from(rounded).unwrap_or(if rounded.is_sign_negative() { i64::MIN } else { i64::MAX })
        }
        None if (cents < 0) != percent.is_sign_negative() => i64::MIN,
        None => i64::MAX,
    }
}

impl PlanRules {
    /// The accelerator for a period attainment (percent of target): the tier containing it, or
    /// 1 when none does or the attainment is unknown (no target for the period).
    pub fn multiplier(&self, attainment: Option<Decimal>) -> Decimal {
        attainment.and_then(|a| self.tiers.iter().find(|t| t.contains(a))).map_or(Decimal::ONE, |t| t.multiplier)
    }

    /// The base rate for a kind of credited amount.
    pub fn rate(&self, kind: RateKind) -> Decimal {
        match kind {
            RateKind::NewBusiness => self.base_rate,
            RateKind::Renewal => self.renewal_rate.unwrap_or(self.base_rate),
        }
    }
}

/// The commission of one credited amount under `rules`.
///
/// - `credited_cents`: the agent's credited share of a transaction (negative for an endorsement
///   down; cancellations go through [`clawback`] instead).
/// - `attainment`: the period's attainment of the person's target, percent (`None`: no target).
///   Statements use the attainment at close, so every line of a period gets the same tier.
/// - `earned_before_cents`: commission already paid under this plan in the period, for the cap.
///
/// Rounding: once per line, half away from zero, after the multiplier and before the cap, so
/// `commission(-x) == -commission(x)` for uncapped lines. The cap limits positive lines to what
/// is left of it (never below zero); negative lines are never capped.
pub fn commission(
    rules: &PlanRules,
    kind: RateKind,
    credited_cents: i64,
    attainment: Option<Decimal>,
    earned_before_cents: i64,
) -> Commission {
    let rate = rules.rate(kind);
    let multiplier = rules.multiplier(attainment);
    let uncapped_cents = percent_of(credited_cents, rate, multiplier);
    let cents = match rules.cap_cents {
        Some(cap) if uncapped_cents > 0 => uncapped_cents.min(cap.saturating_sub(earned_before_cents).max(0)),
        _ => uncapped_cents,
    };
    Commission { rate, multiplier, uncapped_cents, cents }
}

/// What a cancellation or lapse on `cancelled_on` of a sale made on `sold_on` takes back of the
/// `paid_cents` commission paid on it: `-(paid × percent / 100)`, rounded half away from zero,
/// when it falls within the rule's days (the day count is inclusive); 0 otherwise or without a
/// rule.
pub fn clawback(rule: Option<&Clawback>, sold_on: NaiveDate, cancelled_on: NaiveDate, paid_cents: i64) -> i64 {
    let Some(rule) = rule else { return 0 };
    let days = (cancelled_on - sold_on).num_days().max(0);
    if days <= i64::from(rule.within_days) {
        percent_of(paid_cents, rule.percent, Decimal::ONE).saturating_neg()
    } else {
        0
    }
}

#[cfg(test)]
mod tests;
