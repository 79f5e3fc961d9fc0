//! Product use cases, shared by `/api/v1/products`, the console and (for reads) the sales use
//! cases: each opens one transaction, checks scope, existence and uniqueness, writes with its
//! change-log entry (in `repo`) and audit entry, and commits.

use moon_db::{Db, DbError};
use moon_domain::Label;

use super::repo;
use super::{Product, ProductFields};
use crate::audit;
use crate::error::{Error, Result};
use moon_http::{Principal, Scope};

fn duplicate_name(name: &str) -> Error {
    Error::conflict("duplicate_product_name", format!("a product named {name:?} already exists"))
}

fn vanished() -> Error {
    Error::internal("the product vanished inside its own transaction")
}

/// Products are company-wide reference data: only whole-company principals change them.
fn require_company_scope(principal: &Principal) -> Result<()> {
    if principal.scope == Scope::All {
        Ok(())
    } else {
        Err(Error::forbidden("only administrators may change products and targets"))
    }
}

/// One product; every principal may read the catalogue.
pub async fn get(db: &Db, id: i64) -> Result<Product> {
    repo::get(db, id).await?.ok_or_else(|| Error::not_found(format!("product {id}")))
}

/// Creates a product from validated fields, with its audit entry: the API's and the console's
/// one way to do it.
pub async fn create(db: &Db, principal: &Principal, f: &ProductFields) -> Result<Product> {
    require_company_scope(principal)?;
    let name = f.product_name.as_ref().map(Label::to_string).unwrap_or_default();
    let mut tx = db.begin().await?;
    if repo::find_by_name(&mut tx, &name).await?.is_some() {
        return Err(duplicate_name(&name));
    }
    let id = match repo::insert(&mut tx, f).await {
        Err(DbError::UniqueViolation) => return Err(duplicate_name(&name)),
        other => other?,
    };
    let product = repo::find(&mut tx, id).await?.ok_or_else(vanished)?;
    let event = audit::Event::on("product.create", "product", id).with_diff(None, Some(&product));
    audit::append(&mut tx, principal, event).await?;
    tx.commit().await?;
    Ok(product)
}

/// Changes a product (its target, say) from validated fields, with its audit entry.
pub async fn update(db: &Db, principal: &Principal, id: i64, f: &ProductFields) -> Result<Product> {
    require_company_scope(principal)?;
    let mut tx = db.begin().await?;
    let current = repo::find(&mut tx, id).await?.ok_or_else(|| Error::not_found(format!("product {id}")))?;
    if let Some(name) = &f.product_name
        && name.as_str() != current.product_name
        && repo::find_by_name(&mut tx, name.as_str()).await?.is_some()
    {
        return Err(duplicate_name(name.as_str()));
    }
    match repo::update(&mut tx, id, f).await {
        Err(DbError::UniqueViolation) => {
            return Err(duplicate_name(f.product_name.as_ref().map(Label::as_str).unwrap_or_default()));
        }
        other => other?,
    };
    let product = repo::find(&mut tx, id).await?.ok_or_else(vanished)?;
    let event = audit::Event::on("product.update", "product", id).with_diff(Some(&current), Some(&product));
    audit::append(&mut tx, principal, event).await?;
    tx.commit().await?;
    Ok(product)
}

/// Deletes a product that no sale names. The sales table's `RESTRICT` reference is what keeps a
/// product with sales (its history and the KPIs depend on it), so no look-up into the sales
/// table is needed and a sale recorded meanwhile is covered too.
pub async fn delete(db: &Db, principal: &Principal, id: i64) -> Result<()> {
    require_company_scope(principal)?;
    let mut tx = db.begin().await?;
    let product = repo::find(&mut tx, id).await?.ok_or_else(|| Error::not_found(format!("product {id}")))?;
    match repo::delete(&mut tx, id).await {
        Err(DbError::ForeignKeyViolation) => {
            return Err(Error::conflict(
                "product_has_sales",
                format!(
                    "product {:?} has recorded sales and cannot be deleted; sales history and KPIs depend on it",
                    product.product_name
                ),
            ));
        }
        other => other?,
    };
    let event = audit::Event::on("product.delete", "product", id).with_diff(Some(&product), None);
    audit::append(&mut tx, principal, event).await?;
    tx.commit().await?;
    Ok(())
}
