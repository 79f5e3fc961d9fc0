//! Reading a large result without holding it: rows handed over in small batches as the driver
//! produces them.
//!
//! A listing of every sale is millions of rows at scale; collected into a `Vec` first, one call
//! costs hundreds of megabytes. [`Db::stream`] runs the query on its own pooled connection in a
//! task and passes the rows on through a short bounded channel, so memory stays at a few batches
//! whatever the result's size, and a slow reader slows the query down instead of piling rows
//! up. The batches amortise the hand-over between tasks, which per row would cost more than
//! decoding the row.

use sea_query::{MysqlQueryBuilder, PostgresQueryBuilder, SqliteQueryBuilder};
use sea_query_sqlx::SqlxBinder;
use sqlx::AssertSqlSafe;
use tokio::sync::mpsc;

use crate::connect::Pools;
use crate::{Db, DbError, FromAnyRow};

/// Rows per batch: large enough that the hand-over is noise, small enough that a batch of the
/// widest listing stays far below a megabyte.
const BATCH_ROWS: usize = 256;

/// Batches in flight between the query and its reader.
const BATCHES_IN_FLIGHT: usize = 4;

/// The rows of a query started by [`Db::stream`], in batches, in the query's order.
///
/// Dropping it stops the query: the task notices that nobody listens and returns its
/// connection to the pool.
pub struct RowStream<T> {
    rx: mpsc::Receiver<Result<Vec<T>, DbError>>,
}

impl<T> RowStream<T> {
    /// The next batch (never empty), `None` at the end, or the error that ended the query. An
    /// error comes at most once and is the last item.
    pub async fn next_batch(&mut self) -> Option<Result<Vec<T>, DbError>> {
        self.rx.recv().await
    }
}

impl Db {
    /// Runs a read-only query on a connection of its own and delivers its rows in batches as
    /// they arrive (see the module documentation). The query has started when this returns; its
    /// first error, a connection that cannot be had included, is the stream's first item.
    pub fn stream<T: FromAnyRow + 'static>(&self, stmt: &impl SqlxBinder) -> RowStream<T> {
        let (tx, rx) = mpsc::channel(BATCHES_IN_FLIGHT);
        let errors = std::sync::Arc::clone(&self.errors);
        macro_rules! spawn_on {
            ($pool:expr, $builder:expr) => {{
                let pool = $pool.clone();
                let (sql, values) = stmt.build_sqlx($builder);
                tokio::spawn(async move {
                    let rows = sqlx::query_as_with::<_, T, _>(AssertSqlSafe(sql), values).fetch(&pool);
                    if let Err(e) = forward(rows, &tx).await {
                        errors.record(&e);
                        // The reader may be gone already; then there is nobody to tell.
                        let _ = tx.send(Err(e)).await;
                    }
                });
            }};
        }
        match &self.pools {
            Pools::Sqlite { read, .. } => spawn_on!(read, SqliteQueryBuilder),
            Pools::Postgres(pool) => spawn_on!(pool, PostgresQueryBuilder),
            Pools::MySql(pool) => spawn_on!(pool, MysqlQueryBuilder),
        }
        RowStream { rx }
    }
}

/// Passes the rows of `rows` to `tx` in batches of [`BATCH_ROWS`]; stops early, without an
/// error, when the reader has gone.
async fn forward<T>(
    mut rows: impl futures_util::Stream<Item = Result<T, sqlx::Error>> + Unpin,
    tx: &mpsc::Sender<Result<Vec<T>, DbError>>,
) -> Result<(), DbError> {
    use futures_util::TryStreamExt;
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    while let Some(row) = rows.try_next().await? {
        batch.push(row);
        if batch.len() == BATCH_ROWS {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS));
            if tx.send(Ok(full)).await.is_err() {
                return Ok(());
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(Ok(batch)).await;
    }
    Ok(())
}
