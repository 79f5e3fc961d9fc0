//! The detectors themselves: pure decisions over plain observations, each returning a
//! [`Finding`] that says what fired, about what, in which window, with which figures, and why in
//! a sentence an admin can act on. The job (`super::job`) gathers the observations and stores
//! what these return; keeping the decisions pure is what lets their thresholds be unit-tested.

use chrono::NaiveDate;
use moon_domain::Money;
use serde_json::json;

use super::settings::{BranchDay, Burst, Outlier, PastSale};
use super::stats::Spread;

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Many failed sign-ins for one account.
    FailedSignInsAccount,
    /// Many failed sign-ins from one address.
    FailedSignInsAddress,
    /// A sign-in from an address never seen for that user.
    NewSignInAddress,
    /// One API token used from many addresses.
    TokenManyAddresses,
    /// A burst of permission-denied answers for one principal.
    PermissionDeniedBurst,
    /// A sale far above the agent's usual range.
    SaleAmountOutlier,
    /// A sale dated far before it was recorded.
    SaleFarInPast,
    /// Many sales in minutes from one principal.
    SalesBurst,
    /// Sales with the same agent, product, amount and day.
    DuplicateSale,
    /// A branch's daily total far off its same-weekday pattern.
    BranchDayOutlier,
}

impl Kind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [Kind; 10] = [
        Kind::FailedSignInsAccount,
        Kind::FailedSignInsAddress,
        Kind::NewSignInAddress,
        Kind::TokenManyAddresses,
        Kind::PermissionDeniedBurst,
        Kind::SaleAmountOutlier,
        Kind::SaleFarInPast,
        Kind::SalesBurst,
        Kind::DuplicateSale,
        Kind::BranchDayOutlier,
    ];

    /// The stored and metric label name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::FailedSignInsAccount => "failed_sign_ins_account",
            Kind::FailedSignInsAddress => "failed_sign_ins_address",
            Kind::NewSignInAddress => "new_sign_in_address",
            Kind::TokenManyAddresses => "token_many_addresses",
            Kind::PermissionDeniedBurst => "permission_denied_burst",
            Kind::SaleAmountOutlier => "sale_amount_outlier",
            Kind::SaleFarInPast => "sale_far_in_past",
            Kind::SalesBurst => "sales_burst",
            Kind::DuplicateSale => "duplicate_sale",
            Kind::BranchDayOutlier => "branch_day_outlier",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One thing a detector noticed.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The detector.
    pub kind: Kind,
    /// What it is about: `sale:12`, `agent:AGT001`, `user:3`, `address:203.0.113.7`, …
    pub subject: String,
    /// The window it covers (`2026-12-07`, `2026-12-07T10`, `2026-12-07T10:05`): with kind
    /// and subject, what makes it one finding.
    pub window: String,
    /// The figures that fired it.
    pub figures: serde_json::Value,
    /// Why, in one sentence.
    pub why: String,
}

/// `1234567.80` as `1,234,567.80`: amounts in the sentences are read by people.
pub fn grouped(cents: i64) -> String {
    let plain = Money::from_cents(cents).to_string();
    let (sign, rest) = plain.strip_prefix('-').map_or(("", plain.as_str()), |r| ("-", r));
    let (whole, frac) = rest.split_once('.').unwrap_or((rest, "00"));
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}.{frac}")
}

/// One sale as the data detectors see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleSeen {
    /// Sale id.
    pub id: i64,
    /// The agent's code.
    pub agent: String,
    /// Product id.
    pub product_id: i64,
    /// Amount in cents.
    pub amount_cents: i64,
    /// The sale's date.
    pub sale_date: NaiveDate,
    /// The business day it was recorded on.
    pub recorded_on: NaiveDate,
}

/// A sale far above the agent's earlier sales (`history`, this sale excluded).
pub fn sale_amount(s: &Outlier, sale: &SaleSeen, history: &[i64]) -> Option<Finding> {
    if !s.enabled || history.len() < s.min_history {
        return None;
    }
    let spread = Spread::of(history)?;
    let score = spread.score(sale.amount_cents);
    (score >= s.mads).then(|| Finding {
        kind: Kind::SaleAmountOutlier,
        subject: format!("sale:{}", sale.id),
        window: sale.sale_date.to_string(),
        figures: json!({
            "sale_id": sale.id, "agent": sale.agent, "amount": Money::from_cents(sale.amount_cents),
            "median": Money::from_cents(spread.median), "mad": Money::from_cents(spread.mad),
            "mads": round1(score), "history": spread.count, "threshold_mads": s.mads,
        }),
        why: format!(
            "amount {} is {:.1} MADs above agent {}'s median {} over {} sales (threshold {} MADs)",
            grouped(sale.amount_cents),
            score,
            sale.agent,
            grouped(spread.median),
            spread.count,
            s.mads
        ),
    })
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Sales one principal recorded on one day that are dated more than the configured days before
/// that day: one finding per principal and day, not one per sale. A backfill of old business
/// through the API is thousands of such sales at once, and an alert per sale buried the admins'
/// inbox and cost the write path a transaction each; what needs a look is who is doing it and
/// how much. Later sales of the same principal that day add no second alert.
///
/// `sales` are in the order they were recorded.
pub fn past_sales(s: &PastSale, actor: &str, recorded_on: NaiveDate, sales: &[Backdated]) -> Option<Finding> {
    if !s.enabled {
        return None;
    }
    let old: Vec<&Backdated> =
        sales.iter().filter(|(_, _, date)| (recorded_on - *date).num_days() > i64::from(s.days)).collect();
    let oldest = old.iter().map(|(_, _, d)| *d).min()?;
    let days = (recorded_on - oldest).num_days();
    let ids: Vec<i64> = old.iter().map(|(id, _, _)| *id).take(PAST_SALE_IDS_SHOWN).collect();
    let shown = ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let more = if old.len() > ids.len() { format!(" and {} more", old.len() - ids.len()) } else { String::new() };
    let first = old.first().map(|(_, agent, _)| agent.as_str()).unwrap_or_default();
    Some(Finding {
        kind: Kind::SaleFarInPast,
        subject: actor.to_owned(),
        window: recorded_on.to_string(),
        figures: json!({"actor": actor, "recorded_on": recorded_on, "sales": old.len(), "oldest_sale_date": oldest,
            "days": days, "threshold_days": s.days, "sale_ids": ids}),
        why: format!(
            "{actor} recorded {} sale{} on {recorded_on} dated more than {} days back, the oldest on {oldest}, \
             {days} days before it was recorded (sales {shown}{more}; first of agent {first})",
            old.len(),
            if old.len() == 1 { "" } else { "s" },
            s.days,
        ),
    })
}

/// A sale as the past-sales detector sees it: id, agent code, sale date.
pub type Backdated = (i64, String, NaiveDate);

/// Sale ids a past-sales finding lists; the count says how many there were.
const PAST_SALE_IDS_SHOWN: usize = 20;

/// Sales sharing agent, product, amount and day (`ids`, this sale's included).
pub fn duplicate_sale(sale: &SaleSeen, ids: &[i64]) -> Option<Finding> {
    (ids.len() >= 2).then(|| Finding {
        kind: Kind::DuplicateSale,
        subject: format!("agent:{}/product:{}/amount:{}", sale.agent, sale.product_id, sale.amount_cents),
        window: sale.sale_date.to_string(),
        figures: json!({"agent": sale.agent, "product_id": sale.product_id,
            "amount": Money::from_cents(sale.amount_cents), "sale_date": sale.sale_date, "sale_ids": ids}),
        why: format!(
            "{} sales of {} by agent {} for product {} on {} (ids {})",
            ids.len(),
            grouped(sale.amount_cents),
            sale.agent,
            sale.product_id,
            sale.sale_date,
            ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        ),
    })
}

/// A branch's total on `date` against the totals of the same weekday in earlier weeks (days with
/// sales only). Above the pattern always counts; below only once the day is over (`complete`),
/// since today's total is still growing.
pub fn branch_day(
    s: &BranchDay,
    branch: &str,
    date: NaiveDate,
    total: i64,
    history: &[i64],
    complete: bool,
) -> Option<Finding> {
    if !s.enabled || history.len() < s.min_history {
        return None;
    }
    let spread = Spread::of(history)?;
    let score = spread.score(total);
    let fires = score >= s.mads || (complete && -score >= s.mads);
    fires.then(|| Finding {
        kind: Kind::BranchDayOutlier,
        subject: format!("branch:{branch}"),
        window: date.to_string(),
        figures: json!({"branch": branch, "date": date, "total": Money::from_cents(total),
            "median": Money::from_cents(spread.median), "mad": Money::from_cents(spread.mad),
            "mads": round1(score), "history_days": spread.count, "threshold_mads": s.mads}),
        why: format!(
            "branch {branch}'s total {} on {date} ({}) is {:.1} MADs {} its median {} over {} earlier {}s (threshold {} MADs)",
            grouped(total),
            date.format("%A"),
            score.abs(),
            if score >= 0.0 { "above" } else { "below" },
            grouped(spread.median),
            spread.count,
            date.format("%A"),
            s.mads
        ),
    })
}

/// Many events of one principal in a window (`what`: "sales recorded", "requests refused").
pub fn burst(kind: Kind, s: &Burst, actor: &str, count: u64, window: &str, what: &str) -> Option<Finding> {
    (s.enabled && count >= u64::from(s.count)).then(|| Finding {
        kind,
        subject: actor.to_owned(),
        window: window.to_owned(),
        figures: json!({"actor": actor, "count": count, "window_minutes": s.window_minutes, "threshold": s.count}),
        why: format!("{count} {what} for {actor} within {} minutes (threshold {})", s.window_minutes, s.count),
    })
}

/// Failures counted by the sign-in throttle for one account or address.
pub fn failed_sign_ins(kind: Kind, subject: &str, failures: u32, threshold: u32, window: &str) -> Option<Finding> {
    (failures >= threshold).then(|| Finding {
        kind,
        subject: subject.to_owned(),
        window: window.to_owned(),
        figures: json!({"failures": failures, "threshold": threshold}),
        why: format!("{failures} failed sign-ins for {subject} within the last hour (threshold {threshold})"),
    })
}

/// A sign-in from an address the user never signed in from before (only once they have signed
/// in at all: a first sign-in has no pattern to break).
pub fn new_address(user: &str, address: &str, earlier: u64, date: NaiveDate) -> Option<Finding> {
    (earlier > 0).then(|| Finding {
        kind: Kind::NewSignInAddress,
        subject: format!("{user} from {address}"),
        window: date.to_string(),
        figures: json!({"user": user, "address": address, "earlier_sign_ins": earlier}),
        why: format!("{user} signed in from {address}, an address none of their {earlier} earlier sign-ins came from"),
    })
}

/// One token seen from many addresses in the window.
pub fn token_addresses(
    token: &str,
    addresses: &[String],
    threshold: u32,
    window_minutes: u32,
    window: &str,
) -> Option<Finding> {
    (addresses.len() >= threshold as usize).then(|| Finding {
        kind: Kind::TokenManyAddresses,
        subject: token.to_owned(),
        window: window.to_owned(),
        figures: json!({"addresses": addresses, "count": addresses.len(), "window_minutes": window_minutes, "threshold": threshold}),
        why: format!(
            "{token} was used from {} addresses within {window_minutes} minutes (threshold {threshold}): {}",
            addresses.len(),
            addresses.join(", ")
        ),
    })
}

/// Findings of one kind that one scan stores one by one; past this, the rest go into one summary.
pub const MOST_PER_KIND: usize = 20;
/// Subjects a storm's summary lists.
const STORM_SUBJECTS_SHOWN: usize = 100;

/// Keeps an alert storm an alert: when one scan finds more than `most` findings of one kind (a
/// client resending the same sales makes a look-alike group of every one of them), the first
/// `most` are kept as they are and the rest become one summary finding of that kind, subject
/// `storm`, for the `window` (the hour), listing their subjects. Admins get `most + 1` messages
/// instead of thousands, and the scan that found them stays cheap. Order is kept.
pub fn contain_storms(found: Vec<Finding>, most: usize, window: &str) -> Vec<Finding> {
    let mut kept: Vec<Finding> = Vec::with_capacity(found.len().min(most * 4));
    let mut rest: std::collections::BTreeMap<Kind, Vec<Finding>> = std::collections::BTreeMap::new();
    let mut seen: std::collections::BTreeMap<Kind, usize> = std::collections::BTreeMap::new();
    for f in found {
        let n = seen.entry(f.kind).or_default();
        *n += 1;
        if *n <= most {
            kept.push(f);
        } else {
            rest.entry(f.kind).or_default().push(f);
        }
    }
    for (kind, others) in rest {
        let subjects: Vec<&str> = others.iter().map(|f| f.subject.as_str()).take(STORM_SUBJECTS_SHOWN).collect();
        kept.push(Finding {
            kind,
            subject: String::from("storm"),
            window: window.to_owned(),
            figures: json!({"findings": most + others.len(), "stored_one_by_one": most,
                "summarised": others.len(), "subjects": subjects}),
            why: format!(
                "one scan found {} {} findings: the first {most} are listed one by one, the other {} only here \
                 (first subjects: {}{})",
                most + others.len(),
                kind.as_str(),
                others.len(),
                subjects.iter().take(5).copied().collect::<Vec<_>>().join(", "),
                if others.len() > 5 { ", …" } else { "" }
            ),
        });
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sale(amount: i64) -> SaleSeen {
        let d = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        SaleSeen { id: 9, agent: "A123".into(), product_id: 1, amount_cents: amount, sale_date: d, recorded_on: d }
    }

    #[test]
    fn a_sale_far_above_the_agents_range_is_explained() {
        let history: Vec<i64> = (0..212).map(|i| 4_000_000 + (i % 21) * 50_000).collect();
        let f = sale_amount(&Outlier::default(), &sale(250_000_000), &history).unwrap();
        assert_eq!(f.kind, Kind::SaleAmountOutlier);
        assert!(f.why.starts_with("amount 2,500,000.00 is "), "{}", f.why);
        assert!(f.why.contains("above agent A123's median 45,000.00 over 212 sales"), "{}", f.why);
        assert!(sale_amount(&Outlier::default(), &sale(6_000_000), &history).is_none(), "inside the range");
        assert!(sale_amount(&Outlier::default(), &sale(250_000_000), &history[..19]).is_none(), "too little history");
    }

    #[test]
    fn a_storm_of_one_kind_becomes_twenty_findings_and_a_summary() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        let dup = |i: i64| duplicate_sale(&SaleSeen { id: i, ..sale(i) }, &[i, i + 1]).unwrap();
        let mut found: Vec<Finding> = (0..25).map(dup).collect();
        found.insert(
            3,
            past_sales(&PastSale::default(), "user:1", d, &[(1, "A".into(), d - chrono::Duration::days(400))]).unwrap(),
        );
        let kept = contain_storms(found, 20, "2026-12-07T10:00");
        assert_eq!(kept.len(), 22, "20 look-alikes, the past sale, one summary");
        assert_eq!(kept[3].kind, Kind::SaleFarInPast, "order kept");
        let storm = kept.last().unwrap();
        assert_eq!(
            (storm.kind, storm.subject.as_str(), storm.window.as_str()),
            (Kind::DuplicateSale, "storm", "2026-12-07T10:00")
        );
        assert_eq!(storm.figures["summarised"], 5);
        assert!(storm.why.starts_with("one scan found 25 duplicate_sale findings: the first 20"), "{}", storm.why);
        let calm: Vec<Finding> = (0..20).map(dup).collect();
        assert_eq!(contain_storms(calm, 20, "w").len(), 20, "twenty is no storm");
    }

    #[test]
    fn amounts_are_grouped_for_people() {
        assert_eq!(grouped(250_000_000), "2,500,000.00");
        assert_eq!(grouped(4_500_000), "45,000.00");
        assert_eq!(grouped(5), "0.05");
        assert_eq!(grouped(-123_456_789), "-1,234,567.89");
    }

    #[test]
    fn past_duplicate_and_branch_rules() {
        let today = sale(100).recorded_on;
        let ago = |d: i64| today - chrono::Duration::days(d);
        let at_limit = vec![(1, String::from("A1"), ago(365)), (2, String::from("A1"), ago(10))];
        assert!(past_sales(&PastSale::default(), "user:1", today, &at_limit).is_none(), "365 days is allowed");
        let mut backfill = at_limit.clone();
        backfill.extend((3..40).map(|id| (id, String::from("A2"), ago(366 + id))));
        let f = past_sales(&PastSale::default(), "user:1", today, &backfill).expect("older than a year fires");
        assert_eq!((f.subject.as_str(), f.window.clone()), ("user:1", today.to_string()));
        assert_eq!(f.figures["sales"], 37);
        assert!(f.why.starts_with("user:1 recorded 37 sales on 2026-12-07 dated more than 365 days back"), "{}", f.why);
        assert!(f.why.contains("405 days before it was recorded (sales 3, 4,"), "{}", f.why);
        assert!(f.why.contains("22 and 17 more; first of agent A2)"), "{}", f.why);
        assert!(duplicate_sale(&sale(100), &[9]).is_none());
        assert!(duplicate_sale(&sale(100), &[3, 9]).unwrap().why.contains("ids 3, 9"));
        let history = vec![100_000, 120_000, 90_000, 110_000, 95_000, 105_000, 100_000, 98_000];
        let d = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        let s = BranchDay::default();
        assert!(branch_day(&s, "colombo", d, 5_000_000, &history, false).is_some());
        assert!(branch_day(&s, "colombo", d, 1, &history, false).is_none(), "today may still grow");
        let low = branch_day(&s, "colombo", d, 1, &history, true).expect("a finished day far below fires");
        assert!(low.why.contains("MADs below its median 1,000.00 over 8 earlier"), "{}", low.why);
        assert!(branch_day(&s, "colombo", d, 130_000, &history, true).is_none());
    }
}
