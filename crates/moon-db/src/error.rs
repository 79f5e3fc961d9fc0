//! Database errors in the terms callers act on, independent of the backend.

use std::sync::atomic::{AtomicU64, Ordering};

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
            sqlx::Error::Database(db) if is_sqlite_restrict(db.code().as_deref(), db.message()) => {
                DbError::ForeignKeyViolation
            }
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

/// SQLite enforces `ON DELETE RESTRICT` with a trigger program, so deleting a referenced row
/// fails with `SQLITE_CONSTRAINT_TRIGGER` (1811) rather than `SQLITE_CONSTRAINT_FOREIGNKEY`
/// (787), which the driver does not count as a foreign-key violation. PostgreSQL and MySQL report
/// the same refusal as one; so must SQLite, or deleting an agent with sales would be a 500.
fn is_sqlite_restrict(code: Option<&str>, message: &str) -> bool {
    code == Some("1811") && message.contains("FOREIGN KEY constraint failed")
}

/// SQLite's "database is locked/busy" after the busy timeout: transient, so reported as unavailable.
fn is_busy(code: Option<&str>) -> bool {
    matches!(code, Some("5" | "6" | "517" | "261"))
}

impl DbError {
    /// The database aborted the transaction to break a deadlock, or as a serialization failure
    /// (SQLSTATE 40P01 on PostgreSQL, 40001 on both servers: MySQL reports its deadlock, 1213,
    /// that way). Nothing of the transaction was written, so running it again is safe.
    pub fn is_deadlock(&self) -> bool {
        match self {
            DbError::Other(sqlx::Error::Database(db)) => matches!(db.code().as_deref(), Some("40P01" | "40001")),
            _ => false,
        }
    }

    /// The kind of failure as a short, fixed name: the `kind` label of the query-error metric,
    /// so its label set stays bounded whatever the driver says.
    pub fn kind(&self) -> &'static str {
        match self {
            DbError::UniqueViolation => "unique_violation",
            DbError::ForeignKeyViolation => "foreign_key",
            DbError::Unavailable(_) => "unavailable",
            DbError::Other(_) => "other",
        }
    }
}

/// Failed statements by kind, shared by a [`crate::Db`], its clones and its transactions.
///
/// Counted here, where every statement runs, rather than at the HTTP edge: components turn
/// most constraint violations into their own 409s without passing through a generic
/// conversion, and background jobs never reach the edge at all. Atomics rather than a
/// metrics registry, so this crate stays free of the exporter; the server reads
/// [`QueryErrors::counts`] when it is scraped.
#[derive(Debug, Default)]
pub struct QueryErrors {
    unique_violation: AtomicU64,
    foreign_key: AtomicU64,
    unavailable: AtomicU64,
    other: AtomicU64,
}

impl QueryErrors {
    /// Counts `err` under its kind.
    pub(crate) fn record(&self, err: &DbError) {
        let counter = match err {
            DbError::UniqueViolation => &self.unique_violation,
            DbError::ForeignKeyViolation => &self.foreign_key,
            DbError::Unavailable(_) => &self.unavailable,
            DbError::Other(_) => &self.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Runs `statement` and counts its error, if any.
    pub(crate) async fn count<T>(&self, statement: impl Future<Output = Result<T, DbError>>) -> Result<T, DbError> {
        let res = statement.await;
        if let Err(err) = &res {
            self.record(err);
        }
        res
    }

    /// `(kind, failed statements so far)` for every kind, zeros included, so each series exists
    /// from the first scrape and `rate()` sees the first error.
    pub fn counts(&self) -> [(&'static str, u64); 4] {
        [
            ("unique_violation", self.unique_violation.load(Ordering::Relaxed)),
            ("foreign_key", self.foreign_key.load(Ordering::Relaxed)),
            ("unavailable", self.unavailable.load(Ordering::Relaxed)),
            ("other", self.other.load(Ordering::Relaxed)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_restrict_is_a_foreign_key_refusal() {
        assert!(is_sqlite_restrict(Some("1811"), "FOREIGN KEY constraint failed"));
        assert!(!is_sqlite_restrict(Some("1811"), "raised by a trigger"));
        assert!(!is_sqlite_restrict(Some("787"), "FOREIGN KEY constraint failed"));
    }

    #[test]
    fn counts_match_the_kind_names() {
        let errors = QueryErrors::default();
        for err in [DbError::UniqueViolation, DbError::UniqueViolation, DbError::Other(sqlx::Error::RowNotFound)] {
            errors.record(&err);
        }
        for (kind, n) in errors.counts() {
            let expected = match kind {
                "unique_violation" => 2,
                "other" => 1,
                _ => 0,
            };
            assert_eq!(n, expected, "{kind}");
        }
        assert_eq!(DbError::ForeignKeyViolation.kind(), "foreign_key");
    }
}
