//! Who is looking at a page: the signed-in user, their rights and the session's CSRF token, as
//! the authentication middleware left them in the request.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::auth::middleware::{Credential, Identity};
use crate::auth::policy::{self, Lookup};
use crate::web::WebState;
use moon_http::{ApiError, Principal, Role, Scope};

/// The live notification stream the console listens to (server-sent events).
pub const STREAM: &str = "/api/v1/notifications/stream";
/// Marks every notification in the caller's inbox read.
pub const READ_ALL: &str = "/api/v1/notifications/read_all";

/// The viewer of a console page.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Sign-in name, shown in the header.
    pub username: String,
    /// The caller with role and scope, passed to the same use cases the API calls.
    pub principal: Principal,
    /// The session's CSRF token for hidden form fields (none for an API-token caller, whose
    /// forms could not be sent anyway).
    pub csrf: Option<String>,
    /// Unread notifications of an agent, shown in the navigation.
    pub unread: Option<i64>,
    /// The request path, to mark the current navigation entry.
    pub path: String,
    /// The role requires MFA and none is set up yet: only enrolment is open, so no navigation.
    pub must_enrol: bool,
    /// The confirmation of the change just made, from the short-lived notice cookie.
    pub notice: Option<String>,
    /// Whether the page's script may use the inbox API (live stream, mark read, mark all read):
    /// the viewer is an agent whose role the policy lets open the stream, and this process
    /// serves the notification component (`moon serve --target web` alone does not).
    pub inbox_api: bool,
    /// The live stream's cursor (`C.N`) this page was rendered at: the page opens
    /// `/live/events` from there, so what lands meanwhile is replayed ([`crate::web::live`]).
    /// `None` for fragments and the stream itself, which need none.
    pub live_from: Option<String>,
}

impl Ctx {
    /// The viewer's role.
    pub fn role(&self) -> Role {
        self.principal.role
    }

    /// Whether the viewer's role may use `method path` according to the policy table, so a page
    /// shows only the links and forms that would be accepted.
    pub fn may(&self, method: &str, path: &str) -> bool {
        let Ok(method) = axum::http::Method::from_bytes(method.as_bytes()) else { return false };
        match policy::lookup(&method, path) {
            Lookup::Found(rule) => rule.allows(self.role()),
            _ => false,
        }
    }
}

impl FromRequestParts<WebState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, ApiError> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let Some(identity) = parts.extensions.get::<Identity>().cloned() else {
            // A branch TV (wallboard token) has a principal but no account behind it.
            return if principal.role == Role::Wallboard {
                Ok(Ctx::screen(principal, parts, state).await?)
            } else {
                Err(crate::auth::middleware::unauthenticated())
            };
        };
        let csrf = match &identity.credential {
            Credential::Session { token, .. } => Some(crate::auth::session::csrf_token(token)),
            Credential::Token { .. } => None,
        };
        // An agent's inbox, or what is addressed to a manager's or admin's own account (alerts,
        // digests); analysts receive nothing.
        let unread = match (principal.scope.clone(), principal.user_id, principal.role) {
            _ if identity.must_enrol => None,
            (Scope::Agent(agent_id), _, _) => Some(unread_count(state, agent_id).await?),
            (_, Some(user_id), moon_http::Role::Admin | moon_http::Role::Manager) => {
                Some(crate::notifications::service::unread_of_user(&state.db, user_id).await.map_err(ApiError::from)?)
            }
            _ => None,
        };
        let inbox_api = unread.is_some() && state.serves_notifications;
        let path = parts.uri.path();
        let live_from = if identity.must_enrol || path.ends_with("/live") || path == "/live/events" {
            None
        } else {
            Some(crate::web::live::Cursor::now(state).await?.to_string())
        };
        let mut ctx = Ctx {
            username: identity.account.username.clone(),
            principal,
            csrf,
            unread,
            path: parts.uri.path().to_owned(),
            must_enrol: identity.must_enrol,
            notice: super::notice_from(&parts.headers),
            inbox_api,
            live_from,
        };
        ctx.inbox_api = ctx.inbox_api && ctx.may("GET", STREAM) && ctx.may("POST", READ_ALL);
        Ok(ctx)
    }
}

impl Ctx {
    /// The viewer of a wallboard screen: no account, no forms, no inbox; only the live stream's
    /// cursor, which the wallboard page follows.
    async fn screen(principal: Principal, parts: &Parts, state: &WebState) -> Result<Self, ApiError> {
        let path = parts.uri.path();
        let live_from = if path.ends_with("/live") || path == "/live/events" {
            None
        } else {
            Some(crate::web::live::Cursor::now(state).await?.to_string())
        };
        Ok(Ctx {
            username: String::from("wallboard screen"),
            principal,
            csrf: None,
            unread: None,
            path: path.to_owned(),
            must_enrol: false,
            notice: None,
            inbox_api: false,
            live_from,
        })
    }
}

/// How many of an agent's notifications are unread: the notification component's count, which
/// owns that table.
pub async fn unread_count(state: &WebState, agent_id: i64) -> Result<i64, ApiError> {
    Ok(crate::notifications::service::unread_of_agent(&state.db, agent_id).await?)
}
