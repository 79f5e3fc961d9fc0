//! Broadcasts: one message to every active agent of a team, a branch, a region or the whole
//! company, written in one transaction (every inbox row with its deliveries, and one audit
//! entry) and answered with how many it reached. Scoped by role: an administrator may address
//! anyone; a manager their own branch, or a team within it (only the team's agents of that
//! branch); agents and analysts may not broadcast (the policy table refuses them).

use moon_domain::{FieldError, FieldErrors, Message};
use serde::{Deserialize, Serialize};

use super::NotificationsState;
use super::pipeline::{self, NewNotification, Recipient};
use crate::agents::org::model::{UnitKind, fold};
use crate::error::{Error, Result};
use moon_http::{Principal, Scope};

/// Body of `POST /api/v1/broadcasts`: the message and exactly one audience.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BroadcastRequest {
    /// Required: 1–1000 characters.
    pub message: Option<String>,
    /// Every active agent of this team (code or name); a manager's: of their branch.
    pub team: Option<String>,
    /// Every active agent of this branch (code or name).
    pub branch: Option<String>,
    /// Every active agent of the branches of this region (administrators).
    pub region: Option<String>,
    /// `true`: every active agent (administrators).
    pub everyone: Option<bool>,
}

/// What a broadcast reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BroadcastResult {
    /// `team:<code>`, `branch:<code>`, `region:<code>` or `everyone`.
    pub audience: String,
    /// Inboxes the message was written to (one per active agent).
    pub delivered: i64,
}

/// The audience, validated.
enum Audience {
    Team(String),
    Branch(String),
    Region(String),
    Everyone,
}

fn validate(req: &BroadcastRequest) -> std::result::Result<(Message, Audience), Vec<FieldError>> {
    let mut e = FieldErrors::new();
    let message = match &req.message {
        Some(m) => e.take(Message::parse("message", m)),
        None => {
            e.push(FieldError::required("message"));
            None
        }
    };
    let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let mut given: Vec<Audience> = Vec::new();
    if let Some(t) = text(&req.team) {
        given.push(Audience::Team(t));
    }
    if let Some(b) = text(&req.branch) {
        given.push(Audience::Branch(b));
    }
    if let Some(r) = text(&req.region) {
        given.push(Audience::Region(r));
    }
    if req.everyone == Some(true) {
        given.push(Audience::Everyone);
    }
    if given.len() != 1 {
        e.push(FieldError::new(
            "audience",
            if given.is_empty() { "required" } else { "ambiguous" },
            "give exactly one of team, branch, region or everyone: true",
        ));
    }
    e.finish()?;
    match (message, given.pop()) {
        (Some(m), Some(a)) => Ok((m, a)),
        _ => Err(vec![FieldError::new("body", "invalid", "the broadcast is incomplete")]),
    }
}

fn own_branch_only() -> Error {
    Error::forbidden("a manager broadcasts to their own branch, or a team within it, only")
}

/// Sends a broadcast; see the module's doc for who may address whom.
pub async fn send(
    state: &NotificationsState,
    principal: &Principal,
    req: &BroadcastRequest,
) -> Result<BroadcastResult> {
    let (message, audience) = validate(req)?;
    let manager_branch = match &principal.scope {
        Scope::All => None,
        Scope::Branch(b) => Some(b.clone()),
        Scope::Agent(_) => return Err(Error::forbidden("agents cannot broadcast")),
    };
    let mut tx = state.db.begin().await?;
    let (label, agents) = match audience {
        Audience::Branch(reference) => {
            let unit = crate::agents::org::service::resolve(&mut tx, UnitKind::Branch, "branch", &reference).await?;
            if manager_branch.as_ref().is_some_and(|b| fold(b) != fold(&unit.code)) {
                return Err(own_branch_only());
            }
            let ids = crate::agents::repo::active_in(&mut tx, Some(std::slice::from_ref(&unit.code)), None).await?;
            (format!("branch:{}", unit.code), ids)
        }
        Audience::Team(reference) => {
            let unit = crate::agents::org::service::resolve(&mut tx, UnitKind::Team, "team", &reference).await?;
            let branches = manager_branch.as_ref().map(|b| vec![b.clone()]);
            let ids = crate::agents::repo::active_in(&mut tx, branches.as_deref(), Some(&unit.code)).await?;
            (format!("team:{}", unit.code), ids)
        }
        Audience::Region(reference) => {
            if manager_branch.is_some() {
                return Err(own_branch_only());
            }
            let unit = crate::agents::org::service::resolve(&mut tx, UnitKind::Region, "region", &reference).await?;
            let branches: Vec<String> = crate::agents::org::repo::all(&mut tx, UnitKind::Branch)
                .await?
                .into_iter()
                .filter(|b| b.region.as_deref().is_some_and(|r| fold(r) == fold(&unit.code)))
                .map(|b| b.code)
                .collect();
            let ids = crate::agents::repo::active_in(&mut tx, Some(&branches), None).await?;
            (format!("region:{}", unit.code), ids)
        }
        Audience::Everyone => {
            if manager_branch.is_some() {
                return Err(own_branch_only());
            }
            (String::from("everyone"), crate::agents::repo::active_in(&mut tx, None, None).await?)
        }
    };
    if agents.is_empty() {
        return Err(Error::field(FieldError::new(
            "audience",
            "no_recipients",
            format!("{label} has no active agent to broadcast to"),
        )));
    }
    let mut delivered = 0i64;
    for id in &agents {
        let new = NewNotification {
            to: Recipient::Agent(*id),
            message: message.as_str(),
            kind: "broadcast",
            dedupe_key: None,
        };
        if pipeline::create(&mut tx, state.notifications.channels, &new).await?.is_some() {
            delivered += 1;
        }
    }
    let event = crate::audit::Event::on("notification.broadcast", "audience", &label)
        .with_detail(serde_json::json!({ "characters": message.as_str().chars().count(), "delivered": delivered }));
    crate::audit::append(&mut tx, principal, event).await?;
    tx.commit().await?;
    for _ in 0..delivered {
        state.metrics.count_delivery("inbox", "delivered");
    }
    state.notifications.committed();
    Ok(BroadcastResult { audience: label, delivered })
}
