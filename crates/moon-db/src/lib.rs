//! The operational database: which backend, its pools, its migrations, and the one place where
//! backends differ.
//!
//! Queries are written once as [`sea_query`] statements and rendered for the backend chosen by the
//! URL scheme (`sqlite://`, `postgres://`, `mysql://`). Components own their queries; this crate
//! only runs them ([`Db`] for reads, [`Tx`] for writes) and maps driver errors to [`DbError`].

mod commits;
mod connect;
mod error;
mod exec;
mod group;
mod migrate;
mod secret;
mod stream;

pub use commits::CHANNEL as CHANGES_CHANNEL;
pub use connect::{Backend, DEFAULT_WRITER_CACHE_MIB, Db, DbOptions};
pub use error::{DbError, QueryErrors};
pub use exec::{FromAnyRow, Tx};
pub use group::{Batch, BatchFuture, GroupCommit};
pub use migrate::{MigrationStatus, migration_names};
pub use secret::{Secret, StoredSecretError, redact_url, stored_secret};
pub use stream::RowStream;

pub use sea_query;
pub use sqlx;

/// The current time, truncated to microseconds: the finest precision that PostgreSQL and MySQL
/// keep, so a timestamp reads back the same on every backend.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    chrono::DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// Builds a one-row INSERT from column/value pairs, so the column list and the values can never
/// drift apart.
pub fn insert_row(table: &'static str, pairs: Vec<(&'static str, sea_query::Value)>) -> sea_query::InsertStatement {
    let (cols, vals): (Vec<_>, Vec<_>) = pairs.into_iter().map(|(c, v)| (c, sea_query::Expr::val(v))).unzip();
    let mut stmt = sea_query::Query::insert();
    stmt.into_table(table).columns(cols);
    // Infallible: both lists come from the same pairs.
    let _ = stmt.values(vals);
    stmt
}

/// `SUM(expr)` decoded as an `i64` on every backend. PostgreSQL widens a sum of BIGINT to
/// NUMERIC and MySQL to DECIMAL; both are cast back, which is exact for sums of cents below
/// 2^63.
pub fn sum_i64(backend: Backend, expr: sea_query::Expr) -> sea_query::Expr {
    use sea_query::ExprTrait;
    let sum = sea_query::Expr::expr(sea_query::Func::sum(expr));
    match backend {
        Backend::Sqlite => sum,
        Backend::Postgres => sum.cast_as("BIGINT"),
        Backend::MySql => sum.cast_as("SIGNED"),
    }
}
