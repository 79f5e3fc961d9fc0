//! `Idempotency-Key` on every POST of the JSON API: a client that retries a request (a timeout,
//! a dropped connection) with the same key gets the first answer again, and nothing is stored
//! twice.
//!
//! One middleware, inside authentication (it needs the principal) and inside the input guard
//! (the body is already read and bounded), so every POST route under `/api/v1/` gets it without
//! its handler knowing. The rules:
//! - keys are per principal and kept 24 hours (older rows are pruned on write);
//! - the first request *claims* the key by inserting its row (the primary key
//!   `(principal_id, idem_key)` makes concurrent duplicates race in the database: one wins, the
//!   other is told the first is still in progress, 409 `idempotency_in_progress`);
//! - the answer (status, content type, body) is stored when the handler returns, and replayed
//!   with `Idempotent-Replayed: true` to a retry whose method, path and body hash are the same;
//! - the same key with a different request is a 422 `idempotency_key_reused`;
//! - 5xx and 429 answers are not kept (the claim is dropped), so the retry runs again;
//! - a claim left by a process that died is taken over after [`ABANDONED_AFTER`].
//!
//! Streamed bulk imports are left out: their bodies are not buffered, and an import is
//! idempotent by its content anyway (every imported row carries an external reference).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use moon_db::sea_query::{Expr, ExprTrait, Query};
use moon_db::{Db, DbError};
use moon_http::{ApiError, Principal};

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// How long a key and its answer are kept.
pub const KEEP: chrono::Duration = chrono::Duration::hours(24);
/// A claim without an answer after this long belongs to a request that died with its process.
pub const ABANDONED_AFTER: chrono::Duration = chrono::Duration::minutes(5);
/// The largest answer kept (POST answers are one record; larger ones are passed through unkept).
const MAX_KEPT_BODY: usize = 1024 * 1024;

/// A stored key.
#[derive(Debug, sqlx::FromRow)]
struct Stored {
    request_hash: String,
    status_code: Option<i32>,
    content_type: Option<String>,
    response_body: Option<String>,
    created_at: DateTime<Utc>,
}

fn reused() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
        "this Idempotency-Key was used for a different request; use a new key for a new request",
    )
}

fn in_progress() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "idempotency_in_progress",
        "a request with this Idempotency-Key is still being processed; retry shortly",
    )
    .with_retry_after(1)
}

fn where_key(q: &mut impl moon_db::sea_query::ConditionalStatement, principal: &str, key: &str) {
    q.and_where(Expr::col("principal_id").eq(principal)).and_where(Expr::col("idem_key").eq(key));
}

async fn find(db: &Db, principal: &str, key: &str) -> Result<Option<Stored>, DbError> {
    let mut q = Query::select();
    q.columns(["request_hash", "status_code", "content_type", "response_body", "created_at"]).from("idempotency_keys");
    where_key(&mut q, principal, key);
    db.fetch_optional(&q).await
}

async fn forget(db: &Db, principal: &str, key: &str) -> Result<(), DbError> {
    let mut q = Query::delete();
    q.from_table("idempotency_keys");
    where_key(&mut q, principal, key);
    let mut tx = db.begin().await?;
    tx.execute(&q).await?;
    tx.commit().await
}

/// Claims the key: true when this request owns it now, false when another row holds it.
async fn claim(db: &Db, principal: &str, key: &str, method: &str, path: &str, hash: &str) -> Result<bool, DbError> {
    let now = moon_db::now();
    let mut tx = db.begin().await?;
    // Prune on write: keys past their 24 hours, everyone's (indexed by created_at).
    let mut prune = Query::delete();
    prune.from_table("idempotency_keys").and_where(Expr::col("created_at").lt(now - KEEP));
    tx.execute(&prune).await?;
    let stmt = moon_db::insert_row(
        "idempotency_keys",
        vec![
            ("principal_id", principal.into()),
            ("idem_key", key.into()),
            ("method", method.into()),
            ("path", path.into()),
            ("request_hash", hash.into()),
            ("created_at", now.into()),
        ],
    );
    match tx.execute(&stmt).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(true)
        }
        Err(DbError::UniqueViolation) => {
            tx.rollback().await?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

async fn keep(
    db: &Db,
    principal: &str,
    key: &str,
    status: StatusCode,
    content_type: Option<&str>,
    body: &str,
) -> Result<(), DbError> {
    let mut q = Query::update();
    q.table("idempotency_keys")
        .value("status_code", i32::from(status.as_u16()))
        .value("content_type", content_type.map(str::to_owned))
        .value("response_body", body);
    where_key(&mut q, principal, key);
    let mut tx = db.begin().await?;
    tx.execute(&q).await?;
    tx.commit().await
}

fn replay(stored: Stored) -> Response {
    let status = stored.status_code.and_then(|s| u16::try_from(s).ok()).and_then(|s| StatusCode::from_u16(s).ok());
    let Some(status) = status else { return in_progress().into_response() };
    let mut res = Response::new(Body::from(stored.response_body.unwrap_or_default()));
    *res.status_mut() = status;
    if let Some(ct) = stored.content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
        res.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    res.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    res
}

/// What a stored row means for a new request with the same key: `None` when the row is stale
/// (expired, or an abandoned claim) and the request may claim the key afresh.
fn answer_from(stored: Stored, hash: &str) -> Option<Response> {
    let age = moon_db::now() - stored.created_at;
    if age >= KEEP || (stored.status_code.is_none() && age >= ABANDONED_AFTER) {
        return None;
    }
    if stored.request_hash != hash {
        return Some(reused().into_response());
    }
    Some(replay(stored))
}

/// Documents the `Idempotency-Key` header, and the 422 a reused key gets, on every operation
/// the middleware serves (a POST under `/api/v1/` that needs a principal and does not stream
/// its body) in an OpenAPI document as JSON, so clients learn of it where they read about the
/// operation. Runs before the document's shared responses are completed.
pub fn document(doc: &mut serde_json::Value, streamed: &[&str]) {
    let Some(paths) = doc.get_mut("paths").and_then(serde_json::Value::as_object_mut) else { return };
    for (path, item) in paths.iter_mut() {
        if !path.starts_with("/api/v1/") || streamed.contains(&path.as_str()) {
            continue;
        }
        let Some(op) = item.get_mut("post").and_then(serde_json::Value::as_object_mut) else { continue };
        let public = op
            .get("security")
            .and_then(serde_json::Value::as_array)
            .is_some_and(|s| s.iter().any(|r| r.as_object().is_some_and(serde_json::Map::is_empty)));
        if public {
            continue;
        }
        let parameter = serde_json::json!({
            "name": "Idempotency-Key",
            "in": "header",
            "required": false,
            "description": "Retry-safe key, 1 to 200 visible ASCII characters (a UUID), per caller, kept 24 hours: \
                a retry with the same key and body gets the first answer again (with `Idempotent-Replayed: true`) \
                and stores nothing; the same key with another body is a 422 `idempotency_key_reused`; while \
                the first is still running, a 409 `idempotency_in_progress`.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[!-~]+$"},
        });
        if let Some(list) = op.entry("parameters").or_insert_with(|| serde_json::json!([])).as_array_mut() {
            list.push(parameter);
        }
        // A reused key is a 422 even on an operation that takes no body; the shared completion
        // of the document describes it.
        if let Some(responses) = op.entry("responses").or_insert_with(|| serde_json::json!({})).as_object_mut() {
            responses.entry("422").or_insert_with(|| serde_json::json!({}));
        }
    }
}

/// The middleware's state: where answers are kept, and the routes whose bodies are streamed
/// (left alone: their bodies cannot be hashed before the handler reads them, and an import is
/// idempotent by its content anyway). The wiring names those routes.
#[derive(Debug, Clone)]
pub struct Keys {
    /// The operational database.
    pub db: Db,
    /// Route templates of streamed bodies.
    pub streamed: &'static [&'static str],
}

/// The middleware; see the module documentation.
pub async fn idempotent(State(Keys { db, streamed }): State<Keys>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST || !req.uri().path().starts_with("/api/v1/") {
        return next.run(req).await;
    }
    let Some(key) = req.headers().get(HEADER).cloned() else { return next.run(req).await };
    let streamed = req.extensions().get::<axum::extract::MatchedPath>().is_some_and(|m| streamed.contains(&m.as_str()));
    let Some(principal) = req.extensions().get::<Principal>().map(|p| p.id.clone()) else {
        return next.run(req).await;
    };
    if streamed {
        return next.run(req).await;
    }
    let key = match key.to_str().map(str::trim) {
        Ok(k) if !k.is_empty() && k.len() <= 200 && k.bytes().all(|b| b.is_ascii_graphic()) => k.to_owned(),
        _ => {
            return ApiError::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 200 visible ASCII characters (a UUID is a good choice)",
            )
            .into_response();
        }
    };
    let (parts, body) = req.into_parts();
    // The input guard has already read the body within the limit; this only collects it.
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return ApiError::bad_request("unreadable_body", "the request body could not be read").into_response();
    };
    let path = parts.uri.path().to_owned();
    let method = parts.method.as_str().to_owned();
    let mut material = Vec::with_capacity(bytes.len() + path.len() + 8);
    material.extend_from_slice(method.as_bytes());
    material.push(b' ');
    material.extend_from_slice(path.as_bytes());
    material.push(b'\n');
    material.extend_from_slice(&bytes);
    let hash = {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &material);
        crate::auth::crypto::hex(d.as_ref())
    };
    let unavailable = |e: DbError| ApiError::from(crate::error::Error::from(e)).into_response();
    // Two rounds at most: a stale row is removed and the key claimed again.
    let mut claimed = false;
    for _ in 0..2 {
        match claim(&db, &principal, &key, &method, &path, &hash).await {
            Ok(true) => {
                claimed = true;
                break;
            }
            Ok(false) => {}
            Err(e) => return unavailable(e),
        }
        match find(&db, &principal, &key).await {
            Ok(Some(stored)) => match answer_from(stored, &hash) {
                Some(res) => return res,
                None => {
                    if let Err(e) = forget(&db, &principal, &key).await {
                        return unavailable(e);
                    }
                }
            },
            // Deleted between our insert and read (pruned): try again.
            Ok(None) => {}
            Err(e) => return unavailable(e),
        }
    }
    if !claimed {
        return in_progress().into_response();
    }
    let res = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    let status = res.status();
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        if let Err(e) = forget(&db, &principal, &key).await {
            tracing::warn!(error = %e, "cannot release an idempotency key after a failed request");
        }
        return res;
    }
    let (mut res_parts, res_body) = res.into_parts();
    let Ok(body) = axum::body::to_bytes(res_body, MAX_KEPT_BODY).await else {
        let _ = forget(&db, &principal, &key).await;
        return ApiError::internal().into_response();
    };
    let content_type = res_parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    match std::str::from_utf8(&body) {
        Ok(text) => {
            if let Err(e) = keep(&db, &principal, &key, status, content_type.as_deref(), text).await {
                tracing::warn!(error = %e, "cannot keep the answer of an idempotent request");
                let _ = forget(&db, &principal, &key).await;
            }
        }
        Err(_) => {
            let _ = forget(&db, &principal, &key).await;
        }
    }
    res_parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(res_parts, Body::from(body))
}
