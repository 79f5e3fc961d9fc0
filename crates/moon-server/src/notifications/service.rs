//! Notification use cases, shared by `/api/v1/notifications`, the original `/notification`
//! routes, the console and the demo loader: each opens one transaction, checks scope and
//! existence, writes with its audit entry, and commits. Handlers parse and shape responses.
//! The rule runner and the reminders are jobs, not use cases; they live in `runner.rs` and
//! `schedule.rs`.

use moon_db::sea_query::{Expr, ExprTrait, Func, Query};
use moon_db::{Db, DbError, insert_row};
use moon_domain::Message;

use super::inbox::{self, Preferences, PreferencesUpdate};
use super::pipeline::Recipient;
use super::rules::{Rule, RuleSpec};
use super::webhooks::{self, Checked, Subscription};
use super::{Notification, NotificationsState, pipeline, repo, rules_api};
use crate::agents::model::AgentRef;
use crate::audit;
use crate::error::{Error, Result};
use moon_http::{Principal, Scope};

fn vanished(what: &'static str) -> Error {
    Error::internal(what)
}

/// Sends a manual notification to a visible agent; the agent must exist (422 otherwise). Counts
/// the inbox delivery and wakes this process's stream and delivery loops once committed.
pub async fn send(
    state: &NotificationsState,
    principal: &Principal,
    to: &AgentRef,
    message: &Message,
) -> Result<Notification> {
    let sent = send_with_db(&state.db, state.notifications.channels, principal, to, message).await?;
    // The in-app inbox is the channel every message reaches: committed means delivered.
    state.metrics.count_delivery("inbox", "delivered");
    state.notifications.committed();
    Ok(sent)
}

/// [`send`] without the process's runtime, for the demo loader and jobs: the same pipeline as
/// rules.
pub async fn send_with_db(
    db: &Db,
    channels: pipeline::Channels,
    principal: &Principal,
    to: &AgentRef,
    message: &Message,
) -> Result<Notification> {
    let mut tx = db.begin().await?;
    let agent = crate::agents::service::resolve(db, Some(&mut tx), principal, to).await?;
    let new = pipeline::NewNotification {
        to: pipeline::Recipient::Agent(agent.id),
        message: message.as_str(),
        kind: "manual",
        dedupe_key: None,
    };
    let trace = moon_http::trace_context::current();
    let n = pipeline::create_traced(&mut tx, channels, &new, trace.as_deref())
        .await?
        .ok_or_else(|| vanished("a manual notification was not created"))?;
    let event = audit::Event::on("notification.send", "notification", n.id).with_diff(None, Some(&n));
    audit::append(&mut tx, principal, event).await?;
    tx.commit().await?;
    Ok(n)
}

/// One visible notification.
pub async fn get(db: &Db, principal: &Principal, id: i64) -> Result<Notification> {
    repo::get(db, principal.into(), id).await?.ok_or_else(|| Error::not_found(format!("notification {id}")))
}

/// Marks a visible notification read or unread, or corrects its text. Marking an already-read
/// notification read keeps the first read time. An agent may only mark their own notifications
/// read or unread: the text is what their branch sent them, and the audit masks it, so an edit
/// by the recipient would lose the original.
pub async fn update(
    db: &Db,
    principal: &Principal,
    id: i64,
    message: Option<&Message>,
    read: Option<bool>,
) -> Result<Notification> {
    if message.is_some() && principal.role == moon_http::Role::Agent {
        return Err(Error::Forbidden {
            code: "agents_mark_read_only",
            detail: String::from("agents may only mark their notifications read or unread, not change the message"),
        });
    }
    let mut tx = db.begin().await?;
    let current = repo::find(&mut tx, principal.into(), id)
        .await?
        .ok_or_else(|| Error::not_found(format!("notification {id}")))?;
    let read_at = match read {
        Some(true) if current.read_at.is_none() => Some(Some(moon_db::now())),
        Some(false) => Some(None),
        _ => None,
    };
    repo::update(&mut tx, id, message.map(Message::as_str), read_at).await?;
    let n = repo::find(&mut tx, repo::Viewer::ALL, id)
        .await?
        .ok_or_else(|| vanished("the notification vanished inside its own transaction"))?;
    let event = audit::Event::on("notification.update", "notification", id).with_diff(Some(&current), Some(&n));
    audit::append(&mut tx, principal, event).await?;
    tx.commit().await?;
    Ok(n)
}

/// Deletes a visible notification.
pub async fn delete(db: &Db, principal: &Principal, id: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    let current = repo::find(&mut tx, principal.into(), id)
        .await?
        .ok_or_else(|| Error::not_found(format!("notification {id}")))?;
    super::delete_audited(&mut tx, principal, ("notifications", "notification.delete", "notification"), id, &current)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Unread notifications in the inbox the caller asked for and may see (`agent_id`, or all of
/// theirs).
pub async fn unread_count(db: &Db, principal: &Principal, agent_id: Option<i64>) -> Result<i64> {
    let mut q = Query::select();
    q.expr(Func::count(Expr::col(("notifications", "id"))))
        .from("notifications")
        .and_where(Expr::col(("notifications", "read_at")).is_null());
    q.and_where_option(inbox::inbox_condition(principal, agent_id)?);
    let (unread,): (i64,) = db.fetch_optional(&q).await?.unwrap_or((0,));
    Ok(unread)
}

/// Unread notifications of one agent, for the console's navigation (the viewer is that agent).
pub async fn unread_of_agent(db: &Db, agent_id: i64) -> Result<i64, DbError> {
    let mut q = Query::select();
    q.expr(Func::count(Expr::col("id")))
        .from("notifications")
        .and_where(Expr::col("agent_id").eq(agent_id))
        .and_where(Expr::col("read_at").is_null());
    let row: Option<(i64,)> = db.fetch_optional(&q).await?;
    Ok(row.map_or(0, |(n,)| n))
}

/// Unread notifications addressed to one user account (a manager's or admin's alerts and
/// digests), for the console's navigation.
pub async fn unread_of_user(db: &Db, user_id: i64) -> Result<i64, DbError> {
    let mut q = Query::select();
    q.expr(Func::count(Expr::col("id")))
        .from("notifications")
        .and_where(Expr::col("user_id").eq(user_id))
        .and_where(Expr::col("read_at").is_null());
    let row: Option<(i64,)> = db.fetch_optional(&q).await?;
    Ok(row.map_or(0, |(n,)| n))
}

/// Marks every unread notification in an inbox read (now); returns how many.
pub async fn read_all(db: &Db, principal: &Principal, agent_id: Option<i64>) -> Result<i64> {
    let cond = inbox::inbox_condition(principal, agent_id)?;
    let mut tx = db.begin().await?;
    let mut up = Query::update();
    up.table("notifications")
        .value("read_at", moon_db::now())
        .and_where(Expr::col(("notifications", "read_at")).is_null());
    up.and_where_option(cond);
    let marked = i64::try_from(tx.execute(&up).await?).unwrap_or(i64::MAX);
    let who = agent_id.or(match principal.scope {
        Scope::Agent(id) => Some(id),
        _ => None,
    });
    let event =
        audit::Event::on("notification.read_all", "agent", who.map_or_else(|| String::from("*"), |i| i.to_string()))
            .with_detail(serde_json::json!({ "marked": marked }));
    audit::append(&mut tx, principal, event).await?;
    tx.commit().await?;
    Ok(marked)
}

/// Whose preferences a call is about: an agent (the caller themself, or one named by staff), or,
/// when staff name nobody, their own user account (a manager's alerts and broadcasts).
pub(super) async fn subject(db: &Db, principal: &Principal, agent_id: Option<i64>) -> Result<Recipient> {
    let id = match (&principal.scope, agent_id, principal.user_id) {
        (Scope::Agent(own), None, _) => *own,
        (_, Some(id), _) => id,
        (_, None, Some(user)) => return Ok(Recipient::User(user)),
        (_, None, None) => {
            return Err(Error::field(moon_domain::FieldError::new(
                "agent_id",
                "required",
                "name the agent whose preferences these are",
            )));
        }
    };
    crate::agents::repo::get(db, &principal.scope, id)
        .await?
        .map(|a| Recipient::Agent(a.id))
        .ok_or_else(|| Error::not_found(format!("agent {id}")))
}

fn default_prefs(to: Recipient) -> Preferences {
    let (agent_id, user_id) = ids(to);
    Preferences { agent_id, user_id, stream: true, email: false, quiet_hours: None }
}

fn ids(to: Recipient) -> (Option<i64>, Option<i64>) {
    match to {
        Recipient::Agent(a) => (Some(a), None),
        Recipient::User(u) => (None, Some(u)),
    }
}

async fn stored_prefs(tx: &mut moon_db::Tx, to: Recipient) -> Result<Option<Preferences>> {
    let (agent_id, user_id) = ids(to);
    let row = match to {
        Recipient::Agent(a) => inbox::read_prefs(tx, a).await?,
        Recipient::User(u) => inbox::read_user_prefs(tx, u).await?,
    };
    Ok(row.map(|r| r.to_api(agent_id, user_id)))
}

/// A recipient's channels (stream on, e-mail off until chosen, no quiet hours).
pub async fn preferences(db: &Db, principal: &Principal, agent_id: Option<i64>) -> Result<Preferences> {
    let to = subject(db, principal, agent_id).await?;
    let mut tx = db.begin().await?;
    let stored = stored_prefs(&mut tx, to).await?;
    tx.rollback().await?;
    Ok(stored.unwrap_or_else(|| default_prefs(to)))
}

/// Chooses channels and quiet hours: an agent for themself, staff for an agent in their scope
/// or for their own account; absent fields keep their value.
pub async fn set_preferences(
    db: &Db,
    principal: &Principal,
    agent_id: Option<i64>,
    change: &PreferencesUpdate,
) -> Result<Preferences> {
    let quiet = match &change.quiet_hours {
        Some(v) => Some(super::quiet::QuietHours::parse_json("quiet_hours", v).map_err(Error::field)?),
        None => None,
    };
    let to = subject(db, principal, agent_id).await?;
    let mut tx = db.begin().await?;
    let before = stored_prefs(&mut tx, to).await?;
    let base = before.clone().unwrap_or_else(|| default_prefs(to));
    let after = Preferences {
        stream: change.stream.unwrap_or(base.stream),
        email: change.email.unwrap_or(base.email),
        quiet_hours: quiet.unwrap_or(base.quiet_hours),
        ..base
    };
    let hhmm = |f: fn(&super::quiet::QuietHours) -> chrono::NaiveTime| {
        after.quiet_hours.as_ref().map(|q| f(q).format("%H:%M").to_string())
    };
    let mut values: Vec<(&'static str, moon_db::sea_query::Value)> = vec![
        ("email", after.email.into()),
        ("quiet_from", hhmm(|q| q.from).into()),
        ("quiet_to", hhmm(|q| q.to).into()),
        ("updated_at", moon_db::now().into()),
    ];
    let (table, key, id, entity) = match to {
        Recipient::Agent(a) => {
            values.push(("stream", after.stream.into()));
            ("notification_preferences", "agent_id", a, "agent")
        }
        Recipient::User(u) => ("user_notification_preferences", "user_id", u, "user"),
    };
    if before.is_some() {
        let mut up = Query::update();
        up.table(table).values(values.into_iter().map(|(c, v)| (c, Expr::val(v)))).and_where(Expr::col(key).eq(id));
        tx.execute(&up).await?;
    } else {
        values.push((key, id.into()));
        tx.execute(&insert_row(table, values)).await?;
    }
    let event = audit::Event::on("notification.preferences", entity, id).with_diff(before.as_ref(), Some(&after));
    audit::append(&mut tx, principal, event).await?;
    tx.commit().await?;
    Ok(after)
}

fn duplicate_rule(name: &str) -> Error {
    Error::conflict("duplicate_rule_name", format!("a rule named {name:?} already exists"))
}

fn rule_not_found(id: i64) -> Error {
    Error::not_found(format!("notification rule {id}"))
}

/// One rule.
pub async fn rule(db: &Db, id: i64) -> Result<Rule> {
    rules_api::get(db, id).await?.ok_or_else(|| rule_not_found(id))
}

/// Creates a rule from its specification; `timezone` is the default for rules that name none.
pub async fn create_rule(db: &Db, principal: &Principal, spec: &RuleSpec, timezone: &str) -> Result<Rule> {
    let rule = spec.apply(None, timezone)?;
    let mut tx = db.begin().await?;
    let id = match rules_api::insert(&mut tx, &rule).await {
        Err(DbError::UniqueViolation) => return Err(duplicate_rule(&rule.name)),
        other => other?,
    };
    let stored =
        rules_api::find(&mut tx, id).await?.ok_or_else(|| vanished("the rule vanished inside its own transaction"))?;
    let event = audit::Event::on("notification_rule.create", "notification_rule", id).with_diff(None, Some(&stored));
    audit::append(&mut tx, principal, event).await?;
    tx.commit().await?;
    Ok(stored)
}

/// Changes a rule (enable or disable it, thresholds, schedule, template, …); its kind is fixed.
pub async fn update_rule(db: &Db, principal: &Principal, id: i64, spec: &RuleSpec, timezone: &str) -> Result<Rule> {
    let mut tx = db.begin().await?;
    let current = rules_api::find(&mut tx, id).await?.ok_or_else(|| rule_not_found(id))?;
    let rule = spec.apply(Some(&current), timezone)?;
    match rules_api::update(&mut tx, id, &rule).await {
        Err(DbError::UniqueViolation) => return Err(duplicate_rule(&rule.name)),
        other => other?,
    };
    let stored =
        rules_api::find(&mut tx, id).await?.ok_or_else(|| vanished("the rule vanished inside its own transaction"))?;
    let event =
        audit::Event::on("notification_rule.update", "notification_rule", id).with_diff(Some(&current), Some(&stored));
    audit::append(&mut tx, principal, event).await?;
    tx.commit().await?;
    Ok(stored)
}

/// Deletes a rule (the notifications it made stay).
pub async fn delete_rule(db: &Db, principal: &Principal, id: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    let current = rules_api::find(&mut tx, id).await?.ok_or_else(|| rule_not_found(id))?;
    let what = ("notification_rules", "notification_rule.delete", "notification_rule");
    super::delete_audited(&mut tx, principal, what, id, &current).await?;
    tx.commit().await?;
    Ok(())
}

fn subscription_not_found(id: i64) -> Error {
    Error::not_found(format!("webhook subscription {id}"))
}

/// Seals a webhook secret with the server's key, bound to the subscription's id.
async fn seal(state: &NotificationsState, id: i64, secret: &str) -> Result<String> {
    let key =
        state.auth.key(&state.db).await.map_err(|e| Error::Internal(e.context("the secret key is unavailable")))?;
    key.seal(&webhooks::seal_context(id), secret.as_bytes())
        .map_err(|e| Error::Internal(e.context("cannot seal a webhook secret")))
}

/// Subscribes a receiver; without a secret one is generated and returned (this once only).
pub(crate) async fn create_subscription(
    state: &NotificationsState,
    principal: &Principal,
    c: Checked,
) -> Result<(Subscription, Option<String>)> {
    let generated = match &c.secret {
        Some(_) => None,
        None => Some(
            crate::auth::crypto::random_token()
                .map_err(|e| Error::Internal(e.context("cannot generate a webhook secret")))?,
        ),
    };
    let secret = c.secret.clone().or_else(|| generated.clone()).unwrap_or_default();
    // The key is loaded before the transaction, so a missing key writes nothing.
    state.auth.key(&state.db).await.map_err(|e| Error::Internal(e.context("the secret key is unavailable")))?;
    let mut tx = state.db.begin().await?;
    let id = webhooks::insert(&mut tx, &c).await?;
    webhooks::set_sealed(&mut tx, id, seal(state, id, &secret).await?).await?;
    let sub = webhooks::find(&mut tx, id)
        .await?
        .ok_or_else(|| vanished("the subscription vanished inside its own transaction"))?;
    let event = audit::Event::on("webhook.create", "webhook_subscription", id).with_diff(None, Some(&sub));
    audit::append(&mut tx, principal, event).await?;
    tx.commit().await?;
    Ok((sub, generated))
}

/// Changes a subscription's URL, events, secret or state; the audit entry says only that the
/// secret was rotated, never what it is.
pub(crate) async fn update_subscription(
    state: &NotificationsState,
    principal: &Principal,
    id: i64,
    c: Checked,
) -> Result<Subscription> {
    let sealed = match &c.secret {
        Some(s) => Some(seal(state, id, s).await?),
        None => None,
    };
    let mut tx = state.db.begin().await?;
    let current = webhooks::find(&mut tx, id).await?.ok_or_else(|| subscription_not_found(id))?;
    webhooks::update(&mut tx, id, &c, sealed).await?;
    let sub = webhooks::find(&mut tx, id)
        .await?
        .ok_or_else(|| vanished("the subscription vanished inside its own transaction"))?;
    let mut event =
        audit::Event::on("webhook.update", "webhook_subscription", id).with_diff(Some(&current), Some(&sub));
    if c.secret.is_some()
        && let Some(serde_json::Value::Object(changes)) = event.changes.as_mut()
    {
        changes.insert(String::from("secret"), serde_json::Value::from("rotated"));
    }
    audit::append(&mut tx, principal, event).await?;
    tx.commit().await?;
    Ok(sub)
}

/// Deletes a subscription and its delivery log.
pub async fn delete_subscription(db: &Db, principal: &Principal, id: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    let current = webhooks::find(&mut tx, id).await?.ok_or_else(|| subscription_not_found(id))?;
    webhooks::delete_deliveries(&mut tx, id).await?;
    let what = ("webhook_subscriptions", "webhook.delete", "webhook_subscription");
    super::delete_audited(&mut tx, principal, what, id, &current).await?;
    tx.commit().await?;
    Ok(())
}

/// Sends a delivery again (a dead one, or a succeeded one a receiver lost): it becomes pending
/// with a fresh attempt budget, due now, and this process's delivery loop is woken.
pub async fn redeliver(
    state: &NotificationsState,
    principal: &Principal,
    id: i64,
) -> Result<super::deliveries::Delivery> {
    use super::deliveries;
    let mut tx = state.db.begin().await?;
    let before = deliveries::find(&mut tx, id).await?.ok_or_else(|| Error::not_found(format!("delivery {id}")))?;
    deliveries::reset(&mut tx, id).await?;
    let after = deliveries::find(&mut tx, id)
        .await?
        .ok_or_else(|| vanished("the delivery vanished inside its own transaction"))?;
    let event = audit::Event::on("delivery.redeliver", "notification_delivery", id).with_detail(serde_json::json!({
        "status": { "before": before.status, "after": after.status },
        "attempts_before": before.attempts,
    }));
    audit::append(&mut tx, principal, event).await?;
    tx.commit().await?;
    state.notifications.deliveries_due.notify_one();
    Ok(after)
}
