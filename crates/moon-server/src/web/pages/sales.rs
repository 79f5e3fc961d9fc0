//! Sales: a filtered, paged table sorted on the server by id, date or amount, and the sale form with agent and product pickers.
//! Same validation and scoping as `/api/v1/sales`; a new sale reaches the dashboard through the
//! change log within about a second.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use std::collections::HashMap;

use maud::{Markup, html};
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
use moon_http::{ApiError, Page, PageParams, Scope};

/// Filters and paging of the sales table.
#[derive(Debug, Default, Deserialize)]
pub struct SalesQuery {
    agent_code: Option<String>,
    /// A policy number, matched exactly.
    policy_number: Option<String>,
    product_id: Option<String>,
    branch: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// A sort of [`SaleSort`] by name; sale date (newest first) when absent.
    sort: Option<String>,
    /// `desc` (default, newest first) or `asc`.
    order: Option<String>,
    cursor: Option<String>,
    /// The page number the cursor stands for (1 without a cursor), carried by the pager's links.
    page: Option<String>,
}

impl SalesQuery {
    /// The filters, which paging links, sort links and the filter form all keep.
    fn filters(&self) -> [(&'static str, Option<String>); 6] {
        [
            ("agent_code", self.agent_code.clone()),
            ("policy_number", self.policy_number.clone()),
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

/// What the sale form and the table need to know of agents and products.
struct Pickers {
    /// Active agents the viewer may credit, as (code, "First Last") for the searching picker.
    agents: Vec<(String, String)>,
    /// Every agent the viewer may see, by code, for the names beside codes in the table.
    names: HashMap<String, String>,
    /// The viewer's own agent record when the viewer is an agent: their sales are theirs, so
    /// the form asks nobody to pick themselves.
    me: Option<(String, String)>,
    /// Products as (id, name).
    products: Vec<(String, String)>,
}

/// The agents visible to the viewer (all of them, not one capped page) and the products.
async fn pickers(state: &WebState, ctx: &Ctx) -> Result<Pickers, ApiError> {
    let all = Page { limit: moon_http::paging::MAX_LIMIT, after: None, descending: false };
    let mut rows = crate::agents::repo::stream(&state.db, &ctx.principal.scope, &AgentQuery::default());
    let mut agents = Vec::new();
    let mut names = HashMap::new();
    while let Some(batch) = rows.next_batch().await {
        for a in batch? {
            let name = format!("{} {}", a.first_name, a.last_name);
            if a.active {
                agents.push((a.agent_code.clone(), name.clone()));
            }
            names.insert(a.agent_code, name);
        }
    }
    let me = match ctx.principal.scope {
        Scope::Agent(_) => agents.first().cloned(),
        _ => None,
    };
    let products = crate::products::repo::list(&state.db, None, &all).await?;
    let mut p = vec![(String::new(), String::from("Choose a product"))];
    p.extend(products.into_iter().map(|x| (x.id.to_string(), x.product_name)));
    Ok(Pickers { agents, names, me, products: p })
}

/// The agent field of a sale form: an agent records their own sales (shown, not asked); staff
/// search every agent they may credit.
fn agent_field(p: &Pickers, value: &str, problems: &Problems) -> Markup {
    html! {
        @if let Some((code, name)) = &p.me {
            div.field {
                span.label { "Agent" }
                p #f-agent_code-shown { (name) " (" (code) ")" }
                input type="hidden" name="agent_code" value=(code);
            }
        } @else {
            (form::search_input("f", "agent_code", "Agent", value, "agent-choices", problems))
        }
    }
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
        let pickers = pickers(state, ctx).await?;
        let sort = match given(&q.sort) {
            None => SaleSort::SaleDate,
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
            agent_code: e.take(form::search_text("agent_code", &q.agent_code)).flatten(),
            product_id,
            branch: e.take(form::search_text("branch", &q.branch)).flatten(),
            from: e.take_opt(given(&q.from).map(|d| moon_domain::parse_date("from", &d))),
            to: e.take_opt(given(&q.to).map(|d| moon_domain::parse_date("to", &d))),
            policy_number: e.take(form::search_text("policy_number", &q.policy_number)).flatten(),
            ..repo::SaleQuery::default()
        };
        e.finish().map_err(ApiError::validation)?;
        let rows = repo::list_sorted(&state.db, &ctx.principal.scope, &query, &page).await?;
        let totals = repo::totals(&state.db, &ctx.principal.scope, &query).await?;
        let paged = page.finish(rows, |s| (sort.keys_of(s), s.id));
        Ok::<_, ApiError>((pickers, paged, sort, page.page.descending, totals))
    }
    .await;
    let (pickers, paged, sort, descending, (count, cents)) = match loaded {
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
    let page_no = given(&q.cursor).and_then(|_| given(&q.page)).and_then(|n| n.parse::<u64>().ok()).unwrap_or(1).max(1);
    let pages = (count.max(0) as u64).div_ceil(PAGE_ROWS.parse::<u64>().unwrap_or(25)).max(1);
    let currency = state.currency;
    let mut agent_filter = vec![(String::new(), String::from("All agents"))];
    agent_filter.extend(pickers.agents.iter().cloned());
    let body = html! {
        (notice(ctx.notice.as_deref()))
        section.panel aria-labelledby="new-sale-h" {
            h2 #new-sale-h { "Record a sale" }
            form method="post" action="/sales" novalidate {
                (csrf_field(ctx))
                (problems.summary())
                div.form-grid {
                    (agent_field(&pickers, v(&new.agent_code), problems))
                    (form::select("product_id", "Product", &pickers.products, v(&new.product_id), problems))
                    (form::input(Input { name: "amount", label: &format!("Amount ({currency})"), value: v(&new.amount), kind: "text", required: true }, problems))
                    (form::input(Input { name: "sale_date", label: "Sale date", value: v(&new.sale_date), kind: "date", required: true }, problems))
                    (form::input(Input { name: "branch", label: "Branch (default: the agent's)", value: v(&new.branch), kind: "text", required: false }, problems))
                    (form::input(Input { name: "policy_number", label: "Policy number", value: v(&new.policy_number), kind: "text", required: false }, problems))
                }
                button type="submit" { "Record sale" }
            }
        }
        h2 { "Sales" }
        (form::datalist("agent-choices", &pickers.agents))
        form.filters.panel method="get" action="/sales" role="search" {
            (form::filter_input(Input { name: "policy_number", label: "Policy number", value: v(&q.policy_number), kind: "search", required: false }))
            @if pickers.me.is_none() {
                (form::search_input("q", "agent_code", "Agent", v(&q.agent_code), "agent-choices", &Problems::default()))
            }
            (form::filter_select("product_id", "Product", &pickers.products, v(&q.product_id)))
            (form::filter_input(Input { name: "branch", label: "Branch", value: v(&q.branch), kind: "text", required: false }))
            (form::filter_input(Input { name: "from", label: "From", value: v(&q.from), kind: "date", required: false }))
            (form::filter_input(Input { name: "to", label: "To", value: v(&q.to), kind: "date", required: false }))
            (form::filter_select("order", "Order", &orders, v(&q.order)))
            @if let Some(sort) = given(&q.sort) { input type="hidden" name="sort" value=(sort); }
            div.field { button type="submit" { "Filter" } }
        }
        p #sales-summary role="status" {
            strong { (moon_domain::group_thousands(&count.to_string())) } @if count == 1 { " sale" } @else { " sales" }
            ", total " strong { (currency) " " (moon_domain::Money::from_cents(cents).grouped()) }
            " · page " (page_no) " of " (moon_domain::group_thousands(&pages.to_string()))
        }
        div.table-wrap {
            table #sales-table {
                caption.sr-only { "Sales; a column heading orders every page by that column" }
                thead { tr {
                    (table_sort.header("id", "Id", true)) (table_sort.header("sale_date", "Date", false))
                    th scope="col" { "Agent" } th scope="col" { "Product" }
                    (table_sort.header("amount", &format!("Amount ({currency})"), true)) th scope="col" { "Branch" } th scope="col" { "Policy" }
                } }
                tbody {
                    @for s in &paged.items {
                        tr {
                            td.num { @if may_edit { a href=(format!("/sales/{}", s.id)) aria-label=(format!("Edit sale {}", s.id)) { (s.id) } } @else { (s.id) } }
                            td { (s.sale_date) }
                            td { (s.agent_code) @if let Some(n) = pickers.names.get(&s.agent_code) { " " span.name { (n) } } }
                            td { (s.product_name) }
                            td.num data-value=(s.amount) { (s.amount.grouped()) } td { (s.branch) } td { (s.policy_number.as_deref().unwrap_or("")) }
                        }
                    }
                    @if paged.items.is_empty() { tr { td colspan="7" { "No sales match." } } }
                }
            }
        }
        (crate::web::layout::numbered_pager(("/sales", "", "Pages"), &kept, paged.page.next_cursor.as_deref(), page_no, pages))
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
        amount: given(&f.amount).map(|a| serde_json::Value::String(form::ungroup_amount(&a))),
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
    let pickers = match pickers(state, ctx).await {
        Ok(p) => p,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let currency = state.currency;
    let body = html! {
        p { a href="/sales" { "« All sales" } }
        section.panel aria-label="Sale details" {
            form method="post" action=(format!("/sales/{}", sale.id)) novalidate {
                (csrf_field(ctx))
                (problems.summary())
                (form::datalist("agent-choices", &pickers.agents))
                div.form-grid {
                    (agent_field(&pickers, v(&f.agent_code), problems))
                    (form::select("product_id", "Product", &pickers.products, v(&f.product_id), problems))
                    (form::input(Input { name: "amount", label: &format!("Amount ({currency})"), value: v(&f.amount), kind: "text", required: true }, problems))
                    (form::input(Input { name: "sale_date", label: "Sale date", value: v(&f.sale_date), kind: "date", required: true }, problems))
                    (form::input(Input { name: "branch", label: "Branch", value: v(&f.branch), kind: "text", required: true }, problems))
                    (form::input(Input { name: "policy_number", label: "Policy number", value: v(&f.policy_number), kind: "text", required: false }, problems))
                }
                button type="submit" { "Save changes" }
            }
        }
        section.panel aria-label="Delete" {
            p { "Deleting a sale removes it from every total. Correct it instead when you can." }
            (layout::confirm_button(ctx, &format!("/sales/{}/delete", sale.id), "Delete this sale", "danger", &format!("Delete sale {} ({} by {})? It leaves every total.", sale.id, sale.amount, sale.agent_code)))
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
        amount: Some(serde_json::Value::String(form::ungroup_amount(v(&f.amount)))),
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
