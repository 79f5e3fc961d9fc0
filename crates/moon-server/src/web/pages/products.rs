//! Products and their sales targets: everyone may read them; admins add products and change
//! targets (the change reaches the target-against-actual chart through the change log).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::see_other;
use crate::products::{self as component, Product};
use crate::web::WebState;
use crate::web::context::Ctx;
use crate::web::form::{self, Input, Problems, given};
use crate::web::layout::{self, csrf_field, document, notice, respond};
use moon_http::{ApiError, Page};

/// The product form's fields, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct ProductForm {
    product_type: Option<String>,
    product_name: Option<String>,
    target_amount: Option<String>,
}

fn v(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

/// `GET /products`.
pub async fn list(State(state): State<WebState>, ctx: Ctx) -> Response {
    render(&state, &ctx, ctx.notice.as_deref(), &ProductForm::default(), &Problems::default(), None, StatusCode::OK)
        .await
}

async fn render(
    state: &WebState,
    ctx: &Ctx,
    done: Option<&str>,
    new: &ProductForm,
    problems: &Problems,
    failed_target: Option<(i64, &Problems)>,
    status: StatusCode,
) -> Response {
    let all = Page { limit: moon_http::paging::MAX_LIMIT, after: None, descending: false };
    let products: Vec<Product> = match crate::products::repo::list(&state.db, None, &all).await {
        Ok(p) => p,
        Err(e) => {
            let e = ApiError::from(e);
            return layout::error_page(e.status(), e.detail());
        }
    };
    let admin = ctx.may("POST", "/products");
    let body = html! {
        (notice(done))
        div.table-wrap {
            table #products-table data-sortable {
                caption.sr-only { "Products and targets" }
                thead { tr {
                    th scope="col" { "Product" } th scope="col" { "Line" } th.num scope="col" { "Target (" (state.currency) ")" }
                    @if admin { th scope="col" data-nosort { "Change target" } }
                } }
                tbody {
                    @for p in &products {
                        tr {
                            td { (p.product_name) } td { (p.product_type) } td.num data-value=(p.target_amount) { (p.target_amount.grouped()) }
                            @if admin {
                                td {
                                    @let err = failed_target.filter(|(id, _)| *id == p.id).map(|(_, pr)| pr);
                                    form.inline method="post" action=(format!("/products/{}", p.id)) {
                                        (csrf_field(ctx))
                                        label.sr-only for=(format!("target-{}", p.id)) { "New target for " (p.product_name) }
                                        input #(format!("target-{}", p.id)) type="text" inputmode="decimal" name="target_amount"
                                            value=(p.target_amount.to_string()) size="12"
                                            aria-invalid=[err.map(|_| "true")];
                                        " " button.secondary type="submit" { "Save" }
                                        @if let Some(pr) = err { (pr.summary()) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if admin {
            section.panel aria-labelledby="new-product-h" {
                h2 #new-product-h { "Add a product" }
                form method="post" action="/products" novalidate {
                    (csrf_field(ctx))
                    (problems.summary())
                    div.form-grid {
                        (form::input(Input { name: "product_type", label: "Line of business", value: v(&new.product_type), kind: "text", required: true }, problems))
                        (form::input(Input { name: "product_name", label: "Name", value: v(&new.product_name), kind: "text", required: true }, problems))
                        (form::input(Input { name: "target_amount", label: &format!("Sales target ({})", state.currency), value: v(&new.target_amount), kind: "text", required: true }, problems))
                    }
                    button type="submit" { "Add product" }
                }
            }
        }
    };
    respond(status, document(Some(ctx), "Products & targets", body))
}

/// `POST /products`: adds a product with its target (admins).
pub async fn create(State(state): State<WebState>, ctx: Ctx, body: Bytes) -> Response {
    let f: ProductForm = match form::parse(&body) {
        Ok(f) => f,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let target = given(&f.target_amount).map(|t| serde_json::Value::String(form::ungroup_amount(&t)));
    let product_type = given(&f.product_type).map(moon_domain::Typed::Value);
    let product_name = given(&f.product_name).map(moon_domain::Typed::Value);
    let created = match component::validate(product_type.as_ref(), product_name.as_ref(), target.as_ref(), true) {
        Ok(fields) => component::service::create(&state.db, &ctx.principal, &fields).await.map_err(ApiError::from),
        Err(errors) => Err(ApiError::validation(errors)),
    };
    match created {
        Ok(p) => see_other("/products", &format!("Product {} added.", p.product_name)),
        Err(e) => render(&state, &ctx, None, &f, &Problems::from_error(&e), None, e.status()).await,
    }
}

/// `POST /products/{id}`: changes a product's target (admins).
pub async fn update(State(state): State<WebState>, ctx: Ctx, Path(id): Path<String>, body: Bytes) -> Response {
    let parsed = moon_http::parse_id(&id).and_then(|id| Ok((id, form::parse::<ProductForm>(&body)?)));
    let (id, f) = match parsed {
        Ok(x) => x,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let target = Some(serde_json::Value::String(form::ungroup_amount(v(&f.target_amount))));
    let saved = match component::validate(None, None, target.as_ref(), false) {
        Ok(fields) => component::service::update(&state.db, &ctx.principal, id, &fields).await.map_err(ApiError::from),
        Err(errors) => Err(ApiError::validation(errors)),
    };
    match saved {
        Ok(p) => see_other("/products", &format!("Target of {} is now {}.", p.product_name, p.target_amount)),
        Err(e) => {
            let problems = Problems::from_error(&e);
            render(&state, &ctx, None, &ProductForm::default(), &Problems::default(), Some((id, &problems)), e.status())
                .await
        }
    }
}
