//! The one place the notification component reads the integration component's tables (`sales`
//! and `products`).
//!
//! Notifications learn of sales from the change log, never by calling the integration component
//! (docs/architecture.json: Notification -> Integration is a "never" arrow). Three questions
//! cannot be answered from the log alone, so they read the source tables here, read-only, and
//! nowhere else:
//!
//! - **Seeding the rule runner's totals.** The runner keeps running totals (`notification_totals`)
//!   that it moves by each change-log entry. When it starts without a cursor (or was reset) it
//!   rebuilds them from the sales themselves, summed in a read snapshot whose change-log position
//!   is known, and continues from that position: the "snapshot, then the log" pattern of change
//!   data capture. The log has been pruned, so it cannot replay history.
//! - **Who sold a product in a period**, to tell those agents that a product target was met.
//! - **What each product's target is and what was sold of it**, for the target-due reminders,
//!   which fire on a clock rather than on an entry and so have no entry to read totals from.
//!
//! Keeping these here means a change to the sales or products tables has one place to look at in
//! this component, and the border stays visible.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;
use moon_changelog::SaleFacts;
use moon_db::sea_query::{Expr, ExprTrait, Query};
use moon_db::{DbError, Tx};

/// Calls `each` with the sales summed per agent, product, branch and day, as `snapshot` sees
/// them: the source the rule runner's totals are rebuilt from.
pub async fn daily_sums(snapshot: &mut Tx, mut each: impl FnMut(SaleFacts) + Send) -> Result<(), DbError> {
    let backend = snapshot.backend();
    let mut sums = Query::select();
    sums.columns(["agent_id", "product_id", "branch", "sale_date"])
        .expr(moon_db::sum_i64(backend, Expr::col("amount_cents")))
        .from("sales")
        .group_by_columns(["agent_id", "product_id", "branch", "sale_date"]);
    snapshot
        .for_each(&sums, |(agent_id, product_id, branch, sale_date, cents): (i64, i64, String, NaiveDate, i64)| {
            each(SaleFacts { agent_id, product_id, branch, sale_date, amount_cents: cents });
            Ok(())
        })
        .await?;
    Ok(())
}

/// The agents who sold a product in a date range (and branch), in id order.
pub async fn sellers(
    tx: &mut Tx,
    product_id: i64,
    (from, to): (NaiveDate, NaiveDate),
    branch: Option<&str>,
) -> Result<Vec<i64>, DbError> {
    let mut q = Query::select();
    q.distinct()
        .column("agent_id")
        .from("sales")
        .and_where(Expr::col("product_id").eq(product_id))
        .and_where(Expr::col("sale_date").gte(from))
        .and_where(Expr::col("sale_date").lte(to));
    if let Some(b) = branch {
        q.and_where(Expr::col("branch").eq(b));
    }
    q.order_by("agent_id", moon_db::sea_query::Order::Asc);
    Ok(tx.fetch_all::<(i64,)>(&q).await?.into_iter().map(|(a,)| a).collect())
}

/// Cents sold of a product in a date range, in one branch or (`None`) the whole company.
pub async fn sold(
    tx: &mut Tx,
    product_id: i64,
    (from, to): (NaiveDate, NaiveDate),
    branch: Option<&str>,
) -> Result<i64, DbError> {
    let backend = tx.backend();
    let mut sums = Query::select();
    sums.expr(moon_db::sum_i64(backend, Expr::col(("sales", "amount_cents"))))
        .from("sales")
        .and_where(Expr::col(("sales", "product_id")).eq(product_id))
        .and_where(Expr::col(("sales", "sale_date")).gte(from))
        .and_where(Expr::col(("sales", "sale_date")).lte(to));
    if let Some(b) = branch {
        sums.and_where(Expr::col(("sales", "branch")).eq(b));
    }
    let (sold,): (Option<i64>,) = tx.fetch_optional(&sums).await?.unwrap_or((None,));
    Ok(sold.unwrap_or(0))
}

/// Every product as (id, name, target in cents), for the reminders.
pub async fn all_products(tx: &mut Tx) -> Result<Vec<(i64, String, i64)>, DbError> {
    let mut q = Query::select();
    q.columns(["id", "product_name", "target_amount_cents"]).from("products");
    tx.fetch_all(&q).await
}

/// Name and target (cents) of each of these products.
pub async fn products(tx: &mut Tx, ids: &BTreeSet<i64>) -> Result<HashMap<i64, (String, i64)>, DbError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut q = Query::select();
    q.columns(["id", "product_name", "target_amount_cents"])
        .from("products")
        .and_where(Expr::col("id").is_in(ids.iter().copied()));
    Ok(tx.fetch_all::<(i64, String, i64)>(&q).await?.into_iter().map(|(id, n, t)| (id, (n, t))).collect())
}
