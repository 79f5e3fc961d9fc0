//! Running a statement on whichever backend is connected: the one place where the three drivers
//! meet.
//!
//! Every statement is a `sea_query` statement; it is rendered with the backend's query builder
//! (placeholders, quoting) and bound with the backend's typed driver. Rows decode into types
//! that implement `FromRow` for all three backends ([`FromAnyRow`]).

use std::sync::Arc;

use sea_query::{InsertStatement, MysqlQueryBuilder, PostgresQueryBuilder, SqliteQueryBuilder};
use sea_query_sqlx::SqlxBinder;
use sqlx::mysql::{MySql, MySqlRow};
use sqlx::postgres::{PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqliteRow};
use sqlx::{AssertSqlSafe, FromRow, Transaction};

use crate::connect::Pools;
use crate::{Db, DbError, QueryErrors};

/// A row type that decodes from every supported backend.
pub trait FromAnyRow:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, MySqlRow> + Send + Unpin
{
}

impl<T> FromAnyRow for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, MySqlRow> + Send + Unpin
{
}

/// An open write transaction. Dropping it without [`Tx::commit`] rolls back, so an early return
/// on an error never leaves half a change behind.
pub struct Tx {
    conn: TxConn,
    /// The counts of the [`Db`] this transaction came from.
    errors: Arc<QueryErrors>,
    /// Whom to wake after the commit, if the transaction wrote to the change log.
    commits: Arc<crate::commits::CommitSignal>,
    /// The transaction wrote to the change log ([`Tx::mark_changed`]).
    pub(crate) changed: bool,
}

/// The driver's transaction for the connected backend.
enum TxConn {
    /// SQLite, started with `BEGIN IMMEDIATE` on the single writer connection.
    Sqlite(Transaction<'static, Sqlite>),
    /// PostgreSQL.
    Postgres(Transaction<'static, Postgres>),
    /// MySQL or MariaDB.
    MySql(Transaction<'static, MySql>),
}

/// Statements binding more values than this are prepared for one use instead of being kept in
/// the connection's statement cache (see [`keep_prepared`]).
const MOST_VALUES_KEPT_PREPARED: usize = 1_000;

/// Whether a statement stays prepared in its connection's statement cache (sqlx keeps 100 per
/// connection, least recently used out).
///
/// Only the largest statements are not kept: the multi-row inserts and long `IN` lists of
/// imports, backfills and rebuilds, which run once with a given length and whose prepared form
/// is large. The group commit's batches (up to a few hundred values) stay cached although their
/// text varies with the batch size: preparing them per use instead cost about 0.6 ms of CPU per
/// written sale on a debug build (4.9–5.1 against 4.4 ms; ADR 0025), more than the memory their
/// cached forms hold, which the cache bounds.
fn keep_prepared(values: &sea_query_sqlx::SqlxValues) -> bool {
    values.0.0.len() <= MOST_VALUES_KEPT_PREPARED
}

/// Renders `$stmt` for the backend of `$target` and runs `$run` with the driver-specific
/// executor bound to `$exec` and the SQL and values bound to `$sql`, `$values`.
macro_rules! on_backend {
    (pool $db:expr, $stmt:expr, |$exec:ident, $sql:ident, $values:ident| $run:expr) => {
        match &$db.pools {
            Pools::Sqlite { read, .. } => {
                let ($sql, $values) = $stmt.build_sqlx(SqliteQueryBuilder);
                let $exec = read;
                $run
            }
            Pools::Postgres(pool) => {
                let ($sql, $values) = $stmt.build_sqlx(PostgresQueryBuilder);
                let $exec = pool;
                $run
            }
            Pools::MySql(pool) => {
                let ($sql, $values) = $stmt.build_sqlx(MysqlQueryBuilder);
                let $exec = pool;
                $run
            }
        }
    };
    (tx $tx:expr, $stmt:expr, |$exec:ident, $sql:ident, $values:ident| $run:expr) => {
        match $tx {
            TxConn::Sqlite(tx) => {
                let ($sql, $values) = $stmt.build_sqlx(SqliteQueryBuilder);
                let $exec = &mut **tx;
                $run
            }
            TxConn::Postgres(tx) => {
                let ($sql, $values) = $stmt.build_sqlx(PostgresQueryBuilder);
                let $exec = &mut **tx;
                $run
            }
            TxConn::MySql(tx) => {
                let ($sql, $values) = $stmt.build_sqlx(MysqlQueryBuilder);
                let $exec = &mut **tx;
                $run
            }
        }
    };
}

impl Db {
    /// Starts a write transaction.
    pub async fn begin(&self) -> Result<Tx, DbError> {
        let conn = self
            .errors
            .count(async {
                Ok(match &self.pools {
                    Pools::Sqlite { write, .. } => TxConn::Sqlite(write.begin_with("BEGIN IMMEDIATE").await?),
                    Pools::Postgres(pool) => TxConn::Postgres(pool.begin().await?),
                    Pools::MySql(pool) => TxConn::MySql(pool.begin().await?),
                })
            })
            .await?;
        Ok(Tx { conn, errors: Arc::clone(&self.errors), commits: Arc::clone(&self.commits), changed: false })
    }

    /// Starts a read-only transaction that sees one consistent snapshot of the database for all
    /// its statements, while writers carry on: the basis of a full rebuild or a verification,
    /// whose several queries must agree with each other.
    ///
    /// PostgreSQL needs `REPEATABLE READ` for that (its default gives each statement its own
    /// snapshot); MySQL takes the snapshot at once; SQLite in WAL mode holds it from the first read.
    pub async fn begin_snapshot(&self) -> Result<Tx, DbError> {
        let conn = self
            .errors
            .count(async {
                Ok(match &self.pools {
                    Pools::Sqlite { read, .. } => TxConn::Sqlite(read.begin_with("BEGIN DEFERRED").await?),
                    Pools::Postgres(pool) => {
                        TxConn::Postgres(pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await?)
                    }
                    Pools::MySql(pool) => {
                        TxConn::MySql(pool.begin_with("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY").await?)
                    }
                })
            })
            .await?;
        Ok(Tx { conn, errors: Arc::clone(&self.errors), commits: Arc::clone(&self.commits), changed: false })
    }

    /// Runs a read-only query and decodes every row.
    pub async fn fetch_all<T: FromAnyRow>(&self, stmt: &impl SqlxBinder) -> Result<Vec<T>, DbError> {
        self.errors
            .count(async {
                on_backend!(pool self, stmt, |exec, sql, values| {
                    Ok({ let keep = keep_prepared(&values); sqlx::query_as_with(AssertSqlSafe(sql), values).persistent(keep) }.fetch_all(exec).await?)
                })
            })
            .await
    }

    /// Runs a read-only query expected to match at most one row.
    pub async fn fetch_optional<T: FromAnyRow>(&self, stmt: &impl SqlxBinder) -> Result<Option<T>, DbError> {
        self.errors
            .count(async {
                on_backend!(pool self, stmt, |exec, sql, values| {
                    Ok({ let keep = keep_prepared(&values); sqlx::query_as_with(AssertSqlSafe(sql), values).persistent(keep) }.fetch_optional(exec).await?)
                })
            })
            .await
    }

    /// Checks that a connection can be had and answers a trivial query.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.errors
            .count(async {
                match &self.pools {
                    Pools::Sqlite { read, .. } => {
                        sqlx::query("SELECT 1").execute(read).await?;
                    }
                    Pools::Postgres(pool) => {
                        sqlx::query("SELECT 1").execute(pool).await?;
                    }
                    Pools::MySql(pool) => {
                        sqlx::query("SELECT 1").execute(pool).await?;
                    }
                }
                Ok(())
            })
            .await
    }
}

/// The statements themselves, per backend; [`Tx`] wraps each to count its failures.
impl TxConn {
    /// Runs a query inside the transaction and decodes every row.
    async fn fetch_all<T: FromAnyRow>(&mut self, stmt: &impl SqlxBinder) -> Result<Vec<T>, DbError> {
        on_backend!(tx self, stmt, |exec, sql, values| {
            Ok({ let keep = keep_prepared(&values); sqlx::query_as_with(AssertSqlSafe(sql), values).persistent(keep) }.fetch_all(exec).await?)
        })
    }

    /// Runs a query inside the transaction expected to match at most one row.
    async fn fetch_optional<T: FromAnyRow>(&mut self, stmt: &impl SqlxBinder) -> Result<Option<T>, DbError> {
        on_backend!(tx self, stmt, |exec, sql, values| {
            Ok({ let keep = keep_prepared(&values); sqlx::query_as_with(AssertSqlSafe(sql), values).persistent(keep) }.fetch_optional(exec).await?)
        })
    }

    /// Runs a query inside the transaction and hands each row to `each` as it arrives, so a
    /// result of millions of rows never has to sit in memory at once.
    async fn for_each<T: FromAnyRow>(
        &mut self,
        stmt: &impl SqlxBinder,
        mut each: impl FnMut(T) -> Result<(), DbError> + Send,
    ) -> Result<u64, DbError> {
        use futures_util::TryStreamExt;
        on_backend!(tx self, stmt, |exec, sql, values| {
            let mut rows = sqlx::query_as_with::<_, T, _>(AssertSqlSafe(sql), values).fetch(exec);
            let mut n = 0u64;
            while let Some(row) = rows.try_next().await? {
                each(row)?;
                n += 1;
            }
            Ok(n)
        })
    }

    /// Runs a statement with no parameters, such as DDL written for one backend. Only for SQL
    /// assembled from constants: values belong in sea-query statements, which bind them.
    async fn execute_sql(&mut self, sql: impl Into<String>) -> Result<u64, DbError> {
        let sql = AssertSqlSafe(sql.into());
        Ok(match self {
            TxConn::Sqlite(tx) => sqlx::query(sql).execute(&mut **tx).await?.rows_affected(),
            TxConn::Postgres(tx) => sqlx::query(sql).execute(&mut **tx).await?.rows_affected(),
            TxConn::MySql(tx) => sqlx::query(sql).execute(&mut **tx).await?.rows_affected(),
        })
    }

    /// The backend this transaction runs on.
    fn backend(&self) -> crate::Backend {
        match self {
            TxConn::Sqlite(_) => crate::Backend::Sqlite,
            TxConn::Postgres(_) => crate::Backend::Postgres,
            TxConn::MySql(_) => crate::Backend::MySql,
        }
    }

    /// Ends the transaction without keeping anything; for read-only snapshots, whose end is
    /// not a commit of anything.
    async fn rollback(self) -> Result<(), DbError> {
        match self {
            TxConn::Sqlite(tx) => tx.rollback().await?,
            TxConn::Postgres(tx) => tx.rollback().await?,
            TxConn::MySql(tx) => tx.rollback().await?,
        }
        Ok(())
    }

    /// Runs an UPDATE or DELETE and returns how many rows it touched.
    async fn execute(&mut self, stmt: &impl SqlxBinder) -> Result<u64, DbError> {
        on_backend!(tx self, stmt, |exec, sql, values| {
            Ok({ let keep = keep_prepared(&values); sqlx::query_with(AssertSqlSafe(sql), values).persistent(keep) }.execute(exec).await?.rows_affected())
        })
    }

    /// Runs a single-row INSERT (typically `INSERT … SELECT`, which resolves references as it
    /// inserts) inside the transaction and returns `returning` evaluated on the new row, or
    /// `None` when nothing was inserted. `returning` may use correlated subqueries on `table`.
    ///
    /// This is the backend difference for reading back a new row: SQLite and PostgreSQL evaluate
    /// `RETURNING` in the same statement; MySQL 8 has no `RETURNING`, so on every `mysql://`
    /// server (MariaDB included, though MariaDB 10.5+ could) the same expressions are selected by
    /// `LAST_INSERT_ID()` right after the insert, on a second round trip.
    async fn insert_returning<T: FromAnyRow>(
        &mut self,
        stmt: &InsertStatement,
        table: &'static str,
        returning: Vec<sea_query::Expr>,
    ) -> Result<Option<T>, DbError> {
        match self {
            TxConn::Sqlite(tx) => {
                let (sql, values) = stmt
                    .clone()
                    .returning(sea_query::Query::returning().exprs(returning))
                    .build_sqlx(SqliteQueryBuilder);
                Ok({
                    let keep = keep_prepared(&values);
                    sqlx::query_as_with(AssertSqlSafe(sql), values).persistent(keep)
                }
                .fetch_optional(&mut **tx)
                .await?)
            }
            TxConn::Postgres(tx) => {
                let (sql, values) = stmt
                    .clone()
                    .returning(sea_query::Query::returning().exprs(returning))
                    .build_sqlx(PostgresQueryBuilder);
                Ok({
                    let keep = keep_prepared(&values);
                    sqlx::query_as_with(AssertSqlSafe(sql), values).persistent(keep)
                }
                .fetch_optional(&mut **tx)
                .await?)
            }
            TxConn::MySql(tx) => {
                let (sql, values) = stmt.build_sqlx(MysqlQueryBuilder);
                let done = {
                    let keep = keep_prepared(&values);
                    sqlx::query_with(AssertSqlSafe(sql), values).persistent(keep)
                }
                .execute(&mut **tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(None);
                }
                let mut read_back = sea_query::Query::select();
                read_back
                    .exprs(returning)
                    .from(table)
                    .and_where(sea_query::ExprTrait::eq(sea_query::Expr::col((table, "id")), done.last_insert_id()));
                let (sql, values) = read_back.build_sqlx(MysqlQueryBuilder);
                Ok({
                    let keep = keep_prepared(&values);
                    sqlx::query_as_with(AssertSqlSafe(sql), values).persistent(keep)
                }
                .fetch_optional(&mut **tx)
                .await?)
            }
        }
    }

    /// Runs a multi-row INSERT and returns `columns` of every inserted row where the backend
    /// can say in the same statement (SQLite, PostgreSQL: `RETURNING`), in no promised order;
    /// `None` on MySQL, where the caller reads the rows back by a key of its own.
    async fn insert_returning_all<T: FromAnyRow>(
        &mut self,
        stmt: &InsertStatement,
        columns: &[&'static str],
    ) -> Result<Option<Vec<T>>, DbError> {
        let returning = || sea_query::Query::returning().columns(columns.iter().copied().map(sea_query::Alias::new));
        match self {
            TxConn::Sqlite(tx) => {
                let (sql, values) = stmt.clone().returning(returning()).build_sqlx(SqliteQueryBuilder);
                Ok(Some(
                    {
                        let keep = keep_prepared(&values);
                        sqlx::query_as_with(AssertSqlSafe(sql), values).persistent(keep)
                    }
                    .fetch_all(&mut **tx)
                    .await?,
                ))
            }
            TxConn::Postgres(tx) => {
                let (sql, values) = stmt.clone().returning(returning()).build_sqlx(PostgresQueryBuilder);
                Ok(Some(
                    {
                        let keep = keep_prepared(&values);
                        sqlx::query_as_with(AssertSqlSafe(sql), values).persistent(keep)
                    }
                    .fetch_all(&mut **tx)
                    .await?,
                ))
            }
            TxConn::MySql(tx) => {
                let (sql, values) = stmt.build_sqlx(MysqlQueryBuilder);
                {
                    let keep = keep_prepared(&values);
                    sqlx::query_with(AssertSqlSafe(sql), values).persistent(keep)
                }
                .execute(&mut **tx)
                .await?;
                Ok(None)
            }
        }
    }

    /// Runs a single-row INSERT into a table whose key column is `id` and returns the new id.
    ///
    /// This is the backend difference for generated keys: SQLite and PostgreSQL answer
    /// `RETURNING id`; MySQL 8 has no `RETURNING`, so its connection's `LAST_INSERT_ID()` is used.
    async fn insert(&mut self, stmt: &InsertStatement) -> Result<i64, DbError> {
        match self {
            TxConn::Sqlite(tx) => {
                let (sql, values) =
                    stmt.clone().returning_col(sea_query::Alias::new("id")).build_sqlx(SqliteQueryBuilder);
                let (id,): (i64,) = {
                    let keep = keep_prepared(&values);
                    sqlx::query_as_with(AssertSqlSafe(sql), values).persistent(keep)
                }
                .fetch_one(&mut **tx)
                .await?;
                Ok(id)
            }
            TxConn::Postgres(tx) => {
                let (sql, values) =
                    stmt.clone().returning_col(sea_query::Alias::new("id")).build_sqlx(PostgresQueryBuilder);
                let (id,): (i64,) = {
                    let keep = keep_prepared(&values);
                    sqlx::query_as_with(AssertSqlSafe(sql), values).persistent(keep)
                }
                .fetch_one(&mut **tx)
                .await?;
                Ok(id)
            }
            TxConn::MySql(tx) => {
                let (sql, values) = stmt.build_sqlx(MysqlQueryBuilder);
                let done = {
                    let keep = keep_prepared(&values);
                    sqlx::query_with(AssertSqlSafe(sql), values).persistent(keep)
                }
                .execute(&mut **tx)
                .await?;
                i64::try_from(done.last_insert_id()).map_err(|e| DbError::Other(sqlx::Error::Decode(e.into())))
            }
        }
    }

    /// Makes every change in the transaction durable, or none of them.
    async fn commit(self) -> Result<(), DbError> {
        match self {
            TxConn::Sqlite(tx) => tx.commit().await?,
            TxConn::Postgres(tx) => tx.commit().await?,
            TxConn::MySql(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

impl Tx {
    /// Runs a query inside the transaction and decodes every row.
    pub async fn fetch_all<T: FromAnyRow>(&mut self, stmt: &impl SqlxBinder) -> Result<Vec<T>, DbError> {
        self.errors.count(self.conn.fetch_all(stmt)).await
    }

    /// Runs a query inside the transaction expected to match at most one row.
    pub async fn fetch_optional<T: FromAnyRow>(&mut self, stmt: &impl SqlxBinder) -> Result<Option<T>, DbError> {
        self.errors.count(self.conn.fetch_optional(stmt)).await
    }

    /// Runs a query inside the transaction and hands each row to `each` as it arrives, so a
    /// result of millions of rows never has to sit in memory at once. An error returned by
    /// `each` is counted too: it ends the statement like a database error.
    pub async fn for_each<T: FromAnyRow>(
        &mut self,
        stmt: &impl SqlxBinder,
        each: impl FnMut(T) -> Result<(), DbError> + Send,
    ) -> Result<u64, DbError> {
        self.errors.count(self.conn.for_each(stmt, each)).await
    }

    /// Runs a statement with no parameters, such as DDL written for one backend. Only for SQL
    /// assembled from constants: values belong in sea-query statements, which bind them.
    pub async fn execute_sql(&mut self, sql: impl Into<String>) -> Result<u64, DbError> {
        self.errors.count(self.conn.execute_sql(sql)).await
    }

    /// The backend this transaction runs on.
    pub fn backend(&self) -> crate::Backend {
        self.conn.backend()
    }

    /// Ends the transaction without keeping anything; for read-only snapshots, whose end is
    /// not a commit of anything.
    pub async fn rollback(self) -> Result<(), DbError> {
        self.errors.count(self.conn.rollback()).await
    }

    /// Runs an UPDATE or DELETE and returns how many rows it touched.
    pub async fn execute(&mut self, stmt: &impl SqlxBinder) -> Result<u64, DbError> {
        self.errors.count(self.conn.execute(stmt)).await
    }

    /// Runs a single-row INSERT (typically `INSERT … SELECT`) inside the transaction and returns
    /// `returning` evaluated on the new row, or `None` when nothing was inserted; see
    /// `TxConn::insert_returning` for how MySQL, which has no `RETURNING`, reads the row back.
    pub async fn insert_returning<T: FromAnyRow>(
        &mut self,
        stmt: &InsertStatement,
        table: &'static str,
        returning: Vec<sea_query::Expr>,
    ) -> Result<Option<T>, DbError> {
        self.errors.count(self.conn.insert_returning(stmt, table, returning)).await
    }

    /// Runs a multi-row INSERT and returns `columns` of every inserted row, in no promised
    /// order, where the backend can say in the same statement (SQLite, PostgreSQL); `None` on
    /// MySQL, where the caller reads the rows back by a key of its own.
    pub async fn insert_returning_all<T: FromAnyRow>(
        &mut self,
        stmt: &InsertStatement,
        columns: &[&'static str],
    ) -> Result<Option<Vec<T>>, DbError> {
        self.errors.count(self.conn.insert_returning_all(stmt, columns)).await
    }

    /// Runs a single-row INSERT into a table whose key column is `id` and returns the new id.
    pub async fn insert(&mut self, stmt: &InsertStatement) -> Result<i64, DbError> {
        self.errors.count(self.conn.insert(stmt)).await
    }

    /// Makes every change in the transaction durable, or none of them.
    /// Wakes the change log's readers afterwards if it wrote to the log.
    pub async fn commit(self) -> Result<(), DbError> {
        self.errors.count(self.conn.commit()).await?;
        if self.changed {
            self.commits.committed();
        }
        Ok(())
    }

    /// Marks a point to return to if what follows fails (one at a time: the name is fixed).
    /// Needed because PostgreSQL refuses every statement of a transaction after one failed,
    /// where SQLite and MySQL undo just the failed statement; with a savepoint, all three
    /// can undo one request's statements and carry on with the transaction.
    pub async fn savepoint(&mut self) -> Result<(), DbError> {
        self.execute_sql("SAVEPOINT moon_item").await.map(drop)
    }

    /// Keeps what was written since [`Tx::savepoint`].
    pub async fn release_savepoint(&mut self) -> Result<(), DbError> {
        self.execute_sql("RELEASE SAVEPOINT moon_item").await.map(drop)
    }

    /// Undoes what was written since [`Tx::savepoint`], keeping the transaction usable.
    pub async fn rollback_to_savepoint(&mut self) -> Result<(), DbError> {
        self.execute_sql("ROLLBACK TO SAVEPOINT moon_item").await?;
        self.release_savepoint().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize) -> sea_query_sqlx::SqlxValues {
        sea_query_sqlx::SqlxValues(sea_query::Values(vec![sea_query::Value::BigInt(Some(1)); n]))
    }

    #[test]
    fn only_the_largest_statements_are_prepared_for_one_use() {
        assert!(keep_prepared(&values(1)));
        assert!(keep_prepared(&values(16 * 12)));
        assert!(keep_prepared(&values(MOST_VALUES_KEPT_PREPARED)));
        assert!(!keep_prepared(&values(MOST_VALUES_KEPT_PREPARED + 1)));
    }
}
