//! Sale use cases, shared by the REST API and the original `/integration` routes.

use moon_db::{Db, DbError, Tx};
use moon_domain::FieldError;

use super::model::{AgentRef, Sale, SaleFields};
use super::repo::{self, SaleRecord};
use crate::agents::model::Agent;
use crate::http::{ApiError, ApiResult, Principal, Scope};

/// Resolves the agent a sale names; an unknown (or invisible) agent is a 422 on the field used.
async fn resolve_agent(tx: &mut Tx, principal: &Principal, agent: &AgentRef) -> ApiResult<Agent> {
    let (found, field, shown) = match agent {
        AgentRef::Code(code) => (
            crate::agents::repo::find_by_code(tx, &principal.scope, code.as_str()).await?,
            "agent_code",
            code.to_string(),
        ),
        AgentRef::Id(id) => (crate::agents::repo::find(tx, &principal.scope, *id).await?, "agent_id", id.to_string()),
    };
    found.ok_or_else(|| ApiError::field(FieldError::new(field, "unknown_agent", format!("no agent {shown} exists"))))
}

async fn check_product(tx: &mut Tx, product_id: i64) -> ApiResult<()> {
    if crate::products::repo::find(tx, product_id).await?.is_none() {
        return Err(ApiError::field(FieldError::new(
            "product_id",
            "unknown_product",
            format!("no product {product_id} exists"),
        )));
    }
    Ok(())
}

fn duplicate_policy(policy: &str) -> ApiError {
    ApiError::conflict("duplicate_policy_number", format!("a sale with policy_number {policy} already exists"))
}

/// A branch-scoped principal records sales for their own branch only.
fn check_branch(principal: &Principal, branch: &str) -> ApiResult<()> {
    match &principal.scope {
        Scope::Branch(b) if b != branch => Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "forbidden",
            "you may not record sales for another branch",
        )),
        _ => Ok(()),
    }
}

/// Writes `record` (insert when `id` is None) mapping constraint races to the right answers.
async fn store(tx: &mut Tx, id: Option<i64>, record: &SaleRecord) -> ApiResult<i64> {
    if let Some(p) = &record.policy_number
        && repo::policy_taken(tx, p, id).await?
    {
        return Err(duplicate_policy(p));
    }
    let result = match id {
        None => repo::insert(tx, record).await,
        Some(id) => repo::update(tx, id, record).await.map(|_| id),
    };
    match result {
        Ok(id) => Ok(id),
        Err(DbError::UniqueViolation) => Err(duplicate_policy(record.policy_number.as_deref().unwrap_or_default())),
        // The agent or product was deleted between our check and the insert.
        Err(DbError::ForeignKeyViolation) => Err(ApiError::field(FieldError::new(
            "agent_code",
            "unknown_agent",
            "the agent or product no longer exists",
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Records a sale. Missing `branch` defaults to the agent's branch.
pub async fn create(db: &Db, principal: &Principal, f: SaleFields) -> ApiResult<Sale> {
    let (Some(agent_ref), Some(product_id), Some(amount), Some(sale_date)) =
        (&f.agent, f.product_id, f.amount, f.sale_date)
    else {
        return Err(ApiError::internal());
    };
    let mut tx = db.begin().await?;
    let agent = resolve_agent(&mut tx, principal, agent_ref).await?;
    check_product(&mut tx, product_id).await?;
    let branch = f.branch.map_or(agent.branch.clone(), |b| b.into_inner());
    check_branch(principal, &branch)?;
    let record = SaleRecord {
        agent_id: agent.id,
        product_id,
        amount,
        sale_date,
        branch,
        policy_number: f.policy_number.flatten().map(|p| p.into_inner()),
    };
    let id = store(&mut tx, None, &record).await?;
    let sale = repo::find(&mut tx, &Scope::All, id).await?.ok_or_else(ApiError::internal)?;
    tx.commit().await?;
    Ok(sale)
}

/// Applies a partial update to a visible sale.
pub async fn update(db: &Db, principal: &Principal, id: i64, f: SaleFields) -> ApiResult<Sale> {
    let mut tx = db.begin().await?;
    let current =
        repo::find(&mut tx, &principal.scope, id).await?.ok_or_else(|| ApiError::not_found(format!("sale {id}")))?;
    let agent_id = match &f.agent {
        Some(r) => resolve_agent(&mut tx, principal, r).await?.id,
        None => current.agent_id,
    };
    if let Some(p) = f.product_id {
        check_product(&mut tx, p).await?;
    }
    let branch = f.branch.map_or(current.branch, |b| b.into_inner());
    check_branch(principal, &branch)?;
    let record = SaleRecord {
        agent_id,
        product_id: f.product_id.unwrap_or(current.product_id),
        amount: f.amount.unwrap_or(current.amount),
        sale_date: f.sale_date.unwrap_or(current.sale_date),
        branch,
        policy_number: match f.policy_number {
            Some(p) => p.map(|p| p.into_inner()),
            None => current.policy_number,
        },
    };
    store(&mut tx, Some(id), &record).await?;
    let sale = repo::find(&mut tx, &Scope::All, id).await?.ok_or_else(ApiError::internal)?;
    tx.commit().await?;
    Ok(sale)
}

/// Deletes a visible sale.
pub async fn delete(db: &Db, principal: &Principal, id: i64) -> ApiResult<()> {
    let mut tx = db.begin().await?;
    repo::find(&mut tx, &principal.scope, id).await?.ok_or_else(|| ApiError::not_found(format!("sale {id}")))?;
    repo::delete(&mut tx, id).await?;
    tx.commit().await?;
    Ok(())
}
