//! Who is asking, and which rows they may see.
//!
//! Every handler receives a [`Principal`] and passes its [`Scope`] to the queries, which add the
//! matching condition. Authentication (issue "Security and privacy") will set the principal in
//! one middleware layer; until then every request acts as the platform operator with the
//! whole-company scope, exactly as the original open services did.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::ApiError;

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

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Stable identifier for logs and the audit trail.
    pub id: String,
    /// Rows this principal may see and change.
    pub scope: Scope,
}

impl Principal {
    /// The operator acting without an account: whole-company scope.
    pub fn operator() -> Self {
        Self { id: String::from("operator"), scope: Scope::All }
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
