//! The single authentication and authorisation hook: every request passes through
//! [`authenticate`], which finds the route in the [policy](super::policy), applies the rate
//! limits, identifies the caller from an API token or a session cookie (checking CSRF for
//! cookie-authenticated changes) or, failing both, a branch TV's wallboard cookie
//! ([`super::wallboard`]), and either refuses the request or hands the handler a [`Principal`].

pub use moon_http::principal::ClientIp;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::SecurityState;
use super::policy::{self, Access, Lookup, RateClass};
use super::session::{self, SessionRow};
use super::token;
use super::users::Account;
use super::wallboard;
use moon_http::ApiError;

/// The peer of a connection, handed to every request by the connection loop
/// ([`moon_http::serve`]) as `ConnectInfo<PeerAddr>`, over plain TCP and TLS alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// How a request proved who it is.
#[derive(Clone)]
pub enum Credential {
    /// A session cookie; carries the session secret so a handler can end or rotate it.
    Session {
        /// Session row id.
        id: i64,
        /// The secret from the cookie.
        token: String,
        /// Still owes the second factor.
        mfa_pending: bool,
    },
    /// An API token.
    Token {
        /// Token id.
        id: i64,
        /// Its rate class, when it was made for a system.
        rate_class: Option<String>,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Session { id, mfa_pending, .. } => {
                f.debug_struct("Session").field("id", id).field("mfa_pending", mfa_pending).finish_non_exhaustive()
            }
            Credential::Token { id, rate_class } => {
                f.debug_struct("Token").field("id", id).field("rate_class", rate_class).finish()
            }
        }
    }
}

/// The signed-in caller, for the handlers that manage their own account (me, MFA, sign-out).
#[derive(Debug, Clone)]
pub struct Identity {
    /// The account, as read for this request.
    pub account: Arc<Account>,
    /// How it authenticated.
    pub credential: Credential,
    /// The role requires MFA and none is confirmed yet: only enrolment is open.
    pub must_enrol: bool,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Identity {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Identity>().cloned().ok_or_else(unauthenticated)
    }
}

const SIGN_IN: &str = "/api/v1/auth/sign-in";
/// The console's sign-in form, which like the API's learns the session it replaces.
const CONSOLE_SIGN_IN: &str = "/sign-in";
const SIGN_OUT: &str = "/api/v1/auth/sign-out";

/// 401 with the code clients switch on to send someone to sign-in.
pub fn unauthenticated() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "sign in (POST /api/v1/auth/sign-in) or send an API token as Authorization: Bearer",
    )
}

fn forbidden(detail: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", detail)
}

/// 429 with `Retry-After` in whole seconds.
pub fn too_many(wait: Duration) -> ApiError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", format!("too many requests; retry in {secs} s"))
        .with_retry_after(secs.max(1))
}

/// The authentication middleware; see the module documentation.
pub async fn authenticate(State(state): State<SecurityState>, mut req: Request, next: Next) -> Response {
    let auth = &state.auth;
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<PeerAddr>>()
        .map(|c| c.0.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let ip = super::ratelimit::client_ip(peer, req.headers(), &auth.config.trusted_proxies);
    req.extensions_mut().insert(ClientIp(ip));
    // Where the request comes from, for the audit trail (handlers of public routes read it too).
    let origin = moon_http::principal::Origin {
        request_id: req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned),
        source_ip: Some(ip.to_string()),
    };
    req.extensions_mut().insert(origin.clone());

    let header_bytes: usize = req.headers().iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if header_bytes > auth.config.max_header_bytes {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("the request headers exceed {} bytes", auth.config.max_header_bytes),
        )
        .into_response();
    }

    // A body announced as too large is refused before anything else, unauthenticated or not,
    // without reading it (the body extractors enforce the same limit on bodies sent unannounced).
    let announced =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    let streamed = req.extensions().get::<MatchedPath>().is_some_and(|m| state.streamed.contains(&m.as_str()));
    if !streamed && announced.is_some_and(|len| len > state.body_limit) {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than this server accepts",
        )
        .into_response();
    }

    // Unmatched paths go on to the 404 fallback; nothing there to protect.
    let Some(template) = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()) else {
        return next.run(req).await;
    };
    let rule = match policy::lookup(req.method(), &template) {
        Lookup::Found(rule) => rule,
        // The route exists but not for this method: the router answers 405.
        Lookup::OtherMethod => return next.run(req).await,
        Lookup::Unlisted => {
            tracing::error!(route = %template, "route missing from the security policy; refused");
            return forbidden("this route has no entry in the security policy").into_response();
        }
    };
    let shape = |e: ApiError| {
        let refusal = moon_http::error::Refusal(e.clone());
        let mut res = if rule.is_legacy() { e.legacy() } else { e }.into_response();
        if res.status() == StatusCode::UNAUTHORIZED {
            // RFC 9110: a 401 names the scheme to use.
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"moon\""));
        }
        // The console (an outer layer) turns this into a page or a redirect for a browser.
        res.extensions_mut().insert(refusal);
        res
    };
    let class = rule.rate_class();
    // A request with a bearer token is counted per address once the token is known, in the
    // token's rate class (a system's many requests come from few addresses).
    let bearer = req.headers().contains_key(header::AUTHORIZATION) && rule.access != Access::Public;
    if class != RateClass::Exempt
        && !bearer
        && let Err(wait) = auth.limiter.check(class, &format!("ip:{ip}"))
    {
        return shape(too_many(wait));
    }
    if rule.access == Access::Public {
        // Sign-in learns who is asking, to end the session it replaces; other public routes
        // (probes, scrapes) never touch the database for it.
        if (rule.path == SIGN_IN || rule.path == CONSOLE_SIGN_IN)
            && let Ok(Some(identity)) = identify(&state, req.headers()).await
        {
            req.extensions_mut().insert(identity);
        }
        return next.run(req).await;
    }
    let identified = identify(&state, req.headers()).await;
    let limiter = match &identified {
        Ok(Some(i)) => auth.limiter_for(&i.credential),
        _ => &auth.limiter,
    };
    if class != RateClass::Exempt
        && bearer
        && let Err(wait) = limiter.check(class, &format!("ip:{ip}"))
    {
        return shape(too_many(wait));
    }
    let identity = match identified {
        Ok(Some(i)) => i,
        // Neither a token nor a session: perhaps a branch's TV with its wallboard cookie.
        Ok(None) => {
            let screen = match wallboard::read_cookie(req.headers()) {
                Some(secret) => match wallboard::lookup(&state.db, &secret).await {
                    Ok(screen) => screen,
                    Err(e) => return shape(e.into()),
                },
                None => None,
            };
            let Some(screen) = screen else { return shape(unauthenticated()) };
            let principal = screen.principal(origin);
            // Only where the policy lists the wallboard role (its branch is the page's check,
            // as a manager's is); never routes merely "signed in", which mean a person.
            if !rule.allows(principal.role) {
                let event = crate::audit::Event {
                    action: "auth.permission_denied",
                    changes: Some(serde_json::json!({"method": req.method().as_str(), "route": template})),
                    ..Default::default()
                };
                crate::audit::record_or_log(&state.db, &principal, event).await;
                return shape(forbidden("a wallboard screen opens its branch's wallboard and nothing else"));
            }
            if class != RateClass::Exempt
                && let Err(wait) = auth.limiter.check(class, &principal.id)
            {
                return shape(too_many(wait));
            }
            let logged = moon_http::request_log::note_principal(&principal.id);
            req.extensions_mut().insert(principal);
            let mut res = next.run(req).await;
            res.extensions_mut().insert(logged);
            return res;
        }
        Err(e) => return shape(e),
    };
    let Some(mut principal) = identity.account.principal() else { return shape(unauthenticated()) };
    principal.origin = origin;
    if let Credential::Token { id, .. } = &identity.credential {
        // O(1) in memory; a write only for a pair this process has not recorded lately.
        auth.token_addresses.note(&state.db, *id, ip);
    }
    if let Credential::Session { token, mfa_pending, .. } = &identity.credential {
        if !req.method().is_safe() {
            let (checked, verdict) = csrf_checked(req, token, state.body_limit).await;
            req = checked;
            if verdict == Csrf::TooLarge {
                return shape(moon_http::input::too_large());
            }
            if verdict == Csrf::Failed {
                return shape(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf_failed",
                    "a change made with a session cookie needs the X-CSRF-Token header from sign-in",
                ));
            }
        }
        match (rule.access, *mfa_pending) {
            (Access::MfaPending, false) => return shape(forbidden("this session has already passed MFA")),
            (Access::MfaPending, true) => {}
            // A half-finished sign-in may still be abandoned.
            (_, true) if rule.path == SIGN_OUT => {}
            (_, true) => {
                return shape(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "mfa_required",
                    "finish signing in with a code: POST /api/v1/auth/mfa/verify",
                ));
            }
            _ => {}
        }
    } else if rule.access == Access::MfaPending {
        return shape(forbidden("MFA verification belongs to a session sign-in"));
    }
    if let Access::Roles(_) = rule.access {
        if identity.must_enrol {
            return shape(ApiError::new(
                StatusCode::FORBIDDEN,
                "mfa_enrolment_required",
                "your role requires MFA: enrol at POST /api/v1/auth/mfa/enrol, then confirm a code",
            ));
        }
        if !rule.allows(principal.role) {
            let event = crate::audit::Event {
                action: "auth.permission_denied",
                changes: Some(serde_json::json!({"method": req.method().as_str(), "route": template})),
                ..Default::default()
            };
            crate::audit::record_or_log(&state.db, &principal, event).await;
            return shape(forbidden(&format!("the {} role may not use this route", principal.role)));
        }
    }
    if class != RateClass::Exempt
        && let Err(wait) = limiter.check(class, &principal.id)
    {
        return shape(too_many(wait));
    }
    let logged = moon_http::request_log::note_principal(&principal.id);
    req.extensions_mut().insert(principal);
    req.extensions_mut().insert(identity);
    let mut res = next.run(req).await;
    res.extensions_mut().insert(logged);
    res
}

/// The name of the hidden form field that carries the CSRF token in the console's forms, which
/// cannot set headers.
pub const CSRF_FIELD: &str = "csrf_token";

/// The outcome of a CSRF check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Csrf {
    Passed,
    Failed,
    /// The form could not be read within the body limit: a 413, not a CSRF failure.
    TooLarge,
}

/// Checks the session's CSRF token: from `X-CSRF-Token`, or, for an HTML form post
/// (`application/x-www-form-urlencoded`), from its [`CSRF_FIELD`] field. The form body is read
/// (within the body limit) and put back for the handler. Returns the request and the verdict.
async fn csrf_checked(req: Request, session_token: &str, body_limit: usize) -> (Request, Csrf) {
    let expected = session::csrf_token(session_token);
    let verdict = |ok: bool| if ok { Csrf::Passed } else { Csrf::Failed };
    if let Some(sent) = req.headers().get("x-csrf-token") {
        let ok = sent.to_str().is_ok_and(|sent| super::crypto::constant_time_eq(sent, &expected));
        return (req, verdict(ok));
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return (req, Csrf::Failed);
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, body_limit).await else {
        // Too large, or a body that broke off; either way nothing to check a token in.
        return (Request::from_parts(parts, axum::body::Body::empty()), Csrf::TooLarge);
    };
    let ok =
        form_urlencoded::parse(&bytes).any(|(k, v)| k == CSRF_FIELD && super::crypto::constant_time_eq(&v, &expected));
    (Request::from_parts(parts, axum::body::Body::from(bytes)), verdict(ok))
}

/// Finds the caller: a bearer token if one is sent (a bad one is refused, never ignored), else
/// the session cookie. Disabled users are nobody.
async fn identify(state: &SecurityState, headers: &axum::http::HeaderMap) -> Result<Option<Identity>, ApiError> {
    let auth = &state.auth;
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let bearer = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or_else(unauthenticated)?;
        let Some(row) = token::lookup(&state.db, bearer).await? else { return Err(unauthenticated()) };
        if row.account.disabled {
            return Ok(None);
        }
        return Ok(Some(Identity {
            account: Arc::new(row.account),
            credential: Credential::Token { id: row.token_id, rate_class: row.token_rate_class },
            must_enrol: false,
        }));
    }
    let Some(cookie) = auth.config.sessions.read_cookie(headers) else { return Ok(None) };
    let Some(SessionRow { session_id, session_mfa_pending, account, .. }) =
        session::lookup(&state.db, &auth.config.sessions, &cookie).await?
    else {
        return Ok(None);
    };
    if account.disabled {
        session::delete(&state.db, session_id).await?;
        return Ok(None);
    }
    let must_enrol = !account.mfa_enabled && account.role().is_some_and(|r| auth.mfa_required(r));
    Ok(Some(Identity {
        account: Arc::new(account),
        credential: Credential::Session { id: session_id, token: cookie, mfa_pending: session_mfa_pending },
        must_enrol,
    }))
}

/// Adds the security headers every response carries. HSTS only when the browser reaches us over
/// TLS (here, or at a proxy in front when cookies are marked Secure); otherwise a browser would
/// pin an origin that cannot speak HTTPS.
pub async fn security_headers(tls: bool, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: &'static str, value: &'static str| {
        if !h.contains_key(name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    };
    set(
        h,
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "no-referrer");
    set(h, "x-frame-options", "DENY");
    set(h, "cross-origin-opener-policy", "same-origin");
    if tls {
        set(h, "strict-transport-security", "max-age=31536000; includeSubDomains");
    }
    res
}

impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for Identity {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Identity>().cloned())
    }
}
