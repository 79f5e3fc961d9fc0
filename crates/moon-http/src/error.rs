//! The error policy of the HTTP edge, in one place.
//!
//! Every failure leaves the server as `application/problem+json` (RFC 9457) with a stable `code`
//! that programs can switch on and, for validation, the offending fields. Client mistakes are
//! 4xx with a message a person can act on; an unreachable database is 503; anything else is a 500
//! whose cause chain is logged once here and never shown to the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use moon_db::DbError;
use moon_domain::FieldError;
use serde::Serialize;

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// A problem to report to the client.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    /// Also put `detail` under `message`, the member the original system's clients read.
    legacy_message: bool,
    /// Seconds for a `Retry-After` header (429).
    retry_after: Option<u64>,
}

/// The body of a problem response, as documented in the OpenAPI document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type; `about:blank` plus the `code` identifies it.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Short summary of the status.
    pub title: &'static str,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this request, in a sentence.
    pub detail: String,
    /// Stable machine-readable code, such as `validation_failed`, `not_found`, `conflict`.
    pub code: &'static str,
    /// The offending fields, for validation problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Same as `detail`; present on the original system's routes, whose clients read `message`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ApiError {
    /// A problem with an explicit status and code.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self { status, code, detail: detail.into(), errors: Vec::new(), legacy_message: false, retry_after: None }
    }

    /// 422: the request was well-formed but these fields are invalid.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => one.message.clone(),
            many => format!(
                "{} fields are invalid: {}",
                many.len(),
                many.iter().map(|e| e.field.as_str()).collect::<Vec<_>>().join(", ")
            ),
        };
        Self { errors, ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", detail) }
    }

    /// 422 for a single field.
    pub fn field(error: FieldError) -> Self {
        Self::validation(vec![error])
    }

    /// 400: the request could not be read at all (malformed JSON, bad query string).
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 404 for a record that does not exist, or that the principal may not see (the two are
    /// indistinguishable on purpose).
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{} was not found", what.into()))
    }

    /// 409: the change conflicts with the current state.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    /// Names the offending fields of a problem that is not a 422, such as a query parameter
    /// whose value could not be read at all.
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    /// Marks the problem as answered on an original-system route, adding `message`.
    pub fn legacy(mut self) -> Self {
        self.legacy_message = true;
        self
    }

    /// Asks the client to wait this many seconds before retrying (`Retry-After`).
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// The sentence shown to the client, for the CLI.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The status code, for tests and logs.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The offending fields of a validation problem, for forms that show each beside its input.
    pub fn field_errors(&self) -> &[FieldError] {
        &self.errors
    }
}

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::UniqueViolation => {
                Self::conflict("conflict", "a record with the same unique value already exists")
            }
            DbError::ForeignKeyViolation => {
                Self::conflict("conflict", "the change would break a reference between records")
            }
            DbError::Unavailable(cause) => {
                tracing::warn!(error = %error_chain(&cause), "database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "the database is unavailable; retry shortly",
                )
            }
            DbError::Other(cause) => {
                tracing::error!(error = %error_chain(&cause), "database error");
                Self::internal()
            }
        }
    }
}

impl ApiError {
    /// 500 without detail: the cause has been logged by whoever built it.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "an internal error occurred; it has been logged")
    }
}

/// Formats an error and all its sources on one line for the log.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            message: self.legacy_message.then(|| self.detail.clone()),
            detail: self.detail,
            code: self.code,
            errors: self.errors,
        };
        let mut res = (self.status, axum::Json(body)).into_response();
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(secs) = self.retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

/// Marks a response as a refusal by the security layer (401, 403, 429, ...), carrying the error
/// it was made from. The security layer answers problem JSON; an outer layer that serves people
/// rather than programs (the web console) may find this in the response's extensions and answer
/// with a page or a redirect instead, so the security layer never needs to know the console.
#[derive(Debug, Clone)]
pub struct Refusal(pub ApiError);
