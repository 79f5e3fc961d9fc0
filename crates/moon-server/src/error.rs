//! What a use case can fail with, in the terms of the business rather than of HTTP.
//!
//! Use cases (`*/service.rs`) are shared by the REST API, the original routes, the console and
//! the demo loader, so they say *what* went wrong — not found, a conflict, invalid fields, not
//! allowed, the database is away — and leave the status code to the edge. The one translation to
//! a problem response is [`From<Error> for ApiError`](#impl-From<Error>-for-ApiError), which keeps
//! the status, `code`, `detail` and field errors that clients have always seen:
//!
//! | variant | status | code |
//! | --- | --- | --- |
//! | `NotFound { what }` | 404 | `not_found` ("{what} was not found") |
//! | `Conflict { code, detail }` | 409 | `code` |
//! | `Invalid(errors)` | 422 | `validation_failed`, with `errors[]` |
//! | `Forbidden { code, detail }` | 403 | `code` |
//! | `Unavailable(cause)` | 503 | `database_unavailable` |
//! | `Internal(cause)` | 500 | `internal_error`, cause logged, never shown |

use moon_db::DbError;
use moon_domain::FieldError;
use moon_http::ApiError;

/// Result of a use case.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a use case did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The record does not exist, or lies outside the caller's scope (the two look the same on
    /// purpose). `what` names it, such as `agent 7`.
    #[error("{what} was not found")]
    NotFound {
        /// The record as a person would name it.
        what: String,
    },
    /// The change conflicts with records that exist; `code` is the stable name clients switch on.
    #[error("{detail}")]
    Conflict {
        /// Stable machine-readable name, such as `duplicate_agent_code`.
        code: &'static str,
        /// A sentence the caller can act on.
        detail: String,
    },
    /// These fields are invalid (all of them, not only the first).
    #[error("invalid fields: {0:?}")]
    Invalid(Vec<FieldError>),
    /// The caller can see the record but may not do this to it.
    #[error("{detail}")]
    Forbidden {
        /// Stable machine-readable name, usually `forbidden`.
        code: &'static str,
        /// What the caller may not do, in a sentence.
        detail: String,
    },
    /// A credential or second factor was wrong, expired or used up; the caller must prove who
    /// they are again.
    #[error("{detail}")]
    Unauthenticated {
        /// Stable machine-readable name, such as `invalid_mfa_code`.
        code: &'static str,
        /// What was wrong, in a sentence that gives nothing away.
        detail: String,
    },
    /// The database cannot be reached just now; retrying later may succeed.
    #[error("the database is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// A bug or an operational fault; the cause is logged at the edge and never shown.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl Error {
    /// [`Error::NotFound`] for `what`, such as `format!("agent {id}")`.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound { what: what.into() }
    }

    /// [`Error::Conflict`] with a stable code.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict { code, detail: detail.into() }
    }

    /// [`Error::Invalid`] for a single field.
    pub fn field(error: FieldError) -> Self {
        Self::Invalid(vec![error])
    }

    /// [`Error::Forbidden`] with the usual code, `forbidden`.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::Forbidden { code: "forbidden", detail: detail.into() }
    }

    /// [`Error::Internal`] for a state that should not happen, such as a row that vanished
    /// inside the transaction that wrote it.
    pub fn internal(what: &'static str) -> Self {
        Self::Internal(anyhow::anyhow!(what))
    }
}

impl From<DbError> for Error {
    /// A constraint violation that no use case turned into its own conflict is still a 409; an
    /// unreachable database is unavailable; anything else is internal.
    fn from(err: DbError) -> Self {
        match err {
            DbError::UniqueViolation | DbError::ForeignKeyViolation => Self::conflict("conflict", err.to_string()),
            DbError::Unavailable(cause) => Self::Unavailable(cause.into()),
            DbError::Other(cause) => Self::Internal(anyhow::Error::new(cause).context("database error")),
        }
    }
}

impl From<Vec<FieldError>> for Error {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::Invalid(errors)
    }
}

impl From<Error> for ApiError {
    /// The edge: the only place a use case's failure becomes a status code. Causes of 503 and 500
    /// are logged here, once, with the request's span around them.
    fn from(err: Error) -> Self {
        use axum::http::StatusCode;
        match err {
            Error::NotFound { what } => ApiError::not_found(what),
            Error::Conflict { code, detail } => ApiError::conflict(code, detail),
            Error::Invalid(errors) => ApiError::validation(errors),
            Error::Forbidden { code, detail } => ApiError::new(StatusCode::FORBIDDEN, code, detail),
            Error::Unauthenticated { code, detail } => ApiError::new(StatusCode::UNAUTHORIZED, code, detail),
            Error::Unavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "database unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "the database is unavailable; retry shortly",
                )
            }
            Error::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error");
                ApiError::internal()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn each_variant_keeps_the_problem_clients_know() {
        let cases: Vec<(Error, StatusCode, &str, &str)> = vec![
            (Error::not_found("agent 7"), StatusCode::NOT_FOUND, "not_found", "agent 7 was not found"),
            (Error::conflict("duplicate_agent_code", "dup"), StatusCode::CONFLICT, "duplicate_agent_code", "dup"),
            (Error::forbidden("no"), StatusCode::FORBIDDEN, "forbidden", "no"),
            (
                DbError::UniqueViolation.into(),
                StatusCode::CONFLICT,
                "conflict",
                "a record with the same unique value already exists",
            ),
            (
                DbError::ForeignKeyViolation.into(),
                StatusCode::CONFLICT,
                "conflict",
                "the change would break a reference between records",
            ),
            (
                DbError::Unavailable(sqlx::Error::PoolTimedOut).into(),
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database is unavailable; retry shortly",
            ),
            (
                DbError::Other(sqlx::Error::RowNotFound).into(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "an internal error occurred; it has been logged",
            ),
        ];
        for (err, status, code, detail) in cases {
            let api = ApiError::from(err);
            assert_eq!((api.status(), api.code(), api.detail()), (status, code, detail));
        }
        let field = FieldError::new("agent_code", "unknown_agent", "no agent X exists");
        let api = ApiError::from(Error::field(field.clone()));
        assert_eq!((api.status(), api.code()), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"));
        assert_eq!(api.field_errors(), [field]);
    }
}
