//! Agent records as the API shows them, and the inputs that create and change them.

use chrono::{DateTime, Utc};
use moon_domain::{AgentCode, Email, FieldError, FieldErrors, Label, PhoneNumber, Typed};
use serde::{Deserialize, Serialize};

use moon_http::paging::{BY_ID, KeyKind, KeyValue, ListingSort, SortSpec};
use moon_http::patch::double_option;

/// Who sold: by code (as the original system did) or by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentRef {
    /// `agent_code`.
    Code(AgentCode),
    /// `agent_id`.
    Id(i64),
}

/// A sales agent.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Agent {
    /// Numeric id, stable for the life of the record.
    pub id: i64,
    /// Business identifier, such as `AGT004`; unique.
    pub agent_code: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Branch the agent works from, such as `Colombo`.
    pub branch: String,
    /// Sales team, such as `Alpha`.
    pub team: String,
    /// Telephone number.
    pub contact_number: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Inactive agents keep their history but are not expected to sell.
    pub active: bool,
    /// The agent agreed to appear (under a pseudonym) in per-agent analytics such as the
    /// leaderboard. Without it their sales still count in team, branch and product totals.
    pub analytics_consent: bool,
    /// The agent agreed to show their name to other agents (performance drill-downs, the
    /// leaderboard); admins and their branch manager see it regardless.
    pub show_name_to_peers: bool,
    /// When the agent's personal data was erased (names replaced, contact details removed).
    pub erased_at: Option<DateTime<Utc>>,
    /// When the record was created (UTC).
    pub created_at: DateTime<Utc>,
    /// When the record last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/agents`. Fields are [`Typed`], so a value of the wrong JSON type (such
/// as `"agent_code": 5`) is reported with every other bad field rather than alone.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgent {
    /// Required. 2–20 letters, digits or `-`, starting with a letter; upper-cased.
    #[schema(value_type = Option<String>)]
    pub agent_code: Option<Typed<String>>,
    /// Required.
    #[schema(value_type = Option<String>)]
    pub first_name: Option<Typed<String>>,
    /// Required.
    #[schema(value_type = Option<String>)]
    pub last_name: Option<Typed<String>>,
    /// Required.
    #[schema(value_type = Option<String>)]
    pub branch: Option<Typed<String>>,
    /// Required.
    #[schema(value_type = Option<String>)]
    pub team: Option<Typed<String>>,
    /// Optional telephone number.
    #[schema(value_type = Option<String>)]
    pub contact_number: Option<Typed<String>>,
    /// Optional e-mail address.
    #[schema(value_type = Option<String>)]
    pub email: Option<Typed<String>>,
    /// Defaults to true.
    #[schema(value_type = Option<bool>)]
    pub active: Option<Typed<bool>>,
    /// Consent to per-agent analytics (the leaderboard); defaults to false (opt-in).
    #[schema(value_type = Option<bool>)]
    pub analytics_consent: Option<Typed<bool>>,
    /// Show the agent's name to other agents; defaults to false (opt-in).
    #[schema(value_type = Option<bool>)]
    pub show_name_to_peers: Option<Typed<bool>>,
}

/// Body of `PATCH /api/v1/agents/{id}`: only the fields present change; `null` clears an
/// optional field. Fields are [`Typed`] for the same reason as in [`CreateAgent`].
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAgent {
    /// New agent code.
    #[schema(value_type = Option<String>)]
    pub agent_code: Option<Typed<String>>,
    /// New given name.
    #[schema(value_type = Option<String>)]
    pub first_name: Option<Typed<String>>,
    /// New family name.
    #[schema(value_type = Option<String>)]
    pub last_name: Option<Typed<String>>,
    /// New branch.
    #[schema(value_type = Option<String>)]
    pub branch: Option<Typed<String>>,
    /// New team.
    #[schema(value_type = Option<String>)]
    pub team: Option<Typed<String>>,
    /// New telephone number, or null to clear it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub contact_number: Option<Option<Typed<String>>>,
    /// New e-mail address, or null to clear it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<Typed<String>>>,
    /// Activate or deactivate.
    #[schema(value_type = Option<bool>)]
    pub active: Option<Typed<bool>>,
    /// Give or withdraw consent to per-agent analytics.
    #[schema(value_type = Option<bool>)]
    pub analytics_consent: Option<Typed<bool>>,
    /// Show or hide the agent's name to other agents.
    #[schema(value_type = Option<bool>)]
    pub show_name_to_peers: Option<Typed<bool>>,
}

/// A validated new agent.
#[derive(Debug, Clone)]
pub struct NewAgent {
    pub agent_code: AgentCode,
    pub first_name: Label,
    pub last_name: Label,
    pub branch: Label,
    pub team: Label,
    pub contact_number: Option<PhoneNumber>,
    pub email: Option<Email>,
    pub active: bool,
    pub analytics_consent: bool,
    pub show_name_to_peers: bool,
}

/// A validated set of changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AgentChanges {
    pub agent_code: Option<AgentCode>,
    pub first_name: Option<Label>,
    pub last_name: Option<Label>,
    pub branch: Option<Label>,
    pub team: Option<Label>,
    pub contact_number: Option<Option<PhoneNumber>>,
    pub email: Option<Option<Email>>,
    pub active: Option<bool>,
    pub analytics_consent: Option<bool>,
    pub show_name_to_peers: Option<bool>,
}

/// The value of a [`Typed`] field, its type error recorded in `e`.
fn typed<T: Clone>(e: &mut FieldErrors, field: &str, v: Option<&Typed<T>>) -> Option<T> {
    e.take_opt(v.map(|t| t.get(field)))
}

/// A mandatory text field: absent is `required`, a wrong type `invalid_type`, else `parse`.
fn required<T>(
    e: &mut FieldErrors,
    field: &str,
    raw: Option<&Typed<String>>,
    parse: impl Fn(&str, &str) -> Result<T, FieldError>,
) -> Option<T> {
    match raw {
        Some(t) => {
            let s = e.take(t.get(field))?;
            e.take(parse(field, &s))
        }
        None => {
            e.push(FieldError::required(field));
            None
        }
    }
}

/// A text field that may be left out: absent is `None`, otherwise it must parse.
fn present<T>(
    e: &mut FieldErrors,
    field: &str,
    raw: Option<&Typed<String>>,
    parse: impl Fn(&str, &str) -> Result<T, FieldError>,
) -> Option<T> {
    let s = typed(e, field, raw)?;
    e.take(parse(field, &s))
}

/// An empty optional string means "none": forms send `""` for a field left blank. The outer
/// `None` is "absent or invalid" (the error is in `e`), `Some(None)` is "none".
fn optional<T>(
    e: &mut FieldErrors,
    field: &str,
    raw: Option<&Typed<String>>,
    parse: impl Fn(&str, &str) -> Result<T, FieldError>,
) -> Option<Option<T>> {
    let s = typed(e, field, raw)?;
    if s.trim().is_empty() { Some(None) } else { e.take(parse(field, &s)).map(Some) }
}

impl CreateAgent {
    /// Validates every field, reporting all problems together, type errors included.
    pub fn validate(&self) -> Result<NewAgent, Vec<FieldError>> {
        let mut e = FieldErrors::new();
        let agent_code = required(&mut e, "agent_code", self.agent_code.as_ref(), AgentCode::parse);
        let first_name = required(&mut e, "first_name", self.first_name.as_ref(), Label::parse);
        let last_name = required(&mut e, "last_name", self.last_name.as_ref(), Label::parse);
        let branch = required(&mut e, "branch", self.branch.as_ref(), Label::parse);
        let team = required(&mut e, "team", self.team.as_ref(), Label::parse);
        let contact_number = optional(&mut e, "contact_number", self.contact_number.as_ref(), PhoneNumber::parse);
        let email = optional(&mut e, "email", self.email.as_ref(), Email::parse);
        let active = typed(&mut e, "active", self.active.as_ref());
        let analytics_consent = typed(&mut e, "analytics_consent", self.analytics_consent.as_ref());
        let show_name_to_peers = typed(&mut e, "show_name_to_peers", self.show_name_to_peers.as_ref());
        e.finish()?;
        match (agent_code, first_name, last_name, branch, team) {
            (Some(agent_code), Some(first_name), Some(last_name), Some(branch), Some(team)) => Ok(NewAgent {
                agent_code,
                first_name,
                last_name,
                branch,
                team,
                contact_number: contact_number.flatten(),
                email: email.flatten(),
                active: active.unwrap_or(true),
                analytics_consent: analytics_consent.unwrap_or(false),
                show_name_to_peers: show_name_to_peers.unwrap_or(false),
            }),
            _ => Err(vec![FieldError::new("body", "invalid", "the agent is incomplete")]),
        }
    }
}

impl UpdateAgent {
    /// Validates the fields present, reporting all problems together, type errors included.
    pub fn validate(&self) -> Result<AgentChanges, Vec<FieldError>> {
        let mut e = FieldErrors::new();
        let changes = AgentChanges {
            agent_code: present(&mut e, "agent_code", self.agent_code.as_ref(), AgentCode::parse),
            first_name: present(&mut e, "first_name", self.first_name.as_ref(), Label::parse),
            last_name: present(&mut e, "last_name", self.last_name.as_ref(), Label::parse),
            branch: present(&mut e, "branch", self.branch.as_ref(), Label::parse),
            team: present(&mut e, "team", self.team.as_ref(), Label::parse),
            contact_number: match &self.contact_number {
                None => None,
                Some(None) => Some(None),
                Some(Some(s)) => optional(&mut e, "contact_number", Some(s), PhoneNumber::parse),
            },
            email: match &self.email {
                None => None,
                Some(None) => Some(None),
                Some(Some(s)) => optional(&mut e, "email", Some(s), Email::parse),
            },
            active: typed(&mut e, "active", self.active.as_ref()),
            analytics_consent: typed(&mut e, "analytics_consent", self.analytics_consent.as_ref()),
            show_name_to_peers: typed(&mut e, "show_name_to_peers", self.show_name_to_peers.as_ref()),
        };
        e.finish()?;
        Ok(changes)
    }
}

/// Filters of `GET /api/v1/agents`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AgentFilter {
    /// Only agents of this branch (exact match).
    pub branch: Option<String>,
    /// Only agents of this team (exact match).
    pub team: Option<String>,
    /// Only the agent with this code.
    pub agent_code: Option<String>,
    /// `true` or `false`: only active or only inactive agents.
    pub active: Option<bool>,
    /// Case-insensitive search in code, first and last name.
    pub q: Option<String>,
    /// Rows per page, 1–500 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page, from a request with the same `sort`.
    pub cursor: Option<String>,
    /// The column to order by, then id; any other value is a 400.
    #[param(inline)]
    pub sort: Option<AgentSort>,
    /// `asc` (default) or `desc`, for the sort column and id alike.
    pub order: Option<String>,
}

/// The orders an agent listing offers. Each pages by (column, id), so agents sharing a team or
/// branch still page completely; `name` is the family name, then the given name.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentSort {
    /// Id, oldest first: the order of creation.
    #[default]
    Id,
    /// Agent code.
    AgentCode,
    /// Family name, then given name.
    Name,
    /// Team.
    Team,
    /// Branch.
    Branch,
}

impl ListingSort for AgentSort {
    const ALL: &'static [AgentSort] = &[Self::Id, Self::AgentCode, Self::Name, Self::Team, Self::Branch];

    fn spec(self) -> SortSpec {
        let (name, keys): (_, &'static [(&'static str, KeyKind)]) = match self {
            Self::Id => return BY_ID,
            Self::AgentCode => ("agent_code", &[("agent_code", KeyKind::Text)]),
            Self::Name => ("name", &[("last_name", KeyKind::Text), ("first_name", KeyKind::Text)]),
            Self::Team => ("team", &[("team", KeyKind::Text)]),
            Self::Branch => ("branch", &[("branch", KeyKind::Text)]),
        };
        SortSpec { name, keys }
    }
}

impl AgentSort {
    /// The values of the sort columns in `a`, for its cursor.
    pub fn keys_of(self, a: &Agent) -> Vec<KeyValue> {
        let text = |s: &str| KeyValue::Text(s.to_owned());
        match self {
            Self::Id => Vec::new(),
            Self::AgentCode => vec![text(&a.agent_code)],
            Self::Name => vec![text(&a.last_name), text(&a.first_name)],
            Self::Team => vec![text(&a.team)],
            Self::Branch => vec![text(&a.branch)],
        }
    }
}
