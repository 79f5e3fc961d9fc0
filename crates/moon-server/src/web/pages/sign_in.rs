//! Sign-in with a password, the MFA code step, and sign-out: the same checks, throttling and
//! audit entries as `POST /api/v1/auth/sign-in` and `/mfa/verify`.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use crate::audit::RequestOrigin;
use crate::auth::middleware::{ClientIp, Credential, Identity};
use crate::auth::routes::{NewSession, check_password, check_second_factor, open_session, session_id};
use crate::auth::session;
use crate::web::WebState;
use crate::web::form::{self, Input, Problems};
use crate::web::layout::{document, respond};
use crate::web::safe_next;
use moon_http::ApiError;

/// Where to go after signing in.
#[derive(Debug, Default, Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// The sign-in form's fields.
#[derive(Default, Deserialize)]
pub struct SignInForm {
    username: Option<String>,
    password: Option<String>,
    next: Option<String>,
}

fn sign_in_page(status: StatusCode, username: &str, next: &str, problem: Option<&str>) -> Response {
    let problems = Problems { fields: Vec::new(), general: problem.map(str::to_owned) };
    let body = html! {
        (problems.summary())
        form.panel method="post" action="/sign-in" {
            input type="hidden" name="next" value=(next);
            (form::input(Input { name: "username", label: "User name", value: username, kind: "text", required: true }, &problems))
            (form::input(Input { name: "password", label: "Password", value: "", kind: "password", required: true }, &problems))
            button type="submit" { "Sign in" }
        }
        p.muted { "Running the demo? " code { "moon serve --demo" } " printed a user name and password per role." }
    };
    respond(status, document(None, "Sign in", body))
}

/// `GET /sign-in`.
pub async fn form(Query(q): Query<Next>) -> Response {
    sign_in_page(StatusCode::OK, "", safe_next(q.next.as_deref()), None)
}

fn with_cookie(mut res: Response, session: &NewSession) -> Response {
    if let Some(cookie) = &session.cookie {
        res.headers_mut().insert(header::SET_COOKIE, cookie.clone());
    }
    res
}

/// `POST /sign-in`: the password step; on to the code step when the user has MFA.
pub async fn submit(
    State(state): State<WebState>,
    ClientIp(ip): ClientIp,
    RequestOrigin(origin): RequestOrigin,
    identity: Option<Identity>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    if !crate::web::same_origin(&headers) {
        let detail = "sign in from this site's own sign-in page";
        return sign_in_page(StatusCode::FORBIDDEN, "", "/home", Some(detail));
    }
    let f: SignInForm = match form::parse(&body) {
        Ok(f) => f,
        Err(e) => return sign_in_page(e.status(), "", "/home", Some(e.detail())),
    };
    let username = f.username.unwrap_or_default();
    let next = safe_next(f.next.as_deref()).to_owned();
    let account =
        match check_password(&state.security, ip, origin, username.trim(), f.password.as_deref().unwrap_or_default())
            .await
        {
            Ok(a) => a,
            Err(e) => return sign_in_page(e.status(), &username, &next, Some(e.detail())),
        };
    let session =
        match open_session(&state.security, &account, account.mfa_enabled, session_id(identity.as_ref())).await {
            Ok(s) => s,
            Err(e) => return sign_in_page(e.status(), &username, &next, Some(e.detail())),
        };
    let to = if account.mfa_enabled {
        let q: String = form_urlencoded::Serializer::new(String::new()).append_pair("next", &next).finish();
        format!("/sign-in/mfa?{q}")
    } else {
        next
    };
    with_cookie(Redirect::to(&to).into_response(), &session)
}

fn csrf_of(identity: &Identity) -> Option<String> {
    match &identity.credential {
        Credential::Session { token, .. } => Some(session::csrf_token(token)),
        Credential::Token { .. } => None,
    }
}

fn code_page(status: StatusCode, identity: &Identity, next: &str, problem: Option<&ApiError>) -> Response {
    let problems = problem.map(Problems::from_error).unwrap_or_default();
    let body: Markup = html! {
        (problems.summary())
        form.panel method="post" action="/sign-in/mfa" {
            @if let Some(token) = csrf_of(identity) {
                input type="hidden" name=(crate::auth::middleware::CSRF_FIELD) value=(token);
            }
            input type="hidden" name="next" value=(next);
            p { "Enter the six-digit code from your authenticator app, or one of your recovery codes." }
            (form::input(Input { name: "code", label: "Code", value: "", kind: "text", required: true }, &problems))
            button type="submit" { "Verify" }
        }
    };
    respond(status, document(None, "Two-step verification", body))
}

/// `GET /sign-in/mfa`: the code step of a session that passed the password.
pub async fn code_form(identity: Identity, Query(q): Query<Next>) -> Response {
    code_page(StatusCode::OK, &identity, safe_next(q.next.as_deref()), None)
}

/// The code form's fields.
#[derive(Default, Deserialize)]
pub struct CodeForm {
    code: Option<String>,
    next: Option<String>,
}

/// `POST /sign-in/mfa`: checks the code and replaces the pending session with a full one.
pub async fn code_submit(
    State(state): State<WebState>,
    ClientIp(ip): ClientIp,
    RequestOrigin(origin): RequestOrigin,
    identity: Identity,
    body: Bytes,
) -> Response {
    let f: CodeForm = match form::parse(&body) {
        Ok(f) => f,
        Err(e) => return code_page(e.status(), &identity, "/home", Some(&e)),
    };
    let next = safe_next(f.next.as_deref()).to_owned();
    let code = f.code.unwrap_or_default();
    if let Err(e) = check_second_factor(&state.security, ip, origin, &identity.account, &code).await {
        return code_page(e.status(), &identity, &next, Some(&e));
    }
    match open_session(&state.security, &identity.account, false, session_id(Some(&identity))).await {
        Ok(session) => with_cookie(Redirect::to(&next).into_response(), &session),
        Err(e) => code_page(e.status(), &identity, &next, Some(&e)),
    }
}

/// `POST /sign-out`: ends the session and forgets the cookie.
pub async fn sign_out(State(state): State<WebState>, identity: Identity) -> Response {
    if let Some(id) = session_id(Some(&identity))
        && let Err(e) = session::delete(&state.db, id).await
    {
        let e = ApiError::from(e);
        return crate::web::layout::error_page(e.status(), e.detail());
    }
    let mut res = Redirect::to("/sign-in").into_response();
    if let Some(cookie) = state.auth.config.sessions.clear_cookie() {
        res.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    res
}
