//! The behind-pace alert job: the wiring's bridge between the performance figures (Kpi) and the
//! notification rules (Notification), which must not know each other (docs/architecture.json).
//!
//! On each step it takes every enabled `behind_pace` rule, asks the performance service for the
//! figures of the rule's level (team, branch or agent) in the current fiscal period, exactly as
//! a manager's performance page computes them (warehouse sums, membership history, targets,
//! working days and holidays of the business calendar), turns each row into a plain
//! [`Observation`] and hands the list to [`crate::notifications::pace::apply`], which decides and
//! writes under the rule's row lock. Why here and not inside the notification component:
//! docs/adr/0018-pace-alerts-in-the-wiring.md.

use std::collections::{BTreeSet, HashMap};

use chrono::Utc;
use moon_analytics::Warehouse;
use moon_db::Db;
use moon_domain::{Bands, BusinessCalendar, PeriodKind};

use crate::agents::org::model::fold;
use crate::notifications::pace::Observation;
use crate::notifications::pipeline::Channels;
use crate::notifications::rules::{PaceLevel, Period as RulePeriod, Rule, RuleKind};
use crate::performance::service::{Context, Question, drill};
use crate::sales_targets::model::{ScopeKind, Subject};

/// The job's inputs: both databases, the calendar and bands the figures use, the channels the
/// notifications go out on, and what to call after a commit that wrote some.
pub struct PaceJob<F> {
    db: Db,
    warehouse: Warehouse,
    calendar: BusinessCalendar,
    bands: Bands,
    channels: Channels,
    after_commit: F,
}

impl<F: Fn(usize) + Send + Sync + 'static> PaceJob<F> {
    /// A job evaluating `db`'s behind-pace rules against `warehouse`'s figures.
    pub fn new(
        (db, warehouse): (Db, Warehouse),
        calendar: BusinessCalendar,
        bands: Bands,
        channels: Channels,
        after_commit: F,
    ) -> Self {
        Self { db, warehouse, calendar, bands, channels, after_commit }
    }
}

fn period_kind(p: RulePeriod) -> Option<PeriodKind> {
    match p {
        RulePeriod::Month => Some(PeriodKind::Month),
        RulePeriod::Quarter => Some(PeriodKind::Quarter),
        RulePeriod::Year => Some(PeriodKind::Year),
        RulePeriod::All => None,
    }
}

/// Evaluates every enabled behind-pace rule once, on the business date `today`; returns how many
/// notifications were written.
pub async fn evaluate(
    db: &Db,
    warehouse: &Warehouse,
    (calendar, bands): (&BusinessCalendar, &Bands),
    channels: Channels,
    today: chrono::NaiveDate,
) -> anyhow::Result<usize> {
    let mut tx = db.begin().await?;
    let rules: Vec<Rule> = crate::notifications::rules_api::load(&mut tx)
        .await?
        .into_iter()
        .filter(|r| r.enabled && r.kind == RuleKind::BehindPace)
        .collect();
    tx.rollback().await?;
    let mut written = 0;
    for rule in rules {
        let (Some(pace), Some(kind)) = (rule.pace, period_kind(rule.period)) else { continue };
        let period = calendar.fiscal.period(kind, today);
        let level = match pace.level {
            PaceLevel::Team => ScopeKind::Team,
            PaceLevel::Branch => ScopeKind::Branch,
            PaceLevel::Agent => ScopeKind::Agent,
        };
        let question =
            Question { level, region: None, branch: None, team: None, period, subject: Subject::All, only: None };
        let ctx = Context { db, warehouse, calendar, bands, min_group: 1, today };
        let listing = drill(&ctx, &moon_http::Principal::operator(), &question).await?;
        // Who manages what: a team's branches are those its members belonged to in the period;
        // an agent's, their home branch.
        let members = crate::performance::repo::members(db, period, None).await?;
        let mut team_branches: HashMap<String, BTreeSet<String>> = HashMap::new();
        for (_, branch, team) in &members {
            team_branches.entry(fold(team)).or_default().insert(branch.clone());
        }
        let ids: Vec<i64> = members.iter().map(|m| m.0).collect::<BTreeSet<_>>().into_iter().collect();
        let agents: HashMap<String, (i64, String)> = crate::performance::repo::agents(db, &ids)
            .await?
            .into_iter()
            .map(|a| (fold(&a.code), (a.id, a.branch)))
            .collect();
        let period_key = format!("{}:{}", kind.as_str(), period.start());
        let observations: Vec<Observation> = listing
            .rows
            .into_iter()
            .map(|row| {
                let (branches, agent_id) = match pace.level {
                    PaceLevel::Branch => (vec![row.key.clone()], None),
                    PaceLevel::Team => (
                        team_branches.get(&fold(&row.key)).map(|b| b.iter().cloned().collect()).unwrap_or_default(),
                        None,
                    ),
                    PaceLevel::Agent => match agents.get(&fold(&row.key)) {
                        Some((id, branch)) => (vec![branch.clone()], Some(*id)),
                        None => (Vec::new(), None),
                    },
                };
                Observation {
                    subject: format!("{}:{}", pace.level.as_str(), fold(&row.key)),
                    unit: row.name,
                    branches,
                    agent_id,
                    actual_cents: row.figures.actual.cents(),
                    expected_cents: row.figures.expected_by_today.map(|m| m.cents()),
                    working_day: row.figures.working_days.elapsed,
                    period_key: period_key.clone(),
                    period_label: calendar.fiscal.label(period),
                }
            })
            .collect();
        written += crate::notifications::pace::apply(db, channels, &rule, &observations).await?;
    }
    Ok(written)
}

impl<F: Fn(usize) + Send + Sync + 'static> moon_jobs::Job for PaceJob<F> {
    async fn step(&mut self) -> anyhow::Result<moon_jobs::Step> {
        use anyhow::Context as _;
        let today = self.calendar.today(Utc::now());
        let n = evaluate(&self.db, &self.warehouse, (&self.calendar, &self.bands), self.channels, today)
            .await
            .context("behind-pace alerts failed")?;
        if n > 0 {
            tracing::info!(notifications = n, "behind-pace alerts sent");
            (self.after_commit)(n);
        }
        Ok(moon_jobs::Step::Idle)
    }
}
