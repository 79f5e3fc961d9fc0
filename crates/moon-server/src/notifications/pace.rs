//! Behind-pace alerts: what a behind-pace rule decides about figures it is handed, and the
//! notifications it writes to the managers concerned (and optionally the agent).
//!
//! The figures (achieved and expected-by-today on the business calendar) are the performance
//! component's, computed by a job in the wiring (`crate::pace_alerts`) and passed in as plain
//! [`Observation`]s: the notification component knows no sales, targets or calendar of its own
//! (docs/architecture.json), and the alert says exactly what the manager's performance page
//! shows.
//!
//! Once per rule, subject and period: the first observation that is more than the threshold
//! behind (on or after the rule's working day) sends the alert and records `behind` in
//! `notification_pace_state`; the first later one at or above expected-by-today sends "back on
//! pace" and records `recovered`, after which the period is done. Each rule's evaluation runs
//! in one transaction holding the rule's row lock, so two replicas evaluating at once decide in
//! turn and the second finds the state already moved; the notifications' dedupe keys are the
//! backstop.

use moon_db::sea_query::{Expr, ExprTrait, OnConflict, Query};
use moon_db::{Db, DbError, Tx, insert_row};
use moon_domain::Money;

use super::pipeline::{self, Channels, NewNotification, Recipient};
use super::rules::{Fill, PaceSpec, Rule, render};

/// One team's, branch's or agent's standing in the current period, as the rule's job saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// Stable subject key, such as `team:T1`, `branch:colombo`, `agent:AGT001`.
    pub subject: String,
    /// How people name it (the unit's or agent's name).
    pub unit: String,
    /// The branch codes whose managers hear about it.
    pub branches: Vec<String>,
    /// The agent, for an agent-level subject.
    pub agent_id: Option<i64>,
    /// Sold in the period so far (cents).
    pub actual_cents: i64,
    /// Expected by today (cents); `None` without a target.
    pub expected_cents: Option<i64>,
    /// Working days elapsed in the period, today included.
    pub working_day: u32,
    /// The period's key (`month:2026-12-01`), part of the state's key.
    pub period_key: String,
    /// The period's label (`December 2026`).
    pub period_label: String,
}

/// What an observation changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Newly behind: alert.
    Behind,
    /// Was behind, now at or above expected-by-today: tell them.
    BackOnPace,
}

/// The state machine of one subject and period: `None` (nothing sent) → `behind` → `recovered`.
pub fn decide(spec: &PaceSpec, state: Option<&str>, o: &Observation) -> Option<Transition> {
    let expected = o.expected_cents?;
    match state {
        None if o.working_day >= spec.from_working_day && spec.is_behind(o.actual_cents, expected) => {
            Some(Transition::Behind)
        }
        Some("behind") if o.actual_cents >= expected => Some(Transition::BackOnPace),
        _ => None,
    }
}

/// How far behind, in percent with two decimals (`12.50`).
fn behind_pct(actual: i64, expected: i64) -> String {
    if expected <= 0 {
        return String::from("0.00");
    }
    let bp = moon_domain::performance::mul_div_round(expected - actual, 10_000, expected);
    format!("{}.{:02}", bp / 100, (bp % 100).abs())
}

/// Applies one rule to its observations; returns how many notifications were written.
pub async fn apply(db: &Db, channels: Channels, rule: &Rule, observations: &[Observation]) -> Result<usize, DbError> {
    let Some(spec) = rule.pace else { return Ok(0) };
    let mut tx = db.begin().await?;
    // The rule's turn: replicas evaluating at once wait here and then see the moved state.
    if super::rules_api::take_turn(&mut tx, rule.id).await?.is_none() {
        return Ok(0);
    }
    let managers = managers(&mut tx).await?;
    let mut written = 0;
    for o in observations {
        let state = read_state(&mut tx, rule.id, o).await?;
        let Some(t) = decide(&spec, state.as_deref(), o) else { continue };
        let expected = o.expected_cents.unwrap_or(0);
        let (kind, action, message, next) = match t {
            Transition::Behind => {
                let fill = Fill {
                    unit: Some(o.unit.clone()),
                    amount: Some(Money::from_cents(o.actual_cents)),
                    expected: Some(Money::from_cents(expected)),
                    behind_pct: Some(behind_pct(o.actual_cents, expected)),
                    period: Some(o.period_label.clone()),
                    ..Fill::default()
                };
                ("behind_pace", "notification.behind_pace", render(&rule.template, &fill), "behind")
            }
            Transition::BackOnPace => (
                "back_on_pace",
                "notification.back_on_pace",
                format!(
                    "{} is back on pace for {}: {} sold, {} expected by today.",
                    o.unit,
                    o.period_label,
                    Money::from_cents(o.actual_cents),
                    Money::from_cents(expected)
                ),
                "recovered",
            ),
        };
        write_state(&mut tx, rule.id, o, state.is_some(), next).await?;
        let mut to: Vec<Recipient> = managers
            .iter()
            .filter(|(_, branch)| o.branches.iter().any(|b| crate::agents::org::model::fold(b) == *branch))
            .map(|(id, _)| Recipient::User(*id))
            .collect();
        if spec.notify_agent
            && let Some(a) = o.agent_id
        {
            to.push(Recipient::Agent(a));
        }
        to.sort();
        to.dedup();
        for r in to {
            let key = format!("r{}:{}:{}:{kind}:{}", rule.id, o.subject, o.period_key, r.key());
            let new = NewNotification { to: r, message: &message, kind, dedupe_key: Some(key) };
            if pipeline::create(&mut tx, channels, &new).await?.is_some() {
                written += 1;
            }
        }
        let actor = crate::audit::Actor {
            id: String::from("system:pace_alerts"),
            role: None,
            origin: moon_http::principal::Origin::default(),
        };
        let event = crate::audit::Event::on(action, "notification_rule", rule.id).with_detail(
            serde_json::json!({ "subject": o.subject, "period": o.period_key, "actual_cents": o.actual_cents, "expected_cents": expected }),
        );
        crate::audit::append(&mut tx, actor, event).await?;
    }
    tx.commit().await?;
    Ok(written)
}

/// Enabled managers with their folded branch: the people a unit's alert goes to. Read here (the
/// security component's `users` table, read-only) because the recipients of an alert are
/// whoever manages the branch when it fires.
async fn managers(tx: &mut Tx) -> Result<Vec<(i64, String)>, DbError> {
    let mut q = Query::select();
    q.columns(["id", "branch"])
        .from("users")
        .and_where(Expr::col("role").eq("manager"))
        .and_where(Expr::col("disabled").eq(false))
        .and_where(Expr::col("branch").is_not_null());
    let rows: Vec<(i64, Option<String>)> = tx.fetch_all(&q).await?;
    Ok(rows.into_iter().filter_map(|(id, b)| b.map(|b| (id, crate::agents::org::model::fold(&b)))).collect())
}

async fn read_state(tx: &mut Tx, rule_id: i64, o: &Observation) -> Result<Option<String>, DbError> {
    let mut q = Query::select();
    q.column("state")
        .from("notification_pace_state")
        .and_where(Expr::col("rule_id").eq(rule_id))
        .and_where(Expr::col("subject").eq(o.subject.as_str()))
        .and_where(Expr::col("period").eq(o.period_key.as_str()));
    Ok(tx.fetch_optional::<(String,)>(&q).await?.map(|(s,)| s))
}

async fn write_state(tx: &mut Tx, rule_id: i64, o: &Observation, exists: bool, state: &str) -> Result<(), DbError> {
    let now = moon_db::now();
    if exists {
        let mut up = Query::update();
        up.table("notification_pace_state")
            .values([("state", Expr::val(state)), ("updated_at", Expr::val(now))])
            .and_where(Expr::col("rule_id").eq(rule_id))
            .and_where(Expr::col("subject").eq(o.subject.as_str()))
            .and_where(Expr::col("period").eq(o.period_key.as_str()));
        tx.execute(&up).await?;
    } else {
        let mut ins = insert_row(
            "notification_pace_state",
            vec![
                ("rule_id", rule_id.into()),
                ("subject", o.subject.as_str().into()),
                ("period", o.period_key.as_str().into()),
                ("state", state.into()),
                ("updated_at", now.into()),
            ],
        );
        ins.on_conflict(OnConflict::columns(["rule_id", "subject", "period"]).do_nothing_on(["rule_id"]).to_owned());
        tx.execute(&ins).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifications::rules::PaceLevel;

    fn obs(actual: i64, expected: Option<i64>, day: u32) -> Observation {
        Observation {
            subject: String::from("team:t1"),
            unit: String::from("Team One"),
            branches: vec![String::from("colombo")],
            agent_id: None,
            actual_cents: actual,
            expected_cents: expected,
            working_day: day,
            period_key: String::from("month:2026-12-01"),
            period_label: String::from("December 2026"),
        }
    }

    #[test]
    fn behind_once_then_back_on_pace_once() {
        let spec = PaceSpec { level: PaceLevel::Team, behind_bp: 1_000, from_working_day: 3, notify_agent: false };
        // 10 % behind exactly is not "more than" 10 %.
        assert_eq!(decide(&spec, None, &obs(9_000, Some(10_000), 5)), None);
        assert_eq!(decide(&spec, None, &obs(8_999, Some(10_000), 5)), Some(Transition::Behind));
        // Too early in the period.
        assert_eq!(decide(&spec, None, &obs(0, Some(10_000), 2)), None);
        // No target, no alert.
        assert_eq!(decide(&spec, None, &obs(0, None, 9)), None);
        assert_eq!(decide(&spec, Some("behind"), &obs(9_999, Some(10_000), 6)), None);
        assert_eq!(decide(&spec, Some("behind"), &obs(10_000, Some(10_000), 6)), Some(Transition::BackOnPace));
        // Once recovered, the period is done.
        assert_eq!(decide(&spec, Some("recovered"), &obs(0, Some(10_000), 9)), None);
        assert_eq!(behind_pct(8_750, 10_000), "12.50");
    }
}
