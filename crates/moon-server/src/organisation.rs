//! Turns the free-text branches and teams of agents made before organisation records into
//! records, and places each such agent in them.
//!
//! Spellings that differ only in case or white space ("Colombo", "colombo ") become one unit,
//! named after the spelling most agents used (ties: the first in alphabetical order); agents,
//! sales and managers' scopes that used another spelling are rewritten to it, and the report
//! says what merged. It is idempotent: it touches only agents without a membership, so it runs
//! at every start (adopting agents a previous release made during a rollout) and from
//! `moon org backfill`.

use std::collections::BTreeMap;
use std::fmt;

use moon_db::Db;

use crate::agents::org::model::{UnitKind, fold};
use crate::agents::org::repo as org_repo;
use crate::error::Result;

/// One unit made from several spellings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merge {
    /// Branch or team.
    pub kind: UnitKind,
    /// The code the spellings became.
    pub code: String,
    /// Each spelling other than the code, with how many agents used it.
    pub variants: Vec<(String, usize)>,
}

/// What a backfill did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Units created, as (kind, code).
    pub created: Vec<(UnitKind, String)>,
    /// Spellings merged into one unit.
    pub merged: Vec<Merge>,
    /// Agents given their first membership.
    pub placed: usize,
    /// Sales whose credited branch was respelled.
    pub sales_respelled: u64,
    /// Managers whose branch scope was respelled.
    pub users_respelled: u64,
}

impl Report {
    /// Whether there was nothing to do.
    pub fn is_empty(&self) -> bool {
        self.placed == 0 && self.created.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return writeln!(f, "organisation: every agent already has a membership; nothing to do");
        }
        writeln!(f, "organisation: placed {} agent(s) in their branch and team", self.placed)?;
        for (kind, code) in &self.created {
            writeln!(f, "  created {} {code:?}", kind.as_str())?;
        }
        for m in &self.merged {
            let variants: Vec<String> = m.variants.iter().map(|(s, n)| format!("{s:?} ({n} agent(s))")).collect();
            writeln!(f, "  merged into {} {:?}: {}", m.kind.as_str(), m.code, variants.join(", "))?;
        }
        if self.sales_respelled > 0 || self.users_respelled > 0 {
            writeln!(
                f,
                "  respelled the branch of {} sale(s) and {} manager(s); the warehouse rebuilds once",
                self.sales_respelled, self.users_respelled
            )?;
        }
        Ok(())
    }
}

/// The code each spelling maps to, per kind, creating the units that do not exist yet.
async fn units_for(
    tx: &mut moon_db::Tx,
    kind: UnitKind,
    spellings: &BTreeMap<String, usize>,
    report: &mut Report,
) -> Result<BTreeMap<String, (i64, String)>> {
    // Group the spellings (trimmed, inner spaces collapsed) by their folded form.
    let mut groups: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for (raw, n) in spellings {
        let tidy = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        *groups.entry(fold(raw)).or_default().entry(tidy).or_default() += n;
    }
    let mut out = BTreeMap::new();
    for (key, variants) in groups {
        let unit = match org_repo::find_by_reference(tx, kind, &key).await? {
            Some(u) => (u.id, u.code),
            None => {
                // Most agents' spelling wins; BTreeMap order breaks ties alphabetically.
                let best = variants
                    .iter()
                    .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
                    .map(|(s, _)| s.clone())
                    .unwrap_or_else(|| key.clone());
                let id = org_repo::insert(tx, kind, &best, &best, None, true).await?;
                report.created.push((kind, best.clone()));
                (id, best)
            }
        };
        let others: Vec<(String, usize)> = spellings
            .iter()
            .filter(|(raw, _)| fold(raw) == key && **raw != unit.1)
            .map(|(r, n)| (r.clone(), *n))
            .collect();
        if !others.is_empty() {
            report.merged.push(Merge { kind, code: unit.1.clone(), variants: others });
        }
        for raw in spellings.keys().filter(|raw| fold(raw) == key) {
            out.insert(raw.clone(), unit.clone());
        }
    }
    Ok(out)
}

/// Places every agent without a membership, in one transaction.
pub async fn run(db: &Db) -> Result<Report> {
    let mut report = Report::default();
    let mut tx = db.begin().await?;
    let pending = org_repo::agents_without_membership(&mut tx).await?;
    if pending.is_empty() {
        tx.rollback().await?;
        return Ok(report);
    }
    let mut branches: BTreeMap<String, usize> = BTreeMap::new();
    let mut teams: BTreeMap<String, usize> = BTreeMap::new();
    for (_, b, t) in &pending {
        *branches.entry(b.clone()).or_default() += 1;
        *teams.entry(t.clone()).or_default() += 1;
    }
    let branch_units = units_for(&mut tx, UnitKind::Branch, &branches, &mut report).await?;
    let team_units = units_for(&mut tx, UnitKind::Team, &teams, &mut report).await?;
    let mut respelled_agents = false;
    for (agent_id, b, t) in &pending {
        let (Some((branch_id, branch_code)), Some((team_id, team_code))) = (branch_units.get(b), team_units.get(t))
        else {
            continue;
        };
        if branch_code != b || team_code != t {
            org_repo::set_agent_codes(&mut tx, *agent_id, branch_code, team_code).await?;
            respelled_agents = true;
        }
        org_repo::insert_membership(&mut tx, *agent_id, *branch_id, *team_id, None).await?;
        report.placed += 1;
    }
    for (raw, (_, code)) in &branch_units {
        if raw != code {
            report.sales_respelled += crate::sales::repo::respell_branch(&mut tx, raw, code).await?;
            crate::policies::repo::respell_branch(&mut tx, raw, code).await?;
            report.users_respelled += crate::auth::users::respell_branch(&mut tx, raw, code).await?;
        }
    }
    if respelled_agents || report.sales_respelled > 0 {
        // Rows changed without entries of their own: consumers rebuild from the source once.
        moon_changelog::record(&mut tx, &[moon_changelog::Event::Reload]).await?;
    }
    tx.commit().await?;
    if !report.is_empty() {
        tracing::info!(
            placed = report.placed,
            created = report.created.len(),
            merged = report.merged.len(),
            "organisation backfilled"
        );
    }
    Ok(report)
}

pub use crate::agents::org::model::UnitKind as Kind;

/// Creates the units of `kind` named by `codes` that do not exist yet (code and name alike), for
/// tools and fixtures that need a known organisation before they add agents.
pub async fn ensure_units(db: &Db, kind: Kind, codes: &[&str]) -> Result<()> {
    let mut tx = db.begin().await?;
    for code in codes {
        if org_repo::find_by_reference(&mut tx, kind, code).await?.is_none() {
            org_repo::insert(&mut tx, kind, code, code, None, true).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Every unit of a kind, by code.
pub async fn list(db: &Db, kind: Kind) -> Result<Vec<crate::agents::org::model::Unit>> {
    let mut tx = db.begin_snapshot().await?;
    let units = org_repo::all(&mut tx, kind).await?;
    tx.rollback().await?;
    Ok(units)
}

/// Creates a unit as the operator (`moon org add`).
pub async fn add(
    db: &Db,
    kind: Kind,
    code: &str,
    name: Option<&str>,
    region: Option<&str>,
) -> Result<crate::agents::org::model::Unit> {
    use crate::agents::org::model::CreateUnit;
    let body = CreateUnit {
        code: Some(code.to_owned()),
        name: name.map(str::to_owned),
        region: region.map(str::to_owned),
        active: None,
    };
    let new = body.validate(kind)?;
    crate::agents::org::service::create(db, &moon_http::Principal::operator(), new).await
}

/// Renames a unit named by code or name, as the operator (`moon org rename`).
pub async fn rename(db: &Db, kind: Kind, unit: &str, name: &str) -> Result<crate::agents::org::model::Unit> {
    let mut tx = db.begin_snapshot().await?;
    let found = org_repo::find_by_reference(&mut tx, kind, unit).await?;
    tx.rollback().await?;
    let found = found.ok_or_else(|| crate::error::Error::not_found(format!("{} {unit:?}", kind.as_str())))?;
    let changes =
        crate::agents::org::model::UpdateUnit { name: Some(name.to_owned()), ..Default::default() }.validate(kind)?;
    crate::agents::org::service::update(db, &moon_http::Principal::operator(), kind, found.id, changes).await
}

/// Moves an agent named by code, as the operator (`moon org move`); returns their history.
/// Without `effective_from` the move takes effect `today` (the business calendar's date).
pub async fn move_agent(
    db: &Db,
    today: chrono::NaiveDate,
    agent_code: &str,
    team: Option<&str>,
    branch: Option<&str>,
    effective_from: Option<&str>,
) -> Result<Vec<crate::agents::org::model::Membership>> {
    let op = moon_http::Principal::operator();
    let code = moon_domain::AgentCode::parse("agent_code", agent_code).map_err(crate::error::Error::field)?;
    let id = crate::agents::service::id_for_code(db, &op, code.as_str())
        .await?
        .ok_or_else(|| crate::error::Error::not_found(format!("agent {agent_code}")))?;
    let body = crate::agents::org::model::MoveAgent {
        team: team.map(str::to_owned),
        branch: branch.map(str::to_owned),
        effective_from: effective_from.map(str::to_owned),
    };
    let mv = body.validate()?;
    crate::agents::service::move_agent(db, &op, id, &mv, today).await
}
