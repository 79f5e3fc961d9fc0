//! The viewer's own second factor: TOTP enrolment with a QR code, confirmed with a code, ending
//! with the recovery codes (shown once). Same use cases as `/api/v1/auth/mfa/*`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{PreEscaped, html};
use serde::Deserialize;

use crate::audit::RequestOrigin;
use crate::auth::middleware::Identity;
use crate::auth::routes::confirm_mfa;
use crate::web::WebState;
use crate::web::context::Ctx;
use crate::web::form::{self, Input, Problems};
use crate::web::layout::{csrf_field, document, respond};
use moon_http::ApiError;

const TITLE: &str = "Two-step verification";

fn overview(ctx: &Ctx, identity: &Identity, status: StatusCode, problem: Option<&ApiError>) -> Response {
    let problems = problem.map(Problems::from_error).unwrap_or_default();
    let body = html! {
        (problems.summary())
        @if identity.account.mfa_enabled {
            p.notice role="status" { "An authenticator app is set up for your account. Signing in asks for its code." }
            p { "Lost it? An administrator can reset it with " code { "moon user reset-mfa" } "." }
        } @else {
            @if identity.must_enrol {
                p.alert role="alert" { "Your role requires two-step verification. Set it up to continue." }
            }
            p { "Protect your account with a time-based code from an authenticator app (any TOTP app)." }
            form method="post" action="/account/mfa" {
                (csrf_field(ctx))
                button type="submit" { "Set up an authenticator" }
            }
        }
    };
    respond(status, document(Some(ctx), TITLE, body))
}

/// `GET /account/mfa`.
pub async fn show(ctx: Ctx, identity: Identity) -> Response {
    overview(&ctx, &identity, StatusCode::OK, None)
}

/// `POST /account/mfa`: starts enrolment and shows the QR code and secret.
pub async fn start(State(state): State<WebState>, ctx: Ctx, identity: Identity) -> Response {
    let key = match state.auth.key(&state.db).await {
        Ok(k) => k,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "the sealing key is unavailable");
            return overview(&ctx, &identity, StatusCode::INTERNAL_SERVER_ERROR, Some(&ApiError::internal()));
        }
    };
    let enrolment = match crate::auth::mfa::enrol(&state.db, key, &identity.account).await.map_err(ApiError::from) {
        Ok(e) => e,
        Err(e) => return overview(&ctx, &identity, e.status(), Some(&e)),
    };
    // The QR code is an SVG document drawn by our own code from the otpauth URI: no script, no
    // outside content; its XML prologue is dropped so it can sit inside the page.
    let svg = enrolment.qr_svg.find("<svg").map_or("", |i| &enrolment.qr_svg[i..]);
    let none = Problems::default();
    let body = html! {
        ol {
            li { "Scan this QR code with your authenticator app:"
                div.qr role="img" aria-label="QR code of your authenticator secret" { (PreEscaped(svg)) }
            }
            li { "Or type in this secret: " code.secret #mfa-secret { (enrolment.secret) } }
            li { "Enter the code the app shows to confirm:" }
        }
        form.panel method="post" action="/account/mfa/confirm" {
            (csrf_field(&ctx))
            (form::input(Input { name: "code", label: "Code", value: "", kind: "text", required: true }, &none))
            button type="submit" { "Confirm" }
        }
    };
    respond(StatusCode::OK, document(Some(&ctx), TITLE, body))
}

/// The confirmation form's fields.
#[derive(Default, Deserialize)]
pub struct ConfirmForm {
    code: Option<String>,
}

/// `POST /account/mfa/confirm`: confirms with a code and shows the recovery codes once.
pub async fn confirm(
    State(state): State<WebState>,
    RequestOrigin(origin): RequestOrigin,
    ctx: Ctx,
    identity: Identity,
    body: Bytes,
) -> Response {
    let f: ConfirmForm = match form::parse(&body) {
        Ok(f) => f,
        Err(e) => return overview(&ctx, &identity, e.status(), Some(&e)),
    };
    let codes =
        match confirm_mfa(&state.security, origin, &identity.account, f.code.as_deref().unwrap_or_default()).await {
            Ok(c) => c,
            Err(e) => return overview(&ctx, &identity, e.status(), Some(&e)),
        };
    let body = html! {
        p.notice role="status" { "Two-step verification is on." }
        h2 { "Recovery codes" }
        p { "Each code signs you in once if you lose your authenticator. Keep them somewhere safe: they are shown only now." }
        ul #recovery-codes { @for c in &codes { li { code { (c) } } } }
        p { a.button href="/dashboard" { "Continue to the dashboard" } }
    };
    let mut done = ctx.clone();
    done.must_enrol = false;
    respond(StatusCode::OK, document(Some(&done), TITLE, body))
}
