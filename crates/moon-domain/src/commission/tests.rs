//! The commission arithmetic and the rules' validation: examples at the boundaries, and
//! property-style checks over many generated cases (a fixed-seed generator, so a failure
//! reproduces; no floats anywhere).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::json;

use super::*;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn rules(doc: serde_json::Value) -> PlanRules {
    let doc: RulesDoc = serde_json::from_value(doc).unwrap();
    parse("rules", &doc).unwrap()
}

fn errors(doc: serde_json::Value) -> Vec<(String, &'static str)> {
    let doc: RulesDoc = serde_json::from_value(doc).unwrap();
    let mut out: Vec<(String, &'static str)> =
        parse("rules", &doc).unwrap_err().into_iter().map(|e| (e.field, e.code)).collect();
    out.sort();
    out
}

/// The plan of the example: 5 %, 1.2× from 100 %, 1.5× from 150 %, capped at 1,000.00.
fn tiered() -> PlanRules {
    rules(json!({
        "base_rate": "5", "renewal_rate": 2,
        "tiers": [
            {"from_percent": 150, "multiplier": "1.5"},
            {"from_percent": 0, "to_percent": 100, "multiplier": 1},
            {"from_percent": "100", "to_percent": "150", "multiplier": "1.2"}
        ],
        "cap": "1000.00",
        "clawback": {"within_days": 30}
    }))
}

#[test]
fn the_accelerator_applies_from_exactly_100_percent() {
    let r = tiered();
    assert_eq!(r.multiplier(Some(d("99.99"))), Decimal::ONE);
    assert_eq!(r.multiplier(Some(d("100"))), d("1.2"), "the lower bound is inclusive");
    assert_eq!(r.multiplier(Some(d("100.00"))), d("1.2"));
    assert_eq!(r.multiplier(Some(d("149.99"))), d("1.2"));
    assert_eq!(r.multiplier(Some(d("150"))), d("1.5"), "the upper bound is exclusive");
    assert_eq!(r.multiplier(Some(d("900"))), d("1.5"));
    assert_eq!(r.multiplier(None), Decimal::ONE, "no target: no accelerator");
    // 1,000.00 sold at exactly 100 %: 5 % × 1.2 = 60.00.
    let c = commission(&r, RateKind::NewBusiness, 100_000, Some(d("100")), 0);
    assert_eq!((c.rate, c.multiplier, c.uncapped_cents, c.cents), (d("5"), d("1.2"), 6_000, 6_000));
    let below = commission(&r, RateKind::NewBusiness, 100_000, Some(d("99.999")), 0);
    assert_eq!(below.cents, 5_000);
}

#[test]
fn gaps_between_bands_pay_the_base_commission() {
    let r = rules(json!({"base_rate": 10, "tiers": [{"from_percent": 120, "multiplier": 2}]}));
    assert_eq!(r.multiplier(Some(d("110"))), Decimal::ONE);
    assert_eq!(commission(&r, RateKind::NewBusiness, 1_000, Some(d("120")), 0).cents, 200);
}

#[test]
fn renewals_use_the_renewal_rate_or_the_base_rate() {
    let r = tiered();
    assert_eq!(commission(&r, RateKind::Renewal, 10_000, None, 0).cents, 200);
    let plain = rules(json!({"base_rate": "7.5"}));
    assert_eq!(commission(&plain, RateKind::Renewal, 10_000, None, 0).cents, 750);
}

#[test]
fn rounding_is_half_away_from_zero_once_per_line() {
    let r = rules(json!({"base_rate": "2.5"}));
    // 0.30 × 2.5 % = 0.75 cents → 1; -0.30 → -1; 0.10 × 2.5 % = 0.25 cents → 0.
    assert_eq!(commission(&r, RateKind::NewBusiness, 30, None, 0).cents, 1);
    assert_eq!(commission(&r, RateKind::NewBusiness, -30, None, 0).cents, -1);
    assert_eq!(commission(&r, RateKind::NewBusiness, 10, None, 0).cents, 0);
    // 0.20 × 2.5 % = exactly half a cent → 1 (away from zero), and -1 for the reversal.
    assert_eq!(commission(&r, RateKind::NewBusiness, 20, None, 0).cents, 1);
    assert_eq!(commission(&r, RateKind::NewBusiness, -20, None, 0).cents, -1);
    // Rounded after the multiplier, not before: 1.00 × 3.3333 % × 1.5 = 4.99995 cents → 5.
    let t = rules(json!({"base_rate": "3.3333", "tiers": [{"from_percent": 0, "multiplier": "1.5"}]}));
    assert_eq!(commission(&t, RateKind::NewBusiness, 100, Some(Decimal::ZERO), 0).cents, 5);
}

#[test]
fn the_cap_limits_positive_lines_to_what_is_left() {
    let r = tiered();
    let c = commission(&r, RateKind::NewBusiness, 100_000, Some(d("100")), 95_000);
    assert_eq!((c.uncapped_cents, c.cents, c.capped()), (6_000, 5_000, true));
    let full = commission(&r, RateKind::NewBusiness, 100_000, Some(d("100")), 100_000);
    assert_eq!(full.cents, 0, "nothing left of the cap");
    let over = commission(&r, RateKind::NewBusiness, 100_000, Some(d("100")), 120_000);
    assert_eq!(over.cents, 0, "never negative because of the cap");
    let down = commission(&r, RateKind::NewBusiness, -100_000, Some(d("100")), 100_000);
    assert_eq!((down.cents, down.capped()), (-6_000, false), "negative lines are never capped");
}

#[test]
fn clawback_counts_days_inclusively() {
    let rule = Clawback { within_days: 30, percent: d("100") };
    let sold = day("2026-11-01");
    assert_eq!(clawback(Some(&rule), sold, day("2026-12-01"), 6_000), -6_000, "day 30 claws back");
    assert_eq!(clawback(Some(&rule), sold, day("2026-12-02"), 6_000), 0, "day 31 does not");
    assert_eq!(clawback(None, sold, day("2026-11-02"), 6_000), 0, "no rule, no clawback");
    let half = Clawback { within_days: 7, percent: d("50") };
    assert_eq!(clawback(Some(&half), sold, sold, 101), -51, "50.5 cents rounds away from zero");
}

#[test]
fn contests_pay_by_their_prize_rule() {
    let r = rules(json!({"base_rate": 1, "incentives": [
        {"name": "December drive", "from": "2026-12-01", "to": "2026-12-31", "product_id": 3,
         "prize": {"kind": "per_policy", "amount": "25.00"}},
        {"name": "Big one", "from": "2026-12-01", "to": "2026-12-31", "product_id": 3,
         "prize": {"kind": "threshold", "at_least": "10000", "amount": "500"}},
        {"name": "Extra", "from": "2026-12-01", "to": "2026-12-01", "product_id": 4,
         "prize": {"kind": "extra_rate", "percent": "0.5"}}
    ]}));
    let [per, threshold, extra] = [&r.incentives[0], &r.incentives[1], &r.incentives[2]];
    assert!(per.counts(3, day("2026-12-01")) && per.counts(3, day("2026-12-31")));
    assert!(!per.counts(3, day("2027-01-01")) && !per.counts(4, day("2026-12-05")));
    assert_eq!(per.award(4, 0), 10_000);
    assert_eq!(threshold.award(1, 999_999), 0);
    assert_eq!(threshold.award(1, 1_000_000), 50_000, "the threshold is inclusive");
    assert_eq!(extra.award(1, 12_345), 62, "0.5 % of 123.45 = 61.725 cents");
    assert_eq!(extra.award(1, -12_345), 0, "a prize is never negative");
}

#[test]
fn every_bad_field_is_reported_with_its_path() {
    let e = errors(json!({
        "base_rate": "-1", "renewal_rate": "101",
        "tiers": [
            {"from_percent": 0, "to_percent": 110, "multiplier": 1},
            {"from_percent": 100, "multiplier": "-2"},
            {"from_percent": 100, "multiplier": 1.25},
            {"from_percent": 50, "to_percent": 50, "multiplier": 1},
            {"multiplier": "1.000001"}
        ],
        "cap": "0",
        "clawback": {"within_days": 0, "percent": 0},
        "incentives": [
            {"name": " ", "from": "2026-12-31", "to": "2026-12-01", "product_id": 0, "prize": {"kind": "lottery"}},
            {"name": "x", "from": "2026-02-30", "to": "2026-03-01", "product_id": 1,
             "prize": {"kind": "threshold", "amount": "5", "percent": 1}}
        ]
    }));
    let want = [
        ("rules.base_rate", "out_of_range"),
        ("rules.cap", "not_positive"),
        ("rules.clawback.percent", "out_of_range"),
        ("rules.clawback.within_days", "out_of_range"),
        ("rules.incentives[0].name", "blank"),
        ("rules.incentives[0].prize.kind", "invalid_prize"),
        ("rules.incentives[0].product_id", "out_of_range"),
        ("rules.incentives[0].to", "window_end_before_start"),
        ("rules.incentives[1].from", "invalid_date"),
        ("rules.incentives[1].prize.at_least", "required"),
        ("rules.incentives[1].prize.percent", "not_allowed"),
        ("rules.renewal_rate", "out_of_range"),
        ("rules.tiers[1].multiplier", "out_of_range"),
        ("rules.tiers[2].from_percent", "overlapping_tiers"),
        ("rules.tiers[3].to_percent", "empty_band"),
        ("rules.tiers[4].from_percent", "required"),
        ("rules.tiers[4].multiplier", "too_precise"),
    ];
    let got: Vec<(&str, &str)> = e.iter().map(|(f, c)| (f.as_str(), *c)).collect();
    assert_eq!(got, want);
    assert_eq!(errors(json!({})), vec![(String::from("rules.base_rate"), "required")]);
}

#[test]
fn bands_that_touch_do_not_overlap_but_an_open_band_before_another_does() {
    let ok = rules(json!({"base_rate": 1, "tiers": [
        {"from_percent": 100, "to_percent": 120, "multiplier": "1.1"},
        {"from_percent": 120, "multiplier": "1.3"}
    ]}));
    assert_eq!(ok.tiers.len(), 2);
    let e = errors(json!({"base_rate": 1, "tiers": [
        {"from_percent": 100, "multiplier": "1.1"},
        {"from_percent": 120, "to_percent": 130, "multiplier": "1.3"}
    ]}));
    assert_eq!(e, vec![(String::from("rules.tiers[1].from_percent"), "overlapping_tiers")]);
}

#[test]
fn the_stored_document_reads_back_as_the_same_rules() {
    let r = tiered();
    let doc = r.to_doc();
    let text = serde_json::to_string(&doc).unwrap();
    let again: RulesDoc = serde_json::from_str(&text).unwrap();
    assert_eq!(parse("rules", &again).unwrap(), r);
    assert_eq!(doc.tiers[0].from_percent, Some(json!("0")), "tiers are stored sorted");
    assert_eq!(doc.cap, Some(json!("1000.00")));
    assert_eq!(doc.clawback.as_ref().and_then(|c| c.percent.clone()), Some(json!("100")));
}

/// splitmix64: a fixed-seed generator for property-style checks without a dependency.
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

    /// A decimal with `places` places, from 0 up to `max_units` units.
    fn decimal(&mut self, max_units: u64, places: u32) -> Decimal {
        let scale = 10u64.pow(places);
        Decimal::new(self.below(max_units * scale + 1), places)
    }
}

fn random_rules(g: &mut Gen) -> PlanRules {
    let mut tiers = Vec::new();
    let mut from = Decimal::ZERO;
    for _ in 0..g.below(4) {
        let width = g.decimal(80, 2) + Decimal::new(1, 2);
        tiers.push(Tier { from_percent: from, to_percent: Some(from + width), multiplier: g.decimal(3, 4) });
        from += width + g.decimal(10, 2);
    }
    if g.below(2) == 0 {
        tiers.push(Tier { from_percent: from, to_percent: None, multiplier: g.decimal(5, 4) });
    }
    PlanRules {
        base_rate: g.decimal(30, 4),
        renewal_rate: None,
        tiers,
        cap_cents: (g.below(2) == 0).then(|| g.below(5_000_000) + 1),
        clawback: None,
        incentives: Vec::new(),
    }
}

#[test]
fn property_the_commission_is_exact_to_the_cent() {
    let mut g = Gen(0x5EED_2026_1207);
    for _ in 0..20_000 {
        let r = random_rules(&mut g);
        let credited = g.below(2_000_000_000) - 1_000_000_000;
        let attainment = (g.below(5) != 0).then(|| g.decimal(300, 2));
        let c = commission(&r, RateKind::NewBusiness, credited, attainment, 0);
        // Exact value in units of 1/1,000,000 cent: rate and multiplier have four places each.
        let exact = Decimal::from(credited) * c.rate * c.multiplier / Decimal::ONE_HUNDRED;
        let diff = (Decimal::from(c.uncapped_cents) - exact).abs();
        assert!(
            diff <= Decimal::new(5, 1),
            "{credited} × {} × {}: {} vs {exact}",
            c.rate,
            c.multiplier,
            c.uncapped_cents
        );
        if diff == Decimal::new(5, 1) {
            assert!(Decimal::from(c.uncapped_cents).abs() > exact.abs(), "a half cent rounds away from zero");
        }
        // The multiplier is the one of the band holding the attainment (or 1).
        let band = attainment
            .and_then(|a| r.tiers.iter().find(|t| t.from_percent <= a && t.to_percent.is_none_or(|to| a < to)));
        assert_eq!(c.multiplier, band.map_or(Decimal::ONE, |t| t.multiplier));
    }
}

#[test]
fn property_a_reversal_cancels_its_line_to_the_cent() {
    let mut g = Gen(42);
    for _ in 0..20_000 {
        let mut r = random_rules(&mut g);
        r.cap_cents = None;
        let credited = g.below(10_000_000_000);
        let attainment = Some(g.decimal(300, 2));
        let up = commission(&r, RateKind::NewBusiness, credited, attainment, 0).cents;
        let down = commission(&r, RateKind::NewBusiness, -credited, attainment, 0).cents;
        assert_eq!(up + down, 0, "{credited} under {r:?}");
        let rule = Clawback { within_days: 30, percent: Decimal::ONE_HUNDRED };
        assert_eq!(clawback(Some(&rule), day("2026-01-01"), day("2026-01-31"), up), -up);
    }
}

#[test]
fn property_lines_in_sequence_never_pass_the_cap() {
    let mut g = Gen(7);
    for _ in 0..2_000 {
        let mut r = random_rules(&mut g);
        let cap = g.below(1_000_000) + 1;
        r.cap_cents = Some(cap);
        let attainment = Some(g.decimal(200, 2));
        let (mut earned, mut uncapped) = (0i64, 0i64);
        for _ in 0..g.below(40) {
            let c = commission(&r, RateKind::NewBusiness, g.below(50_000_000), attainment, earned);
            assert!(c.cents >= 0 && c.cents <= c.uncapped_cents);
            earned += c.cents;
            uncapped += c.uncapped_cents;
            assert!(earned <= cap, "{earned} > cap {cap}");
        }
        assert_eq!(earned, uncapped.min(cap), "the cap takes only what exceeds it");
    }
}
