//! The dimension tables (`dim_agent`, `dim_product`): read to know what a batch changes, and
//! rewritten for the agents and products whose rows differ from the source.

use std::collections::{BTreeSet, HashMap};

use moon_db::sea_query::{Expr, ExprTrait, Query};
use moon_db::{DbError, Tx};

use super::{delete_ids, insert_rows};
use crate::dialect::Dialect;
use crate::dimension::{self, AgentDim, AgentRow, ProductDim, ProductRow};
use crate::schema::{DIM_AGENT, DIM_AGENT_COLUMNS, DIM_PRODUCT, DIM_PRODUCT_COLUMNS};

/// The warehouse's rows of the agents in `ids`, or of every agent when `ids` is `None`.
pub(crate) async fn read_agents(tx: &mut Tx, ids: Option<&BTreeSet<i64>>) -> Result<HashMap<i64, AgentDim>, DbError> {
    if ids.is_some_and(BTreeSet::is_empty) {
        return Ok(HashMap::new());
    }
    let mut q = Query::select();
    q.columns(DIM_AGENT_COLUMNS).from(DIM_AGENT);
    if let Some(ids) = ids {
        q.and_where(Expr::col("agent_id").is_in(ids.iter().copied()));
    }
    let rows: Vec<AgentRow> = tx.fetch_all(&q).await?;
    Ok(rows.into_iter().map(dimension::agent_dim).collect())
}

/// Like [`read_agents`], for products.
pub(crate) async fn read_products(
    tx: &mut Tx,
    ids: Option<&BTreeSet<i64>>,
) -> Result<HashMap<i64, ProductDim>, DbError> {
    if ids.is_some_and(BTreeSet::is_empty) {
        return Ok(HashMap::new());
    }
    let mut q = Query::select();
    q.columns(DIM_PRODUCT_COLUMNS).from(DIM_PRODUCT);
    if let Some(ids) = ids {
        q.and_where(Expr::col("product_id").is_in(ids.iter().copied()));
    }
    let rows: Vec<ProductRow> = tx.fetch_all(&q).await?;
    Ok(rows.into_iter().map(dimension::product_dim).collect())
}

/// The ids among `ids` whose warehouse row (`old`) is not what the source says now (`new`).
/// A batch names every agent and product its sales touch, but few of them changed: only these
/// rows are rewritten.
pub(crate) fn changed<T: PartialEq>(
    ids: &BTreeSet<i64>,
    old: &HashMap<i64, T>,
    new: &HashMap<i64, T>,
) -> BTreeSet<i64> {
    ids.iter().copied().filter(|id| old.get(id) != new.get(id)).collect()
}

fn agent_row(a: &AgentDim) -> [Expr; 6] {
    [
        Expr::val(a.agent_id),
        Expr::val(a.agent_key.as_str()),
        Expr::val(a.team.as_str()),
        Expr::val(a.branch.as_str()),
        Expr::val(a.active),
        Expr::val(a.analytics_consent),
    ]
}

/// Replaces the rows of the agents in `ids` (or adds rows to an emptied table when `ids` is
/// `None`) with `current`.
pub(crate) async fn write_agents<'a>(
    tx: &mut Tx,
    ids: Option<&BTreeSet<i64>>,
    current: impl Iterator<Item = &'a AgentDim>,
) -> Result<(), DbError> {
    if let Some(ids) = ids {
        delete_ids(tx, DIM_AGENT, "agent_id", ids).await?;
    }
    insert_rows(tx, DIM_AGENT, &DIM_AGENT_COLUMNS, current.map(agent_row)).await
}

/// Like [`write_agents`], for products; the target is also written as a decimal for BI tools.
pub(crate) async fn write_products<'a>(
    tx: &mut Tx,
    dialect: Dialect,
    ids: Option<&BTreeSet<i64>>,
    current: impl Iterator<Item = &'a ProductDim>,
) -> Result<(), DbError> {
    if let Some(ids) = ids {
        delete_ids(tx, DIM_PRODUCT, "product_id", ids).await?;
    }
    let columns = ["product_id", "product_type", "product_name", "target_amount", "target_cents"];
    let rows = current.map(|p| {
        [
            Expr::val(p.product_id),
            Expr::val(p.product_type.as_str()),
            Expr::val(p.product_name.as_str()),
            dialect.numeric(p.target_cents),
            Expr::val(p.target_cents),
        ]
    });
    insert_rows(tx, DIM_PRODUCT, &columns, rows).await
}
