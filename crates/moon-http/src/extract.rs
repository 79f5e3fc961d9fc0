//! Request extractors whose failures are problem+json with the offending field named.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::ApiError;

/// A JSON request body. Malformed JSON is a 400; a wrong type or an unknown field is a 422 naming
/// the field; a body over the configured limit is a 413; a non-JSON content type is a 415.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the request body must be JSON, sent with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_rejection)?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses a JSON document with the error policy of [`ApiJson`].
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de);
    if value.is_ok() {
        // Trailing garbage after the document.
        de.end()
            .map_err(|e| ApiError::bad_request("malformed_json", format!("the request body is not valid JSON: {e}")))?;
    }
    value.map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if path == "." { String::from("body") } else { path };
                let message = format!("{field}: {}", strip_position(&inner.to_string()));
                ApiError::field(moon_domain::FieldError::new(field, "invalid_type", message))
            }
            _ => ApiError::bad_request("malformed_json", format!("the request body is not valid JSON: {inner}")),
        }
    })
}

/// serde_json appends "at line 1 column 17" to data errors; the field name says more.
fn strip_position(msg: &str) -> &str {
    msg.rfind(" at line ").map_or(msg, |i| &msg[..i])
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than this server accepts",
        )
    } else {
        ApiError::bad_request("unreadable_body", rejection.body_text())
    }
}

/// Query-string parameters. An unknown parameter or an unparsable value is a 400 that names it,
/// so a misspelt filter never silently returns everything; an unparsable value (such as a `sort`
/// the listing does not offer) is also listed in `errors[]`, whose message gives the values
/// allowed. A parameter given empty (`agent_code=`, as an HTML form sends a field left blank)
/// is the same as one not given: an empty filter is no filter.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or_default();
        let given = without_empty(raw);
        let query = given.as_deref().unwrap_or(raw);
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        serde_path_to_error::deserialize(de).map(ApiQuery).map_err(|err| {
            let path = err.path().to_string();
            let msg = err.into_inner().to_string();
            if path == "." {
                return ApiError::bad_request("invalid_query", format!("invalid query string: {msg}"));
            }
            let detail = format!("invalid query parameter {path}: {msg}");
            let field = moon_domain::FieldError::new(path, "invalid_query", detail.clone());
            ApiError::bad_request("invalid_query", detail).with_errors(vec![field])
        })
    }
}

/// The query string without its empty parameters; `None` when it has none (the common case,
/// which then needs no copy).
fn without_empty(query: &str) -> Option<String> {
    let mut pairs = form_urlencoded::parse(query.as_bytes());
    if !pairs.any(|(_, v)| v.is_empty()) {
        return None;
    }
    let kept = form_urlencoded::parse(query.as_bytes()).filter(|(_, v)| !v.is_empty());
    Some(form_urlencoded::Serializer::new(String::new()).extend_pairs(kept).finish())
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}
