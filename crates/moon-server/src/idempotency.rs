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
//! - a claim left by a process that died is taken over after [`ABANDONED_AFTER`], unless the
//!   audit trail shows that its request's write committed (every mutation appends its audit
//!   entry in its own transaction, tagged with the request id, and the claim notes where the
//!   trail stood): then the write is not run again and the retry is told the answer was lost
//!   (409 `idempotency_answer_lost`, naming the record), an answer kept for later retries too.
//!   The same holds when the answer could not be stored although the process lived on.
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
    request_id: Option<String>,
    audit_after: Option<i64>,
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

/// The answer to a retry whose first request committed its write but died (or failed) before
/// keeping its answer; `entry` is the first audit entry of that request.
fn answer_lost(entry: crate::audit::EntryRef) -> ApiError {
    let crate::audit::EntryRef { id, action, entity, entity_id } = entry;
    let record = match (entity, entity_id) {
        (Some(entity), Some(id)) => format!(", {entity} {id}"),
        (Some(entity), None) => format!(", {entity}"),
        _ => String::new(),
    };
    ApiError::conflict(
        "idempotency_answer_lost",
        format!(
            "the first request with this Idempotency-Key was carried out (audit entry {id}: {action}{record}), \
             but its answer was not kept; it was not run again: read the record instead of retrying"
        ),
    )
}

fn where_key(q: &mut impl moon_db::sea_query::ConditionalStatement, principal: &str, key: &str) {
    q.and_where(Expr::col("principal_id").eq(principal)).and_where(Expr::col("idem_key").eq(key));
}

async fn find(db: &Db, principal: &str, key: &str) -> Result<Option<Stored>, DbError> {
    let mut q = Query::select();
    q.columns([
        "request_hash",
        "status_code",
        "content_type",
        "response_body",
        "created_at",
        "request_id",
        "audit_after",
    ])
    .from("idempotency_keys");
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

/// The request a claim is made for.
struct Claim<'a> {
    principal: &'a str,
    key: &'a str,
    method: &'a str,
    path: &'a str,
    hash: &'a str,
    /// The request id its audit entries will carry.
    request_id: Option<&'a str>,
}

/// Claims the key: the audit mark when this request owns it now, `None` when another row holds
/// it.
async fn claim(db: &Db, c: &Claim<'_>) -> Result<Option<i64>, DbError> {
    let (principal, key, method, path, hash) = (c.principal, c.key, c.method, c.path, c.hash);
    let now = moon_db::now();
    let mut tx = db.begin().await?;
    // Prune on write: keys past their 24 hours, everyone's (indexed by created_at).
    let mut prune = Query::delete();
    prune.from_table("idempotency_keys").and_where(Expr::col("created_at").lt(now - KEEP));
    tx.execute(&prune).await?;
    let mark = crate::audit::mark(&mut tx).await?;
    let stmt = moon_db::insert_row(
        "idempotency_keys",
        vec![
            ("principal_id", principal.into()),
            ("idem_key", key.into()),
            ("method", method.into()),
            ("path", path.into()),
            ("request_hash", hash.into()),
            ("created_at", now.into()),
            ("request_id", c.request_id.map(str::to_owned).into()),
            ("audit_after", mark.into()),
        ],
    );
    match tx.execute(&stmt).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(Some(mark))
        }
        Err(DbError::UniqueViolation) => {
            tx.rollback().await?;
            Ok(None)
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

/// Keeps the lost-answer problem as the key's answer, so every later retry is told the same, and
/// returns it.
async fn keep_lost(db: &Db, principal: &str, key: &str, entry: crate::audit::EntryRef) -> Result<Response, DbError> {
    let (parts, body) = answer_lost(entry).into_response().into_parts();
    let body = axum::body::to_bytes(body, MAX_KEPT_BODY).await.unwrap_or_default();
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    keep(db, principal, key, parts.status, content_type, &String::from_utf8_lossy(&body)).await?;
    Ok(Response::from_parts(parts, Body::from(body)))
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
/// (expired, or an abandoned claim whose request wrote nothing) and the request may claim the
/// key afresh.
async fn answer_from(
    db: &Db,
    principal: &str,
    key: &str,
    stored: Stored,
    hash: &str,
) -> Result<Option<Response>, DbError> {
    let age = moon_db::now() - stored.created_at;
    if age >= KEEP {
        return Ok(None);
    }
    if stored.status_code.is_none() && age >= ABANDONED_AFTER {
        let committed = match (stored.request_id.as_deref(), stored.audit_after) {
            (Some(request_id), Some(mark)) => crate::audit::first_of_request(db, principal, request_id, mark).await?,
            _ => None,
        };
        let Some(entry) = committed else { return Ok(None) };
        if stored.request_hash != hash {
            return Ok(Some(reused().into_response()));
        }
        return keep_lost(db, principal, key, entry).await.map(Some);
    }
    if stored.request_hash != hash {
        return Ok(Some(reused().into_response()));
    }
    Ok(Some(replay(stored)))
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
                the first is still running, a 409 `idempotency_in_progress`; if the first was carried out but \
                its answer was lost (the server stopped), a 409 `idempotency_answer_lost` naming the record.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[!-~]+$"},
        });
        if let Some(list) = op.entry("parameters").or_insert_with(|| serde_json::json!([])).as_array_mut() {
            list.push(parameter);
        }
        // A reused key is a 422 even on an operation that takes no body, and a key still in
        // progress (or whose answer was lost) a 409; the shared completion of the document
        // describes both.
        if let Some(responses) = op.entry("responses").or_insert_with(|| serde_json::json!({})).as_object_mut() {
            responses.entry("422").or_insert_with(|| serde_json::json!({}));
            responses.entry("409").or_insert_with(|| serde_json::json!({}));
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
    let Some((principal, request_id)) =
        req.extensions().get::<Principal>().map(|p| (p.id.clone(), p.origin.request_id.clone()))
    else {
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
    let mut claimed = None;
    for _ in 0..2 {
        let this = Claim {
            principal: &principal,
            key: &key,
            method: &method,
            path: &path,
            hash: &hash,
            request_id: request_id.as_deref(),
        };
        match claim(&db, &this).await {
            Ok(Some(mark)) => {
                claimed = Some(mark);
                break;
            }
            Ok(None) => {}
            Err(e) => return unavailable(e),
        }
        match find(&db, &principal, &key).await {
            Ok(Some(stored)) => match answer_from(&db, &principal, &key, stored, &hash).await {
                Ok(Some(res)) => return res,
                Ok(None) => {
                    if let Err(e) = forget(&db, &principal, &key).await {
                        return unavailable(e);
                    }
                }
                Err(e) => return unavailable(e),
            },
            // Deleted between our insert and read (pruned): try again.
            Ok(None) => {}
            Err(e) => return unavailable(e),
        }
    }
    let Some(mark) = claimed else { return in_progress().into_response() };
    let res = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    let status = res.status();
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        // Released for the retry, unless the write committed before the failure: then the
        // retry is told so (and the write is not run twice).
        let committed = match request_id.as_deref() {
            Some(id) => crate::audit::first_of_request(&db, &principal, id, mark).await,
            None => Ok(None),
        };
        let released = match committed {
            Ok(None) => forget(&db, &principal, &key).await,
            Ok(Some(entry)) => keep_lost(&db, &principal, &key, entry).await.map(drop),
            Err(e) => Err(e),
        };
        if let Err(e) = released {
            tracing::warn!(error = %e, "cannot release an idempotency key after a failed request");
        }
        return res;
    }
    // From here the handler's write, if any, has committed: an answer that cannot be kept
    // leaves the claim in place rather than releasing the key, so a retry is never run twice;
    // once the claim is abandoned, the audit trail tells a retry what became of it.
    let (mut res_parts, res_body) = res.into_parts();
    let Ok(body) = axum::body::to_bytes(res_body, MAX_KEPT_BODY).await else {
        tracing::warn!(status = status.as_u16(), "an idempotent request's answer is too large to keep");
        return ApiError::internal().into_response();
    };
    let content_type = res_parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    match std::str::from_utf8(&body) {
        Ok(text) => {
            if let Err(e) = keep(&db, &principal, &key, status, content_type.as_deref(), text).await {
                tracing::warn!(error = %e, "cannot keep the answer of an idempotent request");
            }
        }
        Err(_) => tracing::warn!(status = status.as_u16(), "an idempotent request's answer is not text; not kept"),
    }
    res_parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(res_parts, Body::from(body))
}
