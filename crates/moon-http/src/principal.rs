//! Who is asking, and which rows they may see.
//!
//! Every handler receives a [`Principal`] and passes its [`Scope`] to the queries, which add the
//! matching condition. The one authentication middleware (`auth::middleware::authenticate`)
//! sets it from the session cookie or API token, after the policy table has said the principal's
//! [`Role`] may use the route at all.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::ApiError;

/// The rows a principal may see. Queries apply it; a row outside the scope is reported as not
/// found rather than forbidden, so its existence is not confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The whole company.
    All,
    /// One branch (a branch manager).
    Branch(String),
    /// One agent's own records, by agent id.
    Agent(i64),
}

/// What a user may do; the policy table (`auth::policy`) maps each route to the roles allowed on
/// it, and the role's binding (branch, agent code) gives the [`Scope`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Runs the platform: everything.
    Admin,
    /// A branch manager: agents, sales and notifications of one branch; all KPIs.
    Manager,
    /// A sales agent: own profile, sales and notifications; KPIs and the leaderboard.
    Agent,
    /// Executives and BI: KPIs and warehouse exports, never personal data.
    Analyst,
    /// Not a person: a branch's TV showing that branch's wallboard through a read-only token
    /// (always with [`Scope::Branch`]). No user can hold it ([`Role::parse`] never returns it,
    /// and [`Role::ALL`] lists the roles of people), so the policy table decides everything
    /// such a screen may open by listing this role on those routes only.
    Wallboard,
}

impl Role {
    /// Every role a user account can have, in order of decreasing reach ([`Role::Wallboard`] is
    /// a screen's, never an account's).
    pub const ALL: [Role; 4] = [Role::Admin, Role::Manager, Role::Agent, Role::Analyst];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Agent => "agent",
            Role::Analyst => "analyst",
            Role::Wallboard => "wallboard",
        }
    }

    /// Parses the role name of a user account (case-insensitive); `wallboard` is none.
    pub fn parse(raw: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str().eq_ignore_ascii_case(raw.trim()))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Stable identifier for logs and the audit trail (`user:<id>` or `operator`).
    pub id: String,
    /// What the principal may do.
    pub role: Role,
    /// Rows this principal may see and change.
    pub scope: Scope,
    /// The user account, when the principal is one (not the operator of the CLI or demo).
    pub user_id: Option<i64>,
    /// Where the request came from, for the audit trail.
    pub origin: Origin,
}

/// The request behind a principal's actions: its id and the client's address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The request's `X-Request-Id`.
    pub request_id: Option<String>,
    /// The client's address (from the socket, or a trusted proxy's `X-Forwarded-For`).
    pub source_ip: Option<String>,
}

/// The client's address as the rate limits, sign-in throttling and audit trail see it: the
/// peer, or the forwarded address a trusted proxy reported. Set by the authentication layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub std::net::IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<ClientIp>().copied().unwrap_or(ClientIp(std::net::IpAddr::from([0, 0, 0, 0]))))
    }
}

impl Principal {
    /// The operator on the server's own machine (CLI, demo loader): an admin without an account.
    pub fn operator() -> Self {
        Self {
            id: String::from("operator"),
            role: Role::Admin,
            scope: Scope::All,
            user_id: None,
            origin: Origin::default(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Set by the single authentication layer (`app::authenticate`); a route that somehow
        // bypassed it is refused rather than served with a guessed identity.
        parts.extensions.get::<Principal>().cloned().ok_or_else(|| {
            ApiError::new(axum::http::StatusCode::UNAUTHORIZED, "unauthenticated", "this request carries no identity")
        })
    }
}
