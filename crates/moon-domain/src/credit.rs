//! Split credit: how a policy transaction's amount is shared between the agents it credits, to
//! the cent (ADR 0024, section 2). Pure: the policies component stores what this returns.
//!
//! Shares are basis points (`10_000` = 100 %). Each credit first gets its share truncated to the
//! cent; the few cents left over go one at a time to the credits whose truncation dropped the
//! most (largest remainder), ties to the larger share and then to the lower agent id, so the
//! answer is the same on every run and every backend. A negative amount is split as its absolute
//! value and negated, so a cancellation of a split premium mirrors its new business credit by
//! credit.

use crate::{FieldError, Money};

/// A signed amount in cents, sent as a JSON string or number (`"-1250.50"`): what a policy
/// transaction carries (negative where it takes value away). Held to [`Money`]'s rules apart from
/// the sign; zero is refused, since no transaction moves nothing.
pub fn parse_signed(field: &str, value: &serde_json::Value) -> Result<i64, FieldError> {
    let text = match value {
        serde_json::Value::String(s) => s.trim().to_owned(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return Money::parse_json(field, value).map(Money::cents),
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) if !rest.starts_with('-') => (true, rest),
        Some(_) => {
            return Err(FieldError::new(
                field,
                "invalid_amount",
                format!("{field} must be a decimal number such as -1250.50; got {text:?}"),
            ));
        }
        None => (false, text.as_str()),
    };
    let cents = Money::parse(field, digits).map(Money::cents).map_err(|e| {
        if e.code == "not_positive" { FieldError::new(field, "zero", format!("{field} must not be zero")) } else { e }
    })?;
    Ok(if negative { -cents } else { cents })
}

/// One whole: 100 % in basis points.
pub const WHOLE_BP: i64 = 10_000;

/// Most agents one transaction may credit.
pub const MAX_CREDITS: usize = 20;

/// One agent's share of a transaction, in basis points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// The credited agent.
    pub agent_id: i64,
    /// 1..=10,000.
    pub share_bp: i64,
}

/// A validated split: 1 to [`MAX_CREDITS`] shares, each above zero, of distinct agents, summing
/// to exactly [`WHOLE_BP`]. Private field: only [`Split::new`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split(Vec<Share>);

impl Split {
    /// Checks shares given as `credits[i]`; every problem is reported, by path.
    pub fn new(field: &str, shares: Vec<Share>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        if shares.is_empty() {
            errors.push(FieldError::new(field, "required", format!("{field} needs at least one credited agent")));
        }
        if shares.len() > MAX_CREDITS {
            errors.push(FieldError::new(
                field,
                "too_many",
                format!("at most {MAX_CREDITS} agents may share one transaction; got {}", shares.len()),
            ));
        }
        for (i, s) in shares.iter().enumerate() {
            if !(1..=WHOLE_BP).contains(&s.share_bp) {
                errors.push(FieldError::new(
                    format!("{field}[{i}].share_bp"),
                    "out_of_range",
                    format!("a share is 1 to 10000 basis points (0.01 % to 100 %); got {}", s.share_bp),
                ));
            }
            if shares[..i].iter().any(|o| o.agent_id == s.agent_id) {
                errors.push(FieldError::new(
                    format!("{field}[{i}].agent"),
                    "duplicate",
                    "an agent may appear once in a split; add the shares together",
                ));
            }
        }
        let total: i64 = shares.iter().map(|s| s.share_bp.clamp(0, WHOLE_BP)).sum();
        if !shares.is_empty() && total != WHOLE_BP {
            errors.push(FieldError::new(
                field,
                "shares_not_whole",
                format!("shares must sum to exactly 10000 basis points (100 %); they sum to {total}"),
            ));
        }
        if errors.is_empty() { Ok(Split(shares)) } else { Err(errors) }
    }

    /// The whole amount to one agent.
    pub fn sole(agent_id: i64) -> Self {
        Split(vec![Share { agent_id, share_bp: WHOLE_BP }])
    }

    /// The shares, in the order given.
    pub fn shares(&self) -> &[Share] {
        &self.0
    }

    /// Each share's credited cents, in the order of [`Split::shares`]; they sum to `amount_cents`
    /// exactly (see the module doc for the rule).
    pub fn credit(&self, amount_cents: i64) -> Vec<i64> {
        split(amount_cents, &self.0)
    }
}

/// The largest-remainder split of `amount_cents` by `shares` (which sum to [`WHOLE_BP`]); see
/// the module doc. Kept apart from [`Split`] so the property tests can call it directly.
fn split(amount_cents: i64, shares: &[Share]) -> Vec<i64> {
    let negative = amount_cents < 0;
    // i128: |amount| × 10,000 does not fit i64 near its limits.
    let whole = i128::from(amount_cents).abs();
    let bp = i128::from(WHOLE_BP);
    let mut cents: Vec<i128> = shares.iter().map(|s| whole * i128::from(s.share_bp) / bp).collect();
    let dropped: Vec<i128> = shares.iter().map(|s| whole * i128::from(s.share_bp) % bp).collect();
    let remainder = whole - cents.iter().sum::<i128>();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|&a, &b| {
        dropped[b]
            .cmp(&dropped[a])
            .then(shares[b].share_bp.cmp(&shares[a].share_bp))
            .then(shares[a].agent_id.cmp(&shares[b].agent_id))
    });
    // 0 <= remainder < shares.len(): each truncation drops less than one cent.
    for &i in order.iter().take(usize::try_from(remainder).unwrap_or(0)) {
        cents[i] += 1;
    }
    cents
        .into_iter()
        .map(|c| {
            let c = i64::try_from(c).unwrap_or(i64::MAX);
            if negative { -c } else { c }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(bp: &[(i64, i64)]) -> Vec<Share> {
        bp.iter().map(|&(agent_id, share_bp)| Share { agent_id, share_bp }).collect()
    }

    #[test]
    fn the_cent_left_over_goes_to_the_largest_dropped_fraction() {
        // 100 cents in three equal shares of 3333 bp + one of 1: 33.33 each would drop .33 cents.
        let s = Split::new("credits", shares(&[(7, 3333), (3, 3333), (5, 3334)])).unwrap();
        // 33.33, 33.33, 33.34: truncated 33, 33, 33 (Σ 99), dropped 3300, 3300, 3400.
        assert_eq!(s.credit(100), vec![33, 33, 34]);
        // 1000 cents: 333.3, 333.3, 333.4 -> 333, 333, 333 (Σ 999), dropped 3000, 3000, 4000: the
        // largest dropped fraction (agent 5) takes the cent.
        assert_eq!(s.credit(1000), vec![333, 333, 334]);
    }

    #[test]
    fn equal_fractions_go_to_the_larger_share_then_the_lower_agent_id() {
        // 5 cents, 50/50: 2.5 each; one cent left, equal fractions and shares: agent 2 (lower id).
        let s = Split::new("credits", shares(&[(9, 5000), (2, 5000)])).unwrap();
        assert_eq!(s.credit(5), vec![2, 3]);
        assert_eq!(s.credit(-5), vec![-2, -3], "negative mirrors positive credit by credit");
        // 3 cents, 60/20/20: 1.8, 0.6, 0.6 -> 1, 0, 0; dropped 8000, 6000, 6000; two cents left:
        // agent 1 (largest fraction), then agents 2 and 3 tie on fraction and share: agent 2.
        let s = Split::new("credits", shares(&[(1, 6000), (3, 2000), (2, 2000)])).unwrap();
        assert_eq!(s.credit(3), vec![2, 0, 1]);
        // A tie on the fraction broken by the larger share: 1 cent, 2500/7500 -> .25 and .75 have
        // different fractions; use 2 cents at 2500/2500/5000: .5, .5, 1.0 -> 0, 0, 1; the two
        // quarter shares tie on fraction and share, so the lower id (4) gets the cent.
        let s = Split::new("credits", shares(&[(6, 2500), (4, 2500), (8, 5000)])).unwrap();
        assert_eq!(s.credit(2), vec![0, 1, 1]);
        // Fraction tie broken by share: 7 cents at 5000/2500/2500 is 3.5, 1.75, 1.75 (no tie);
        // 6 cents at 7500/2500 -> 4.5, 1.5; tie on fraction, the larger share (agent 9) wins.
        let s = Split::new("credits", shares(&[(1, 2500), (9, 7500)])).unwrap();
        assert_eq!(s.credit(6), vec![1, 5]);
    }

    #[test]
    fn signed_amounts_parse_exactly() {
        use serde_json::json;
        assert_eq!(parse_signed("amount", &json!("-1250.50")).unwrap(), -125_050);
        assert_eq!(parse_signed("amount", &json!(-0.1)).unwrap(), -10);
        assert_eq!(parse_signed("amount", &json!("10")).unwrap(), 1_000);
        assert_eq!(parse_signed("amount", &json!("0")).unwrap_err().code, "zero");
        assert_eq!(parse_signed("amount", &json!("--1")).unwrap_err().code, "invalid_amount");
        assert_eq!(parse_signed("amount", &json!("-1.001")).unwrap_err().code, "too_precise");
        assert_eq!(parse_signed("amount", &json!(null)).unwrap_err().code, "required");
    }

    #[test]
    fn sole_credit_takes_everything() {
        assert_eq!(Split::sole(4).credit(12_345), vec![12_345]);
        assert_eq!(Split::sole(4).credit(-1), vec![-1]);
    }

    #[test]
    fn bad_splits_name_every_problem() {
        let e = Split::new("credits", shares(&[(1, 0), (1, 6000), (2, 20_000)])).unwrap_err();
        let got: Vec<(&str, &str)> = e.iter().map(|f| (f.field.as_str(), f.code)).collect();
        assert_eq!(
            got,
            vec![
                ("credits[0].share_bp", "out_of_range"),
                ("credits[1].agent", "duplicate"),
                ("credits[2].share_bp", "out_of_range"),
                ("credits", "shares_not_whole"),
            ]
        );
        assert!(Split::new("credits", vec![]).is_err());
        let many: Vec<Share> = (0..21).map(|i| Share { agent_id: i, share_bp: 476 }).collect();
        assert!(Split::new("credits", many).unwrap_err().iter().any(|f| f.code == "too_many"));
    }

    /// splitmix64: a fixed seed, so a failure reproduces.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> i64 {
            i64::try_from(self.next() % n).unwrap()
        }

        /// Random shares of `n` distinct agents summing to 10,000, each at least 1.
        fn shares(&mut self, n: usize) -> Vec<Share> {
            let mut cuts: Vec<i64> = (0..n - 1).map(|_| 1 + self.below(9_999)).collect();
            cuts.sort_unstable();
            cuts.dedup();
            let mut bounds = vec![0];
            bounds.extend(cuts);
            bounds.push(WHOLE_BP);
            bounds
                .windows(2)
                .enumerate()
                .map(|(i, w)| Share {
                    agent_id: 1 + self.below(1_000) * 100 + i64::try_from(i).unwrap(),
                    share_bp: w[1] - w[0],
                })
                .collect()
        }
    }

    #[test]
    fn random_splits_are_exact_fair_and_symmetric() {
        let mut g = Gen(0x5EED_0024);
        for case in 0..20_000 {
            let n = 1 + usize::try_from(g.below(MAX_CREDITS as u64)).unwrap();
            let shares = g.shares(n);
            let split = Split::new("credits", shares.clone()).unwrap();
            let amount = match case % 3 {
                0 => g.below(1_000),
                1 => g.below(100_000_000_000),
                _ => 1 + g.below(99),
            };
            let credits = split.credit(amount);
            assert_eq!(credits.iter().sum::<i64>(), amount, "case {case}: {shares:?} of {amount}");
            for (s, c) in shares.iter().zip(&credits) {
                // |c − amount × bp / 10,000| < 1 cent, compared in whole units of 1/10,000 cent.
                let exact = i128::from(amount) * i128::from(s.share_bp);
                let diff = (i128::from(*c) * i128::from(WHOLE_BP) - exact).abs();
                assert!(diff < i128::from(WHOLE_BP), "case {case}: credit {c} of {s:?} is a cent or more off");
            }
            let negated: Vec<i64> = credits.iter().map(|c| -c).collect();
            assert_eq!(split.credit(-amount), negated, "case {case}: negative mirrors positive");
        }
    }
}
