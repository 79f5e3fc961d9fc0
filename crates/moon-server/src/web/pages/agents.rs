//! Agents: a searchable, paged table sorted on the server by any of its main columns; create,
//! edit and deactivate, with the API's validation errors beside each field. Same use cases,
//! sorting and scoping as `/api/v1/agents`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use moon_domain::Typed;
use serde::Deserialize;

use super::see_other;
use crate::agents::model::{Agent, AgentSort, CreateAgent, UpdateAgent};
use crate::agents::org::model::MoveAgent;
use crate::agents::{org, repo, service};
use crate::web::WebState;
use crate::web::context::Ctx;
use crate::web::form::{self, Input, Problems, given};
use crate::web::layout::{self, TableSort, csrf_field, document, notice, respond};
use moon_http::paging::ListingSort;
use moon_http::{ApiError, PageParams, Role, Scope};

/// Rows per page of the console's tables.
pub const PAGE_ROWS: &str = "25";

/// Search, filters and paging of the agents table.
#[derive(Debug, Default, Deserialize)]
pub struct AgentsQuery {
    q: Option<String>,
    branch: Option<String>,
    team: Option<String>,
    /// `active`, `inactive` or empty for both.
    status: Option<String>,
    /// A sort of [`AgentSort`] by name; id when absent.
    sort: Option<String>,
    /// `asc` (default) or `desc`.
    order: Option<String>,
    cursor: Option<String>,
}

impl AgentsQuery {
    /// The filters, which paging links, sort links and the filter form all keep.
    fn filters(&self) -> [(&'static str, Option<String>); 4] {
        [
            ("q", self.q.clone()),
            ("branch", self.branch.clone()),
            ("team", self.team.clone()),
            ("status", self.status.clone()),
        ]
    }
}

/// The agent form's fields, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct AgentForm {
    agent_code: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    branch: Option<String>,
    team: Option<String>,
    contact_number: Option<String>,
    email: Option<String>,
    active: Option<String>,
    analytics_consent: Option<String>,
    show_name_to_peers: Option<String>,
}

impl AgentForm {
    fn from_agent(a: &Agent) -> Self {
        Self {
            agent_code: Some(a.agent_code.clone()),
            first_name: Some(a.first_name.clone()),
            last_name: Some(a.last_name.clone()),
            branch: Some(a.branch.clone()),
            team: Some(a.team.clone()),
            contact_number: a.contact_number.clone(),
            email: a.email.clone(),
            active: a.active.then(|| String::from("true")),
            analytics_consent: a.analytics_consent.then(|| String::from("true")),
            show_name_to_peers: a.show_name_to_peers.then(|| String::from("true")),
        }
    }
}

fn v(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

/// `GET /agents`.
pub async fn list(State(state): State<WebState>, ctx: Ctx, Query(q): Query<AgentsQuery>) -> Response {
    let mut blank = AgentForm::default();
    if let Scope::Branch(b) = &ctx.principal.scope {
        blank.branch = Some(b.clone());
    }
    render_list(&state, &ctx, &q, &blank, &Problems::default(), StatusCode::OK).await
}

async fn render_list(
    state: &WebState,
    ctx: &Ctx,
    q: &AgentsQuery,
    new: &AgentForm,
    problems: &Problems,
    status: StatusCode,
) -> Response {
    let loaded = async {
        let sort = match given(&q.sort) {
            None => AgentSort::default(),
            Some(name) => {
                AgentSort::from_name(&name).ok_or_else(|| super::unknown_sort("agents", &name, AgentSort::names()))?
            }
        };
        let page = PageParams { limit: Some(PAGE_ROWS.into()), cursor: q.cursor.clone(), order: q.order.clone() }
            .parse_sorted(sort.spec())?;
        let query = repo::AgentQuery {
            branch: given(&q.branch),
            team: given(&q.team),
            agent_code: None,
            active: match q.status.as_deref() {
                Some("active") => Some(true),
                Some("inactive") => Some(false),
                _ => None,
            },
            search: given(&q.q),
        };
        let rows = repo::list_sorted(&state.db, &ctx.principal.scope, &query, &page).await?;
        Ok::<_, ApiError>((page.finish(rows, |a| (sort.keys_of(a), a.id)), sort, page.page.descending))
    }
    .await;
    let (paged, sort, descending) = match loaded {
        Ok(p) => p,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let may_manage = ctx.may("POST", "/agents");
    let statuses = [("", "Active and inactive"), ("active", "Active only"), ("inactive", "Inactive only")]
        .map(|(a, b)| (a.to_owned(), b.to_owned()));
    let orders = [("asc", "Ascending"), ("desc", "Descending")].map(|(a, b)| (a.to_owned(), b.to_owned()));
    let filters = q.filters();
    let table_sort = TableSort { base: "/agents", filters: &filters, active: sort.spec().name, descending };
    let mut kept = filters.to_vec();
    kept.extend([("sort", q.sort.clone()), ("order", q.order.clone())]);
    let body = html! {
        (notice(ctx.notice.as_deref()))
        form.filters.panel method="get" action="/agents" role="search" {
            (form::filter_input(Input { name: "q", label: "Search code or name", value: v(&q.q), kind: "search", required: false }))
            (form::filter_input(Input { name: "branch", label: "Branch", value: v(&q.branch), kind: "text", required: false }))
            (form::filter_input(Input { name: "team", label: "Team", value: v(&q.team), kind: "text", required: false }))
            (form::filter_select("status", "Status", &statuses, v(&q.status)))
            (form::filter_select("order", "Order", &orders, v(&q.order)))
            @if let Some(sort) = given(&q.sort) { input type="hidden" name="sort" value=(sort); }
            div.field { button type="submit" { "Search" } }
        }
        div.table-wrap {
            table #agents-table {
                caption.sr-only { "Agents; a column heading orders every page by that column" }
                thead { tr {
                    (table_sort.header("agent_code", "Code", false)) (table_sort.header("name", "Name", false))
                    (table_sort.header("branch", "Branch", false)) (table_sort.header("team", "Team", false))
                    th scope="col" { "E-mail" } th scope="col" { "Phone" } th scope="col" { "Status" } th scope="col" { "Actions" }
                } }
                tbody {
                    @for a in &paged.items {
                        tr {
                            td { (a.agent_code) } td { (a.first_name) " " (a.last_name) } td { (a.branch) } td { (a.team) }
                            td { (a.email.as_deref().unwrap_or("")) } td { (a.contact_number.as_deref().unwrap_or("")) }
                            td { @if a.active { "Active" } @else { "Inactive" } }
                            td {
                                a href=(format!("/agents/{}", a.id)) aria-label=(format!("Edit {}", a.agent_code)) { "Edit" }
                                @if may_manage && a.active {
                                    " " (layout::confirm_button(ctx, &format!("/agents/{}/deactivate", a.id), "Deactivate", "danger", &format!("Deactivate agent {} ({} {})? They can no longer sign in or be credited with sales.", a.agent_code, a.first_name, a.last_name)))
                                }
                            }
                        }
                    }
                    @if paged.items.is_empty() { tr { td colspan="8" { "No agents match." } } }
                }
            }
        }
        (layout::pager("/agents", &kept, paged.page.next_cursor.as_deref(), given(&q.cursor).is_some()))
        @if may_manage {
            section.panel aria-labelledby="new-agent-h" {
                h2 #new-agent-h { "Add an agent" }
                (agent_form(ctx, "/agents", new, problems, true, "Add agent"))
            }
        }
    };
    respond(status, document(Some(ctx), "Agents", body))
}

/// The agent form; an agent editing their own record sees only the fields they may change.
fn agent_form(ctx: &Ctx, action: &str, f: &AgentForm, problems: &Problems, creating: bool, submit: &str) -> Markup {
    let staff = ctx.role() != Role::Agent;
    let text = |name: &'static str, label: &'static str, value: &Option<String>, required: bool| {
        form::input(Input { name, label, value: v(value), kind: "text", required }, problems)
    };
    html! {
        form method="post" action=(action) novalidate {
            (csrf_field(ctx))
            (problems.summary())
            div.form-grid {
                @if staff {
                    (text("agent_code", "Agent code", &f.agent_code, true))
                    (text("first_name", "First name", &f.first_name, true))
                    (text("last_name", "Last name", &f.last_name, true))
                    (text("branch", "Branch", &f.branch, true))
                    (text("team", "Team", &f.team, true))
                }
                (form::input(Input { name: "contact_number", label: "Phone", value: v(&f.contact_number), kind: "tel", required: false }, problems))
                (form::input(Input { name: "email", label: "E-mail", value: v(&f.email), kind: "email", required: false }, problems))
            }
            @if staff && !creating { (form::checkbox("active", "Active", f.active.is_some())) }
            (form::checkbox("analytics_consent", "Agrees to appear (under a pseudonym) on the leaderboard", f.analytics_consent.is_some()))
            (form::checkbox("show_name_to_peers", "Shows their name to other agents in performance figures", f.show_name_to_peers.is_some()))
            button type="submit" { (submit) }
        }
    }
}

/// `POST /agents`: creates an agent.
pub async fn create(State(state): State<WebState>, ctx: Ctx, body: Bytes) -> Response {
    let f: AgentForm = match form::parse(&body) {
        Ok(f) => f,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let text = |raw: &Option<String>| given(raw).map(Typed::Value);
    let request = CreateAgent {
        agent_code: text(&f.agent_code),
        first_name: text(&f.first_name),
        last_name: text(&f.last_name),
        branch: text(&f.branch),
        team: text(&f.team),
        contact_number: text(&f.contact_number),
        email: text(&f.email),
        active: Some(Typed::Value(true)),
        analytics_consent: Some(Typed::Value(f.analytics_consent.is_some())),
        show_name_to_peers: Some(Typed::Value(f.show_name_to_peers.is_some())),
    };
    let created = match request.validate() {
        Ok(new) => service::create(&state.db, &ctx.principal, new).await.map_err(ApiError::from),
        Err(errors) => Err(ApiError::validation(errors)),
    };
    match created {
        Ok(a) => see_other("/agents", &format!("Agent {} created.", a.agent_code)),
        Err(e) => render_list(&state, &ctx, &AgentsQuery::default(), &f, &Problems::from_error(&e), e.status()).await,
    }
}

/// `GET /agents/{id}`: the edit form.
pub async fn edit(State(state): State<WebState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let found = async {
        let id = moon_http::parse_id(&id)?;
        repo::get(&state.db, &ctx.principal.scope, id).await?.ok_or_else(|| ApiError::not_found(format!("agent {id}")))
    }
    .await;
    match found {
        Ok(a) => {
            render_edit(
                &state,
                &ctx,
                &a,
                &AgentForm::from_agent(&a),
                &Problems::default(),
                ctx.notice.as_deref(),
                StatusCode::OK,
            )
            .await
        }
        Err(e) => layout::error_page(e.status(), e.detail()),
    }
}

async fn render_edit(
    state: &WebState,
    ctx: &Ctx,
    a: &Agent,
    f: &AgentForm,
    problems: &Problems,
    done: Option<&str>,
    status: StatusCode,
) -> Response {
    render_edit_with_move(state, ctx, a, f, problems, &MoveForm::default(), &Problems::default(), done, status).await
}

/// The move form's fields, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct MoveForm {
    team: Option<String>,
    branch: Option<String>,
    effective_from: Option<String>,
}

#[allow(clippy::too_many_arguments)]
async fn render_edit_with_move(
    state: &WebState,
    ctx: &Ctx,
    a: &Agent,
    f: &AgentForm,
    problems: &Problems,
    mv: &MoveForm,
    move_problems: &Problems,
    done: Option<&str>,
    status: StatusCode,
) -> Response {
    let history = match org::service::history(&state.db, &ctx.principal, a.id).await {
        Ok(h) => h,
        Err(e) => {
            let e = ApiError::from(e);
            return layout::error_page(e.status(), e.detail());
        }
    };
    let may_move = ctx.may("POST", "/agents/{id}/move");
    // The date a move takes effect, as typed, or today in the business calendar.
    let moving_from = mv.effective_from.clone().unwrap_or_else(|| state.calendar.today(chrono::Utc::now()).to_string());
    let body = html! {
        (notice(done))
        p { a href="/agents" { "« All agents" } }
        section.panel aria-label="Agent details" {
            (agent_form(ctx, &format!("/agents/{}", a.id), f, problems, false, "Save changes"))
        }
        section.panel aria-labelledby="history-h" {
            h2 #history-h { "Team and branch history" }
            p.hint { "Sales count for the team and branch the agent belonged to on the sale's date." }
            div.table-wrap {
                table #membership-table {
                    thead { tr { th scope="col" { "From" } th scope="col" { "Until" } th scope="col" { "Branch" } th scope="col" { "Team" } } }
                    tbody {
                        @for m in &history {
                            tr {
                                td { (m.valid_from.map_or_else(|| "the start".to_owned(), |d| d.to_string())) }
                                td { (m.valid_to.map_or_else(|| "now".to_owned(), |d| d.to_string())) }
                                td { (m.branch_name) } td { (m.team_name) }
                            }
                        }
                        @if history.is_empty() { tr { td colspan="4" { "No history yet." } } }
                    }
                }
            }
            @if may_move {
                h3 { "Move to another team or branch" }
                form method="post" action=(format!("/agents/{}/move", a.id)) novalidate {
                    (csrf_field(ctx))
                    (move_problems.summary_in("m"))
                    div.form-grid {
                        (form::input_in("m", Input { name: "team", label: "New team (code or name)", value: v(&mv.team), kind: "text", required: false }, move_problems))
                        (form::input_in("m", Input { name: "branch", label: "New branch (leave empty to keep)", value: v(&mv.branch), kind: "text", required: false }, move_problems))
                        (form::input_in("m", Input { name: "effective_from", label: "From (today unless changed)", value: &moving_from, kind: "date", required: false }, move_problems))
                    }
                    button type="submit" { "Move" }
                }
            }
        }
    };
    respond(status, document(Some(ctx), &format!("Agent {}", a.agent_code), body))
}

/// `POST /agents/{id}`: saves changes (an agent may change only their contact details and consent).
pub async fn update(State(state): State<WebState>, ctx: Ctx, Path(id): Path<String>, body: Bytes) -> Response {
    let loaded = async {
        let id = moon_http::parse_id(&id)?;
        let agent = repo::get(&state.db, &ctx.principal.scope, id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("agent {id}")))?;
        let f: AgentForm = form::parse(&body)?;
        Ok::<_, ApiError>((agent, f))
    }
    .await;
    let (agent, f) = match loaded {
        Ok(x) => x,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let staff = ctx.role() != Role::Agent;
    let text = |raw: &Option<String>| if staff { Some(Typed::Value(v(raw).to_owned())) } else { None };
    let changes = UpdateAgent {
        agent_code: text(&f.agent_code),
        first_name: text(&f.first_name),
        last_name: text(&f.last_name),
        branch: text(&f.branch),
        team: text(&f.team),
        contact_number: Some(given(&f.contact_number).map(Typed::Value)),
        email: Some(given(&f.email).map(Typed::Value)),
        active: if staff { Some(Typed::Value(f.active.is_some())) } else { None },
        analytics_consent: Some(Typed::Value(f.analytics_consent.is_some())),
        show_name_to_peers: Some(Typed::Value(f.show_name_to_peers.is_some())),
    };
    let saved = match changes.validate() {
        Ok(c) => service::update(&state.db, &ctx.principal, agent.id, c, state.calendar.today(chrono::Utc::now()))
            .await
            .map_err(ApiError::from),
        Err(errors) => Err(ApiError::validation(errors)),
    };
    match saved {
        Ok(a) => see_other(&format!("/agents/{}", a.id), "Changes saved."),
        Err(e) => render_edit(&state, &ctx, &agent, &f, &Problems::from_error(&e), None, e.status()).await,
    }
}

/// `POST /agents/{id}/move`: a new team and/or branch from a date; earlier periods keep the old.
pub async fn move_agent(State(state): State<WebState>, ctx: Ctx, Path(id): Path<String>, body: Bytes) -> Response {
    let loaded = async {
        let id = moon_http::parse_id(&id)?;
        let agent = repo::get(&state.db, &ctx.principal.scope, id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("agent {id}")))?;
        let f: MoveForm = form::parse(&body)?;
        Ok::<_, ApiError>((agent, f))
    }
    .await;
    let (agent, f) = match loaded {
        Ok(x) => x,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let request =
        MoveAgent { team: given(&f.team), branch: given(&f.branch), effective_from: given(&f.effective_from) };
    let moved = match request.validate() {
        Ok(mv) => {
            service::move_agent(&state.db, &ctx.principal, agent.id, &mv, state.calendar.today(chrono::Utc::now()))
                .await
                .map_err(ApiError::from)
        }
        Err(errors) => Err(ApiError::validation(errors)),
    };
    match moved {
        Ok(_) => see_other(&format!("/agents/{}", agent.id), "Move recorded."),
        Err(e) => {
            let problems = Problems::from_error(&e);
            let form = AgentForm::from_agent(&agent);
            render_edit_with_move(&state, &ctx, &agent, &form, &Problems::default(), &f, &problems, None, e.status())
                .await
        }
    }
}

/// `POST /agents/{id}/deactivate`: keeps the agent and their history, marked inactive.
pub async fn deactivate(State(state): State<WebState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let done = async {
        let id = moon_http::parse_id(&id)?;
        let changes = UpdateAgent { active: Some(Typed::Value(false)), ..UpdateAgent::default() }
            .validate()
            .map_err(ApiError::validation)?;
        Ok::<_, ApiError>(
            service::update(&state.db, &ctx.principal, id, changes, state.calendar.today(chrono::Utc::now())).await?,
        )
    }
    .await;
    match done {
        Ok(a) => see_other("/agents", &format!("Agent {} deactivated.", a.agent_code)),
        Err(e) => layout::error_page(e.status(), e.detail()),
    }
}
