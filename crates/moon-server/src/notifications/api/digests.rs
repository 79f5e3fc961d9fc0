//! The HTTP routes of digests: a person's choice (`/api/v1/notifications/digests`), and the
//! public unsubscribe link from the mail. The link's GET only shows a page with a button (mail
//! scanners fetch links); the button's POST does it. The token is the only authority of the
//! public routes: signed, single-purpose, used once (see `digests::token`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use moon_http::{ApiJson, ApiResult, Principal};
use serde::Deserialize;

use super::super::NotificationsState;
use super::super::digests::content::escape;
use super::super::digests::preferences::{self, DigestPreferences, DigestPreferencesUpdate};
use super::super::digests::{store, token};

/// The public path of the unsubscribe link.
pub const UNSUBSCRIBE_PATH: &str = "/unsubscribe/digest";

/// The routes of digest choices and the unsubscribe link.
pub(in crate::notifications) fn routes<S>() -> utoipa_axum::router::OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    moon_db::Db: axum::extract::FromRef<S>,
    NotificationsState: axum::extract::FromRef<S>,
{
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(get_digests, put_digests))
        .routes(routes!(unsubscribe_page, unsubscribe))
}

/// The caller's digests: which they receive, when (business time zone), and whether that is
/// their own choice or their role's default.
#[utoipa::path(get, path = "/api/v1/notifications/digests", tag = "notifications",
    responses((status = 200, body = DigestPreferences), (status = 422, body = moon_http::error::Problem)))]
async fn get_digests(
    State(state): State<NotificationsState>,
    principal: Principal,
) -> ApiResult<Json<DigestPreferences>> {
    Ok(Json(preferences::get(&state.db, &state.digests, &state.timezone, &principal).await?))
}

/// Choose digests: switch the daily or weekly digest on or off, and set its day and time.
#[utoipa::path(put, path = "/api/v1/notifications/digests", tag = "notifications", request_body = DigestPreferencesUpdate,
    responses((status = 200, body = DigestPreferences), (status = 422, body = moon_http::error::Problem)))]
async fn put_digests(
    State(state): State<NotificationsState>,
    principal: Principal,
    ApiJson(body): ApiJson<DigestPreferencesUpdate>,
) -> ApiResult<Json<DigestPreferences>> {
    Ok(Json(preferences::set(&state.db, &state.digests, &state.timezone, &principal, &body).await?))
}

/// The link's query and the button's form.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct TokenParam {
    /// The signed token from the mail.
    token: Option<String>,
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{t} - MoonInsurance</title></head><body><main><h1>{t}</h1>{body}</main></body></html>",
        t = escape(title)
    );
    (status, [(axum::http::header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

/// A refusal: a page for a browser (which asks for HTML), problem+json for anything else.
fn refusal(headers: &HeaderMap, status: StatusCode, code: &'static str, title: &str, detail: &str) -> Response {
    let html =
        headers.get(axum::http::header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if html {
        page(status, title, &format!("<p>{}</p>", escape(detail)))
    } else {
        moon_http::ApiError::new(status, code, detail).into_response()
    }
}

fn refused(headers: &HeaderMap) -> Response {
    refusal(
        headers,
        StatusCode::BAD_REQUEST,
        "invalid_unsubscribe_link",
        "This link does not work",
        "The unsubscribe link is incomplete or was changed. Open it exactly as it arrived in the mail, or choose your digests in the console under Notifications.",
    )
}

fn unavailable(headers: &HeaderMap) -> Response {
    refusal(
        headers,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "Please try again later",
        "The server cannot handle the link now; nothing was changed.",
    )
}

/// Verifies a token; the claim key it names.
async fn verified(state: &NotificationsState, headers: &HeaderMap, raw: Option<&str>) -> Result<String, Response> {
    let Some(raw) = raw.filter(|t| !t.is_empty() && t.len() <= 512) else { return Err(refused(headers)) };
    let key = state.auth.key(&state.db).await.map_err(|e| {
        tracing::error!(error = %format!("{e:#}"), "the secret key is unavailable for an unsubscribe link");
        unavailable(headers)
    })?;
    token::verify(key, raw).ok_or_else(|| refused(headers))
}

/// The unsubscribe link: a page asking to confirm (changes nothing).
#[utoipa::path(get, path = "/unsubscribe/digest", tag = "notifications", security(()), params(TokenParam),
    responses((status = 200, description = "A page with the confirm button", content_type = "text/html"), (status = 400, description = "The link does not work (a page for a browser)", body = moon_http::error::Problem)))]
async fn unsubscribe_page(
    State(state): State<NotificationsState>,
    headers: HeaderMap,
    axum::extract::Query(p): axum::extract::Query<TokenParam>,
) -> Response {
    let raw = p.token.unwrap_or_default();
    if let Err(r) = verified(&state, &headers, Some(&raw)).await {
        return r;
    }
    page(
        StatusCode::OK,
        "Stop this digest?",
        &format!(
            "<p>You will no longer receive this digest by e-mail or in your inbox. You can switch it on again in the console under Notifications.</p><form method=\"post\" action=\"{UNSUBSCRIBE_PATH}\"><input type=\"hidden\" name=\"token\" value=\"{}\"><button type=\"submit\">Unsubscribe</button></form>",
            escape(&raw)
        ),
    )
}

/// The confirm button: turns the digest off for the person it was sent to. Works once.
#[utoipa::path(post, path = "/unsubscribe/digest", tag = "notifications", security(()),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "token=<the signed token>"),
    responses((status = 200, description = "Unsubscribed", content_type = "text/html"), (status = 400, description = "A forged, altered or incomplete link (a page for a browser)", body = moon_http::error::Problem), (status = 410, description = "The link was used before, or its digest is gone (a page for a browser)", body = moon_http::error::Problem)))]
async fn unsubscribe(State(state): State<NotificationsState>, headers: HeaderMap, body: Bytes) -> Response {
    let form: TokenParam = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let claim_key = match verified(&state, &headers, form.token.as_deref()).await {
        Ok(k) => k,
        Err(r) => return r,
    };
    match store::unsubscribe(&state.db, &claim_key, &state.digests).await {
        Ok(store::Unsubscribed::Done { kind }) => page(
            StatusCode::OK,
            "Unsubscribed",
            &format!("<p>You will no longer receive the {} digest.</p>", kind.as_str()),
        ),
        Ok(store::Unsubscribed::AlreadyUsed) => {
            page(StatusCode::GONE, "Link already used", "<p>This link has been used; the digest is already off.</p>")
        }
        Ok(store::Unsubscribed::Unknown) => page(
            StatusCode::GONE,
            "Digest not found",
            "<p>The digest this link was sent with is no longer on record.</p>",
        ),
        Err(e) => {
            tracing::error!(error = %e, "unsubscribe failed");
            page(StatusCode::SERVICE_UNAVAILABLE, "Please try again later", "<p>Nothing was changed.</p>")
        }
    }
}
