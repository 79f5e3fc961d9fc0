//! Agent use cases, shared by the REST API and the original system's routes.

use chrono::NaiveDate;
use moon_db::{Db, DbError, Tx};
use moon_domain::{FieldError, Label};

use super::model::AgentRef;
use super::model::{Agent, AgentChanges, NewAgent};
use super::org;
use super::org::model::{Membership, Move};
use super::repo;
use crate::audit;
use crate::error::{Error, Result};
use moon_changelog::Event;
use moon_http::{Principal, Scope};

fn duplicate_code(code: &str) -> Error {
    Error::conflict("duplicate_agent_code", format!("an agent with agent_code {code} already exists"))
}

/// Creates an agent in a known branch and team (named by code or name; an unknown one is a 422
/// listing the known ones); a duplicate code is a 409, even when two requests race.
pub async fn create(db: &Db, principal: &Principal, new: NewAgent) -> Result<Agent> {
    let mut tx = db.begin().await?;
    let (branch, team) = org::service::placement(&mut tx, principal, &new.branch, &new.team).await?;
    if repo::find_by_code(&mut tx, &Scope::All, new.agent_code.as_str()).await?.is_some() {
        return Err(duplicate_code(new.agent_code.as_str()));
    }
    let agent = insert_placed(&mut tx, principal, new, &branch, &team, "agent.create").await?;
    let id = agent.id;
    audit::append(&mut tx, principal, audit::Event::on("agent.create", "agent", id).with_diff(None, Some(&agent)))
        .await?;
    tx.commit().await?;
    tracing::info!(agent_id = id, "agent created");
    Ok(agent)
}

/// Inserts an agent already placed in `branch` and `team` (resolved in the caller's scope),
/// with its first membership, its change-log entry and its first consent history (as `action`),
/// inside the caller's transaction; the caller audits. A duplicate code is a 409.
pub async fn insert_placed(
    tx: &mut Tx,
    principal: &Principal,
    mut new: NewAgent,
    branch: &org::model::Unit,
    team: &org::model::Unit,
    action: &str,
) -> Result<Agent> {
    new.branch = Label::parse("branch", &branch.code).map_err(Error::field)?;
    new.team = Label::parse("team", &team.code).map_err(Error::field)?;
    let id = match repo::insert(tx, &new).await {
        Err(DbError::UniqueViolation) => return Err(duplicate_code(new.agent_code.as_str())),
        other => other?,
    };
    org::service::join(tx, id, branch, team).await?;
    let agent = repo::find(tx, &Scope::All, id)
        .await?
        .ok_or_else(|| Error::internal("the agent vanished inside its own transaction"))?;
    moon_changelog::record(tx, &[Event::Agent { id, before: None, after: Some(repo::facts(&agent)) }]).await?;
    repo::record_consent(tx, None, &agent, &principal.id, action).await?;
    Ok(agent)
}

/// Applies a partial update to a visible agent.
/// A new team or branch is a move effective `today` (the business calendar's date).
pub async fn update(
    db: &Db,
    principal: &Principal,
    id: i64,
    mut changes: AgentChanges,
    today: chrono::NaiveDate,
) -> Result<Agent> {
    // An agent keeps their own contact details and analytics consent current; code, name, team,
    // branch and status are the branch's to change.
    if matches!(principal.scope, Scope::Agent(_))
        && (changes.agent_code.is_some()
            || changes.first_name.is_some()
            || changes.last_name.is_some()
            || changes.branch.is_some()
            || changes.team.is_some()
            || changes.active.is_some())
    {
        return Err(Error::forbidden(
            "agents may change only their own contact_number, email, analytics_consent and show_name_to_peers",
        ));
    }
    let mut tx = db.begin().await?;
    let current =
        repo::find(&mut tx, &principal.scope, id).await?.ok_or_else(|| Error::not_found(format!("agent {id}")))?;
    // An erasure is final: refilling the names, contact details or consent of an erased agent
    // would bring back the personal data the erasure removed (and the warehouse would hear of it).
    if current.erased_at.is_some()
        && (changes.first_name.is_some()
            || changes.last_name.is_some()
            || changes.contact_number.is_some()
            || changes.email.is_some()
            || changes.analytics_consent.is_some()
            || changes.show_name_to_peers == Some(true))
    {
        return Err(Error::conflict(
            "agent_erased",
            format!(
                "agent {} was erased: first_name, last_name, contact_number, email and analytics_consent can no longer be set",
                current.agent_code
            ),
        ));
    }
    // A new team or branch is a move effective today: earlier periods keep the old ones.
    let mut moved_from = None;
    let mv = Move { branch: changes.branch.take(), team: changes.team.take(), effective_from: None };
    if mv.branch.is_some() || mv.team.is_some() {
        let same = mv.branch.as_ref().is_none_or(|b| org::model::fold(b.as_str()) == org::model::fold(&current.branch))
            && mv.team.as_ref().is_none_or(|t| org::model::fold(t.as_str()) == org::model::fold(&current.team));
        if !same {
            let history = org::service::move_agent(&mut tx, principal, &current, &mv, today).await?;
            moved_from = effective_from(&history);
        }
    }
    if let Some(code) = &changes.agent_code
        && code.as_str() != current.agent_code
        && repo::find_by_code(&mut tx, &Scope::All, code.as_str()).await?.is_some()
    {
        return Err(duplicate_code(code.as_str()));
    }
    match repo::update(&mut tx, id, &changes).await {
        Err(DbError::UniqueViolation) => {
            let code = changes.agent_code.as_ref().map(|c| c.as_str()).unwrap_or_default();
            return Err(duplicate_code(code));
        }
        other => other?,
    };
    let agent = reread_and_log(&mut tx, &current, moved_from).await?;
    repo::record_consent(&mut tx, Some(&current), &agent, &principal.id, "agent.update").await?;
    audit::append(
        &mut tx,
        principal,
        audit::Event::on("agent.update", "agent", id).with_diff(Some(&current), Some(&agent)),
    )
    .await?;
    tx.commit().await?;
    Ok(agent)
}

/// The agent as the transaction leaves it, with a change-log entry when a KPI attribute (team,
/// branch, status, consent) differs from `before`. `moved_from` is the effective date of a move
/// made in this transaction: the entry carries it so that the warehouse re-attributes the
/// agent's sales from that day only.
async fn reread_and_log(tx: &mut Tx, before: &Agent, moved_from: Option<NaiveDate>) -> Result<Agent> {
    let id = before.id;
    let agent = repo::find(tx, &Scope::All, id)
        .await?
        .ok_or_else(|| Error::internal("the agent vanished inside its own transaction"))?;
    let (was, mut now) = (repo::facts(before), repo::facts(&agent));
    if was.team != now.team || was.branch != now.branch {
        now.since = moved_from;
    }
    if was != now {
        moon_changelog::record(tx, &[Event::Agent { id, before: Some(was), after: Some(now) }]).await?;
    }
    Ok(agent)
}

/// The first day of an agent's current membership: after a move, its effective date.
fn effective_from(history: &[Membership]) -> Option<NaiveDate> {
    history.last().and_then(|m| m.valid_from)
}

/// Deletes an agent without sales. An agent with sales is kept (409): deactivate them instead,
/// so the sales history and KPIs stay whole.
pub async fn delete(db: &Db, principal: &Principal, id: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    let agent =
        repo::find(&mut tx, &principal.scope, id).await?.ok_or_else(|| Error::not_found(format!("agent {id}")))?;
    // Agents know nothing of sales: the sales table's `RESTRICT` reference to the agent is what
    // refuses the delete, and it also covers a sale recorded while this transaction runs.
    match repo::delete(&mut tx, id).await {
        Err(DbError::ForeignKeyViolation) => return Err(agent_has_sales(&agent.agent_code)),
        other => other?,
    };
    moon_changelog::record(&mut tx, &[Event::Agent { id, before: Some(repo::facts(&agent)), after: None }]).await?;
    audit::append(&mut tx, principal, audit::Event::on("agent.delete", "agent", id).with_diff(Some(&agent), None))
        .await?;
    tx.commit().await?;
    tracing::info!(agent_id = id, "agent deleted");
    Ok(())
}

/// Erases a visible agent's personal data in one transaction with its change-log entry (their
/// consent is withdrawn, which the warehouse must hear of).
pub async fn erase(db: &Db, principal: &Principal, code: &str) -> Result<Agent> {
    let mut tx = db.begin().await?;
    let current = repo::find_by_code(&mut tx, &principal.scope, code)
        .await?
        .ok_or_else(|| Error::not_found(format!("agent {code}")))?;
    repo::erase(&mut tx, current.id).await?;
    let agent = repo::find(&mut tx, &Scope::All, current.id)
        .await?
        .ok_or_else(|| Error::internal("the agent vanished inside its own transaction"))?;
    let (before, after) = (repo::facts(&current), repo::facts(&agent));
    if before != after {
        moon_changelog::record(&mut tx, &[Event::Agent { id: agent.id, before: Some(before), after: Some(after) }])
            .await?;
    }
    repo::record_consent(&mut tx, Some(&current), &agent, &principal.id, "agent.erase").await?;
    let event = audit::Event::on("agent.erase", "agent", &agent.agent_code).with_diff(Some(&current), Some(&agent));
    audit::append(&mut tx, principal, event).await?;
    tx.commit().await?;
    tracing::info!(agent_id = agent.id, "agent erased");
    Ok(agent)
}

fn agent_has_sales(code: &str) -> Error {
    Error::conflict(
        "agent_has_sales",
        format!(
            "agent {code} has recorded sales and cannot be deleted; deactivate the agent instead (PATCH active=false)"
        ),
    )
}

/// Resolves an agent code to a visible agent's id.
pub async fn id_for_code(db: &Db, principal: &Principal, code: &str) -> Result<Option<i64>> {
    Ok(repo::get_by_code(db, &principal.scope, code).await?.map(|a| a.id))
}

/// Resolves the agent a sale or notification names; an unknown (or invisible) agent is a 422 on
/// the field the client used. Inside a transaction when `tx` is given, else on the read pool.
pub async fn resolve(db: &Db, tx: Option<&mut Tx>, principal: &Principal, agent: &AgentRef) -> Result<Agent> {
    let scope = &principal.scope;
    let (found, field, shown) = match (agent, tx) {
        (AgentRef::Code(c), Some(tx)) => {
            (repo::find_by_code(tx, scope, c.as_str()).await?, "agent_code", c.to_string())
        }
        (AgentRef::Code(c), None) => (repo::get_by_code(db, scope, c.as_str()).await?, "agent_code", c.to_string()),
        (AgentRef::Id(id), Some(tx)) => (repo::find(tx, scope, *id).await?, "agent_id", id.to_string()),
        (AgentRef::Id(id), None) => (repo::get(db, scope, *id).await?, "agent_id", id.to_string()),
    };
    found.ok_or_else(|| unknown_agent(field, &shown))
}

/// 422 for a reference to an agent that does not exist or is not visible.
pub fn unknown_agent(field: &str, shown: &str) -> Error {
    Error::field(FieldError::new(field, "unknown_agent", format!("no agent {shown} exists")))
}

/// Moves a visible agent to another team and/or home branch from a date, with the change-log
/// entry that tells the warehouse and the audit entry; answers the agent's history.
/// Without an effective date the move takes effect `today` (the business calendar's date).
pub async fn move_agent(
    db: &Db,
    principal: &Principal,
    id: i64,
    mv: &Move,
    today: chrono::NaiveDate,
) -> Result<Vec<Membership>> {
    let mut tx = db.begin().await?;
    let current =
        repo::find(&mut tx, &principal.scope, id).await?.ok_or_else(|| Error::not_found(format!("agent {id}")))?;
    let history = org::service::move_agent(&mut tx, principal, &current, mv, today).await?;
    reread_and_log(&mut tx, &current, effective_from(&history)).await?;
    tx.commit().await?;
    tracing::info!(agent_id = id, "agent moved");
    Ok(history)
}
