//! Sales: a filtered, paged table sorted on the server by id, date or amount, and the sale form with agent and product pickers.
//! Same validation and scoping as `/api/v1/sales`; a new sale reaches the dashboard through the
//! change log within about a second.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::agents::PAGE_ROWS;
use super::see_other;
use crate::agents::repo::AgentQuery;
use crate::sales::model::{CreateSale, Sale, SaleSort, UpdateSale};
use crate::sales::{repo, service};
use crate::web::WebState;
use crate::web::context::Ctx;
use crate::web::form::{self, Input, Problems, given};
use crate::web::layout::{self, TableSort, csrf_field, document, notice, respond};
use moon_domain::Typed;
use moon_http::paging::ListingSort;
use moon_http::{ApiError, Page, PageParams};

/// Filters and paging of the sales table.
#[derive(Debug, Default, Deserialize)]
pub struct SalesQuery {
    agent_code: Option<String>,
    product_id: Option<String>,
    branch: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// A sort of [`SaleSort`] by name; id when absent.
    sort: Option<String>,
    /// `desc` (default, newest first) or `asc`.
    order: Option<String>,
    cursor: Option<String>,
}

impl SalesQuery {
    /// The filters, which paging links, sort links and the filter form all keep.
    fn filters(&self) -> [(&'static str, Option<String>); 5] {
        [
            ("agent_code", self.agent_code.clone()),
            ("product_id", self.product_id.clone()),
            ("branch", self.branch.clone()),
            ("from", self.from.clone()),
            ("to", self.to.clone()),
        ]
    }
}

/// The sale form's fields, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct SaleForm {
    agent_code: Option<String>,
    product_id: Option<String>,
    amount: Option<String>,
    sale_date: Option<String>,
    branch: Option<String>,
    policy_number: Option<String>,
}

fn v(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

/// `GET /sales`.
pub async fn list(State(state): State<WebState>, ctx: Ctx, Query(q): Query<SalesQuery>) -> Response {
    let blank = SaleForm { sale_date: Some(crate::sales::today(&state.calendar).to_string()), ..SaleForm::default() };
    render(&state, &ctx, &q, &blank, &Problems::default(), StatusCode::OK).await
}

/// The agents (visible to the viewer, active) and products the pickers offer.
async fn pickers(state: &WebState, ctx: &Ctx) -> Result<(Vec<(String, String)>, Vec<(String, String)>), ApiError> {
    let all = Page { limit: moon_http::paging::MAX_LIMIT, after: None, descending: false };
    let query = AgentQuery { active: Some(true), ..AgentQuery::default() };
    let agents = crate::agents::repo::list(&state.db, &ctx.principal.scope, &query, &all).await?;
    let products = crate::products::repo::list(&state.db, None, &all).await?;
    let mut a = vec![(String::new(), String::from("Choose an agent"))];
    a.extend(
        agents
            .into_iter()
            .map(|x| (x.agent_code.clone(), format!("{} — {} {}", x.agent_code, x.first_name, x.last_name))),
    );
    let mut p = vec![(String::new(), String::from("Choose a product"))];
    p.extend(products.into_iter().map(|x| (x.id.to_string(), x.product_name)));
    Ok((a, p))
}

async fn render(
    state: &WebState,
    ctx: &Ctx,
    q: &SalesQuery,
    new: &SaleForm,
    problems: &Problems,
    status: StatusCode,
) -> Response {
    let loaded = async {
        let (agents, products) = pickers(state, ctx).await?;
        let sort = match given(&q.sort) {
            None => SaleSort::default(),
            Some(name) => {
                SaleSort::from_name(&name).ok_or_else(|| super::unknown_sort("sales", &name, SaleSort::names()))?
            }
        };
        let page = PageParams {
            limit: Some(PAGE_ROWS.into()),
            cursor: q.cursor.clone(),
            order: Some(given(&q.order).unwrap_or_else(|| "desc".into())),
        }
        .parse_sorted(sort.spec())?;
        let mut e = moon_domain::FieldErrors::new();
        let product_id = e.take_opt(given(&q.product_id).map(|p| {
            p.parse::<i64>()
                .map_err(|_| moon_domain::FieldError::new("product_id", "invalid_id", "choose a product from the list"))
        }));
        let query = repo::SaleQuery {
            agent_code: given(&q.agent_code),
            product_id,
            branch: given(&q.branch),
            from: e.take_opt(given(&q.from).map(|d| moon_domain::parse_date("from", &d))),
            to: e.take_opt(given(&q.to).map(|d| moon_domain::parse_date("to", &d))),
            ..repo::SaleQuery::default()
        };
        e.finish().map_err(ApiError::validation)?;
        let rows = repo::list_sorted(&state.db, &ctx.principal.scope, &query, &page).await?;
        let paged = page.finish(rows, |s| (sort.keys_of(s), s.id));
        Ok::<_, ApiError>((agents, products, paged, sort, page.page.descending))
    }
    .await;
    let (agents, products, paged, sort, descending) = match loaded {
        Ok(x) => x,
        Err(e) if !e.field_errors().is_empty() => {
            let filter_problems = Problems::from_error(&e);
            let body = html! { (filter_problems.summary()) p { a href="/sales" { "Show all sales" } } };
            return respond(e.status(), document(Some(ctx), "Sales", body));
        }
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let orders = [("desc", "Descending"), ("asc", "Ascending")].map(|(a, b)| (a.to_owned(), b.to_owned()));
    let filters = q.filters();
    let table_sort = TableSort { base: "/sales", filters: &filters, active: sort.spec().name, descending };
    let mut kept = filters.to_vec();
    kept.extend([("sort", q.sort.clone()), ("order", q.order.clone())]);
    let may_edit = ctx.may("POST", "/sales/{id}");
    let body = html! {
        (notice(ctx.notice.as_deref()))
        section.panel aria-labelledby="new-sale-h" {
            h2 #new-sale-h { "Record a sale" }
            form method="post" action="/sales" novalidate {
                (csrf_field(ctx))
                (problems.summary())
                div.form-grid {
                    (form::select("agent_code", "Agent", &agents, v(&new.agent_code), problems))
                    (form::select("product_id", "Product", &products, v(&new.product_id), problems))
                    (form::input(Input { name: "amount", label: "Amount", value: v(&new.amount), kind: "text", required: true }, problems))
                    (form::input(Input { name: "sale_date", label: "Sale date", value: v(&new.sale_date), kind: "date", required: true }, problems))
                    (form::input(Input { name: "branch", label: "Branch (default: the agent's)", value: v(&new.branch), kind: "text", required: false }, problems))
                    (form::input(Input { name: "policy_number", label: "Policy number", value: v(&new.policy_number), kind: "text", required: false }, problems))
                }
                button type="submit" { "Record sale" }
            }
        }
        h2 { "Sales" }
        form.filters.panel method="get" action="/sales" role="search" {
            (form::filter_select("agent_code", "Agent", &agents, v(&q.agent_code)))
            (form::filter_select("product_id", "Product", &products, v(&q.product_id)))
            (form::filter_input(Input { name: "branch", label: "Branch", value: v(&q.branch), kind: "text", required: false }))
            (form::filter_input(Input { name: "from", label: "From", value: v(&q.from), kind: "date", required: false }))
            (form::filter_input(Input { name: "to", label: "To", value: v(&q.to), kind: "date", required: false }))
            (form::filter_select("order", "Order", &orders, v(&q.order)))
            @if let Some(sort) = given(&q.sort) { input type="hidden" name="sort" value=(sort); }
            div.field { button type="submit" { "Filter" } }
        }
        div.table-wrap {
            table #sales-table {
                caption.sr-only { "Sales; a column heading orders every page by that column" }
                thead { tr {
                    (table_sort.header("id", "Id", true)) (table_sort.header("sale_date", "Date", false))
                    th scope="col" { "Agent" } th scope="col" { "Product" }
                    (table_sort.header("amount", "Amount", true)) th scope="col" { "Branch" } th scope="col" { "Policy" }
                } }
                tbody {
                    @for s in &paged.items {
                        tr {
                            td.num { @if may_edit { a href=(format!("/sales/{}", s.id)) aria-label=(format!("Edit sale {}", s.id)) { (s.id) } } @else { (s.id) } }
                            td { (s.sale_date) } td { (s.agent_code) } td { (s.product_name) }
                            td.num { (s.amount) } td { (s.branch) } td { (s.policy_number.as_deref().unwrap_or("")) }
                        }
                    }
                    @if paged.items.is_empty() { tr { td colspan="7" { "No sales match." } } }
                }
            }
        }
        (layout::pager("/sales", &kept, paged.page.next_cursor.as_deref(), given(&q.cursor).is_some()))
    };
    respond(status, document(Some(ctx), "Sales", body))
}

/// Parses a product picker's value, collecting a field error for anything but an id.
fn product_choice(raw: &Option<String>, errors: &mut Vec<moon_domain::FieldError>) -> Option<i64> {
    given(raw).and_then(|p| match p.parse::<i64>() {
        Ok(id) => Some(id),
        Err(_) => {
            errors.push(moon_domain::FieldError::new("product_id", "invalid_id", "choose a product from the list"));
            None
        }
    })
}

/// `POST /sales`: records a sale.
pub async fn create(State(state): State<WebState>, ctx: Ctx, body: Bytes) -> Response {
    let f: SaleForm = match form::parse(&body) {
        Ok(f) => f,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let mut picker = Vec::new();
    let request = CreateSale {
        agent_code: given(&f.agent_code).map(Typed::Value),
        agent_id: None,
        product_id: product_choice(&f.product_id, &mut picker).map(Typed::Value),
        amount: given(&f.amount).map(serde_json::Value::String),
        sale_date: given(&f.sale_date).map(Typed::Value),
        branch: given(&f.branch).map(Typed::Value),
        policy_number: given(&f.policy_number).map(Typed::Value),
        ..CreateSale::default()
    };
    let created = match request.validate(crate::sales::today(&state.calendar)) {
        Ok(fields) if picker.is_empty() => {
            service::create(&state.db, &ctx.principal, fields).await.map_err(ApiError::from)
        }
        Ok(_) => Err(ApiError::validation(picker)),
        Err(errors) => Err(ApiError::validation(merge(errors, picker))),
    };
    match created {
        Ok(s) => see_other("/sales", &format!("Sale {} recorded: {} by {}.", s.id, s.amount, s.agent_code)),
        Err(e) => render(&state, &ctx, &SalesQuery::default(), &f, &Problems::from_error(&e), e.status()).await,
    }
}

/// The API's errors with the picker's, which replace the API's word on the same field.
fn merge(
    mut errors: Vec<moon_domain::FieldError>,
    picker: Vec<moon_domain::FieldError>,
) -> Vec<moon_domain::FieldError> {
    errors.retain(|e| !picker.iter().any(|p| p.field == e.field));
    errors.extend(picker);
    errors
}

impl SaleForm {
    fn from_sale(s: &Sale) -> Self {
        Self {
            agent_code: Some(s.agent_code.clone()),
            product_id: Some(s.product_id.to_string()),
            amount: Some(s.amount.to_string()),
            sale_date: Some(s.sale_date.to_string()),
            branch: Some(s.branch.clone()),
            policy_number: s.policy_number.clone(),
        }
    }
}

async fn find(state: &WebState, ctx: &Ctx, id: &str) -> Result<Sale, ApiError> {
    let id = moon_http::parse_id(id)?;
    repo::get(&state.db, &ctx.principal.scope, id).await?.ok_or_else(|| ApiError::not_found(format!("sale {id}")))
}

/// `GET /sales/{id}`: the correction form of a sale (staff).
pub async fn edit(State(state): State<WebState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    match find(&state, &ctx, &id).await {
        Ok(sale) => {
            render_edit(&state, &ctx, &sale, &SaleForm::from_sale(&sale), &Problems::default(), StatusCode::OK).await
        }
        Err(e) => layout::error_page(e.status(), e.detail()),
    }
}

async fn render_edit(
    state: &WebState,
    ctx: &Ctx,
    sale: &Sale,
    f: &SaleForm,
    problems: &Problems,
    status: StatusCode,
) -> Response {
    let (agents, products) = match pickers(state, ctx).await {
        Ok(p) => p,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let body = html! {
        p { a href="/sales" { "« All sales" } }
        section.panel aria-label="Sale details" {
            form method="post" action=(format!("/sales/{}", sale.id)) novalidate {
                (csrf_field(ctx))
                (problems.summary())
                div.form-grid {
                    (form::select("agent_code", "Agent", &agents, v(&f.agent_code), problems))
                    (form::select("product_id", "Product", &products, v(&f.product_id), problems))
                    (form::input(Input { name: "amount", label: "Amount", value: v(&f.amount), kind: "text", required: true }, problems))
                    (form::input(Input { name: "sale_date", label: "Sale date", value: v(&f.sale_date), kind: "date", required: true }, problems))
                    (form::input(Input { name: "branch", label: "Branch", value: v(&f.branch), kind: "text", required: true }, problems))
                    (form::input(Input { name: "policy_number", label: "Policy number", value: v(&f.policy_number), kind: "text", required: false }, problems))
                }
                button type="submit" { "Save changes" }
            }
        }
        section.panel aria-label="Delete" {
            p { "Deleting a sale removes it from every total. Correct it instead when you can." }
            (layout::post_button(ctx, &format!("/sales/{}/delete", sale.id), "Delete this sale", "danger"))
        }
    };
    respond(status, document(Some(ctx), &format!("Sale {}", sale.id), body))
}

/// `POST /sales/{id}`: corrects a sale (staff), with the same checks as the API's PATCH.
pub async fn update(State(state): State<WebState>, ctx: Ctx, Path(id): Path<String>, body: Bytes) -> Response {
    let loaded = async { Ok::<_, ApiError>((find(&state, &ctx, &id).await?, form::parse::<SaleForm>(&body)?)) }.await;
    let (sale, f) = match loaded {
        Ok(x) => x,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let mut picker = Vec::new();
    let request = UpdateSale {
        agent_code: Some(Typed::Value(v(&f.agent_code).to_owned())),
        agent_id: None,
        product_id: product_choice(&f.product_id, &mut picker).map(Typed::Value),
        amount: Some(serde_json::Value::String(v(&f.amount).trim().to_owned())),
        sale_date: Some(Typed::Value(v(&f.sale_date).trim().to_owned())),
        branch: Some(Typed::Value(v(&f.branch).to_owned())),
        policy_number: Some(given(&f.policy_number).map(Typed::Value)),
    };
    let saved = match request.validate(crate::sales::today(&state.calendar)) {
        Ok(fields) if picker.is_empty() => {
            service::update(&state.db, &ctx.principal, sale.id, fields).await.map_err(ApiError::from)
        }
        Ok(_) => Err(ApiError::validation(picker)),
        Err(errors) => Err(ApiError::validation(merge(errors, picker))),
    };
    match saved {
        Ok(s) => see_other("/sales", &format!("Sale {} updated.", s.id)),
        Err(e) => render_edit(&state, &ctx, &sale, &f, &Problems::from_error(&e), e.status()).await,
    }
}

/// `POST /sales/{id}/delete`: deletes a sale (staff).
pub async fn delete(State(state): State<WebState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let done = async {
        let sale = find(&state, &ctx, &id).await?;
        service::delete(&state.db, &ctx.principal, sale.id).await?;
        Ok::<_, ApiError>(sale)
    }
    .await;
    match done {
        Ok(s) => see_other("/sales", &format!("Sale {} deleted.", s.id)),
        Err(e) => layout::error_page(e.status(), e.detail()),
    }
}
