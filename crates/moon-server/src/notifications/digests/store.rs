//! The digest tables: who receives which digest and when (`digest_preferences`, over the role's
//! configured default), which slots are due and not yet sent, the claim that makes a slot go out
//! once (`digest_sends`, keyed by recipient, digest and slot), and the unsubscribe link's effect.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc, Weekday};
use chrono_tz::Tz;
use moon_db::sea_query::{Expr, ExprTrait, LockType, OnConflict, Query};
use moon_db::{Db, DbError, Tx, insert_row};

use super::DigestSettings;
use super::content::{Content, render};
use super::schedule::{DigestKind, Slot, long_weekday};
use crate::notifications::pipeline::{self, Channels, NewNotification, Recipient};

/// Whose figures a digest carries: the company by branch (admins), one branch (its managers),
/// or one agent's own (agents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Every branch.
    Company,
    /// One branch, by code.
    Branch(String),
    /// One agent.
    Agent {
        /// The agent's id.
        id: i64,
        /// The agent's code.
        code: String,
        /// The agent's home branch.
        branch: String,
    },
}

/// A digest slot that is due and not yet sent.
#[derive(Debug, Clone)]
pub struct Due {
    /// Who receives it.
    pub recipient: Recipient,
    /// Whose figures.
    pub audience: Audience,
    /// The schedule it is due by.
    pub slot: Slot,
    /// The slot's instant.
    pub slot_at: DateTime<Utc>,
    /// Sent after its slot by more than the grace (`late_after_minutes`): the process was down.
    pub late: bool,
}

impl Due {
    /// The unique key of (recipient, digest, slot): what a sender claims.
    pub fn claim_key(&self) -> String {
        format!("{}:{}:{}", self.recipient.key(), self.slot.kind.as_str(), self.slot_at.timestamp())
    }
}

/// A stored choice: enabled, weekday (1 = Monday), local time, and when it was made.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Receives it.
    pub enabled: bool,
    /// The schedule.
    pub slot: Slot,
    /// When chosen: slots before it are not sent.
    pub since: DateTime<Utc>,
}

/// The recipient key of the tables (`u12`, `a5`) back to a recipient.
pub fn parse_recipient(key: &str) -> Option<Recipient> {
    let (kind, id) = key.split_at_checked(1)?;
    let id: i64 = id.parse().ok()?;
    match kind {
        "u" => Some(Recipient::User(id)),
        "a" => Some(Recipient::Agent(id)),
        _ => None,
    }
}

fn weekday_from(n: Option<i64>) -> Weekday {
    match n {
        Some(2) => Weekday::Tue,
        Some(3) => Weekday::Wed,
        Some(4) => Weekday::Thu,
        Some(5) => Weekday::Fri,
        Some(6) => Weekday::Sat,
        Some(7) => Weekday::Sun,
        _ => Weekday::Mon,
    }
}

/// A `digest_preferences` row: recipient, digest, enabled, weekday, time, updated.
type ChoiceRow = (String, String, bool, Option<i64>, String, DateTime<Utc>);

/// Every stored choice, by recipient key and digest.
pub async fn stored(
    tx: &mut Tx,
    recipient: Option<Recipient>,
) -> Result<HashMap<(String, DigestKind), Stored>, DbError> {
    let mut q = Query::select();
    q.columns(["recipient", "digest", "enabled", "weekday", "at_time", "updated_at"]).from("digest_preferences");
    if let Some(r) = recipient {
        q.and_where(Expr::col("recipient").eq(r.key()));
    }
    let rows: Vec<ChoiceRow> = tx.fetch_all(&q).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(r, d, enabled, weekday, at, since)| {
            let kind = DigestKind::parse(&d)?;
            let at = crate::notifications::quiet::parse_time(&at)?;
            Some(((r, kind), Stored { enabled, slot: Slot { kind, weekday: weekday_from(weekday), at }, since }))
        })
        .collect())
}

/// Writes one choice (insert or update) in `tx`.
pub async fn write_choice(tx: &mut Tx, to: Recipient, enabled: bool, slot: Slot) -> Result<(), DbError> {
    let key = to.key();
    let (user_id, agent_id) = match to {
        Recipient::User(u) => (Some(u), None),
        Recipient::Agent(a) => (None, Some(a)),
    };
    let weekday = (slot.kind == DigestKind::Weekly).then(|| i64::from(slot.weekday.number_from_monday()));
    let at = slot.at.format("%H:%M").to_string();
    let now = moon_db::now();
    let mut up = Query::update();
    up.table("digest_preferences")
        .values([
            ("enabled", Expr::val(enabled)),
            ("weekday", Expr::val(weekday)),
            ("at_time", Expr::val(at.as_str())),
            ("updated_at", Expr::val(now)),
        ])
        .and_where(Expr::col("recipient").eq(key.as_str()))
        .and_where(Expr::col("digest").eq(slot.kind.as_str()));
    if tx.execute(&up).await? == 0 {
        tx.execute(&insert_row(
            "digest_preferences",
            vec![
                ("recipient", key.as_str().into()),
                ("digest", slot.kind.as_str().into()),
                ("user_id", user_id.into()),
                ("agent_id", agent_id.into()),
                ("enabled", enabled.into()),
                ("weekday", weekday.into()),
                ("at_time", at.as_str().into()),
                ("updated_at", now.into()),
            ],
        ))
        .await?;
    }
    Ok(())
}

/// Seeds a choice if the person has none for that digest (the demo): `since` back-dates it, so
/// the latest slot after it is due at once. Returns whether it wrote.
pub async fn seed_choice(db: &Db, to: Recipient, slot: Slot, since: DateTime<Utc>) -> Result<bool, DbError> {
    let mut tx = db.begin().await?;
    if stored(&mut tx, Some(to)).await?.contains_key(&(to.key(), slot.kind)) {
        tx.rollback().await?;
        return Ok(false);
    }
    write_choice(&mut tx, to, true, slot).await?;
    let mut up = Query::update();
    up.table("digest_preferences")
        .value("updated_at", since)
        .and_where(Expr::col("recipient").eq(to.key()))
        .and_where(Expr::col("digest").eq(slot.kind.as_str()));
    tx.execute(&up).await?;
    tx.commit().await?;
    Ok(true)
}

/// A person who may receive digests, with their audience, role default and start.
struct Candidate {
    recipient: Recipient,
    audience: Audience,
    default: Option<Slot>,
    since: Option<DateTime<Utc>>,
}

/// Enabled admins and managers (with a branch), and agents (all active ones when agents have a
/// default digest, else those who chose one).
async fn candidates(
    tx: &mut Tx,
    settings: &DigestSettings,
    chosen_agents: &BTreeSet<i64>,
) -> Result<Vec<Candidate>, DbError> {
    let (admin, manager, agent) = settings.defaults();
    let mut q = Query::select();
    q.columns(["id", "role", "branch", "created_at"])
        .from("users")
        .and_where(Expr::col("disabled").eq(false))
        .and_where(Expr::col("role").is_in(["admin", "manager"]));
    let users: Vec<(i64, String, Option<String>, DateTime<Utc>)> = tx.fetch_all(&q).await?;
    let mut out = Vec::new();
    for (id, role, branch, created) in users {
        let (audience, default) = match (role.as_str(), branch) {
            ("admin", _) => (Audience::Company, admin),
            ("manager", Some(b)) if !b.trim().is_empty() => (Audience::Branch(b), manager),
            _ => continue,
        };
        out.push(Candidate { recipient: Recipient::User(id), audience, default, since: Some(created) });
    }
    if agent.is_none() && chosen_agents.is_empty() {
        return Ok(out);
    }
    let mut q = Query::select();
    q.columns(["id", "agent_code", "branch", "created_at"]).from("agents").and_where(Expr::col("active").eq(true));
    if agent.is_none() {
        q.and_where(Expr::col("id").is_in(chosen_agents.iter().copied()));
    }
    let agents: Vec<(i64, String, String, DateTime<Utc>)> = tx.fetch_all(&q).await?;
    for (id, code, branch, created) in agents {
        out.push(Candidate {
            recipient: Recipient::Agent(id),
            audience: Audience::Agent { id, code, branch },
            default: agent,
            since: Some(created),
        });
    }
    Ok(out)
}

/// The digests due at `now` and not yet sent: per person and digest, the latest slot of their
/// choice (or their role's default), if it is not before the choice was made.
pub async fn due(db: &Db, settings: &DigestSettings, zone: Tz, now: DateTime<Utc>) -> Result<Vec<Due>, DbError> {
    let mut tx = db.begin().await?;
    let choices = stored(&mut tx, None).await?;
    let chosen_agents: BTreeSet<i64> = choices
        .iter()
        .filter(|(_, s)| s.enabled)
        .filter_map(|((r, _), _)| match parse_recipient(r) {
            Some(Recipient::Agent(a)) => Some(a),
            _ => None,
        })
        .collect();
    let people = candidates(&mut tx, settings, &chosen_agents).await?;
    let late_after = Duration::minutes(i64::try_from(settings.late_after_minutes).unwrap_or(i64::MAX / 120_000));
    let mut wanted = Vec::new();
    for p in people {
        for kind in DigestKind::ALL {
            let (slot, since) = match choices.get(&(p.recipient.key(), kind)) {
                Some(s) if s.enabled => (s.slot, Some(s.since)),
                Some(_) => continue,
                None => match p.default {
                    Some(d) if d.kind == kind => (d, p.since),
                    _ => continue,
                },
            };
            let slot_at = slot.latest(now, zone);
            if since.is_some_and(|s| slot_at < s) {
                continue;
            }
            wanted.push(Due {
                recipient: p.recipient,
                audience: p.audience.clone(),
                slot,
                slot_at,
                late: now - slot_at > late_after,
            });
        }
    }
    if wanted.is_empty() {
        tx.rollback().await?;
        return Ok(wanted);
    }
    let mut sent: BTreeSet<String> = BTreeSet::new();
    for chunk in wanted.chunks(500) {
        let mut q = Query::select();
        q.column("claim_key")
            .from("digest_sends")
            .and_where(Expr::col("claim_key").is_in(chunk.iter().map(Due::claim_key)));
        let rows: Vec<(String,)> = tx.fetch_all(&q).await?;
        sent.extend(rows.into_iter().map(|(k,)| k));
    }
    tx.rollback().await?;
    Ok(wanted.into_iter().filter(|d| !sent.contains(&d.claim_key())).collect())
}

/// Claims a due slot and writes its digest: the inbox notification (and its e-mail delivery,
/// through the one pipeline) and the rendered mail, with the audit entry, in one transaction.
/// `false` when another sender claimed the slot first (nothing is written then).
/// `unsubscribe` turns a claim key into the link that stops this digest.
pub async fn deliver(
    db: &Db,
    channels: Channels,
    d: &Due,
    content: &Content,
    unsubscribe: impl Fn(&str) -> String,
) -> Result<bool, DbError> {
    let key = d.claim_key();
    let mine = crate::auth::crypto::random_token()
        .map_err(|e| DbError::Other(moon_db::sqlx::Error::Protocol(format!("cannot make a claim token: {e:#}"))))?;
    let mut tx = db.begin().await?;
    let mut claim = insert_row(
        "digest_sends",
        vec![
            ("claim_key", key.as_str().into()),
            ("claim_token", mine.as_str().into()),
            ("recipient", d.recipient.key().into()),
            ("digest", d.slot.kind.as_str().into()),
            ("slot_at", d.slot_at.into()),
            ("late", d.late.into()),
            ("created_at", moon_db::now().into()),
        ],
    );
    // A second sender's insert waits for the first's commit and then does nothing.
    claim.on_conflict(OnConflict::column("claim_key").do_nothing_on(["claim_key"]).to_owned());
    tx.execute(&claim).await?;
    let mut q = Query::select();
    q.column("claim_token")
        .from("digest_sends")
        .and_where(Expr::col("claim_key").eq(key.as_str()))
        .lock(LockType::Update);
    let holder: Option<(String,)> = tx.fetch_optional(&q).await?;
    if holder.is_none_or(|(t,)| t != mine) {
        tx.rollback().await?;
        return Ok(false);
    }
    let title = format!("{} digest", d.slot.kind.title());
    let due_at = match d.slot.kind {
        DigestKind::Weekly => format!("{} {}", long_weekday(d.slot.weekday), d.slot.at.format("%H:%M")),
        DigestKind::Daily => format!("{}", d.slot.at.format("%H:%M")),
    };
    let rendered = render(&title, d.late.then_some(due_at.as_str()), content, &unsubscribe(&key));
    let new = NewNotification {
        to: d.recipient,
        message: &rendered.inbox,
        kind: "digest",
        dedupe_key: Some(format!("digest:{key}")),
    };
    let Some(n) = pipeline::create(&mut tx, channels, &new).await? else {
        tx.rollback().await?;
        return Ok(false);
    };
    let mut up = Query::update();
    up.table("digest_sends")
        .values([
            ("notification_id", Expr::val(n.id)),
            ("subject", Expr::val(rendered.subject.as_str())),
            ("body_text", Expr::val(rendered.text.as_str())),
            ("body_html", Expr::val(rendered.html.as_str())),
        ])
        .and_where(Expr::col("claim_key").eq(key.as_str()));
    tx.execute(&up).await?;
    let actor = crate::audit::Actor {
        id: String::from("system:digests"),
        role: None,
        origin: moon_http::principal::Origin::default(),
    };
    let event = crate::audit::Event::on("notification.digest_sent", "notification", n.id).with_detail(
        serde_json::json!({ "recipient": d.recipient.key(), "digest": d.slot.kind.as_str(), "slot": d.slot_at, "late": d.late }),
    );
    crate::audit::append(&mut tx, actor, event).await?;
    tx.commit().await?;
    Ok(true)
}

/// The mail of a digest notification: subject, text and HTML.
pub async fn mail_of(db: &Db, notification_id: i64) -> Result<Option<(String, String, String)>, DbError> {
    let mut q = Query::select();
    q.columns(["subject", "body_text", "body_html"])
        .from("digest_sends")
        .and_where(Expr::col("notification_id").eq(notification_id));
    let row: Option<(Option<String>, Option<String>, Option<String>)> = db.fetch_optional(&q).await?;
    Ok(row.and_then(|(s, t, h)| Some((s?, t?, h?))))
}

/// What an unsubscribe link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsubscribed {
    /// The digest is off now for its recipient.
    Done {
        /// The digest.
        kind: DigestKind,
    },
    /// The link was used before.
    AlreadyUsed,
    /// The digest it names is no longer on record.
    Unknown,
}

/// Uses the link of the sent digest `claim_key`: turns that digest off for its recipient
/// (keeping its schedule, so switching it on again restores it) and records the link's use, in
/// one transaction with its audit entry.
pub async fn unsubscribe(db: &Db, claim_key: &str, settings: &DigestSettings) -> Result<Unsubscribed, DbError> {
    let mut tx = db.begin().await?;
    let mut touch = Query::update();
    touch
        .table("digest_sends")
        .value("claim_key", Expr::col("claim_key"))
        .and_where(Expr::col("claim_key").eq(claim_key));
    tx.execute(&touch).await?;
    let mut q = Query::select();
    q.columns(["recipient", "digest", "unsubscribed_at"])
        .from("digest_sends")
        .and_where(Expr::col("claim_key").eq(claim_key))
        .lock(LockType::Update);
    let row: Option<(String, String, Option<DateTime<Utc>>)> = tx.fetch_optional(&q).await?;
    let Some((recipient_key, digest, used)) = row else {
        tx.rollback().await?;
        return Ok(Unsubscribed::Unknown);
    };
    if used.is_some() {
        tx.rollback().await?;
        return Ok(Unsubscribed::AlreadyUsed);
    }
    let (Some(recipient), Some(kind)) = (parse_recipient(&recipient_key), DigestKind::parse(&digest)) else {
        tx.rollback().await?;
        return Ok(Unsubscribed::Unknown);
    };
    let current = stored(&mut tx, Some(recipient)).await?.remove(&(recipient_key.clone(), kind));
    let slot = match current {
        Some(s) => s.slot,
        None => settings.fallback(kind),
    };
    write_choice(&mut tx, recipient, false, slot).await?;
    let mut up = Query::update();
    up.table("digest_sends").value("unsubscribed_at", moon_db::now()).and_where(Expr::col("claim_key").eq(claim_key));
    tx.execute(&up).await?;
    let actor = crate::audit::Actor {
        id: format!("link:{recipient_key}"),
        role: None,
        origin: moon_http::principal::Origin::default(),
    };
    let event = crate::audit::Event::on("notification.digest_unsubscribe", "digest", recipient_key.as_str())
        .with_detail(serde_json::json!({ "digest": kind.as_str(), "sent": claim_key }));
    crate::audit::append(&mut tx, actor, event).await?;
    tx.commit().await?;
    Ok(Unsubscribed::Done { kind })
}
