//! The `[anomalies]` section of `moon.toml`: which detectors run and where each fires.
//!
//! Every detector has its own table (`[anomalies.sale_amount]`, …) with `enabled` and its
//! thresholds; the defaults below are documented in README.md ("Anomaly detection") and chosen
//! so that the demo data (`moon demo`) raises nothing.

use serde::Deserialize;

/// All detector settings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalySettings {
    /// Off: no detection job runs in this process (findings already stored stay listable).
    pub enabled: bool,
    /// How often the job looks, in seconds, when no commit wakes it first.
    pub interval_seconds: u64,
    /// Many failed sign-ins for one account or from one address.
    pub failed_sign_ins: FailedSignIns,
    /// A sign-in from an address never seen for that user.
    pub new_address: Toggle,
    /// One API token used from many addresses.
    pub token_addresses: TokenAddresses,
    /// Bursts of permission-denied answers (403) for one principal.
    pub permission_denied: Burst,
    /// A sale far above the agent's usual range.
    pub sale_amount: Outlier,
    /// A sale dated far in the past.
    pub past_sale: PastSale,
    /// Many sales in minutes from one principal.
    pub sales_burst: Burst,
    /// Sales with the same agent, product, amount and day.
    pub duplicate_sale: Toggle,
    /// A branch's daily total far off its pattern for that weekday.
    pub branch_day: BranchDay,
}

impl Default for AnomalySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_seconds: 30,
            failed_sign_ins: FailedSignIns::default(),
            new_address: Toggle::default(),
            token_addresses: TokenAddresses::default(),
            permission_denied: Burst { enabled: true, count: 20, window_minutes: 10 },
            sale_amount: Outlier::default(),
            past_sale: PastSale::default(),
            sales_burst: Burst { enabled: true, count: 200, window_minutes: 5 },
            duplicate_sale: Toggle::default(),
            branch_day: BranchDay::default(),
        }
    }
}

impl AnomalySettings {
    /// Refuses thresholds that would fire on everything or never, naming each bad field.
    pub fn check(&self) -> Result<(), String> {
        let mut bad: Vec<String> = Vec::new();
        if self.interval_seconds == 0 {
            bad.push(String::from("interval_seconds must be at least 1"));
        }
        if self.failed_sign_ins.account_failures == 0 || self.failed_sign_ins.address_failures == 0 {
            bad.push(String::from("failed_sign_ins thresholds must be at least 1"));
        }
        if self.token_addresses.addresses < 2 || self.token_addresses.window_minutes == 0 {
            bad.push(String::from("token_addresses needs addresses >= 2 and window_minutes >= 1"));
        }
        for (b, name) in [(&self.permission_denied, "permission_denied"), (&self.sales_burst, "sales_burst")] {
            if b.count < 2 || b.window_minutes == 0 {
                bad.push(format!("{name} needs count >= 2 and window_minutes >= 1"));
            }
        }
        if !(self.sale_amount.mads > 0.0 && self.branch_day.mads > 0.0) {
            bad.push(String::from("mads must be above 0"));
        }
        if self.past_sale.days == 0 {
            bad.push(String::from("past_sale.days must be at least 1"));
        }
        if self.branch_day.history_weeks < self.branch_day.min_history {
            bad.push(String::from("branch_day.history_weeks must be at least min_history"));
        }
        if bad.is_empty() { Ok(()) } else { Err(bad.join("; ")) }
    }
}

/// A detector with no threshold of its own.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Toggle {
    /// Whether it runs.
    pub enabled: bool,
}

impl Default for Toggle {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// Failed sign-ins, as counted by the sign-in throttle (within its `forget_after`, one hour).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FailedSignIns {
    /// Whether it runs.
    pub enabled: bool,
    /// Failures for one account name.
    pub account_failures: u32,
    /// Failures from one client address (higher: offices share addresses).
    pub address_failures: u32,
}

impl Default for FailedSignIns {
    fn default() -> Self {
        Self { enabled: true, account_failures: 10, address_failures: 50 }
    }
}

/// Distinct client addresses of one token within a window.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TokenAddresses {
    /// Whether it runs.
    pub enabled: bool,
    /// Addresses that fire it.
    pub addresses: u32,
    /// The window, in minutes.
    pub window_minutes: u32,
}

impl Default for TokenAddresses {
    fn default() -> Self {
        Self { enabled: true, addresses: 5, window_minutes: 60 }
    }
}

/// Events of one principal within a window.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Burst {
    /// Whether it runs.
    pub enabled: bool,
    /// Events that fire it.
    pub count: u32,
    /// The window, in minutes.
    pub window_minutes: u32,
}

impl Default for Burst {
    fn default() -> Self {
        Self { enabled: true, count: 20, window_minutes: 10 }
    }
}

/// A sale amount against the agent's own history.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Outlier {
    /// Whether it runs.
    pub enabled: bool,
    /// How many MADs above the agent's median fire it.
    pub mads: f64,
    /// Earlier sales the agent needs before their range means anything.
    pub min_history: usize,
}

impl Default for Outlier {
    fn default() -> Self {
        Self { enabled: true, mads: 10.0, min_history: 20 }
    }
}

/// A sale dated long before it was recorded.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PastSale {
    /// Whether it runs.
    pub enabled: bool,
    /// Days between the sale date and the day it was recorded that fire it.
    pub days: u32,
}

impl Default for PastSale {
    fn default() -> Self {
        Self { enabled: true, days: 365 }
    }
}

/// A branch's total of one day against the same weekday in earlier weeks.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BranchDay {
    /// Whether it runs.
    pub enabled: bool,
    /// How many MADs from the median of the same weekday fire it.
    pub mads: f64,
    /// Earlier same-weekday days with sales needed before the pattern means anything.
    pub min_history: usize,
    /// How many weeks back the pattern looks.
    pub history_weeks: usize,
}

impl Default for BranchDay {
    fn default() -> Self {
        Self { enabled: true, mads: 10.0, min_history: 8, history_weeks: 26 }
    }
}
