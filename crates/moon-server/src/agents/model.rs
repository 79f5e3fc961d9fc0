//! Agent records as the API shows them, and the inputs that create and change them.

use chrono::{DateTime, Utc};
use moon_domain::{AgentCode, Email, FieldError, FieldErrors, Label, PhoneNumber};
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

/// Body of `POST /api/v1/agents`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgent {
    /// Required. 2–20 letters, digits or `-`, starting with a letter; upper-cased.
    pub agent_code: Option<String>,
    /// Required.
    pub first_name: Option<String>,
    /// Required.
    pub last_name: Option<String>,
    /// Required.
    pub branch: Option<String>,
    /// Required.
    pub team: Option<String>,
    /// Optional telephone number.
    pub contact_number: Option<String>,
    /// Optional e-mail address.
    pub email: Option<String>,
    /// Defaults to true.
    pub active: Option<bool>,
    /// Consent to per-agent analytics (the leaderboard); defaults to false (opt-in).
    pub analytics_consent: Option<bool>,
    /// Show the agent's name to other agents; defaults to false (opt-in).
    pub show_name_to_peers: Option<bool>,
}

/// Body of `PATCH /api/v1/agents/{id}`: only the fields present change; `null` clears an
/// optional field.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAgent {
    /// New agent code.
    pub agent_code: Option<String>,
    /// New given name.
    pub first_name: Option<String>,
    /// New family name.
    pub last_name: Option<String>,
    /// New branch.
    pub branch: Option<String>,
    /// New team.
    pub team: Option<String>,
    /// New telephone number, or null to clear it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub contact_number: Option<Option<String>>,
    /// New e-mail address, or null to clear it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    /// Activate or deactivate.
    pub active: Option<bool>,
    /// Give or withdraw consent to per-agent analytics.
    pub analytics_consent: Option<bool>,
    /// Show or hide the agent's name to other agents.
    pub show_name_to_peers: Option<bool>,
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

fn required<T>(
    field: &str,
    raw: Option<&str>,
    parse: impl Fn(&str, &str) -> Result<T, FieldError>,
) -> Result<T, FieldError> {
    match raw {
        Some(s) => parse(field, s),
        None => Err(FieldError::required(field)),
    }
}

/// An empty optional string means "none": forms send `""` for a field left blank.
fn optional<T>(
    field: &str,
    raw: Option<&str>,
    parse: impl Fn(&str, &str) -> Result<T, FieldError>,
) -> Option<Result<Option<T>, FieldError>> {
    raw.map(|s| if s.trim().is_empty() { Ok(None) } else { parse(field, s).map(Some) })
}

impl CreateAgent {
    /// Validates every field, reporting all problems together.
    pub fn validate(&self) -> Result<NewAgent, Vec<FieldError>> {
        let mut e = FieldErrors::new();
        let agent_code = e.take(required("agent_code", self.agent_code.as_deref(), AgentCode::parse));
        let first_name = e.take(required("first_name", self.first_name.as_deref(), Label::parse));
        let last_name = e.take(required("last_name", self.last_name.as_deref(), Label::parse));
        let branch = e.take(required("branch", self.branch.as_deref(), Label::parse));
        let team = e.take(required("team", self.team.as_deref(), Label::parse));
        let contact_number = e.take_opt(optional("contact_number", self.contact_number.as_deref(), PhoneNumber::parse));
        let email = e.take_opt(optional("email", self.email.as_deref(), Email::parse));
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
                active: self.active.unwrap_or(true),
                analytics_consent: self.analytics_consent.unwrap_or(false),
                show_name_to_peers: self.show_name_to_peers.unwrap_or(false),
            }),
            _ => Err(vec![FieldError::new("body", "invalid", "the agent is incomplete")]),
        }
    }
}

impl UpdateAgent {
    /// Validates the fields present, reporting all problems together.
    pub fn validate(&self) -> Result<AgentChanges, Vec<FieldError>> {
        let mut e = FieldErrors::new();
        let changes = AgentChanges {
            agent_code: e.take_opt(self.agent_code.as_deref().map(|s| AgentCode::parse("agent_code", s))),
            first_name: e.take_opt(self.first_name.as_deref().map(|s| Label::parse("first_name", s))),
            last_name: e.take_opt(self.last_name.as_deref().map(|s| Label::parse("last_name", s))),
            branch: e.take_opt(self.branch.as_deref().map(|s| Label::parse("branch", s))),
            team: e.take_opt(self.team.as_deref().map(|s| Label::parse("team", s))),
            contact_number: match &self.contact_number {
                None => None,
                Some(None) => Some(None),
                Some(Some(s)) => e.take_opt(optional("contact_number", Some(s), PhoneNumber::parse)),
            },
            email: match &self.email {
                None => None,
                Some(None) => Some(None),
                Some(Some(s)) => e.take_opt(optional("email", Some(s), Email::parse)),
            },
            active: self.active,
            analytics_consent: self.analytics_consent,
            show_name_to_peers: self.show_name_to_peers,
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
