//! HTTP endpoints of the security layer: sign-in and out, the caller's own account and MFA,
//! users (admin) and API tokens. Who may call each is in [`super::policy`], not here.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::SecurityState;
use super::middleware::{ClientIp, Credential, Identity, too_many};
use super::token::ApiToken;
use super::users::{Binding, User, UserChanges};
use super::{mfa, session, throttle, token, users};
use crate::audit::{self, RequestOrigin};
use moon_db::Db;
use moon_http::error::Problem;
use moon_http::{ApiError, ApiJson, ApiResult, Principal, Role};

/// The security routes: a table of contents.
pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Db: axum::extract::FromRef<S>,
    SecurityState: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(sign_in))
        .routes(routes!(sign_out))
        .routes(routes!(me))
        .routes(routes!(mfa_verify))
        .routes(routes!(mfa_enrol))
        .routes(routes!(mfa_confirm))
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .merge(super::wallboard_routes::routes())
        .merge(super::review::routes())
}

/// Logs an unexpected failure of a security step (hashing, sealing, a session row) once and
/// answers 500: the edge's counterpart of `Error::Internal` for steps that report `anyhow`.
pub(crate) fn internal(e: anyhow::Error) -> ApiError {
    tracing::error!(error = %format!("{e:#}"), "security operation failed");
    ApiError::internal()
}

/// Credentials for sign-in.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

debug_without_secrets!(SignIn, username);

/// The outcome of a sign-in step.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SignedIn {
    /// `signed_in`, or `mfa_required` when a code must follow (POST /api/v1/auth/mfa/verify).
    pub status: &'static str,
    /// The user, once fully signed in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    /// Send this as `X-CSRF-Token` on every POST, PUT, PATCH and DELETE made with the cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
    /// The role requires MFA and none is confirmed: only enrolment is open until it is.
    pub mfa_enrolment_required: bool,
}

debug_without_secrets!(SignedIn, status, user, mfa_enrolment_required);

fn invalid_credentials() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "the user name or password is wrong")
}

/// A session just opened: its secret and the `Set-Cookie` header that hands it to the browser.
pub(crate) struct NewSession {
    /// The session secret (the cookie's value), from which the CSRF token derives.
    pub token: String,
    /// The cookie header, when the settings allow one to be built.
    pub cookie: Option<axum::http::HeaderValue>,
}

/// Opens a session (rotating away `old`): shared by the JSON sign-in and the console's form.
pub(crate) async fn open_session(
    state: &SecurityState,
    account: &users::Account,
    mfa_pending: bool,
    old: Option<i64>,
) -> ApiResult<NewSession> {
    if let Some(id) = old {
        session::delete(&state.db, id).await?;
    }
    let settings = &state.auth.config.sessions;
    let token = session::create(&state.db, settings, account.id, mfa_pending).await.map_err(internal)?;
    let life = if mfa_pending { settings.mfa_pending } else { settings.absolute };
    let cookie = settings.set_cookie(&token, life);
    Ok(NewSession { token, cookie })
}

/// Starts a full session (rotating away `old`), with its cookie.
async fn start_session(
    state: &SecurityState,
    account: &users::Account,
    mfa_pending: bool,
    old: Option<i64>,
) -> ApiResult<Response> {
    let NewSession { token, cookie } = open_session(state, account, mfa_pending, old).await?;
    let body = if mfa_pending {
        // The pending session's own CSRF token: the code step is a cookie POST like any other.
        SignedIn {
            status: "mfa_required",
            user: None,
            csrf_token: Some(session::csrf_token(&token)),
            mfa_enrolment_required: false,
        }
    } else {
        let must_enrol = !account.mfa_enabled && account.role().is_some_and(|r| state.auth.mfa_required(r));
        SignedIn {
            status: "signed_in",
            user: Some(account.user()),
            csrf_token: Some(session::csrf_token(&token)),
            mfa_enrolment_required: must_enrol,
        }
    };
    let mut res = Json(body).into_response();
    if let Some(cookie) = cookie {
        res.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    res.headers_mut().insert(header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(res)
}

pub(crate) fn session_id(identity: Option<&Identity>) -> Option<i64> {
    match identity.map(|i| &i.credential) {
        Some(Credential::Session { id, .. }) => Some(*id),
        _ => None,
    }
}

/// Sign in with a user name and password. Sets the session cookie; when the user has MFA the
/// session only allows the code step that follows.
#[utoipa::path(post, path = "/api/v1/auth/sign-in", tag = "auth", request_body = SignIn, security(()),
    responses((status = 200, body = SignedIn), (status = 401, body = Problem), (status = 429, description = "Too many failures; see Retry-After", body = Problem)))]
async fn sign_in(
    State(state): State<SecurityState>,
    ClientIp(ip): ClientIp,
    RequestOrigin(origin): RequestOrigin,
    identity: Option<Identity>,
    ApiJson(body): ApiJson<SignIn>,
) -> ApiResult<Response> {
    let account = check_password(&state, ip, origin, &body.username, &body.password).await?;
    start_session(&state, &account, account.mfa_enabled, session_id(identity.as_ref())).await
}

/// The password step of signing in, with throttling and the audit trail: the account when the
/// name and password are right (the caller then opens a session, pending MFA if it has one).
pub(crate) async fn check_password(
    state: &SecurityState,
    ip: std::net::IpAddr,
    origin: moon_http::principal::Origin,
    username: &str,
    password: &str,
) -> ApiResult<users::Account> {
    let auth = &state.auth;
    let sealing = auth.key(&state.db).await.map_err(internal)?;
    let keys = [throttle::account_key(sealing, username), throttle::ip_key(ip)];
    if let Some(secs) = throttle::locked_for(&state.db, &keys).await? {
        return Err(too_many(std::time::Duration::from_secs(secs)));
    }
    let account = users::account_by_name(&state.db, username).await?;
    let ok = match &account {
        Some(a) => auth.hasher.verify(password, &a.password_hash).await.map_err(internal)? && !a.disabled,
        None => {
            auth.hasher.verify_dummy(password).await.map_err(internal)?;
            false
        }
    };
    let Some(account) = account.filter(|_| ok) else {
        let t = &auth.config.throttle;
        throttle::record_failure(&state.db, t, &keys[0], t.account_free_failures).await?;
        throttle::record_failure(&state.db, t, &keys[1], t.ip_free_failures).await?;
        tracing::info!(client_ip = %ip, "sign-in refused");
        // The name tried is personal data (and may be a mistyped password): not recorded.
        audit::record_or_log(
            &state.db,
            audit::Actor::anonymous(origin),
            audit::Event::on("auth.sign_in_failed", "user", "?"),
        )
        .await;
        return Err(invalid_credentials());
    };
    throttle::clear(&state.db, &keys[0]).await?;
    if super::password::needs_rehash(&account.password_hash) {
        users::store_rehash(&state.db, &auth.hasher, account.id, password).await;
    }
    tracing::info!(user_id = account.id, mfa = account.mfa_enabled, "signed in");
    let actor = account.actor(origin);
    let action = if account.mfa_enabled { "auth.password_accepted" } else { "auth.sign_in" };
    audit::record_or_log(&state.db, actor, audit::Event::on(action, "user", account.id)).await;
    Ok(account)
}

/// A second-factor code: six digits from the authenticator, or a recovery code.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaCode {
    /// The code.
    pub code: String,
}

debug_without_secrets!(MfaCode);

/// Finish signing in with a TOTP code or a recovery code; replaces the pending session with a
/// full one.
#[utoipa::path(post, path = "/api/v1/auth/mfa/verify", tag = "auth", request_body = MfaCode,
    responses((status = 200, body = SignedIn), (status = 401, body = Problem), (status = 429, body = Problem)))]
async fn mfa_verify(
    State(state): State<SecurityState>,
    ClientIp(ip): ClientIp,
    RequestOrigin(origin): RequestOrigin,
    identity: Identity,
    ApiJson(body): ApiJson<MfaCode>,
) -> ApiResult<Response> {
    check_second_factor(&state, ip, origin, &identity.account, &body.code).await?;
    start_session(&state, &identity.account, false, session_id(Some(&identity))).await
}

/// The code step of signing in, with throttling and the audit trail; the caller then replaces
/// the pending session with a full one.
pub(crate) async fn check_second_factor(
    state: &SecurityState,
    ip: std::net::IpAddr,
    origin: moon_http::principal::Origin,
    account: &users::Account,
    code: &str,
) -> ApiResult<()> {
    let sealing = state.auth.key(&state.db).await.map_err(internal)?;
    let keys = [throttle::account_key(sealing, &account.username), throttle::ip_key(ip)];
    if let Some(secs) = throttle::locked_for(&state.db, &keys).await? {
        return Err(too_many(std::time::Duration::from_secs(secs)));
    }
    if let Err(e) = mfa::verify(&state.db, state.auth.key(&state.db).await.map_err(internal)?, account, code).await {
        let t = &state.auth.config.throttle;
        throttle::record_failure(&state.db, t, &keys[0], t.account_free_failures).await?;
        throttle::record_failure(&state.db, t, &keys[1], t.ip_free_failures).await?;
        let actor = account.actor(origin);
        audit::record_or_log(&state.db, actor, audit::Event::on("auth.mfa_failed", "user", account.id)).await;
        return Err(e.into());
    }
    throttle::clear(&state.db, &keys[0]).await?;
    let actor = account.actor(origin);
    audit::record_or_log(
        &state.db,
        actor,
        audit::Event::on("auth.sign_in", "user", account.id).with_detail(serde_json::json!({"mfa": true})),
    )
    .await;
    Ok(())
}

/// Sign out: ends this session (an API token is revoked with DELETE /api/v1/tokens/{id}).
#[utoipa::path(post, path = "/api/v1/auth/sign-out", tag = "auth", responses((status = 204, description = "Signed out")))]
async fn sign_out(State(state): State<SecurityState>, identity: Identity) -> ApiResult<Response> {
    if let Some(id) = session_id(Some(&identity)) {
        session::delete(&state.db, id).await?;
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    if let Some(cookie) = state.auth.config.sessions.clear_cookie() {
        res.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(res)
}

/// The caller.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    /// The account.
    pub user: User,
    /// `session` or `token`.
    pub authenticated_by: &'static str,
    /// The CSRF token of this session (cookie sign-ins only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
    /// Only enrolment is open until an authenticator is confirmed.
    pub mfa_enrolment_required: bool,
}

debug_without_secrets!(Me, user, authenticated_by, mfa_enrolment_required);

/// Who am I?
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", responses((status = 200, body = Me), (status = 401, body = Problem)))]
async fn me(identity: Identity) -> Json<Me> {
    let (by, csrf) = match &identity.credential {
        Credential::Session { token, .. } => ("session", Some(session::csrf_token(token))),
        Credential::Token { .. } => ("token", None),
    };
    Json(Me {
        user: identity.account.user(),
        authenticated_by: by,
        csrf_token: csrf,
        mfa_enrolment_required: identity.must_enrol,
    })
}

/// Start TOTP enrolment: returns the otpauth URI, its QR code and the secret. Nothing changes at
/// sign-in until a code is confirmed.
#[utoipa::path(post, path = "/api/v1/auth/mfa/enrol", tag = "auth",
    responses((status = 200, body = mfa::Enrolment), (status = 409, description = "Already enrolled", body = Problem)))]
async fn mfa_enrol(State(state): State<SecurityState>, identity: Identity) -> ApiResult<Response> {
    let e = mfa::enrol(&state.db, state.auth.key(&state.db).await.map_err(internal)?, &identity.account).await?;
    let mut res = Json(e).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(res)
}

/// Recovery codes, shown once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RecoveryCodes {
    /// Each code signs in once in place of a TOTP code. Keep them somewhere safe.
    pub recovery_codes: Vec<String>,
}

debug_without_secrets!(RecoveryCodes);

/// Confirm enrolment with a current code; returns single-use recovery codes.
#[utoipa::path(post, path = "/api/v1/auth/mfa/confirm", tag = "auth", request_body = MfaCode,
    responses((status = 200, body = RecoveryCodes), (status = 401, body = Problem), (status = 409, body = Problem)))]
async fn mfa_confirm(
    State(state): State<SecurityState>,
    RequestOrigin(origin): RequestOrigin,
    identity: Identity,
    ApiJson(body): ApiJson<MfaCode>,
) -> ApiResult<Response> {
    let codes = confirm_mfa(&state, origin, &identity.account, &body.code).await?;
    let mut res = Json(RecoveryCodes { recovery_codes: codes }).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(res)
}

/// Confirms MFA enrolment with a code and records it in the audit trail; the recovery codes.
pub(crate) async fn confirm_mfa(
    state: &SecurityState,
    origin: moon_http::principal::Origin,
    account: &users::Account,
    code: &str,
) -> ApiResult<Vec<String>> {
    let codes = mfa::confirm(&state.db, state.auth.key(&state.db).await.map_err(internal)?, account, code).await?;
    let actor = account.actor(origin);
    audit::record_or_log(&state.db, actor, audit::Event::on("auth.mfa_enrolled", "user", account.id)).await;
    Ok(codes)
}

// ---- users ----------------------------------------------------------------------------------

/// A new user.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Sign-in name: 3-64 of letters, digits, `.`, `_`, `-`, `@`.
    pub username: String,
    /// At least 12 characters.
    pub password: String,
    /// admin, manager, agent or analyst.
    pub role: String,
    /// Required for a manager.
    pub branch: Option<String>,
    /// Required for an agent.
    pub agent_code: Option<String>,
    /// Where the user's e-mail notifications go (optional).
    pub email: Option<String>,
}

debug_without_secrets!(CreateUser, username, role, branch, agent_code);

/// Changes to a user; absent fields stay as they are.
#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// New role (send the branch or agent code it needs with it).
    pub role: Option<String>,
    /// New branch (managers).
    pub branch: Option<String>,
    /// New agent code (agents).
    pub agent_code: Option<String>,
    /// Disable (ends every session; tokens stop working) or re-enable.
    pub disabled: Option<bool>,
    /// New password.
    pub password: Option<String>,
    /// `true` forgets the authenticator and recovery codes.
    pub reset_mfa: Option<bool>,
    /// New e-mail address for notifications; an empty string removes it.
    pub email: Option<String>,
}

debug_without_secrets!(UpdateUser, role, branch, agent_code, disabled, reset_mfa);

/// List users.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", responses((status = 200, body = Vec<User>)))]
async fn list_users(State(db): State<Db>) -> ApiResult<Json<Vec<User>>> {
    Ok(Json(users::list(&db).await?))
}

/// Create a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = User), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_user(
    State(state): State<SecurityState>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    let binding =
        Binding::parse(&body.role, body.branch.as_deref(), body.agent_code.as_deref()).map_err(ApiError::validation)?;
    let binding = state
        .auth
        .branches
        .resolve(&state.db, binding)
        .await
        .map_err(crate::error::Error::from)?
        .map_err(ApiError::field)?;
    let email = match body.email.as_deref() {
        Some(e) => Some(moon_domain::Email::parse("email", e).map_err(ApiError::field)?),
        None => None,
    };
    let user = users::create_with_email(
        &state.db,
        &state.auth.hasher,
        (&body.username, &body.password),
        binding,
        email.as_ref(),
        &principal,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Get a user.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path, description = "User id")),
    responses((status = 200, body = User), (status = 404, body = Problem)))]
async fn get_user(State(db): State<Db>, Path(id): Path<String>) -> ApiResult<Json<User>> {
    let id = moon_http::parse_id(&id)?;
    users::get(&db, id).await?.map(Json).ok_or_else(|| ApiError::not_found(format!("user {id}")))
}

/// Change a user: role and binding, disabled, password, MFA reset.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path, description = "User id")), request_body = UpdateUser,
    responses((status = 200, body = User), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_user(
    State(state): State<SecurityState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> ApiResult<Json<User>> {
    let id = moon_http::parse_id(&id)?;
    Ok(Json(change_user(&state, &principal, id, body).await?))
}

/// Applies an admin's changes to a user, refusing to let admins disable or demote themselves:
/// shared by the API and the console.
pub(crate) async fn change_user(
    state: &SecurityState,
    principal: &Principal,
    id: i64,
    body: UpdateUser,
) -> ApiResult<User> {
    let current = users::account(&state.db, id).await?.ok_or_else(|| ApiError::not_found(format!("user {id}")))?;
    let binding = if body.role.is_some() || body.branch.is_some() || body.agent_code.is_some() {
        let role = body.role.clone().unwrap_or_else(|| current.role.clone());
        let branch = body.branch.as_deref().or(current.branch.as_deref());
        let code = body.agent_code.as_deref().or(current.agent_code.as_deref());
        let binding = Binding::parse(&role, branch, code).map_err(ApiError::validation)?;
        // A branch given now is checked against the organisation; one kept from before is not
        // (disabling the manager of a branch since closed must still work).
        if body.branch.is_some() || (binding.role == Role::Manager && current.role != Role::Manager.as_str()) {
            Some(
                state
                    .auth
                    .branches
                    .resolve(&state.db, binding)
                    .await
                    .map_err(crate::error::Error::from)?
                    .map_err(ApiError::field)?,
            )
        } else {
            Some(binding)
        }
    } else {
        None
    };
    if principal.user_id == Some(id)
        && (body.disabled == Some(true) || binding.as_ref().is_some_and(|b| b.role != Role::Admin))
    {
        return Err(ApiError::conflict("cannot_demote_self", "an admin cannot disable or demote their own account"));
    }
    let email = match body.email.as_deref().map(str::trim) {
        Some("") => Some(None),
        Some(e) => Some(Some(moon_domain::Email::parse("email", e).map_err(ApiError::field)?)),
        None => None,
    };
    let changes = UserChanges {
        binding,
        disabled: body.disabled,
        password: body.password,
        reset_mfa: body.reset_mfa.unwrap_or(false),
        email,
    };
    Ok(users::update(&state.db, &state.auth.hasher, id, changes, principal).await?)
}

/// Delete a user, their sessions and tokens.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path, description = "User id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem)))]
async fn delete_user(State(db): State<Db>, principal: Principal, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = moon_http::parse_id(&id)?;
    if principal.user_id == Some(id) {
        return Err(ApiError::conflict("cannot_demote_self", "an admin cannot delete their own account"));
    }
    users::delete(&db, id, &principal).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- tokens ---------------------------------------------------------------------------------

/// A new API token.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// What it is for (shown in listings).
    pub name: String,
    /// Days until it expires (1-3650); absent: 90 days ([`crate::auth::token::DEFAULT_EXPIRY_DAYS`]).
    pub expires_in_days: Option<u32>,
    /// The user it acts as (admins only; default yourself).
    pub user_id: Option<i64>,
    /// Admins only: make the token for a system, drawing on this configured rate class
    /// (such as `integration`) instead of the default per-person limits.
    #[schema(example = "integration")]
    pub rate_class: Option<String>,
}

/// A token with its secret, returned once at creation.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// The token's record.
    pub token: ApiToken,
    /// The secret to send as `Authorization: Bearer <secret>`. It is not stored and cannot be
    /// shown again.
    pub secret: String,
}

debug_without_secrets!(CreatedToken, token);

/// Whose tokens the principal manages: an admin everyone's, anyone else their own.
pub(crate) fn token_owner(principal: &Principal) -> ApiResult<Option<i64>> {
    match (principal.role, principal.user_id) {
        (Role::Admin, _) => Ok(None),
        (_, Some(id)) => Ok(Some(id)),
        (_, None) => Err(ApiError::internal()),
    }
}

/// List API tokens: your own, or everyone's for an admin.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", responses((status = 200, body = Vec<ApiToken>)))]
async fn list_tokens(State(db): State<Db>, principal: Principal) -> ApiResult<Json<Vec<ApiToken>>> {
    Ok(Json(token::list(&db, token_owner(&principal)?).await?))
}

/// Create an API token (for yourself; an admin may name another user).
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_token(
    State(state): State<SecurityState>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateToken>,
) -> ApiResult<Response> {
    let created =
        issue_token(&state, &principal, body.user_id, &body.name, body.expires_in_days, body.rate_class.as_deref())
            .await?;
    let mut res = (StatusCode::CREATED, Json(created)).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(res)
}

/// Checks and creates an API token (for the principal, or the user an admin names): shared by
/// the API and the console, so both refuse the same names and lifetimes.
pub(crate) async fn issue_token(
    state: &SecurityState,
    principal: &Principal,
    for_user: Option<i64>,
    name: &str,
    expires_in_days: Option<u32>,
    rate_class: Option<&str>,
) -> ApiResult<CreatedToken> {
    if let Some(class) = rate_class {
        if principal.role != Role::Admin {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "only admins create tokens with a rate class",
            ));
        }
        if !state.auth.class_limiters.contains_key(class) {
            let known: Vec<&str> = state.auth.class_limiters.keys().map(String::as_str).collect();
            return Err(ApiError::field(moon_domain::FieldError::new(
                "rate_class",
                "unknown_rate_class",
                format!("no rate class {class:?} is configured; known: {}", known.join(", ")),
            )));
        }
    }
    let me = principal.user_id.ok_or_else(ApiError::internal)?;
    let user_id = match for_user {
        Some(other) if other != me && principal.role != Role::Admin => {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "only admins create tokens for others"));
        }
        Some(other) => other,
        None => me,
    };
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::field(moon_domain::FieldError::new(
            "name",
            "invalid_name",
            "name must be 1-100 characters",
        )));
    }
    // Least privilege: a token nobody set a lifetime for still ends.
    let expires_at: Option<DateTime<Utc>> = match expires_in_days.or(Some(token::DEFAULT_EXPIRY_DAYS)) {
        None => None,
        Some(d @ 1..=3650) => Some(moon_db::now() + chrono::Duration::days(i64::from(d))),
        Some(_) => {
            return Err(ApiError::field(moon_domain::FieldError::new(
                "expires_in_days",
                "out_of_range",
                "expires_in_days must be 1-3650",
            )));
        }
    };
    if users::account(&state.db, user_id).await?.is_none() {
        return Err(ApiError::field(moon_domain::FieldError::new("user_id", "unknown_user", "no such user")));
    }
    let (token, secret) = token::create_with_class(&state.db, user_id, name, expires_at, rate_class, principal)
        .await
        .map_err(internal)?;
    tracing::info!(token_id = token.id, user_id, "API token created");
    Ok(CreatedToken { token, secret })
}

/// Revoke an API token (your own; an admin any).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = i64, Path, description = "Token id")),
    responses((status = 200, body = ApiToken), (status = 404, body = Problem)))]
async fn revoke_token(State(db): State<Db>, principal: Principal, Path(id): Path<String>) -> ApiResult<Json<ApiToken>> {
    let id = moon_http::parse_id(&id)?;
    Ok(Json(token::revoke(&db, id, token_owner(&principal)?, &principal).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_secrets() {
        let sign_in: SignIn = serde_json::from_str(r#"{"username":"ann","password":"hunter2hunter2"}"#).unwrap();
        let code: MfaCode = serde_json::from_str(r#"{"code":"123456"}"#).unwrap();
        let user: CreateUser =
            serde_json::from_str(r#"{"username":"ann","password":"hunter2hunter2","role":"admin"}"#).unwrap();
        let update: UpdateUser = serde_json::from_str(r#"{"password":"hunter2hunter2"}"#).unwrap();
        let credential = Credential::Session { id: 1, token: String::from("sessiontokenvalue"), mfa_pending: false };
        let shown = format!("{sign_in:?} {code:?} {user:?} {update:?} {credential:?}");
        for secret in ["hunter2hunter2", "123456", "sessiontokenvalue"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("ann"), "the non-secret fields still show: {shown}");
    }
}
