//! Retention: how long records that serve no business purpose after a while are kept.
//!
//! Why: personal data may be kept only as long as it is needed (PDPA, like the GDPR). Sessions,
//! sign-in throttle rows, finished webhook and e-mail deliveries (whose payloads copy a
//! notification), read notifications, change-log entries every consumer has applied, and very
//! old audit entries each have a configurable age (`[retention]` in `moon.toml`). Each owning
//! component deletes its own rows (this module only decides the cut-offs and reports); the audit
//! trail is cut only behind a signed checkpoint, so `moon audit verify` still holds afterwards.
//! `moon retention run` applies it once; a server applies it periodically when
//! `interval_minutes` is set.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use moon_db::{Db, Secret};
use serde::{Deserialize, Serialize};

/// The `[retention]` section of `moon.toml`. Ages are in days (the audit trail's in years);
/// `0` keeps that kind of record forever.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// How often a server applies retention, in minutes; 0: only `moon retention run`.
    pub interval_minutes: u64,
    /// Sessions expired longer ago than this.
    pub sessions_days: u32,
    /// Sign-in throttle rows whose last failure is older than this (and lock nothing), and the
    /// addresses tokens were used from (anomaly detection) not seen for as long.
    pub throttle_days: u32,
    /// Delivered or dead webhook and e-mail deliveries (with their payloads) older than this.
    pub deliveries_days: u32,
    /// Notifications read longer ago than this (unread ones stay); 0 by default: the inbox is
    /// the agents' record.
    pub read_notifications_days: u32,
    /// Change-log entries applied by every consumer and older than this.
    pub change_log_days: u32,
    /// Audit entries older than this many years; 0 by default. Needs a checkpoint.
    pub audit_years: u32,
    /// The signed checkpoint line (`moon audit checkpoint`) that audit pruning stops at; set
    /// with `audit_checkpoint_file`, never stored in the database.
    #[serde(skip)]
    pub audit_checkpoint: Option<Secret>,
    /// File holding the checkpoint line.
    pub audit_checkpoint_file: Option<std::path::PathBuf>,
    /// The checkpoint key (MOON_AUDIT_CHECKPOINT_KEY), from the environment only.
    #[serde(skip)]
    pub audit_checkpoint_key: Option<Secret>,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            interval_minutes: 0,
            sessions_days: 30,
            throttle_days: 30,
            deliveries_days: 90,
            read_notifications_days: 0,
            change_log_days: 30,
            audit_years: 0,
            audit_checkpoint: None,
            audit_checkpoint_file: None,
            audit_checkpoint_key: None,
        }
    }
}

/// What one run removed, per table, and what it left alone and why.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    /// Rows deleted, by table.
    pub removed: BTreeMap<&'static str, u64>,
    /// Kinds of record skipped, with the reason (retention off, no checkpoint).
    pub skipped: BTreeMap<&'static str, String>,
}

fn cutoff(now: DateTime<Utc>, days: u32) -> Option<DateTime<Utc>> {
    (days > 0).then(|| now - chrono::Duration::days(i64::from(days)))
}

/// Applies the settings once, as of `now`, table by table (each in its own transaction, so a
/// failure leaves the earlier tables pruned and the rest untouched); the audit trail last.
pub async fn run(db: &Db, settings: &RetentionSettings, now: DateTime<Utc>) -> anyhow::Result<Report> {
    use anyhow::Context;
    let mut report = Report::default();
    let off = || String::from("retention is 0 (keep forever)");
    macro_rules! step {
        ($table:literal, $days:expr, $prune:expr) => {
            match cutoff(now, $days) {
                Some(before) => {
                    let n = $prune(db, before).await.with_context(|| format!("cannot prune {}", $table))?;
                    report.removed.insert($table, n);
                }
                None => {
                    report.skipped.insert($table, off());
                }
            }
        };
    }
    step!("sessions", settings.sessions_days, crate::auth::session::prune_expired);
    step!("sign_in_throttle", settings.throttle_days, crate::auth::throttle::prune_idle);
    // The addresses tokens were used from (anomaly detection) are as personal as throttle rows.
    step!("token_addresses", settings.throttle_days, crate::auth::token_addresses::prune);
    step!("notification_deliveries", settings.deliveries_days, crate::notifications::deliveries::prune_finished);
    step!("notifications", settings.read_notifications_days, crate::notifications::repo::prune_read);
    step!("change_log", settings.change_log_days, moon_changelog::prune_applied_before);
    let years = settings.audit_years;
    match (years, &settings.audit_checkpoint, &settings.audit_checkpoint_key) {
        (0, _, _) => {
            report.skipped.insert("audit_log", off());
        }
        (_, Some(line), Some(key)) => {
            let before = now - chrono::Duration::days(365 * i64::from(years));
            let n = crate::audit::prune(
                db,
                &moon_http::Principal::operator(),
                before,
                line.expose(),
                key.expose().as_bytes(),
            )
            .await
            .context("cannot prune the audit trail")?;
            report.removed.insert("audit_log", n);
        }
        _ => {
            report.skipped.insert(
                "audit_log",
                String::from(
                    "audit pruning needs a signed checkpoint (audit_checkpoint_file) and MOON_AUDIT_CHECKPOINT_KEY",
                ),
            );
        }
    }
    let total: u64 = report.removed.values().sum();
    tracing::info!(removed = ?report.removed, total, "retention applied");
    Ok(report)
}

/// The periodic run, as a background job of a server whose settings ask for one.
pub struct RetentionJob {
    db: Db,
    settings: RetentionSettings,
}

impl RetentionJob {
    /// The job and its schedule, or `None` when `interval_minutes` is 0.
    pub fn pending(db: Db, settings: RetentionSettings) -> Option<moon_jobs::Pending> {
        if settings.interval_minutes == 0 {
            return None;
        }
        let every = Duration::from_secs(settings.interval_minutes.saturating_mul(60));
        Some(moon_jobs::Pending::job(Self { db, settings }, moon_jobs::Schedule::every("retention", every)))
    }
}

impl moon_jobs::Job for RetentionJob {
    async fn step(&mut self) -> anyhow::Result<moon_jobs::Step> {
        run(&self.db, &self.settings, moon_db::now()).await?;
        Ok(moon_jobs::Step::Idle)
    }
}
