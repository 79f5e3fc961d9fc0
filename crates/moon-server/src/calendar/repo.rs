//! The queries the calendar owns: the `holidays` table.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use moon_db::sea_query::{Expr, ExprTrait, Order, Query};
use moon_db::{Db, DbError, Tx, insert_row};

use super::Holiday;

/// Holidays from `from` to `to` (both included, either open), by date.
pub async fn list(db: &Db, from: Option<NaiveDate>, to: Option<NaiveDate>) -> Result<Vec<Holiday>, DbError> {
    let mut q = Query::select();
    q.columns(["holiday_date", "name"]).from("holidays").order_by("holiday_date", Order::Asc);
    if let Some(f) = from {
        q.and_where(Expr::col("holiday_date").gte(f));
    }
    if let Some(t) = to {
        q.and_where(Expr::col("holiday_date").lte(t));
    }
    let rows: Vec<(NaiveDate, String)> = db.fetch_all(&q).await?;
    Ok(rows.into_iter().map(|(date, name)| Holiday { date, name }).collect())
}

/// The holiday dates from `from` to `to`, for counting working days.
pub async fn dates(db: &Db, from: NaiveDate, to: NaiveDate) -> Result<BTreeSet<NaiveDate>, DbError> {
    Ok(list(db, Some(from), Some(to)).await?.into_iter().map(|h| h.date).collect())
}

/// One holiday inside a transaction.
pub async fn find(tx: &mut Tx, date: NaiveDate) -> Result<Option<Holiday>, DbError> {
    let mut q = Query::select();
    q.columns(["holiday_date", "name"]).from("holidays").and_where(Expr::col("holiday_date").eq(date));
    let row: Option<(NaiveDate, String)> = tx.fetch_optional(&q).await?;
    Ok(row.map(|(date, name)| Holiday { date, name }))
}

/// Adds a holiday; a date already listed is [`DbError::UniqueViolation`].
pub async fn insert(tx: &mut Tx, h: &Holiday) -> Result<(), DbError> {
    let stmt = insert_row(
        "holidays",
        vec![("holiday_date", h.date.into()), ("name", h.name.as_str().into()), ("created_at", moon_db::now().into())],
    );
    tx.execute(&stmt).await?;
    Ok(())
}

/// Renames the holiday on `date`.
pub async fn rename(tx: &mut Tx, h: &Holiday) -> Result<(), DbError> {
    let mut q = Query::update();
    q.table("holidays").value("name", h.name.as_str()).and_where(Expr::col("holiday_date").eq(h.date));
    tx.execute(&q).await?;
    Ok(())
}

/// Removes the holiday on `date`; false if there was none.
pub async fn delete(tx: &mut Tx, date: NaiveDate) -> Result<bool, DbError> {
    let mut q = Query::delete();
    q.from_table("holidays").and_where(Expr::col("holiday_date").eq(date));
    Ok(tx.execute(&q).await? > 0)
}
