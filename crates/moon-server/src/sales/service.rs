//! Sale use cases, shared by the REST API and the original `/integration` routes.

use moon_db::{Batch, BatchFuture, Db, DbError, GroupCommit, Tx};
use moon_domain::FieldError;

use super::model::{Sale, SaleFields};
use super::repo::{self, SaleRecord};
use crate::audit;
use crate::error::{Error, Result};
use moon_changelog::Event;
use moon_http::{Principal, Scope};

fn unknown_product(product_id: i64) -> Error {
    Error::field(FieldError::new("product_id", "unknown_product", format!("no product {product_id} exists")))
}

/// 409 naming the sale that already carries this external reference.
pub(crate) fn duplicate_external(x: &super::model::ExternalRef, existing: i64) -> Error {
    Error::conflict(
        "duplicate_external_ref",
        format!(
            "sale {existing} (/api/v1/sales/{existing}) already has source_system {} and external_ref {}",
            x.source_system, x.external_ref
        ),
    )
}

fn duplicate_policy(policy: &str) -> Error {
    Error::conflict("duplicate_policy_number", format!("a sale with policy_number {policy} already exists"))
}

/// A branch-scoped principal records sales for their own branch only; an agent's sales are
/// credited to the agent's own branch, so an agent may not name one.
fn check_branch(principal: &Principal, branch: &str) -> Result<()> {
    let refuse = |detail: &str| Err(Error::forbidden(detail));
    match &principal.scope {
        Scope::Branch(b) if b != branch => refuse("you may not record sales for another branch"),
        Scope::Agent(_) => refuse("an agent's sales are credited to their own branch; leave branch out"),
        _ => Ok(()),
    }
}

/// Maps the constraints that guard a sale row to the answers a client can act on. The
/// constraints, not earlier look-ups, are what make concurrent requests safe: the only unique
/// value of a sale is its policy number, and its references are its agent and product.
fn constraint_error(e: DbError, record: &SaleRecord) -> Error {
    match e {
        DbError::UniqueViolation => duplicate_policy(record.policy_number.as_deref().unwrap_or_default()),
        // The agent or product was deleted after we looked it up.
        DbError::ForeignKeyViolation => Error::field(FieldError::new(
            "agent_code",
            "unknown_agent",
            "the agent or product of this sale no longer exists",
        )),
        other => other.into(),
    }
}

/// Records a sale. Missing `branch` defaults to the agent's home branch on the sale date.
///
/// The hot path is one `INSERT … SELECT … RETURNING` that resolves the agent and checks the
/// product while inserting and hands back the stored row; it runs in a batch with the other sales
/// being recorded at the same moment ([`moon_db::GroupCommit`], see ADR 0012), whose change-log
/// and audit entries are appended together and which commits once. The answer comes after that
/// commit. Only when nothing was inserted do we look up which reference was missing.
pub async fn create(db: &Db, principal: &Principal, f: SaleFields) -> Result<Sale> {
    let (Some(agent_ref), Some(product_id), Some(amount), Some(sale_date)) =
        (f.agent, f.product_id, f.amount, f.sale_date)
    else {
        return Err(Error::internal("a sale reached create() without its required fields"));
    };
    if let Some(b) = &f.branch {
        check_branch(principal, b.as_str())?;
    }
    let policy_number = f.policy_number.flatten().map(|p| p.into_inner());
    let pending = PendingSale {
        principal: principal.clone(),
        agent: agent_ref,
        product_id,
        amount,
        sale_date,
        branch: f.branch.map(|b| b.into_inner()),
        policy_number,
        external: f.external,
        trace_context: moon_http::trace_context::current(),
    };
    let queue = db.shared(|| GroupCommit::new(CreateBatch, MAX_BATCH).flushers(flushers(db.backend())));
    let duplicate = pending.policy_number.clone();
    let external = pending.external.clone();
    let agent_ref = pending.agent.clone();
    let outcome = queue.submit(db, pending).await?;
    let inserted = match outcome {
        Err(DbError::UniqueViolation) => {
            // Two unique keys guard a sale: say which one this was.
            if let Some(x) = &external
                && let Some(existing) = repo::id_by_external(db, x).await?
            {
                return Err(duplicate_external(x, existing));
            }
            return Err(duplicate_policy(duplicate.as_deref().unwrap_or_default()));
        }
        Err(DbError::ForeignKeyViolation) => {
            return Err(crate::agents::service::unknown_agent("agent_code", "of this sale"));
        }
        Err(other) => return Err(other.into()),
        Ok(inserted) => inserted,
    };
    if let Some(sale) = inserted {
        return Ok(sale);
    }
    // Nothing matched: name the missing reference.
    crate::agents::service::resolve(db, None, principal, &agent_ref).await?;
    if crate::products::repo::get(db, product_id).await?.is_none() {
        return Err(unknown_product(product_id));
    }
    if let Some(number) = duplicate.as_deref()
        && repo::policy_number_held(db, number).await?
    {
        return Err(duplicate_policy(number));
    }
    // Both exist now: one was deleted or moved while we inserted.
    Err(Error::conflict("changed_concurrently", "the agent or product changed while the sale was recorded; retry"))
}

/// Batches in flight at once: a few on PostgreSQL, where a batch's inserts are round trips that
/// can overlap the previous batch's commit (ADR 0012); one on SQLite (one writer) and on
/// MariaDB, where overlapping batches failed `write_path::a_bad_sale_in_a_batch_does_not_fail_its_neighbours`
/// with 500s that were not deadlocks InnoDB reported as such (not yet understood).
fn flushers(backend: moon_db::Backend) -> usize {
    match backend {
        moon_db::Backend::Postgres => 3,
        moon_db::Backend::Sqlite | moon_db::Backend::MySql => 1,
    }
}

/// Sales per group-commit transaction. Bounds the tail's statements (one change-log row of 6
/// values and one audit row of 12 per sale, far below every backend's parameter limit) and how
/// long one batch holds the sequence rows.
const MAX_BATCH: usize = 256;

/// A sale waiting for its batch: what [`create`] validated, owned.
struct PendingSale {
    principal: Principal,
    agent: crate::agents::model::AgentRef,
    product_id: i64,
    amount: moon_domain::Money,
    sale_date: chrono::NaiveDate,
    branch: Option<String>,
    policy_number: Option<String>,
    external: Option<super::model::ExternalRef>,
    /// The caller's trace, carried into the sale's change-log entry.
    trace_context: Option<String>,
}

/// Recording sales in batches: each sale's insert, then the batch's change-log and audit
/// entries, in the sales' order.
struct CreateBatch;

impl Batch for CreateBatch {
    type Item = PendingSale;
    type Output = Option<Sale>;

    fn write<'a>(&'a self, tx: &'a mut Tx, item: &'a PendingSale) -> BatchFuture<'a, Option<Sale>> {
        Box::pin(async move {
            let new = repo::NewSale {
                agent: &item.agent,
                product_id: item.product_id,
                amount: item.amount,
                sale_date: item.sale_date,
                branch: item.branch.as_deref(),
                policy_number: item.policy_number.as_deref(),
                external: item.external.as_ref(),
            };
            repo::insert_resolving(tx, &item.principal.scope, &new, moon_db::now()).await
        })
    }

    fn finish<'a>(&'a self, tx: &'a mut Tx, done: Vec<(&'a PendingSale, &'a Option<Sale>)>) -> BatchFuture<'a, ()> {
        Box::pin(async move {
            let created: Vec<(&PendingSale, &Sale)> =
                done.into_iter().filter_map(|(item, sale)| sale.as_ref().map(|s| (item, s))).collect();
            let events: Vec<(Event, Option<String>)> = created
                .iter()
                .map(|(item, sale)| {
                    let event = Event::Sale { id: sale.id, before: None, after: Some(repo::facts(sale)) };
                    (event, item.trace_context.clone())
                })
                .collect();
            // Each sale's policy mirror (ADR 0024): three multi-row inserts for the batch.
            let mirrors: Vec<(crate::policies::mirror::MirrorSale, &str)> =
                created.iter().map(|(item, sale)| (repo::mirror(sale), item.principal.id.as_str())).collect();
            crate::policies::mirror::write(tx, &mirrors).await?;
            moon_changelog::record_traced(tx, &events).await?;
            let entries = created
                .iter()
                .map(|(item, sale)| {
                    let event = audit::Event::on("sale.create", "sale", sale.id).with_diff(None, Some(*sale));
                    (audit::Actor::from(&item.principal), event)
                })
                .collect();
            audit::append_many(tx, entries).await
        })
    }
}

/// Applies a partial update to a visible sale, reading and writing in one transaction.
pub async fn update(db: &Db, principal: &Principal, id: i64, f: SaleFields) -> Result<Sale> {
    let mut tx = db.begin().await?;
    let current =
        repo::find(&mut tx, &principal.scope, id).await?.ok_or_else(|| Error::not_found(format!("sale {id}")))?;
    let before = repo::facts(&current);
    let current_row = current.clone();
    let agent_id = match &f.agent {
        Some(r) => crate::agents::service::resolve(db, Some(&mut tx), principal, r).await?.id,
        None => current.agent_id,
    };
    if let Some(p) = f.product_id
        && crate::products::repo::find(&mut tx, p).await?.is_none()
    {
        return Err(unknown_product(p));
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
    repo::update(&mut tx, id, &record).await.map_err(|e| constraint_error(e, &record))?;
    let sale = repo::find(&mut tx, &Scope::All, id)
        .await?
        .ok_or_else(|| Error::internal("the sale vanished inside its own transaction"))?;
    crate::policies::mirror::update(&mut tx, repo::mirror(&sale), &principal.id)
        .await
        .map_err(|e| constraint_error(e, &record))?;
    let after = repo::facts(&sale);
    if before != after {
        let event = Event::Sale { id, before: Some(before), after: Some(after) };
        moon_changelog::record_traced(&mut tx, &[(event, moon_http::trace_context::current())]).await?;
    }
    audit::append(
        &mut tx,
        principal,
        audit::Event::on("sale.update", "sale", id).with_diff(Some(&current_row), Some(&sale)),
    )
    .await?;
    tx.commit().await?;
    Ok(sale)
}

/// Deletes a visible sale.
pub async fn delete(db: &Db, principal: &Principal, id: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    let current =
        repo::find(&mut tx, &principal.scope, id).await?.ok_or_else(|| Error::not_found(format!("sale {id}")))?;
    // The mirror goes with the sale; a policy that has moved on (renewed, cancelled…) keeps both.
    if let crate::policies::mirror::Removal::HasTransactions(policy) =
        crate::policies::mirror::remove(&mut tx, id).await?
    {
        return Err(Error::conflict(
            "policy_has_transactions",
            format!(
                "sale {id} is the new business of policy {policy}, which has later transactions; record a cancellation of the policy instead"
            ),
        ));
    }
    repo::delete(&mut tx, id).await?;
    let event = Event::Sale { id, before: Some(repo::facts(&current)), after: None };
    moon_changelog::record_traced(&mut tx, &[(event, moon_http::trace_context::current())]).await?;
    audit::append(&mut tx, principal, audit::Event::on("sale.delete", "sale", id).with_diff(Some(&current), None))
        .await?;
    tx.commit().await?;
    Ok(())
}
