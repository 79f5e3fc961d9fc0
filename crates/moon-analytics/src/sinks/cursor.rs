//! The warehouse's cursor (`wh_state`): the last change-log entry the warehouse reflects. It
//! moves in the same transaction as the deltas it covers, so a batch lands with its cursor or not
//! at all (ADR 0006).

use chrono::{DateTime, Utc};
use moon_db::sea_query::{Expr, ExprTrait, Query};
use moon_db::{Db, DbError, Tx};

use crate::schema::STATE;
use crate::source::CONSUMER;

/// Takes the cursor row's lock and reads it; `None` when the warehouse was never built.
///
/// The lock is taken by an UPDATE that changes nothing, a statement that locks the row the same
/// way on every warehouse (SQLite has no `SELECT … FOR UPDATE`): concurrent aggregators take
/// turns, and each reads the change log only after it holds the lock, so a batch is applied once.
pub(crate) async fn lock(tx: &mut Tx) -> Result<Option<i64>, DbError> {
    let mut touch = Query::update();
    touch.table(STATE).value("refreshed_at", Expr::col("refreshed_at")).and_where(Expr::col("consumer").eq(CONSUMER));
    tx.execute(&touch).await?;
    let mut q = Query::select();
    q.column("applied_id").from(STATE).and_where(Expr::col("consumer").eq(CONSUMER));
    Ok(tx.fetch_optional::<(i64,)>(&q).await?.map(|(n,)| n))
}

/// The cursor, read without a lock (`None` before the first build).
pub(crate) async fn read(wh: &Db) -> Result<Option<i64>, DbError> {
    let mut q = Query::select();
    q.column("applied_id").from(STATE).and_where(Expr::col("consumer").eq(CONSUMER));
    Ok(wh.fetch_optional::<(i64,)>(&q).await?.map(|(n,)| n))
}

/// Moves the cursor to `applied_id` (creating it on the first build); a rebuild also stamps
/// `rebuilt_at`.
pub(crate) async fn set(tx: &mut Tx, applied_id: i64, rebuilt: bool) -> Result<(), DbError> {
    let now: DateTime<Utc> = moon_db::now();
    let mut up = Query::update();
    up.table(STATE).value("applied_id", applied_id).value("refreshed_at", now);
    if rebuilt {
        up.value("rebuilt_at", now);
    }
    up.and_where(Expr::col("consumer").eq(CONSUMER));
    if tx.execute(&up).await? == 0 {
        let ins = moon_db::insert_row(
            STATE,
            vec![
                ("consumer", CONSUMER.into()),
                ("applied_id", applied_id.into()),
                ("refreshed_at", now.into()),
                ("rebuilt_at", now.into()),
            ],
        );
        tx.execute(&ins).await?;
    }
    Ok(())
}
