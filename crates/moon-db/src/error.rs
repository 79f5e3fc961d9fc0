//! Database errors in the terms callers act on, independent of the backend.

/// What went wrong in the database, classified so the HTTP edge can pick a status code:
/// a constraint is a conflict the client can fix, an unreachable server is a 503.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The statement would duplicate a unique value (agent code, policy number, …).
    #[error("a record with the same unique value already exists")]
    UniqueViolation,
    /// The statement would break a reference (a sale's agent or product), or delete a referenced row.
    #[error("the change would break a reference between records")]
    ForeignKeyViolation,
    /// The database could not be reached or the pool is exhausted or closed.
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Anything else: a bug or an operational problem worth a 500 and a log line.
    #[error("database error")]
    Other(#[source] sqlx::Error),
}

impl From<sqlx::Error> for DbError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => DbError::UniqueViolation,
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => DbError::ForeignKeyViolation,
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => DbError::Unavailable(err),
            sqlx::Error::Database(db) if is_busy(db.code().as_deref()) => DbError::Unavailable(err),
            _ => DbError::Other(err),
        }
    }
}

/// SQLite's "database is locked/busy" after the busy timeout: transient, so reported as unavailable.
fn is_busy(code: Option<&str>) -> bool {
    matches!(code, Some("5" | "6" | "517" | "261"))
}
