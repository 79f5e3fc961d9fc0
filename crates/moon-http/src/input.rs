//! The one gate every request's text passes before a handler sees it: control characters are
//! refused, and bodies are read within the body limit.
//!
//! Why here and not in each extractor: text enters through the path, the query string, JSON
//! bodies and HTML forms, read by several extractors (ours, axum's, the console's form parser).
//! A NUL byte that reached PostgreSQL was a 500 ("invalid byte sequence for encoding UTF8"), so
//! anyone could trip the database error alerts without credentials. Checking in one middleware
//! means a new route inherits the rule without anyone remembering it.
//!
//! The rule: the path and the query string carry single-line values, so no control character at
//! all; JSON and form bodies may carry multi-line text (a notification message), so tab, line
//! feed and carriage return pass there and the domain types decide per field (a name refuses
//! them); NUL and every other control character is refused everywhere. The refusal is a problem
//! naming each offending field: 400 for the path and query, 422 for body fields.
//!
//! Bodies of any type are read here within the limit, so a body that is too large is a 413
//! problem for every route, whatever extractor its handler uses.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use moon_domain::FieldError;

use crate::ApiError;

/// What the gate needs to know.
#[derive(Debug, Clone, Copy)]
pub struct InputLimits {
    /// The largest body accepted, in bytes.
    pub body_limit: usize,
    /// Route templates whose bodies go to the handler unread, as a stream: bulk imports of
    /// files far larger than any request should be buffered for. Their handlers enforce their
    /// own cap and check every row they read.
    pub streamed: &'static [&'static str],
}

impl InputLimits {
    /// Whether the request's route streams its body (see [`InputLimits::streamed`]).
    pub fn streams(&self, req: &Request) -> bool {
        req.extensions().get::<axum::extract::MatchedPath>().is_some_and(|m| self.streamed.contains(&m.as_str()))
    }
}

/// Whether `c` is refused in a single-line value (the path, the query string).
fn refused_single_line(c: char) -> bool {
    c.is_control()
}

/// Whether `c` is refused in a body value, where multi-line text is legitimate.
fn refused_in_body(c: char) -> bool {
    c.is_control() && !matches!(c, '\n' | '\r' | '\t')
}

/// Whether `s` holds a character refused in a single-line value.
pub fn has_control(s: &str) -> bool {
    s.chars().any(refused_single_line)
}

/// A 413 problem: the one answer to a body over the limit.
pub fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "the request body is larger than this server accepts",
    )
}

fn field_error(field: &str, multiline_ok: bool) -> FieldError {
    let allowed = if multiline_ok { " (line breaks and tabs are allowed)" } else { "" };
    FieldError::new(
        field,
        "invalid_characters",
        format!("{field} must not contain NUL or other control characters{allowed}"),
    )
}

/// A field name fit to echo back: the offending characters escaped.
fn printable(name: &str) -> String {
    if has_control(name) { name.escape_default().to_string() } else { name.to_owned() }
}

/// Checks the path and query string: the fields holding refused characters.
pub fn check_uri(uri: &axum::http::Uri) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match percent_encoding::percent_decode_str(uri.path()).decode_utf8() {
        Ok(path) if has_control(&path) => errors.push(field_error("path", false)),
        Ok(_) => {}
        // Bytes that are not UTF-8 cannot name anything; axum's path extractor would answer a
        // plain-text 400 for them, so say it here in the documented format.
        Err(_) => errors.push(FieldError::new("path", "invalid_encoding", "the path must be percent-encoded UTF-8")),
    }
    if let Some(query) = uri.query() {
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            if has_control(&name) || has_control(&value) {
                let field = printable(&name);
                if !errors.iter().any(|e| e.field == field) {
                    errors.push(field_error(&field, false));
                }
            }
        }
    }
    errors
}

/// Checks an urlencoded form body: the fields holding refused characters.
pub fn check_form(body: &[u8]) -> Vec<FieldError> {
    let mut errors: Vec<FieldError> = Vec::new();
    for (name, value) in form_urlencoded::parse(body) {
        if name.chars().any(refused_in_body) || value.chars().any(refused_in_body) {
            let field = printable(&name);
            if !errors.iter().any(|e| e.field == field) {
                errors.push(field_error(&field, true));
            }
        }
    }
    errors
}

/// Checks a JSON body: the paths (`$.a.b[0]` as `a.b[0]`) of strings holding refused characters.
///
/// A raw control character is not valid JSON inside a string, so only escapes can carry one: the
/// bytes are scanned for them first, and the document is parsed to name the fields only when one
/// is found (rare), which keeps the common case to a single pass over the bytes. A malformed
/// document is left to the extractor, which answers 400.
pub fn check_json(body: &[u8]) -> Vec<FieldError> {
    if !json_escapes_control(body) {
        return Vec::new();
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    walk(&value, String::new(), &mut errors);
    errors
}

fn walk(value: &serde_json::Value, path: String, errors: &mut Vec<FieldError>) {
    let field = |p: &str| if p.is_empty() { String::from("body") } else { p.to_owned() };
    match value {
        serde_json::Value::String(s) if s.chars().any(refused_in_body) => errors.push(field_error(&field(&path), true)),
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, format!("{path}[{i}]"), errors);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = printable(k);
                if k.chars().any(refused_in_body) {
                    errors.push(field_error(&key, true));
                }
                walk(v, if path.is_empty() { key } else { format!("{path}.{key}") }, errors);
            }
        }
        _ => {}
    }
}

/// Whether a JSON text has an escape that decodes to a refused character: `\b`, `\f`, or a
/// `\uXXXX` below U+0020 (other than tab, line feed, carriage return), U+007F, or U+0080–U+009F.
fn json_escapes_control(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'b' | b'f') => return true,
            Some(b'u') => {
                let code = bytes
                    .get(i + 2..i + 6)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok());
                if code.and_then(char::from_u32).is_some_and(refused_in_body) {
                    return true;
                }
                i += 6;
            }
            // Any other escape (`\\`, `\"`, `\n`, ...) is two bytes; skipping both keeps an
            // escaped backslash from being read as the start of another escape.
            _ => i += 2,
        }
    }
    false
}

fn media_type(req: &Request) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// The middleware: see the module documentation.
pub async fn guard(State(limits): State<InputLimits>, req: Request, next: Next) -> Response {
    let uri_errors = check_uri(req.uri());
    if !uri_errors.is_empty() {
        let detail = match uri_errors.as_slice() {
            [one] => one.message.clone(),
            many => format!(
                "control characters are not allowed in {}",
                many.iter().map(|e| e.field.as_str()).collect::<Vec<_>>().join(", ")
            ),
        };
        return ApiError::bad_request("invalid_characters", detail).with_errors(uri_errors).into_response();
    }
    let empty = axum::body::HttpBody::size_hint(req.body()).exact() == Some(0);
    if empty || limits.streams(&req) {
        return next.run(req).await;
    }
    let mime = media_type(&req);
    let (parts, body) = req.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, limits.body_limit).await {
        Ok(b) => b,
        Err(e) => {
            // A body over the limit, or a client that went away or sent a broken chunk.
            let inner = e.into_inner();
            let over = std::iter::successors(Some(&*inner as &(dyn std::error::Error + 'static)), |e| e.source())
                .any(|e| e.is::<http_body_util::LengthLimitError>());
            return if over {
                too_large().into_response()
            } else {
                ApiError::bad_request("unreadable_body", format!("the request body could not be read: {inner}"))
                    .into_response()
            };
        }
    };
    let errors = if mime == "application/x-www-form-urlencoded" {
        check_form(&bytes)
    } else if mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json")) {
        check_json(&bytes)
    } else {
        Vec::new()
    };
    if !errors.is_empty() {
        return ApiError::validation(errors).into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_scan_finds_control_escapes_and_skips_escaped_backslashes() {
        assert!(json_escapes_control(br#"{"a":"x\u0000y"}"#));
        assert!(json_escapes_control(br#"{"a":"\u001B"}"#));
        assert!(json_escapes_control(br#"{"a":"\b"}"#));
        assert!(json_escapes_control(br#"{"a":"\u0085"}"#));
        assert!(!json_escapes_control(br#"{"a":"line\nline\ttab\r"}"#));
        assert!(!json_escapes_control(br#"{"a":"\\u0000"}"#));
        assert!(!json_escapes_control(br#"{"a":"\u00e9"}"#));
    }

    #[test]
    fn json_errors_name_the_field() {
        let errors = check_json(br#"{"username":"demo\u0000admin","items":[{"m":"ok"},{"m":"\u0007"}]}"#);
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["items[1].m", "username"]);
    }

    #[test]
    fn forms_allow_line_breaks_but_not_nul() {
        assert!(check_form(b"message=a%0D%0Ab%09c").is_empty());
        let errors = check_form(b"username=a%00b&password=x");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "username");
    }

    #[test]
    fn the_query_and_path_refuse_every_control_character() {
        let uri: axum::http::Uri = "/api/v1/agents/A%00?q=%0a&team=ok&next=/%09/x".parse().unwrap();
        let fields: Vec<_> = check_uri(&uri).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["path", "q", "next"]);
        let clean: axum::http::Uri = "/api/v1/agents?q=caf%C3%A9+bar".parse().unwrap();
        assert!(check_uri(&clean).is_empty());
        let broken: axum::http::Uri = "/api/v1/agents/%FF%FE".parse().unwrap();
        assert_eq!(check_uri(&broken)[0].code, "invalid_encoding");
    }
}
