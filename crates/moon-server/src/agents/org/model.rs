//! Regions, branches and teams as the API shows them, and the inputs that create and change them.

use chrono::{DateTime, Utc};
use moon_domain::{FieldError, FieldErrors, Label};
use serde::{Deserialize, Serialize};

/// The three kinds of organisational unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// A group of branches (optional).
    Region,
    /// A branch: an agent's home, the scope of a manager.
    Branch,
    /// A sales team.
    Team,
}

impl UnitKind {
    /// Every kind, in the order of the hierarchy.
    pub const ALL: [UnitKind; 3] = [UnitKind::Region, UnitKind::Branch, UnitKind::Team];

    /// The value stored in `org_units.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::Region => "region",
            UnitKind::Branch => "branch",
            UnitKind::Team => "team",
        }
    }

    /// The collection name in URLs (`/api/v1/org/branches`).
    pub fn plural(self) -> &'static str {
        match self {
            UnitKind::Region => "regions",
            UnitKind::Branch => "branches",
            UnitKind::Team => "teams",
        }
    }

    /// Reads a collection name from a URL, or a kind from the command line.
    pub fn parse(raw: &str) -> Option<UnitKind> {
        UnitKind::ALL.into_iter().find(|k| raw == k.plural() || raw == k.as_str())
    }
}

/// The form two spellings of one unit share: trimmed, inner runs of white space made one
/// space, lower-cased. "Colombo", " colombo" and "COLOMBO " are one branch.
pub fn fold(raw: &str) -> String {
    raw.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// A region, branch or team.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Unit {
    /// Numeric id, stable for the life of the unit.
    pub id: i64,
    /// `region`, `branch` or `team`.
    pub kind: String,
    /// The stable key agents, sales and managers' scopes refer to; it never changes, so history
    /// stays attached. Units made from the original free text have that text as their code.
    pub code: String,
    /// What people read; may be renamed (the audit trail keeps every earlier name).
    pub name: String,
    /// The code of the region a branch belongs to.
    pub region: Option<String>,
    /// Inactive units keep their history but take no new members.
    pub active: bool,
    /// When the unit was created (UTC).
    pub created_at: DateTime<Utc>,
    /// When the unit last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/org/{kind}`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUnit {
    /// Required. The stable key, 1–100 characters; unique per kind regardless of case.
    pub code: Option<String>,
    /// Display name; defaults to the code. Unique per kind regardless of case.
    pub name: Option<String>,
    /// Branches only: the code or name of the region above it.
    pub region: Option<String>,
    /// Defaults to true.
    pub active: Option<bool>,
}

/// Body of `PATCH /api/v1/org/{kind}/{id}`: only the fields present change. The code is the
/// unit's identity and cannot change; rename with `name`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUnit {
    /// New display name.
    pub name: Option<String>,
    /// Branches only: the region's code or name, or null to take the branch out of its region.
    #[serde(default, deserialize_with = "moon_http::patch::double_option")]
    #[schema(value_type = Option<String>)]
    pub region: Option<Option<String>>,
    /// Activate or deactivate (a unit with current members cannot be deactivated).
    pub active: Option<bool>,
    /// Refused with a clear message: codes never change.
    pub code: Option<String>,
}

/// A validated new unit.
#[derive(Debug, Clone)]
pub struct NewUnit {
    pub kind: UnitKind,
    pub code: Label,
    pub name: Label,
    /// A region reference still to be resolved.
    pub region: Option<Label>,
    pub active: bool,
}

/// A validated set of changes.
#[derive(Debug, Clone, Default)]
pub struct UnitChanges {
    pub name: Option<Label>,
    pub region: Option<Option<Label>>,
    pub active: Option<bool>,
}

fn region_allowed(kind: UnitKind, given: bool, e: &mut FieldErrors) {
    if given && kind != UnitKind::Branch {
        e.push(FieldError::new("region", "not_applicable", "only a branch belongs to a region"));
    }
}

impl CreateUnit {
    /// Validates every field, reporting all problems together.
    pub fn validate(&self, kind: UnitKind) -> Result<NewUnit, Vec<FieldError>> {
        let mut e = FieldErrors::new();
        let code = match self.code.as_deref() {
            Some(raw) => e.take(Label::parse("code", raw)),
            None => {
                e.push(FieldError::required("code"));
                None
            }
        };
        let name = e.take_opt(self.name.as_deref().map(|raw| Label::parse("name", raw)));
        let region = e.take_opt(self.region.as_deref().map(|raw| Label::parse("region", raw)));
        region_allowed(kind, self.region.is_some(), &mut e);
        e.finish()?;
        let code = code.ok_or_else(|| vec![FieldError::required("code")])?;
        Ok(NewUnit {
            kind,
            name: name.unwrap_or_else(|| code.clone()),
            code,
            region,
            active: self.active.unwrap_or(true),
        })
    }
}

impl UpdateUnit {
    /// Validates the fields present, reporting all problems together.
    pub fn validate(&self, kind: UnitKind) -> Result<UnitChanges, Vec<FieldError>> {
        let mut e = FieldErrors::new();
        if self.code.is_some() {
            e.push(FieldError::new(
                "code",
                "immutable",
                "a unit's code never changes (it keeps the unit's history together); change its name instead",
            ));
        }
        let name = e.take_opt(self.name.as_deref().map(|raw| Label::parse("name", raw)));
        let region = match &self.region {
            None => None,
            Some(None) => Some(None),
            Some(Some(raw)) => e.take(Label::parse("region", raw)).map(Some),
        };
        region_allowed(kind, self.region.is_some(), &mut e);
        e.finish()?;
        Ok(UnitChanges { name, region, active: self.active })
    }
}

/// Filters of `GET /api/v1/org/{kind}`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UnitFilter {
    /// `true` or `false`: only active or only inactive units.
    pub active: Option<bool>,
    /// Rows per page, 1–500 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `asc` (default) or `desc`.
    pub order: Option<String>,
}

/// One range of an agent's membership: the team and home branch they belonged to from
/// `valid_from` (inclusive; null: since the record began) until `valid_to` (exclusive; null:
/// still current).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Membership {
    /// Numeric id of the range.
    pub id: i64,
    /// The agent.
    pub agent_id: i64,
    /// Code of the home branch.
    pub branch: String,
    /// Name of the home branch.
    pub branch_name: String,
    /// Code of the team.
    pub team: String,
    /// Name of the team.
    pub team_name: String,
    /// First day of the range; null: since the record began.
    pub valid_from: Option<chrono::NaiveDate>,
    /// First day after the range; null: still current.
    pub valid_to: Option<chrono::NaiveDate>,
}

/// Body of `POST /api/v1/agents/{id}/moves`: a new team and/or home branch from a date.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveAgent {
    /// The new home branch (code or name); defaults to the current one. A move must change the
    /// team, the branch or both (422 `no_change` otherwise).
    pub branch: Option<String>,
    /// The new team (code or name); defaults to the current one.
    pub team: Option<String>,
    /// `YYYY-MM-DD`, the first day in the new team; defaults to today. Earlier periods keep
    /// counting for the old team and branch.
    pub effective_from: Option<String>,
}

/// A validated move, with references still to be resolved.
#[derive(Debug, Clone)]
pub struct Move {
    pub branch: Option<Label>,
    pub team: Option<Label>,
    pub effective_from: Option<chrono::NaiveDate>,
}

impl MoveAgent {
    /// Validates every field, reporting all problems together.
    pub fn validate(&self) -> Result<Move, Vec<FieldError>> {
        let mut e = FieldErrors::new();
        let branch = e.take_opt(self.branch.as_deref().map(|raw| Label::parse("branch", raw)));
        let team = e.take_opt(self.team.as_deref().map(|raw| Label::parse("team", raw)));
        let effective_from =
            e.take_opt(self.effective_from.as_deref().map(|raw| moon_domain::parse_date("effective_from", raw)));
        e.finish()?;
        Ok(Move { branch, team, effective_from })
    }
}
