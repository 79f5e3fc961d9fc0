//! The queries the product catalogue owns.

use chrono::{DateTime, Utc};
use moon_db::sea_query::{Expr, ExprTrait, Query, SelectStatement, Value};
use moon_db::{Db, DbError, Tx, insert_row};
use moon_domain::Money;

use super::{Product, ProductFields};
use moon_changelog::{Event, ProductFacts};
use moon_http::Page;
use moon_http::paging::keyset;

/// A product row as stored: the target in cents.
#[derive(Debug, sqlx::FromRow)]
struct ProductRow {
    id: i64,
    product_type: String,
    product_name: String,
    target_amount_cents: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<ProductRow> for Product {
    fn from(r: ProductRow) -> Self {
        Product {
            id: r.id,
            product_type: r.product_type,
            product_name: r.product_name,
            target_amount: Money::from_cents(r.target_amount_cents),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn base() -> SelectStatement {
    let mut q = Query::select();
    q.columns(
        ["id", "product_type", "product_name", "target_amount_cents", "created_at", "updated_at"]
            .map(|c| ("products", c)),
    )
    .from("products");
    q
}

/// One page of products.
pub async fn list(db: &Db, product_type: Option<&str>, page: &Page) -> Result<Vec<Product>, DbError> {
    let mut q = base();
    if let Some(t) = product_type {
        q.and_where(Expr::col(("products", "product_type")).eq(t));
    }
    keyset(&mut q, ("products", "id"), page);
    Ok(db.fetch_all::<ProductRow>(&q).await?.into_iter().map(Product::from).collect())
}

/// One product by id.
pub async fn get(db: &Db, id: i64) -> Result<Option<Product>, DbError> {
    let mut q = base();
    q.and_where(Expr::col(("products", "id")).eq(id));
    Ok(db.fetch_optional::<ProductRow>(&q).await?.map(Product::from))
}

/// One product by id inside a transaction.
pub async fn find(tx: &mut Tx, id: i64) -> Result<Option<Product>, DbError> {
    let mut q = base();
    q.and_where(Expr::col(("products", "id")).eq(id));
    Ok(tx.fetch_optional::<ProductRow>(&q).await?.map(Product::from))
}

/// One product by its unique name inside a transaction.
pub async fn find_by_name(tx: &mut Tx, name: &str) -> Result<Option<Product>, DbError> {
    let mut q = base();
    q.and_where(Expr::col(("products", "product_name")).eq(name));
    Ok(tx.fetch_optional::<ProductRow>(&q).await?.map(Product::from))
}

/// What KPIs report of a product, for the change log.
pub fn facts(p: &Product) -> ProductFacts {
    ProductFacts {
        product_name: p.product_name.clone(),
        product_type: p.product_type.clone(),
        target_cents: p.target_amount.cents(),
    }
}

/// Appends the change from `before` to the product's current state (if any) to the change log.
async fn log_change(tx: &mut Tx, id: i64, before: Option<ProductFacts>) -> Result<(), DbError> {
    let after = find(tx, id).await?.as_ref().map(facts);
    if before != after {
        moon_changelog::record(tx, &[Event::Product { id, before, after }]).await?;
    }
    Ok(())
}

/// Inserts a product (every field must be present) and logs it in the change log.
pub async fn insert(tx: &mut Tx, f: &ProductFields) -> Result<i64, DbError> {
    let now = moon_db::now();
    let text = |v: &Option<moon_domain::Label>| Value::from(v.as_ref().map(|l| l.as_str().to_owned()));
    let stmt = insert_row(
        "products",
        vec![
            ("product_type", text(&f.product_type)),
            ("product_name", text(&f.product_name)),
            ("target_amount_cents", f.target_amount.map(Money::cents).into()),
            ("created_at", now.into()),
            ("updated_at", now.into()),
        ],
    );
    let id = tx.insert(&stmt).await?;
    log_change(tx, id, None).await?;
    Ok(id)
}

/// Applies the fields present, logging a change of name, type or target.
pub async fn update(tx: &mut Tx, id: i64, f: &ProductFields) -> Result<bool, DbError> {
    let before = find(tx, id).await?.as_ref().map(facts);
    let mut values: Vec<(&str, Value)> = Vec::new();
    if let Some(v) = &f.product_type {
        values.push(("product_type", v.as_str().into()));
    }
    if let Some(v) = &f.product_name {
        values.push(("product_name", v.as_str().into()));
    }
    if let Some(v) = f.target_amount {
        values.push(("target_amount_cents", v.cents().into()));
    }
    values.push(("updated_at", moon_db::now().into()));
    let mut q = Query::update();
    q.table("products").values(values.into_iter().map(|(c, v)| (c, Expr::val(v)))).and_where(Expr::col("id").eq(id));
    let updated = tx.execute(&q).await? > 0;
    log_change(tx, id, before).await?;
    Ok(updated)
}

/// Deletes a product and logs it. A product some sale names is kept by that reference:
/// [`DbError::ForeignKeyViolation`].
pub async fn delete(tx: &mut Tx, id: i64) -> Result<bool, DbError> {
    let before = find(tx, id).await?.as_ref().map(facts);
    let mut q = Query::delete();
    q.from_table("products").and_where(Expr::col("id").eq(id));
    let deleted = tx.execute(&q).await? > 0;
    log_change(tx, id, before).await?;
    Ok(deleted)
}
