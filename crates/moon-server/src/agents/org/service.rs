//! Organisation use cases: regions, branches and teams, and moving agents between them with an
//! effective date so that earlier periods keep their team and branch.

use chrono::NaiveDate;
use moon_db::{Db, DbError, Tx};
use moon_domain::{FieldError, Label};
use moon_http::{Page, Principal, Scope};

use super::model::{Membership, Move, NewUnit, Unit, UnitChanges, UnitKind};
use super::repo;
use crate::agents::model::Agent;
use crate::audit;
use crate::error::{Error, Result};

/// Names of known units the 422 for an unknown one lists; beyond that it says how many more.
const LISTED: usize = 30;

fn admin_only(principal: &Principal) -> Result<()> {
    match principal.scope {
        Scope::All => Ok(()),
        _ => Err(Error::forbidden("only an administrator may change the organisation")),
    }
}

fn duplicate(kind: UnitKind, what: &str, value: &str) -> Error {
    Error::conflict("duplicate_unit", format!("a {} with {what} {value:?} already exists", kind.as_str()))
}

/// One page of units of a kind.
pub async fn list(db: &Db, kind: UnitKind, active: Option<bool>, page: &Page) -> Result<Vec<Unit>> {
    Ok(repo::list(db, kind, active, page).await?)
}

/// One unit.
pub async fn get(db: &Db, kind: UnitKind, id: i64) -> Result<Unit> {
    repo::get(db, kind, id).await?.ok_or_else(|| Error::not_found(format!("{} {id}", kind.as_str())))
}

/// Resolves a reference (code or name, any case) to an active unit, or a 422 on `field` that
/// lists the known ones, so a caller who mistyped sees what to write.
pub async fn resolve(tx: &mut Tx, kind: UnitKind, field: &str, reference: &str) -> Result<Unit> {
    lookup(tx, kind, field, reference).await?.map_err(Error::field)
}

/// [`resolve`] for callers that gather every field's error before answering (a target's scope
/// among its other fields): the unit, or the field's error; `Err` only when storage fails.
pub async fn lookup(
    tx: &mut Tx,
    kind: UnitKind,
    field: &str,
    reference: &str,
) -> std::result::Result<std::result::Result<Unit, FieldError>, moon_db::DbError> {
    match lookup_any(tx, kind, field, reference).await? {
        Ok(unit) if !unit.active => Ok(Err(FieldError::new(
            field,
            "inactive_unit",
            format!("{} {:?} is inactive; reactivate it or choose another", kind.as_str(), unit.code),
        ))),
        other => Ok(other),
    }
}

/// [`lookup`] for readers, to whom an inactive unit is still a unit (its past figures count):
/// the unit, active or not, or the error that lists the known active ones.
pub async fn lookup_any(
    tx: &mut Tx,
    kind: UnitKind,
    field: &str,
    reference: &str,
) -> std::result::Result<std::result::Result<Unit, FieldError>, moon_db::DbError> {
    if let Some(unit) = repo::find_by_reference(tx, kind, reference).await? {
        return Ok(Ok(unit));
    }
    let known: Vec<String> = repo::all(tx, kind).await?.into_iter().filter(|u| u.active).map(|u| u.code).collect();
    let shown = if known.is_empty() {
        format!("there are no {} yet; create one first", kind.plural())
    } else if known.len() > LISTED {
        format!("known {}: {} and {} more", kind.plural(), known[..LISTED].join(", "), known.len() - LISTED)
    } else {
        format!("known {}: {}", kind.plural(), known.join(", "))
    };
    Ok(Err(FieldError::new(
        field,
        match kind {
            UnitKind::Region => "unknown_region",
            UnitKind::Branch => "unknown_branch",
            UnitKind::Team => "unknown_team",
        },
        format!("no {} {reference:?}; {shown}", kind.as_str()),
    )))
}

/// Creates a unit (administrators only); a code or name already used by a unit of the same
/// kind, in any case, is a 409.
pub async fn create(db: &Db, principal: &Principal, new: NewUnit) -> Result<Unit> {
    admin_only(principal)?;
    let mut tx = db.begin().await?;
    let parent_id = match &new.region {
        Some(r) => Some(resolve(&mut tx, UnitKind::Region, "region", r.as_str()).await?.id),
        None => None,
    };
    check_free(&mut tx, new.kind, "code", new.code.as_str(), None).await?;
    check_free(&mut tx, new.kind, "name", new.name.as_str(), None).await?;
    let id = match repo::insert(&mut tx, new.kind, new.code.as_str(), new.name.as_str(), parent_id, new.active).await {
        Err(DbError::UniqueViolation) => return Err(duplicate(new.kind, "code", new.code.as_str())),
        other => other?,
    };
    let unit = repo::find(&mut tx, new.kind, id)
        .await?
        .ok_or_else(|| Error::internal("the unit vanished inside its own transaction"))?;
    audit::append(
        &mut tx,
        principal,
        audit::Event::on("org.create", new.kind.as_str(), &unit.code).with_diff(None, Some(&unit)),
    )
    .await?;
    tx.commit().await?;
    Ok(unit)
}

/// Refuses a code or name another unit of the kind already has (in any case or spacing).
async fn check_free(tx: &mut Tx, kind: UnitKind, what: &str, value: &str, except: Option<i64>) -> Result<()> {
    if let Some(other) = repo::find_by_reference(tx, kind, value).await?
        && Some(other.id) != except
    {
        return Err(duplicate(kind, what, value));
    }
    Ok(())
}

/// Renames, moves (a branch to another region), activates or deactivates a unit. The code
/// stays, so agents, sales and scopes that refer to it are untouched; the audit entry keeps the
/// earlier name.
pub async fn update(db: &Db, principal: &Principal, kind: UnitKind, id: i64, changes: UnitChanges) -> Result<Unit> {
    admin_only(principal)?;
    let mut tx = db.begin().await?;
    let current =
        repo::find(&mut tx, kind, id).await?.ok_or_else(|| Error::not_found(format!("{} {id}", kind.as_str())))?;
    if let Some(name) = &changes.name {
        check_free(&mut tx, kind, "name", name.as_str(), Some(id)).await?;
    }
    let parent_id = match &changes.region {
        None => None,
        Some(None) => Some(None),
        Some(Some(r)) => Some(Some(resolve(&mut tx, UnitKind::Region, "region", r.as_str()).await?.id)),
    };
    if changes.active == Some(false) && current.active {
        let members = match kind {
            UnitKind::Region => repo::branches_in_region(&mut tx, id).await?,
            _ => repo::current_members(&mut tx, kind, id).await?,
        };
        if members > 0 {
            let what = if kind == UnitKind::Region { "active branches" } else { "current members" };
            return Err(Error::conflict(
                "unit_in_use",
                format!("{} {:?} still has {members} {what}; move them first", kind.as_str(), current.code),
            ));
        }
    }
    match repo::update(&mut tx, id, changes.name.as_ref().map(Label::as_str), parent_id, changes.active).await {
        Err(DbError::UniqueViolation) => {
            return Err(duplicate(kind, "name", changes.name.as_ref().map(Label::as_str).unwrap_or_default()));
        }
        other => other?,
    }
    let unit = repo::find(&mut tx, kind, id)
        .await?
        .ok_or_else(|| Error::internal("the unit vanished inside its own transaction"))?;
    audit::append(
        &mut tx,
        principal,
        audit::Event::on("org.update", kind.as_str(), &unit.code).with_diff(Some(&current), Some(&unit)),
    )
    .await?;
    tx.commit().await?;
    Ok(unit)
}

/// An agent's membership history, if the agent is visible to the caller.
pub async fn history(db: &Db, principal: &Principal, agent_id: i64) -> Result<Vec<Membership>> {
    let mut tx = db.begin_snapshot().await?;
    crate::agents::repo::find(&mut tx, &principal.scope, agent_id)
        .await?
        .ok_or_else(|| Error::not_found(format!("agent {agent_id}")))?;
    let rows = repo::memberships(&mut tx, agent_id).await?;
    tx.rollback().await?;
    Ok(rows)
}

/// The units a new agent joins, resolved and checked against the caller's scope.
pub async fn placement(tx: &mut Tx, principal: &Principal, branch: &Label, team: &Label) -> Result<(Unit, Unit)> {
    let (b, t) = resolve_both(tx, branch, team).await?;
    check_branch_allowed(principal, &b.code)?;
    Ok((b, t))
}

async fn resolve_both(tx: &mut Tx, branch: &Label, team: &Label) -> Result<(Unit, Unit)> {
    let b = resolve(tx, UnitKind::Branch, "branch", branch.as_str()).await;
    let t = resolve(tx, UnitKind::Team, "team", team.as_str()).await;
    match (b, t) {
        (Ok(b), Ok(t)) => Ok((b, t)),
        // Report both bad fields at once.
        (Err(Error::Invalid(mut e1)), Err(Error::Invalid(e2))) => {
            e1.extend(e2);
            Err(Error::Invalid(e1))
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

/// Only whole-company principals place agents in any branch; a branch-scoped principal only in
/// their own.
pub fn check_branch_allowed(principal: &Principal, branch: &str) -> Result<()> {
    match &principal.scope {
        Scope::All => Ok(()),
        Scope::Branch(b) if b == branch => Ok(()),
        _ => Err(Error::forbidden("you may not manage agents outside your branch")),
    }
}

/// Starts a new agent's first membership: open-ended in both directions, since sales may be
/// recorded for days before the record was made.
pub async fn join(tx: &mut Tx, agent_id: i64, branch: &Unit, team: &Unit) -> Result<()> {
    repo::insert_membership(tx, agent_id, branch.id, team.id, None).await?;
    Ok(())
}

/// Moves an agent (already checked visible to `principal`) to a new team and/or home branch
/// from `effective_from` (by default `today`, the business calendar's date, so that a move made
/// just after local midnight is dated that day and not the UTC one), inside the caller's
/// transaction. Earlier ranges stay as they were; the agent row's current codes follow. Returns
/// the agent's history.
pub async fn move_agent(
    tx: &mut Tx,
    principal: &Principal,
    agent: &Agent,
    mv: &Move,
    today: NaiveDate,
) -> Result<Vec<Membership>> {
    if matches!(principal.scope, Scope::Agent(_)) {
        return Err(Error::forbidden("agents may not move themselves; ask your manager"));
    }
    let from = mv.effective_from.unwrap_or(today);
    if from > today {
        return Err(Error::field(FieldError::new(
            "effective_from",
            "in_future",
            format!("effective_from {from} is in the future; record the move on or after that day"),
        )));
    }
    // Serialise moves of one agent: updating the agent row takes its lock first.
    repo::set_agent_codes(tx, agent.id, &agent.branch, &agent.team).await?;
    let mut history = repo::memberships(tx, agent.id).await?;
    if history.is_empty() {
        let (b, t) = current_units(tx, &agent.branch, &agent.team).await?;
        repo::insert_membership(tx, agent.id, b.id, t.id, None).await?;
        history = repo::memberships(tx, agent.id).await?;
    }
    let current = history.last().cloned().ok_or_else(|| Error::internal("an agent's membership vanished"))?;
    let branch_ref = mv.branch.as_ref().map_or(current.branch.as_str(), Label::as_str);
    let team_ref = mv.team.as_ref().map_or(current.team.as_str(), Label::as_str);
    let branch_label = Label::parse("branch", branch_ref).map_err(Error::field)?;
    let team_label = Label::parse("team", team_ref).map_err(Error::field)?;
    let (b, t) = resolve_both(tx, &branch_label, &team_label).await?;
    check_branch_allowed(principal, &b.code)?;
    if b.code == current.branch && t.code == current.team {
        return Err(Error::field(FieldError::new(
            "team",
            "no_change",
            format!("agent {} is already in team {:?} of branch {:?}", agent.agent_code, t.code, b.code),
        )));
    }
    match current.valid_from {
        Some(start) if from < start => {
            return Err(Error::field(FieldError::new(
                "effective_from",
                "before_current",
                format!(
                    "effective_from {from} is before the current membership began ({start}); a move can only follow it"
                ),
            )));
        }
        Some(start) if from == start => {
            repo::replace_current(tx, agent.id, b.id, t.id).await?;
        }
        _ => {
            repo::close_current(tx, agent.id, from).await?;
            repo::insert_membership(tx, agent.id, b.id, t.id, Some(from)).await?;
        }
    }
    repo::set_agent_codes(tx, agent.id, &b.code, &t.code).await?;
    let after = repo::memberships(tx, agent.id).await?;
    let detail = serde_json::json!({
        "from": {"branch": current.branch, "team": current.team},
        "to": {"branch": b.code, "team": t.code},
        "effective_from": from,
    });
    audit::append(tx, principal, audit::Event::on("agent.move", "agent", agent.id).with_detail(detail)).await?;
    Ok(after)
}

/// The units an agent row's current codes name (for rows made before organisation records).
async fn current_units(tx: &mut Tx, branch: &str, team: &str) -> Result<(Unit, Unit)> {
    let b = repo::find_by_reference(tx, UnitKind::Branch, branch).await?;
    let t = repo::find_by_reference(tx, UnitKind::Team, team).await?;
    match (b, t) {
        (Some(b), Some(t)) => Ok((b, t)),
        _ => Err(Error::conflict(
            "organisation_not_migrated",
            format!(
                "the agent's branch {branch:?} or team {team:?} is not an organisation record yet; run `moon org backfill`"
            ),
        )),
    }
}
