//! Products and their sales targets, over `/api/v1/products` (part of the integration target).

pub mod repo;
pub mod service;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use moon_domain::{FieldError, FieldErrors, Label, Money, Typed};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use moon_db::Db;
use moon_http::paging::Paged;
use moon_http::{ApiError, ApiJson, ApiQuery, ApiResult, PageParams, Principal};

/// The component as the wiring sees it: its routes and the links `GET /` lists.
pub fn describe<S>() -> crate::component::Description<S>
where
    S: Clone + Send + Sync + 'static,
    Db: axum::extract::FromRef<S>,
{
    crate::component::Description::new("integration", routes()).with_links(&[("products", "/api/v1/products")])
}

/// The component's routes.
fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Db: axum::extract::FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(list_products, create_product)).routes(routes!(
        get_product,
        update_product,
        delete_product
    ))
}

/// A product with its sales target.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Product {
    /// Numeric id.
    pub id: i64,
    /// Line of business: Life, Vehicle, Health, …
    pub product_type: String,
    /// Unique name, such as `Life Insurance - Platinum Plan`.
    pub product_name: String,
    /// Sales target for the product.
    pub target_amount: Money,
    /// When created (UTC).
    pub created_at: DateTime<Utc>,
    /// When last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/products`. Text fields are [`Typed`], so a value of the wrong JSON
/// type is listed with every other bad field rather than alone.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProduct {
    /// Required: Life, Vehicle, Health, …
    #[schema(value_type = Option<String>)]
    pub product_type: Option<Typed<String>>,
    /// Required and unique.
    #[schema(value_type = Option<String>)]
    pub product_name: Option<Typed<String>>,
    /// Required: a positive amount with at most two decimals, as a string or number.
    #[schema(value_type = Option<String>)]
    pub target_amount: Option<serde_json::Value>,
}

/// Body of `PATCH /api/v1/products/{id}`; only the fields present change.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProduct {
    /// New line of business.
    #[schema(value_type = Option<String>)]
    pub product_type: Option<Typed<String>>,
    /// New unique name.
    #[schema(value_type = Option<String>)]
    pub product_name: Option<Typed<String>>,
    /// New target.
    #[schema(value_type = Option<String>)]
    pub target_amount: Option<serde_json::Value>,
}

/// Validated product fields; `None` means unchanged (or, on create, cannot happen).
#[derive(Debug, Clone, Default)]
pub struct ProductFields {
    pub product_type: Option<Label>,
    pub product_name: Option<Label>,
    pub target_amount: Option<Money>,
}

/// Validates a product's fields, every problem (type errors included) reported together; on
/// `create` the three fields are required.
pub(crate) fn validate(
    product_type: Option<&Typed<String>>,
    product_name: Option<&Typed<String>>,
    target: Option<&serde_json::Value>,
    create: bool,
) -> Result<ProductFields, Vec<FieldError>> {
    let mut e = FieldErrors::new();
    if create {
        for (field, missing) in [
            ("product_type", product_type.is_none()),
            ("product_name", product_name.is_none()),
            ("target_amount", target.is_none()),
        ] {
            if missing {
                e.push(FieldError::required(field));
            }
        }
    }
    let mut label = |field: &str, raw: Option<&Typed<String>>| {
        let s = e.take_opt(raw.map(|t| t.get(field)))?;
        e.take(Label::parse(field, &s))
    };
    let product_type = label("product_type", product_type);
    let product_name = label("product_name", product_name);
    let fields = ProductFields {
        product_type,
        product_name,
        target_amount: e.take_opt(target.map(|v| Money::parse_json("target_amount", v))),
    };
    e.finish()?;
    Ok(fields)
}

/// Filters of `GET /api/v1/products`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProductFilter {
    /// Only products of this line of business.
    pub product_type: Option<String>,
    /// Rows per page, 1–500 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `asc` (default) or `desc` by id.
    pub order: Option<String>,
}

/// List products.
#[utoipa::path(get, path = "/api/v1/products", tag = "products", params(ProductFilter),
    responses((status = 200, body = Paged<Product>), (status = 400, body = moon_http::error::Problem)))]
async fn list_products(
    State(db): State<Db>,
    ApiQuery(filter): ApiQuery<ProductFilter>,
) -> ApiResult<Json<Paged<Product>>> {
    let page = PageParams { limit: filter.limit.clone(), cursor: filter.cursor.clone(), order: filter.order.clone() }
        .parse()?;
    let rows = repo::list(&db, filter.product_type.as_deref(), &page).await?;
    Ok(Json(page.finish(rows, |p| p.id)))
}

/// Create a product with its target.
#[utoipa::path(post, path = "/api/v1/products", tag = "products", request_body = CreateProduct,
    responses((status = 201, body = Product), (status = 409, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn create_product(
    State(db): State<Db>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateProduct>,
) -> ApiResult<(StatusCode, Json<Product>)> {
    let f = validate(body.product_type.as_ref(), body.product_name.as_ref(), body.target_amount.as_ref(), true)
        .map_err(ApiError::validation)?;
    Ok((StatusCode::CREATED, Json(service::create(&db, &principal, &f).await?)))
}

/// Get one product.
#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "products", params(("id" = i64, Path, description = "Product id")),
    responses((status = 200, body = Product), (status = 404, body = moon_http::error::Problem)))]
async fn get_product(State(db): State<Db>, Path(id): Path<String>) -> ApiResult<Json<Product>> {
    let id = moon_http::parse_id(&id)?;
    Ok(Json(service::get(&db, id).await?))
}

/// Change a product's type, name or target.
#[utoipa::path(patch, path = "/api/v1/products/{id}", tag = "products", params(("id" = i64, Path, description = "Product id")), request_body = UpdateProduct,
    responses((status = 200, body = Product), (status = 404, body = moon_http::error::Problem), (status = 409, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn update_product(
    State(db): State<Db>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateProduct>,
) -> ApiResult<Json<Product>> {
    let id = moon_http::parse_id(&id)?;
    let f = validate(body.product_type.as_ref(), body.product_name.as_ref(), body.target_amount.as_ref(), false)
        .map_err(ApiError::validation)?;
    Ok(Json(service::update(&db, &principal, id, &f).await?))
}

/// Delete a product that has no sales.
#[utoipa::path(delete, path = "/api/v1/products/{id}", tag = "products", params(("id" = i64, Path, description = "Product id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = moon_http::error::Problem), (status = 409, description = "The product has sales", body = moon_http::error::Problem)))]
async fn delete_product(State(db): State<Db>, principal: Principal, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = moon_http::parse_id(&id)?;
    service::delete(&db, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
