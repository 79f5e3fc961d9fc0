//! The `[notifications]` section of `moon.toml`: rules to seed, loop intervals, webhook retry
//! policy and the SMTP relay. Every field has a default, so the section is optional.

use std::time::Duration;

use serde::Deserialize;

pub use super::email::{SmtpSettings, SmtpTls};

/// Notification settings; see README "Notifications" for the file syntax.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationSettings {
    /// IANA time zone of schedules and periods (`Asia/Colombo`); rules may name their own.
    pub timezone: String,
    /// How often the rule runner looks at the change log, in milliseconds.
    pub rules_interval_ms: u64,
    /// How often the live stream looks for notifications written by other replicas.
    pub stream_poll_ms: u64,
    /// How often the delivery loop looks for due webhook and e-mail deliveries.
    pub delivery_interval_ms: u64,
    /// How often behind-pace rules are evaluated against the performance figures.
    pub pace_interval_ms: u64,
    /// Attempts before a delivery is parked as dead.
    pub max_attempts: u32,
    /// First retry delay; each later one doubles, with ±50% jitter, up to `backoff_max_ms`.
    pub backoff_ms: u64,
    /// Longest retry delay.
    pub backoff_max_ms: u64,
    /// Time allowed for one webhook call or SMTP session.
    pub send_timeout_ms: u64,
    /// Rules created at start when no rule of the same name exists (the API edits them after).
    /// Absent: the three default rules ([`default_rules`]).
    pub rules: Option<Vec<super::rules::RuleSpec>>,
    /// The SMTP relay for e-mail; absent: no e-mail channel.
    pub smtp: Option<SmtpSettings>,
    /// Scheduled digests: role defaults, the job's interval, the link address.
    pub digests: super::digests::DigestSettings,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            timezone: String::from("UTC"),
            rules_interval_ms: 100,
            stream_poll_ms: 250,
            delivery_interval_ms: 250,
            pace_interval_ms: 60_000,
            max_attempts: 8,
            backoff_ms: 5_000,
            backoff_max_ms: 3_600_000,
            send_timeout_ms: 10_000,
            rules: None,
            smtp: None,
            digests: super::digests::DigestSettings::default(),
        }
    }
}

impl NotificationSettings {
    /// The rule runner's poll interval.
    pub fn rules_interval(&self) -> Duration {
        Duration::from_millis(self.rules_interval_ms.max(10))
    }

    /// The stream's cross-replica poll interval.
    pub fn stream_poll(&self) -> Duration {
        Duration::from_millis(self.stream_poll_ms.max(10))
    }

    /// The delivery loop's poll interval.
    pub fn delivery_interval(&self) -> Duration {
        Duration::from_millis(self.delivery_interval_ms.max(10))
    }

    /// The behind-pace evaluation interval.
    pub fn pace_interval(&self) -> Duration {
        Duration::from_millis(self.pace_interval_ms.max(10))
    }

    /// Time allowed for one send.
    pub fn send_timeout(&self) -> Duration {
        Duration::from_millis(self.send_timeout_ms.max(100))
    }

    /// Refuses settings that cannot work, at start rather than in a background loop: an unknown
    /// time zone, an invalid rule, an SMTP sender that is not an address.
    pub fn check(&self) -> anyhow::Result<()> {
        super::rules::parse_timezone("notifications.timezone", &self.timezone).map_err(|e| anyhow::anyhow!("{e}"))?;
        for spec in self.seed_rules() {
            spec.apply(None, &self.timezone).map_err(|errors| {
                let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
                anyhow::anyhow!("notification rule {:?}: {}", spec.name.as_deref().unwrap_or("?"), text.join("; "))
            })?;
        }
        if let Some(smtp) = &self.smtp {
            super::email::Mailer::new(smtp, self.send_timeout())?;
        }
        self.digests.check()
    }

    /// The rules to seed: the configured ones, or the defaults.
    pub fn seed_rules(&self) -> Vec<super::rules::RuleSpec> {
        self.rules.clone().unwrap_or_else(default_rules)
    }
}

/// The rules a fresh installation starts with, in the spirit of the original system's messages:
/// monthly milestones at 50,000 / 100,000 / 150,000, a monthly product target achieved
/// company-wide, and a Monday-morning reminder of targets not yet met.
pub fn default_rules() -> Vec<super::rules::RuleSpec> {
    use super::rules::RuleSpec;
    let amounts = |v: &[&str]| Some(v.iter().map(|s| serde_json::Value::from(*s)).collect());
    vec![
        RuleSpec {
            name: Some(String::from("monthly-milestones")),
            kind: Some(String::from("milestone")),
            period: Some(String::from("month")),
            thresholds: amounts(&["50000", "100000", "150000"]),
            ..RuleSpec::default()
        },
        RuleSpec {
            name: Some(String::from("monthly-target-achieved")),
            kind: Some(String::from("target_achieved")),
            period: Some(String::from("month")),
            ..RuleSpec::default()
        },
        RuleSpec {
            name: Some(String::from("weekly-target-reminder")),
            kind: Some(String::from("target_due")),
            period: Some(String::from("month")),
            ..RuleSpec::default()
        },
    ]
}
