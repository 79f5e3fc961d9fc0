//! Administration: users (admins), API tokens (everyone their own, admins all) and the audit
//! trail (admins). Same use cases as `/api/v1/users`, `/api/v1/tokens` and `/api/v1/audit`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::see_other;
use crate::auth::routes::{UpdateUser, issue_token, token_owner};
use crate::auth::users::{self, Binding};
use crate::web::WebState;
use crate::web::context::Ctx;
use crate::web::form::{self, Input, Problems, given};
use crate::web::layout::{self, csrf_field, document, notice, respond};
use moon_http::{ApiError, Role};

/// The new-user form's fields.
#[derive(Default, Deserialize)]
pub struct UserForm {
    username: Option<String>,
    password: Option<String>,
    role: Option<String>,
    branch: Option<String>,
    agent_code: Option<String>,
}

fn v(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

fn when(t: &chrono::DateTime<chrono::Utc>, zone: chrono_tz::Tz) -> String {
    t.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string()
}

/// `GET /users`.
pub async fn users(State(state): State<WebState>, ctx: Ctx) -> Response {
    render_users(&state, &ctx, ctx.notice.as_deref(), &UserForm::default(), &Problems::default(), StatusCode::OK).await
}

async fn render_users(
    state: &WebState,
    ctx: &Ctx,
    done: Option<&str>,
    new: &UserForm,
    problems: &Problems,
    status: StatusCode,
) -> Response {
    let list = match users::list(&state.db).await.map_err(ApiError::from) {
        Ok(l) => l,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let roles: Vec<(String, String)> =
        Role::ALL.iter().map(|r| (r.as_str().to_owned(), r.as_str().to_owned())).collect();
    let body = html! {
        (notice(done))
        div.table-wrap {
            table #users-table data-sortable {
                caption.sr-only { "Users" }
                thead { tr {
                    th scope="col" { "User" } th scope="col" { "Role" } th scope="col" { "Branch" } th scope="col" { "Agent" }
                    th scope="col" { "MFA" } th scope="col" { "Status" } th scope="col" { "Created (" (state.calendar.zone.name()) ")" } th scope="col" data-nosort { "Actions" }
                } }
                tbody { @for u in &list { tr {
                    td { (u.username) } td { (u.role) } td { (u.branch.as_deref().unwrap_or("")) } td { (u.agent_code.as_deref().unwrap_or("")) }
                    td { @if u.mfa_enabled { "On" } @else { "Off" } } td { @if u.disabled { "Disabled" } @else { "Enabled" } } td { (when(&u.created_at, state.calendar.zone)) }
                    td {
                        @if ctx.principal.user_id != Some(u.id) {
                            (user_action(ctx, u.id, if u.disabled { "enable" } else { "disable" }, if u.disabled { "Enable" } else { "Disable" },
                                (!u.disabled).then(|| format!("Disable {}? They are signed out and cannot sign in.", u.username))))
                            @if u.mfa_enabled { " " (user_action(ctx, u.id, "reset_mfa", "Reset MFA", Some(format!("Reset two-step verification of {}?", u.username)))) }
                        }
                    }
                } } }
            }
        }
        section.panel aria-labelledby="new-user-h" {
            h2 #new-user-h { "Add a user" }
            form method="post" action="/users" novalidate autocomplete="off" {
                (csrf_field(ctx))
                (problems.summary())
                div.form-grid {
                    (form::input(Input { name: "username", label: "User name", value: v(&new.username), kind: "text", required: true }, problems))
                    (form::input(Input { name: "password", label: "Password (at least 12 characters)", value: "", kind: "password", required: true }, problems))
                    (form::select("role", "Role", &roles, given(&new.role).as_deref().unwrap_or("agent"), problems))
                    (form::input(Input { name: "branch", label: "Branch (managers)", value: v(&new.branch), kind: "text", required: false }, problems))
                    (form::input(Input { name: "agent_code", label: "Agent code (agents)", value: v(&new.agent_code), kind: "text", required: false }, problems))
                }
                button type="submit" { "Add user" }
            }
        }
    };
    respond(status, document(Some(ctx), "Users", body))
}

/// `POST /users`: creates a user (admins).
pub async fn create_user(State(state): State<WebState>, ctx: Ctx, body: Bytes) -> Response {
    let f: UserForm = match form::parse(&body) {
        Ok(f) => f,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let created = match Binding::parse(v(&f.role), given(&f.branch).as_deref(), given(&f.agent_code).as_deref()) {
        Ok(binding) => match state.auth.branches.resolve(&state.db, binding).await {
            Ok(Ok(binding)) => users::create(
                &state.db,
                &state.auth.hasher,
                v(&f.username).trim(),
                v(&f.password),
                binding,
                &ctx.principal,
            )
            .await
            .map_err(ApiError::from),
            Ok(Err(e)) => Err(ApiError::field(e)),
            Err(e) => Err(ApiError::from(crate::error::Error::from(e))),
        },
        Err(errors) => Err(ApiError::validation(errors)),
    };
    match created {
        Ok(u) => see_other("/users", &format!("User {} created.", u.username)),
        Err(e) => render_users(&state, &ctx, None, &f, &Problems::from_error(&e), e.status()).await,
    }
}

/// A one-button form changing a user (`action`: disable, enable or reset_mfa).
fn user_action(ctx: &Ctx, id: i64, action: &str, label: &str, confirm: Option<String>) -> Markup {
    html! {
        form.inline method="post" action=(format!("/users/{id}")) data-confirm=[confirm] {
            (csrf_field(ctx))
            input type="hidden" name="action" value=(action);
            button.secondary type="submit" { (label) }
        }
    }
}

/// The user-change form's field.
#[derive(Default, Deserialize)]
pub struct UserAction {
    action: Option<String>,
}

/// `POST /users/{id}`: disables, enables or resets the MFA of a user (admins; not themselves).
pub async fn change_user(State(state): State<WebState>, ctx: Ctx, Path(id): Path<String>, body: Bytes) -> Response {
    let done = async {
        let id = moon_http::parse_id(&id)?;
        let f: UserAction = form::parse(&body)?;
        let change = match f.action.as_deref() {
            Some("disable") => UpdateUser { disabled: Some(true), ..UpdateUser::default() },
            Some("enable") => UpdateUser { disabled: Some(false), ..UpdateUser::default() },
            Some("reset_mfa") => UpdateUser { reset_mfa: Some(true), ..UpdateUser::default() },
            _ => return Err(ApiError::bad_request("invalid_action", "action must be disable, enable or reset_mfa")),
        };
        crate::auth::routes::change_user(&state.security, &ctx.principal, id, change).await
    }
    .await;
    match done {
        Ok(u) => see_other("/users", &format!("User {} updated.", u.username)),
        Err(e) => layout::error_page(e.status(), e.detail()),
    }
}

/// The new-token form's fields.
#[derive(Default, Deserialize)]
pub struct TokenForm {
    name: Option<String>,
    expires_in_days: Option<String>,
}

/// `GET /tokens`.
pub async fn tokens(State(state): State<WebState>, ctx: Ctx) -> Response {
    render_tokens(&state, &ctx, ctx.notice.as_deref(), None, &Problems::default(), StatusCode::OK).await
}

async fn render_tokens(
    state: &WebState,
    ctx: &Ctx,
    done: Option<&str>,
    secret: Option<&str>,
    problems: &Problems,
    status: StatusCode,
) -> Response {
    let listed =
        async { crate::auth::token::list(&state.db, token_owner(&ctx.principal)?).await.map_err(ApiError::from) }.await;
    let list = match listed {
        Ok(l) => l,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let zone = state.calendar.zone;
    // An admin sees every user's tokens: the owner by name, not by number.
    let owners = match ctx.role() {
        Role::Admin => match users::list(&state.db).await {
            Ok(us) => us.into_iter().map(|u| (u.id, u.username)).collect(),
            Err(e) => {
                let e = ApiError::from(e);
                return layout::error_page(e.status(), e.detail());
            }
        },
        _ => std::collections::HashMap::new(),
    };
    let body = html! {
        (notice(done))
        @if let Some(s) = secret {
            div.notice role="status" {
                p { "Your new token (shown only now; send it as " code { "Authorization: Bearer …" } "):" }
                p { code.secret #new-token { (s) } " "
                    button.secondary type="button" data-copy="new-token" aria-describedby="copy-status" hidden { "Copy" }
                    " " span #copy-status role="status" {} }
            }
        }
        div.table-wrap {
            table #tokens-table data-sortable {
                caption.sr-only { "API tokens" }
                thead { tr {
                    th.num scope="col" { "Id" } @if ctx.role() == Role::Admin { th scope="col" { "Owner" } }
                    th scope="col" { "Name" } th scope="col" { "Prefix" } th scope="col" { "Created (" (zone.name()) ")" } th scope="col" { "Expires" }
                    th scope="col" { "Last used" } th scope="col" data-nosort { "Status" }
                } }
                tbody { @for t in &list { tr {
                    td.num { (t.id) } @if ctx.role() == Role::Admin { td { (owners.get(&t.user_id).map_or_else(|| format!("user {}", t.user_id), Clone::clone)) } }
                    td { (t.name) } td { code { (t.token_prefix) } } td { (when(&t.created_at, zone)) }
                    td { (t.expires_at.as_ref().map(|t| when(t, zone)).unwrap_or_else(|| "never".into())) }
                    td { (t.last_used_at.as_ref().map(|t| when(t, zone)).unwrap_or_default()) }
                    td { @if t.revoked_at.is_some() { "Revoked" } @else { (layout::confirm_button(ctx, &format!("/tokens/{}/revoke", t.id), "Revoke", "danger", &format!("Revoke token {}? Programs using it stop working at once.", t.name))) } }
                } } }
            }
        }
        section.panel aria-labelledby="new-token-h" {
            h2 #new-token-h { "Create a token" }
            form method="post" action="/tokens" novalidate {
                (csrf_field(ctx))
                (problems.summary())
                div.form-grid {
                    (form::input(Input { name: "name", label: "What it is for", value: "", kind: "text", required: true }, problems))
                    (form::input(Input { name: "expires_in_days", label: "Expires in days (blank: 90)", value: "", kind: "number", required: false }, problems))
                }
                button type="submit" { "Create token" }
            }
        }
    };
    respond(status, document(Some(ctx), "API tokens", body))
}

/// `POST /tokens`: creates a token for the viewer and shows its secret once.
pub async fn create_token(State(state): State<WebState>, ctx: Ctx, body: Bytes) -> Response {
    let made = async {
        let f: TokenForm = form::parse(&body)?;
        let days = match given(&f.expires_in_days) {
            None => None,
            Some(d) => Some(d.parse::<u32>().map_err(|_| {
                ApiError::field(moon_domain::FieldError::new(
                    "expires_in_days",
                    "out_of_range",
                    "expires_in_days must be 1-3650",
                ))
            })?),
        };
        issue_token(&state.security, &ctx.principal, None, v(&f.name), days, None).await
    }
    .await;
    match made {
        Ok(t) => {
            render_tokens(
                &state,
                &ctx,
                Some(&format!("Token {} created.", t.token.name)),
                Some(&t.secret),
                &Problems::default(),
                StatusCode::CREATED,
            )
            .await
        }
        Err(e) => render_tokens(&state, &ctx, None, None, &Problems::from_error(&e), e.status()).await,
    }
}

/// `POST /tokens/{id}/revoke`.
pub async fn revoke_token(State(state): State<WebState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let done = async {
        let id = moon_http::parse_id(&id)?;
        Ok::<_, ApiError>(
            crate::auth::token::revoke(&state.db, id, token_owner(&ctx.principal)?, &ctx.principal).await?,
        )
    }
    .await;
    match done {
        Ok(t) => see_other("/tokens", &format!("Token {} revoked.", t.name)),
        Err(e) => layout::error_page(e.status(), e.detail()),
    }
}

/// The audit log's filter and paging.
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    /// An action, or a prefix ending in `.` (`agent.`).
    action: Option<String>,
    /// Only this user's entries (a user name).
    user: Option<String>,
    /// Only entries on this kind of record (`sale`, `agent`, …).
    entity: Option<String>,
    /// Only entries on this record (its id).
    entity_id: Option<String>,
    /// First day, inclusive, in the business time zone.
    from: Option<String>,
    /// Last day, inclusive, in the business time zone.
    to: Option<String>,
    /// Only entries older than this id.
    before: Option<String>,
    /// The API's `next_cursor`, accepted here too, so a link from the API works.
    cursor: Option<String>,
}

const AUDIT_ROWS: u64 = 50;

/// The kinds of record the audit log names, for its filter.
fn record_kinds() -> Vec<(String, String)> {
    [
        ("", "Any record"),
        ("sale", "Sale"),
        ("agent", "Agent"),
        ("product", "Product"),
        ("user", "User"),
        ("token", "API token"),
        ("target", "Target"),
        ("import", "Import"),
    ]
    .iter()
    .map(|(v, l)| ((*v).to_owned(), (*l).to_owned()))
    .collect()
}

/// The first instant of `day` in the business time zone (a day the zone skips, at a
/// daylight-saving change, starts at its first existing instant).
fn day_start(zone: chrono_tz::Tz, day: chrono::NaiveDate) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    zone.from_local_datetime(&midnight)
        .earliest()
        .or_else(|| zone.from_local_datetime(&(midnight + chrono::Duration::hours(1))).earliest())
        .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&chrono::Utc))
}

/// An audited record, linked to its page when it has one the viewer may open, and to its
/// whole history in the log.
fn record(ctx: &Ctx, entity: Option<&str>, id: Option<&str>) -> Markup {
    let (Some(entity), Some(id)) = (entity, id) else {
        return html! { (entity.unwrap_or("")) " " (id.unwrap_or("")) };
    };
    // (route template the policy table knows, the record's page)
    let page = match entity {
        "sale" if id.parse::<i64>().is_ok() => Some(("/sales/{id}", format!("/sales/{id}"))),
        "agent" if id.parse::<i64>().is_ok() => Some(("/agents/{id}", format!("/agents/{id}"))),
        "product" => Some(("/products", String::from("/products"))),
        "user" => Some(("/users", String::from("/users"))),
        "token" => Some(("/tokens", String::from("/tokens"))),
        "wallboard_token" => Some(("/organisation", String::from("/organisation#screens-h"))),
        _ => None,
    }
    .filter(|(template, _)| ctx.may("GET", template))
    .map(|(_, p)| p);
    let history: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("entity", entity)
        .append_pair("entity_id", id)
        .finish();
    html! {
        @if let Some(p) = page { a href=(p) { (entity) " " (id) } } @else { (entity) " " (id) }
        " " a.history href=(format!("/audit?{history}")) aria-label=(format!("History of {entity} {id}")) { "history" }
    }
}

/// `GET /audit`: the tamper-evident trail, newest first (personal fields arrive masked).
pub async fn audit(State(state): State<WebState>, ctx: Ctx, Query(q): Query<AuditQuery>) -> Response {
    // A page position that cannot be read is the caller's error, as in the API (422), not the
    // first page shown as if nothing were wrong.
    let before = match (given(&q.before), given(&q.cursor)) {
        (Some(b), _) => match b.parse::<i64>() {
            Ok(id) if id > 0 => Some(id),
            _ => {
                return layout::error_page(StatusCode::UNPROCESSABLE_ENTITY, "before must be an entry id, such as 120");
            }
        },
        (None, Some(cursor)) => {
            let page =
                moon_http::PageParams { limit: None, cursor: Some(cursor), order: Some(String::from("desc")) }.parse();
            match page {
                Ok(p) => p.after,
                Err(e) => return layout::error_page(e.status(), e.detail()),
            }
        }
        (None, None) => None,
    };
    let zone = state.calendar.zone;
    let loaded = async {
        let people = users::list(&state.db).await.map_err(ApiError::from)?;
        let mut errors = moon_domain::FieldErrors::new();
        let from = errors.take_opt(given(&q.from).map(|d| moon_domain::parse_date("from", &d)));
        let to = errors.take_opt(given(&q.to).map(|d| moon_domain::parse_date("to", &d)));
        let entity = errors.take(form::search_text("entity", &q.entity)).flatten();
        let entity_id = errors.take(form::search_text("entity_id", &q.entity_id)).flatten();
        let action = errors.take(form::search_text("action", &q.action)).flatten();
        let actor = match given(&q.user) {
            None => None,
            Some(name) => match people.iter().find(|u| u.username == name) {
                Some(u) => Some(format!("user:{}", u.id)),
                None => {
                    errors.push(moon_domain::FieldError::new(
                        "user",
                        "unknown_user",
                        format!("no user is called {name:?}"),
                    ));
                    None
                }
            },
        };
        errors.finish().map_err(ApiError::validation)?;
        let filter = crate::audit::Filter {
            action,
            actor,
            entity,
            entity_id,
            from: from.map(|d| day_start(zone, d)),
            to: to.and_then(|d| d.succ_opt()).map(|d| day_start(zone, d) - chrono::Duration::microseconds(1)),
        };
        let entries = crate::audit::list(&state.db, &filter, before, AUDIT_ROWS).await.map_err(ApiError::from)?;
        Ok::<_, ApiError>((people, entries))
    }
    .await;
    let (people, entries) = match loaded {
        Ok(x) => x,
        Err(e) if !e.field_errors().is_empty() => {
            let problems = Problems::from_error(&e);
            let body = html! { (problems.summary()) p { a href="/audit" { "Show the whole log" } } };
            return respond(e.status(), document(Some(&ctx), "Audit log", body));
        }
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let names: std::collections::HashMap<String, String> =
        people.iter().map(|u| (format!("user:{}", u.id), u.username.clone())).collect();
    let mut user_choices = vec![(String::new(), String::from("Anyone"))];
    user_choices.extend(people.iter().map(|u| (u.username.clone(), u.username.clone())));
    let kept: Vec<(&str, Option<String>)> = vec![
        ("action", given(&q.action)),
        ("user", given(&q.user)),
        ("entity", given(&q.entity)),
        ("entity_id", given(&q.entity_id)),
        ("from", given(&q.from)),
        ("to", given(&q.to)),
    ];
    let next = (entries.len() as u64 == AUDIT_ROWS).then(|| entries.last().map(|e| e.id)).flatten();
    let next_link: Markup = html! {
        nav.pager aria-label="Pages" {
            @if before.is_some() { a href="/audit" { "« Newest" } }
            @if let Some(id) = next {
                @let mut s = form_urlencoded::Serializer::new(String::new());
                @let link = { for (k, v) in &kept { if let Some(v) = v { s.append_pair(k, v); } } s.append_pair("before", &id.to_string()); s.finish() };
                a href=(format!("/audit?{link}")) rel="next" { "Older »" }
            }
        }
    };
    let body = html! {
        form.filters.panel method="get" action="/audit" role="search" {
            (form::filter_select("user", "User", &user_choices, v(&q.user)))
            (form::filter_input(Input { name: "from", label: "From", value: v(&q.from), kind: "date", required: false }))
            (form::filter_input(Input { name: "to", label: "To", value: v(&q.to), kind: "date", required: false }))
            (form::filter_select("entity", "Record kind", &record_kinds(), v(&q.entity)))
            (form::filter_input(Input { name: "entity_id", label: "Record id", value: v(&q.entity_id), kind: "text", required: false }))
            (form::filter_input(Input { name: "action", label: "Action (e.g. agent.create, or agent. for all)", value: v(&q.action), kind: "text", required: false }))
            div.field { button type="submit" { "Filter" } }
        }
        div.table-wrap {
            table #audit-table data-sortable {
                caption.sr-only { "Audit log" }
                thead { tr {
                    th.num scope="col" { "Id" } th scope="col" { "When (" (zone.name()) ")" } th scope="col" { "Actor" } th scope="col" { "Role" }
                    th scope="col" { "Action" } th scope="col" { "Record" } th scope="col" { "From" }
                } }
                tbody { @for e in &entries { tr {
                    td.num { (e.id) } td { (e.occurred_at.with_timezone(&zone).format("%Y-%m-%d %H:%M:%S")) }
                    td { (names.get(&e.actor).map_or(e.actor.as_str(), String::as_str)) } td { (e.actor_role.as_deref().unwrap_or("")) }
                    td { (e.action) } td { (record(&ctx, e.entity.as_deref(), e.entity_id.as_deref())) } td { (e.source_ip.as_deref().unwrap_or("")) }
                } } }
            }
        }
        (next_link)
        p.muted { "Check the chain of hashes with " code { "moon audit verify" } "." }
    };
    respond(StatusCode::OK, document(Some(&ctx), "Audit log", body))
}

/// The access-review page's query.
#[derive(Default, Deserialize)]
pub struct ReviewQuery {
    dormant_days: Option<String>,
}

/// A button behind a disclosure: the first click shows what will happen, the second does it,
/// so a stray click on a long page disables nobody.
fn confirmed_action(ctx: &Ctx, action: &str, label: &str, question: &str, hidden: Option<(&str, &str)>) -> Markup {
    html! {
        details.confirm {
            summary { (label) "…" }
            form.inline method="post" action=(action) {
                (csrf_field(ctx))
                @if let Some((name, value)) = hidden { input type="hidden" name=(name) value=(value); }
                p { (question) }
                button.danger type="submit" { "Yes, " (label.to_lowercase()) }
            }
        }
    }
}

/// `GET /access-review`: every user's access, what to act on flagged, with the actions at hand
/// (admins; the same report as `GET /api/v1/access-review`).
pub async fn access_review(State(state): State<WebState>, ctx: Ctx, Query(q): Query<ReviewQuery>) -> Response {
    let days = match crate::auth::review::parse_dormant_days(
        given(&q.dormant_days).as_deref(),
        state.auth.config.dormant_days,
    ) {
        Ok(d) => d,
        Err(e) => return layout::error_page(StatusCode::UNPROCESSABLE_ENTITY, &e.message),
    };
    let review = match crate::auth::review::review(&state.db, days).await.map_err(ApiError::from) {
        Ok(r) => r,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let flagged = review.users.iter().filter(|u| !u.flags.is_empty()).count();
    let body = html! {
        (notice(ctx.notice.as_deref()))
        form.filters method="get" action="/access-review" {
            label for="dormant_days" { "Dormant after (days)" }
            input #dormant_days name="dormant_days" type="number" min="1" max="3650" value=(days);
            button.secondary type="submit" { "Apply" }
            " "
            a href=(format!("/api/v1/access-review?format=csv&dormant_days={days}")) download { "Download CSV" }
        }
        p #review-summary { (review.users.len()) " users; " (flagged) " flagged." }
        div.table-wrap {
            table #access-review-table data-sortable {
                caption.sr-only { "Access review" }
                thead { tr {
                    th scope="col" { "User" } th scope="col" { "Role" } th scope="col" { "Scope" } th scope="col" { "MFA" }
                    th scope="col" { "Status" } th scope="col" { "Last sign-in" } th scope="col" { "Tokens" }
                    th scope="col" { "Flags" } th scope="col" data-nosort { "Actions" }
                } }
                tbody { @for u in &review.users { tr data-user=(u.user.id) {
                    td { (u.user.username) } td { (u.user.role) } td { (u.scope) }
                    td { @if u.user.mfa_enabled { "On" } @else { "Off" } }
                    td { @if u.user.disabled { "Disabled" } @else { "Enabled" } }
                    td { (u.last_sign_in.as_ref().map(|t| when(t, state.calendar.zone)).unwrap_or_else(|| "never".into())) }
                    td { ul.plain { @for t in &u.tokens { li {
                        code { (t.token.token_prefix) } " " (t.token.name) ", " (t.age_days) " days old, "
                        @if let Some(used) = &t.token.last_used_at { "last used " (when(used, state.calendar.zone)) } @else { "never used" }
                        @if t.token.expires_at.is_none() { ", never expires" }
                        " " (confirmed_action(&ctx, &format!("/tokens/{}/revoke", t.token.id), "Revoke",
                            &format!("Revoke token {} of {}? Programs using it stop working at once.", t.token.token_prefix, u.user.username), None))
                    } } } }
                    td { @for f in &u.flags { span.badge { (f) } " " } }
                    td {
                        @if !u.user.disabled && ctx.principal.user_id != Some(u.user.id) {
                            (confirmed_action(&ctx, &format!("/users/{}", u.user.id), "Disable",
                                &format!("Disable {}? Their sessions and tokens stop working at once.", u.user.username), Some(("action", "disable"))))
                        }
                    }
                } } }
            }
        }
    };
    respond(StatusCode::OK, document(Some(&ctx), "Access review", body))
}
