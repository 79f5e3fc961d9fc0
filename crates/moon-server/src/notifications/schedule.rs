//! Target-due reminders: on each rule's cron schedule, in its time zone, every product whose
//! period target is not met yet gets a reminder (with what remains) to the agents concerned.
//!
//! Every replica runs this loop, and during a blue-green release both colours do: each due rule
//! is handled in one transaction that locks the rule's row and moves its `last_fired_at` to the
//! occurrence it fires for, so one replica fires each occurrence and the others find it done.
//! Reminders carry a dedupe key with the occurrence as well. Only the latest occurrence counts:
//! a server that was down for a week sends one reminder, not seven.

use chrono::{DateTime, Utc};
use moon_db::sea_query::{Expr, ExprTrait, Query};
use moon_db::{Db, DbError, Tx};
use moon_domain::Money;

use super::pipeline::{self, Channels, NewNotification};
use super::rules::{Fill, Rule, RuleKind, TargetScope, render};

/// Fires the reminders that are due at `now`; returns how many notifications were written.
pub async fn fire_due(db: &Db, channels: Channels, now: DateTime<Utc>) -> Result<usize, DbError> {
    let mut tx = db.begin().await?;
    let rules: Vec<Rule> = super::rules_api::load(&mut tx)
        .await?
        .into_iter()
        .filter(|r| r.enabled && r.kind == RuleKind::TargetDue)
        .collect();
    tx.rollback().await?;
    let mut created = 0;
    for rule in rules {
        let Some(schedule) = rule.schedule.as_deref().and_then(|s| s.parse::<croner::Cron>().ok()) else { continue };
        let Ok(occurrence) = schedule.find_previous_occurrence(&now.with_timezone(&rule.tz()), true) else {
            continue;
        };
        let occurrence = occurrence.with_timezone(&Utc);
        let mut tx = db.begin().await?;
        // Take the rule's turn: whoever holds the row decides, the others wait and find it done.
        let Some(last) = super::rules_api::take_turn(&mut tx, rule.id).await? else { continue };
        if last.is_some_and(|l| l >= occurrence) {
            continue;
        }
        let written = remind(&mut tx, channels, &rule, occurrence).await?;
        let mut up = Query::update();
        up.table("notification_rules").value("last_fired_at", occurrence).and_where(Expr::col("id").eq(rule.id));
        tx.execute(&up).await?;
        if written > 0 {
            let actor = crate::audit::Actor {
                id: String::from("system:notification_schedule"),
                role: None,
                origin: moon_http::principal::Origin::default(),
            };
            let event = crate::audit::Event::on("notification.reminders_sent", "notification_rule", rule.id)
                .with_detail(serde_json::json!({ "occurrence": occurrence, "notifications": written }));
            crate::audit::append(&mut tx, actor, event).await?;
        }
        tx.commit().await?;
        created += written;
    }
    Ok(created)
}

/// Writes one occurrence's reminders.
async fn remind(tx: &mut Tx, channels: Channels, rule: &Rule, occurrence: DateTime<Utc>) -> Result<usize, DbError> {
    let today = occurrence.with_timezone(&rule.tz()).date_naive();
    let (from, to) = rule.period.range(today);
    let products = super::sales_reads::all_products(tx).await?;
    let mut written = 0;
    for (product_id, name, target) in products {
        // (branch, sold) pairs: one for the whole company, or one per branch.
        let groups: Vec<(Option<String>, i64)> = match rule.scope {
            TargetScope::Company => {
                vec![(None, super::sales_reads::sold(tx, product_id, (from, to), None).await?)]
            }
            TargetScope::Branch => {
                let branches = crate::agents::repo::active_branches(tx).await?;
                let mut out = Vec::new();
                for b in branches {
                    let sold = super::sales_reads::sold(tx, product_id, (from, to), Some(b.as_str())).await?;
                    out.push((Some(b), sold));
                }
                out
            }
        };
        for (branch, sold) in groups {
            if sold >= target {
                continue;
            }
            let agents = crate::agents::repo::active_first_names(tx, branch.as_deref()).await?;
            let subject = match &branch {
                Some(b) => format!("product:{product_id}:branch:{b}"),
                None => format!("product:{product_id}"),
            };
            for (agent_id, first_name) in agents {
                let fill = Fill {
                    agent_name: Some(first_name),
                    amount: Some(Money::from_cents(sold)),
                    product: Some(name.clone()),
                    period: Some(rule.period.label(today)),
                    target: Some(Money::from_cents(target)),
                    remaining: Some(Money::from_cents(target - sold)),
                    ..Fill::default()
                };
                let message = render(&rule.template, &fill);
                let key = format!("r{}:{subject}:{}:a{agent_id}", rule.id, occurrence.timestamp());
                let new = NewNotification {
                    to: pipeline::Recipient::Agent(agent_id),
                    message: &message,
                    kind: rule.kind.as_str(),
                    dedupe_key: Some(key),
                };
                if pipeline::create(tx, channels, &new).await?.is_some() {
                    written += 1;
                }
            }
        }
    }
    Ok(written)
}

/// The target-due reminders as a background job (see `moon_jobs`): each step sends what is due
/// now; `after_commit(n)` is told how many reminders were written.
pub struct ReminderJob<F> {
    db: Db,
    channels: Channels,
    after_commit: F,
}

impl<F: Fn(usize) + Send + Sync + 'static> ReminderJob<F> {
    /// A job sending `db`'s due reminders on `channels`.
    pub fn new(db: Db, channels: Channels, after_commit: F) -> Self {
        Self { db, channels, after_commit }
    }
}

impl<F: Fn(usize) + Send + Sync + 'static> moon_jobs::Job for ReminderJob<F> {
    async fn step(&mut self) -> anyhow::Result<moon_jobs::Step> {
        let n = fire_due(&self.db, self.channels, Utc::now())
            .await
            .map_err(|e| anyhow::Error::new(e).context("target reminders failed"))?;
        if n > 0 {
            tracing::info!(reminders = n, "target reminders sent");
            (self.after_commit)(n);
        }
        Ok(moon_jobs::Step::Idle)
    }
}
