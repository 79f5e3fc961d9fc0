//! The organisation: regions, branches and teams with their codes, names and regions; admins add,
//! rename, deactivate and reactivate them. Same use cases and rules as `/api/v1/org/…`. For
//! admins it also holds the branches' wallboard screens ([`super::screens`]).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::see_other;
use crate::agents::org::model::{CreateUnit, Unit, UnitKind, UpdateUnit};
use crate::agents::org::service;
use crate::web::WebState;
use crate::web::context::Ctx;
use crate::web::form::{self, Input, Problems, given};
use crate::web::layout::{self, csrf_field, document, notice, respond};
use moon_http::{ApiError, PageParams};

/// The add form's fields, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct UnitForm {
    kind: Option<String>,
    code: Option<String>,
    name: Option<String>,
    region: Option<String>,
}

/// A row's change form: a new name, or an active flag to set.
#[derive(Debug, Default, Deserialize)]
pub struct ChangeForm {
    name: Option<String>,
    active: Option<String>,
}

fn v(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

async fn units(state: &WebState, kind: UnitKind) -> Result<Vec<Unit>, ApiError> {
    let page = PageParams { limit: Some("500".into()), cursor: None, order: None }.parse()?;
    Ok(service::list(&state.db, kind, None, &page).await?)
}

/// `GET /organisation`.
pub async fn page(State(state): State<WebState>, ctx: Ctx) -> Response {
    render(&state, &ctx, &UnitForm::default(), &Problems::default(), StatusCode::OK).await
}

async fn render(state: &WebState, ctx: &Ctx, new: &UnitForm, problems: &Problems, status: StatusCode) -> Response {
    draw(state, ctx, new, problems, &super::screens::Shown::default(), status).await
}

/// The page with the wallboard screens' section as [`super::screens`] left it.
pub async fn render_with(state: &WebState, ctx: &Ctx, screens: &super::screens::Shown, status: StatusCode) -> Response {
    draw(state, ctx, &UnitForm::default(), &Problems::default(), screens, status).await
}

async fn draw(
    state: &WebState,
    ctx: &Ctx,
    new: &UnitForm,
    problems: &Problems,
    screens: &super::screens::Shown,
    status: StatusCode,
) -> Response {
    let screens = match super::screens::section(state, ctx, screens).await {
        Ok(s) => s,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let mut tables = Vec::new();
    for kind in UnitKind::ALL {
        match units(state, kind).await {
            Ok(rows) => tables.push((kind, rows)),
            Err(e) => return layout::error_page(e.status(), e.detail()),
        }
    }
    let may_manage = ctx.may("POST", "/organisation");
    let kinds: Vec<(String, String)> =
        UnitKind::ALL.iter().map(|k| (k.as_str().to_owned(), k.as_str().to_owned())).collect();
    let body = html! {
        (notice(ctx.notice.as_deref()))
        p.hint { "A unit's code is what agents, sales and managers refer to and never changes; its name can be renamed. Moving an agent to another team is done on the agent's page, with the date it takes effect." }
        @for (kind, rows) in &tables {
            section.panel aria-labelledby=(format!("{}-h", kind.plural())) {
                h2 id=(format!("{}-h", kind.plural())) { (capitalised(kind.plural())) " (" (rows.len()) ")" }
                div.table-wrap {
                    table id=(format!("{}-table", kind.plural())) {
                        thead { tr {
                            th scope="col" { "Code" } th scope="col" { "Name" }
                            @if *kind == UnitKind::Branch { th scope="col" { "Region" } }
                            th scope="col" { "Status" }
                            @if may_manage { th scope="col" { "Rename or change status" } }
                        } }
                        tbody {
                            @for u in rows {
                                tr {
                                    td { (u.code) } td { (u.name) }
                                    @if *kind == UnitKind::Branch { td { (u.region.as_deref().unwrap_or("—")) } }
                                    td { @if u.active { "Active" } @else { "Inactive" } }
                                    @if may_manage {
                                        td {
                                            form.inline method="post" action=(format!("/organisation/{}/{}", kind.plural(), u.id)) {
                                                (csrf_field(ctx))
                                                label.sr-only for=(format!("name-{}", u.id)) { "New name for " (u.code) }
                                                input id=(format!("name-{}", u.id)) name="name" value=(u.name) required;
                                                button type="submit" { "Rename" }
                                            }
                                            " "
                                            form.inline method="post" action=(format!("/organisation/{}/{}", kind.plural(), u.id))
                                                data-confirm=[u.active.then(|| format!("Deactivate {} {}?", u.code, u.name))] {
                                                (csrf_field(ctx))
                                                input type="hidden" name="active" value=(if u.active { "false" } else { "true" });
                                                button type="submit" class=(if u.active { "danger" } else { "" }) {
                                                    @if u.active { "Deactivate" } @else { "Reactivate" }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                            @if rows.is_empty() { tr { td colspan="5" { "None yet." } } }
                        }
                    }
                }
            }
        }
        @if may_manage {
            section.panel aria-labelledby="new-unit-h" {
                h2 #new-unit-h { "Add a region, branch or team" }
                form method="post" action="/organisation" novalidate {
                    (csrf_field(ctx))
                    (problems.summary())
                    div.form-grid {
                        (form::select("kind", "Kind", &kinds, v(&new.kind), problems))
                        (form::input(Input { name: "code", label: "Code", value: v(&new.code), kind: "text", required: true }, problems))
                        (form::input(Input { name: "name", label: "Name (defaults to the code)", value: v(&new.name), kind: "text", required: false }, problems))
                        (form::input(Input { name: "region", label: "Region (branches only)", value: v(&new.region), kind: "text", required: false }, problems))
                    }
                    button type="submit" { "Add" }
                }
            }
        }
        (screens)
    };
    respond(status, document(Some(ctx), "Organisation", body))
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// `POST /organisation`: adds a unit.
pub async fn create(State(state): State<WebState>, ctx: Ctx, body: Bytes) -> Response {
    let f: UnitForm = match form::parse(&body) {
        Ok(f) => f,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let created = async {
        let kind = UnitKind::parse(v(&f.kind)).ok_or_else(|| {
            ApiError::field(moon_domain::FieldError::new("kind", "invalid", "choose region, branch or team"))
        })?;
        let request = CreateUnit { code: given(&f.code), name: given(&f.name), region: given(&f.region), active: None };
        let new = request.validate(kind).map_err(ApiError::validation)?;
        Ok::<_, ApiError>(service::create(&state.db, &ctx.principal, new).await?)
    }
    .await;
    match created {
        Ok(u) => see_other("/organisation", &format!("{} {} added.", capitalised(&u.kind), u.code)),
        Err(e) => render(&state, &ctx, &f, &Problems::from_error(&e), e.status()).await,
    }
}

/// `POST /organisation/{kind}/{id}`: renames, deactivates or reactivates a unit.
pub async fn change(
    State(state): State<WebState>,
    ctx: Ctx,
    Path((kind, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let done = async {
        let kind =
            UnitKind::parse(&kind).ok_or_else(|| ApiError::not_found(format!("organisation collection {kind:?}")))?;
        let id = moon_http::parse_id(&id)?;
        let f: ChangeForm = form::parse(&body)?;
        let request = UpdateUnit {
            name: given(&f.name),
            active: f.active.as_deref().map(|a| a == "true"),
            ..UpdateUnit::default()
        };
        let changes = request.validate(kind).map_err(ApiError::validation)?;
        Ok::<_, ApiError>(service::update(&state.db, &ctx.principal, kind, id, changes).await?)
    }
    .await;
    match done {
        Ok(u) => see_other("/organisation", &format!("{} {} saved.", capitalised(&u.kind), u.code)),
        Err(e) => render(&state, &ctx, &UnitForm::default(), &Problems::from_error(&e), e.status()).await,
    }
}
