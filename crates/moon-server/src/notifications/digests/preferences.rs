//! Choosing digests: what a person receives (their stored choice over their role's default) and
//! the change of it, validated field by field, written with its audit entry.

use moon_domain::{FieldError, FieldErrors};
use serde::{Deserialize, Serialize};

use super::DigestSettings;
use super::schedule::{DigestKind, Slot, parse_weekday, weekday_name};
use super::store;
use crate::audit;
use crate::error::Result;
use crate::notifications::pipeline::Recipient;
use moon_http::{Principal, Role};

/// One digest as a person receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DigestChoice {
    /// Whether it is sent.
    pub enabled: bool,
    /// The weekday of the weekly digest (`mon` … `sun`); null for the daily one.
    pub day: Option<String>,
    /// Local time in the business time zone, `HH:MM`.
    pub at: String,
    /// `true` while the person has not chosen: the role's default applies.
    pub default: bool,
}

/// A person's digests (`GET`/`PUT /api/v1/notifications/digests`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DigestPreferences {
    /// The user account, for staff.
    pub user_id: Option<i64>,
    /// The agent, for an agent.
    pub agent_id: Option<i64>,
    /// The time zone the times are in.
    pub timezone: String,
    /// The daily digest.
    pub daily: DigestChoice,
    /// The weekly digest.
    pub weekly: DigestChoice,
}

/// A change to one digest; absent fields keep their value.
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DigestChoiceUpdate {
    /// Send it or not.
    pub enabled: Option<bool>,
    /// Weekly only: `mon` … `sun`.
    pub day: Option<String>,
    /// `HH:MM`, business time zone.
    pub at: Option<String>,
}

/// Body of `PUT /api/v1/notifications/digests`.
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DigestPreferencesUpdate {
    /// The daily digest.
    pub daily: Option<DigestChoiceUpdate>,
    /// The weekly digest.
    pub weekly: Option<DigestChoiceUpdate>,
}

fn role_name(p: &Principal, to: Recipient) -> &'static str {
    match (to, p.role) {
        (Recipient::Agent(_), _) => "agent",
        (Recipient::User(_), Role::Admin) => "admin",
        (Recipient::User(_), _) => "manager",
    }
}

fn choice(enabled: bool, slot: Slot, default: bool) -> DigestChoice {
    DigestChoice {
        enabled,
        day: (slot.kind == DigestKind::Weekly).then(|| weekday_name(slot.weekday).to_owned()),
        at: slot.at.format("%H:%M").to_string(),
        default,
    }
}

/// The effective choice of each digest of `to`.
async fn effective(
    tx: &mut moon_db::Tx,
    settings: &DigestSettings,
    role: &str,
    to: Recipient,
) -> Result<[(bool, Slot, bool); 2]> {
    let stored = store::stored(tx, Some(to)).await?;
    Ok(DigestKind::ALL.map(|kind| match stored.get(&(to.key(), kind)) {
        Some(s) => (s.enabled, s.slot, false),
        None => match settings.default_for(role, kind) {
            Some(slot) => (true, slot, true),
            None => (false, settings.fallback(kind), true),
        },
    }))
}

fn shape(to: Recipient, timezone: &str, [daily, weekly]: [(bool, Slot, bool); 2]) -> DigestPreferences {
    let (user_id, agent_id) = match to {
        Recipient::User(u) => (Some(u), None),
        Recipient::Agent(a) => (None, Some(a)),
    };
    DigestPreferences {
        user_id,
        agent_id,
        timezone: timezone.to_owned(),
        daily: choice(daily.0, daily.1, daily.2),
        weekly: choice(weekly.0, weekly.1, weekly.2),
    }
}

/// The caller's digests.
pub async fn get(
    db: &moon_db::Db,
    settings: &DigestSettings,
    timezone: &str,
    principal: &Principal,
) -> Result<DigestPreferences> {
    let to = crate::notifications::service::subject(db, principal, None).await?;
    let mut tx = db.begin().await?;
    let now = effective(&mut tx, settings, role_name(principal, to), to).await?;
    tx.rollback().await?;
    Ok(shape(to, timezone, now))
}

/// Checks a change against the current choices: the new (enabled, slot) of each digest named.
fn apply(
    change: &DigestPreferencesUpdate,
    current: &[(bool, Slot, bool); 2],
) -> std::result::Result<Vec<(bool, Slot)>, Vec<FieldError>> {
    let mut e = FieldErrors::new();
    let mut out = Vec::new();
    for (i, kind) in DigestKind::ALL.into_iter().enumerate() {
        let update = match kind {
            DigestKind::Daily => change.daily.as_ref(),
            DigestKind::Weekly => change.weekly.as_ref(),
        };
        let Some(u) = update else { continue };
        let (enabled, mut slot, _) = current[i];
        let name = kind.as_str();
        if let Some(at) = &u.at {
            match crate::notifications::quiet::parse_time(at) {
                Some(t) => slot.at = t,
                None => {
                    e.push(FieldError::new(format!("{name}.at"), "invalid_time", "a time is HH:MM (24-hour clock)"))
                }
            }
        }
        if let Some(day) = &u.day {
            match (kind, parse_weekday(day)) {
                (DigestKind::Weekly, Some(d)) => slot.weekday = d,
                (DigestKind::Weekly, None) => {
                    e.push(FieldError::new(
                        format!("{name}.day"),
                        "invalid_day",
                        "a day is mon, tue, wed, thu, fri, sat or sun",
                    ));
                }
                (DigestKind::Daily, _) => {
                    e.push(FieldError::new(format!("{name}.day"), "not_applicable", "the daily digest has no day"));
                }
            }
        }
        out.push((u.enabled.unwrap_or(enabled), slot));
    }
    e.finish()?;
    Ok(out)
}

/// Changes the caller's digests; absent digests and fields keep their value.
pub async fn set(
    db: &moon_db::Db,
    settings: &DigestSettings,
    timezone: &str,
    principal: &Principal,
    change: &DigestPreferencesUpdate,
) -> Result<DigestPreferences> {
    let to = crate::notifications::service::subject(db, principal, None).await?;
    let role = role_name(principal, to);
    let mut tx = db.begin().await?;
    let before = effective(&mut tx, settings, role, to).await?;
    let changes = apply(change, &before).map_err(crate::error::Error::Invalid)?;
    for (enabled, slot) in changes {
        store::write_choice(&mut tx, to, enabled, slot).await?;
    }
    let after = effective(&mut tx, settings, role, to).await?;
    let (before, after) = (shape(to, timezone, before), shape(to, timezone, after));
    let (entity, id) = match to {
        Recipient::User(u) => ("user", u),
        Recipient::Agent(a) => ("agent", a),
    };
    let event = audit::Event::on("notification.digest_preferences", entity, id).with_diff(Some(&before), Some(&after));
    audit::append(&mut tx, principal, event).await?;
    tx.commit().await?;
    Ok(after)
}
