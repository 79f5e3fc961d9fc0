//! Scheduled digests: per person, a daily or weekly summary of the figures in their scope, at a
//! local time in the business time zone, to the inbox and by e-mail (HTML with a plain-text
//! alternative), with a signed link to stop it. The figures come from the wiring's digest job
//! (`crate::digest_job`), as plain [`content::Content`]; this module decides who is due, claims
//! each slot once, writes, and keeps the choices. See docs/adr/0021-scheduled-digests.md.

pub mod content;
pub mod preferences;
pub mod schedule;
pub mod store;
pub mod token;

use chrono::{NaiveTime, Weekday};
use serde::Deserialize;

use schedule::{DigestKind, Slot};

/// `[notifications.digests]`: who receives which digest unless they choose otherwise, and how
/// the job runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DigestSettings {
    /// Managers' default: `weekly mon 08:30` (a schedule, or `off`).
    pub manager: String,
    /// Admins' default (company by branch): `off`.
    pub admin: String,
    /// Agents' default (their own targets): `off`.
    pub agent: String,
    /// How often due digests are looked for, in milliseconds.
    pub interval_ms: u64,
    /// A digest sent more than this many minutes after its slot is marked late.
    pub late_after_minutes: u64,
    /// The address people open the server at, for the unsubscribe link in the mail (such as
    /// `https://moon.example.com`); absent: `http://` and the listen address.
    pub public_url: Option<String>,
}

impl Default for DigestSettings {
    fn default() -> Self {
        Self {
            manager: String::from("weekly mon 08:30"),
            admin: String::from("off"),
            agent: String::from("off"),
            interval_ms: 30_000,
            late_after_minutes: 15,
            public_url: None,
        }
    }
}

impl DigestSettings {
    /// Refuses a default that is not a schedule.
    pub fn check(&self) -> anyhow::Result<()> {
        for (field, raw) in [("admin", &self.admin), ("manager", &self.manager), ("agent", &self.agent)] {
            Slot::parse_config(&format!("notifications.digests.{field}"), raw).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        Ok(())
    }

    /// The defaults of admins, managers and agents (unreadable ones count as off; `check` refused
    /// them at start).
    pub fn defaults(&self) -> (Option<Slot>, Option<Slot>, Option<Slot>) {
        let read = |raw: &str| Slot::parse_config("", raw).ok().flatten();
        (read(&self.admin), read(&self.manager), read(&self.agent))
    }

    /// A role's default slot of one digest, if the role has that one.
    pub fn default_for(&self, role: &str, kind: DigestKind) -> Option<Slot> {
        let (admin, manager, agent) = self.defaults();
        let d = match role {
            "admin" => admin,
            "manager" => manager,
            _ => agent,
        };
        d.filter(|s| s.kind == kind)
    }

    /// The schedule shown for a digest nobody configured: a role default of that kind, else
    /// Monday (weekly) at 08:30.
    pub fn fallback(&self, kind: DigestKind) -> Slot {
        let (admin, manager, agent) = self.defaults();
        [manager, admin, agent].into_iter().flatten().find(|s| s.kind == kind).unwrap_or(Slot {
            kind,
            weekday: Weekday::Mon,
            at: NaiveTime::from_hms_opt(8, 30, 0).unwrap_or_default(),
        })
    }

    /// The job's interval.
    pub fn interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.interval_ms.max(100))
    }
}
