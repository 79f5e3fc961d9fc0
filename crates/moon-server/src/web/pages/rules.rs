//! Notification rules (admins): the list with what each watches, a form to add one, and per
//! rule a switch to turn it off or on and a remove button that asks first. Same use cases and
//! validation as `/api/v1/notifications/rules` ([`crate::notifications::service`]).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::{SwitchForm, done_or_error, see_other, switch_cells};
use crate::notifications::rules::{Rule, RuleSpec};
use crate::notifications::{rules_api, service};
use crate::web::WebState;
use crate::web::context::Ctx;
use crate::web::form::{self, Input, Problems, given};
use crate::web::layout::{self, csrf_field, document, notice, respond};
use moon_http::ApiError;

/// The add form's fields, as typed; blank ones take the rule's defaults.
#[derive(Debug, Default, Deserialize)]
pub struct RuleForm {
    name: Option<String>,
    kind: Option<String>,
    period: Option<String>,
    thresholds: Option<String>,
    every: Option<String>,
    scope: Option<String>,
    schedule: Option<String>,
    level: Option<String>,
    behind_percent: Option<String>,
    template: Option<String>,
}

fn v(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

fn options(values: &[&str]) -> Vec<(String, String)> {
    values
        .iter()
        .map(|v| ((*v).to_owned(), if v.is_empty() { String::from("(default)") } else { v.replace('_', " ") }))
        .collect()
}

/// `GET /rules`.
pub async fn page(State(state): State<WebState>, ctx: Ctx) -> Response {
    render(&state, &ctx, &RuleForm::default(), &Problems::default(), StatusCode::OK).await
}

/// What a rule watches, in a few words.
fn watches(r: &Rule, currency: &str) -> String {
    let amounts: Vec<String> = r.thresholds.iter().map(|m| m.grouped()).collect();
    let mut parts = Vec::new();
    if !amounts.is_empty() {
        parts.push(format!("at {} {currency}", amounts.join(", ")));
    }
    if let Some(e) = r.every {
        parts.push(format!("every {} {currency}", e.grouped()));
    }
    if let Some(s) = &r.schedule {
        parts.push(format!("on schedule {s} ({})", r.timezone));
    }
    if let Some(p) = &r.pace {
        parts.push(format!(
            "{} more than {}.{:02} % behind pace",
            p.level.as_str(),
            p.behind_bp / 100,
            p.behind_bp % 100
        ));
    }
    parts.join("; ")
}

async fn render(state: &WebState, ctx: &Ctx, new: &RuleForm, problems: &Problems, status: StatusCode) -> Response {
    let rules = match rules_api::all(&state.db).await {
        Ok(r) => r,
        Err(e) => {
            let e = ApiError::from(e);
            return layout::error_page(e.status(), e.detail());
        }
    };
    let currency = state.currency.to_string();
    let body = html! {
        (notice(ctx.notice.as_deref()))
        p.hint { "Rules send notifications on their own: milestones and targets reached as sales land, reminders on a schedule, and alerts when a team, branch or agent falls behind pace." }
        section.panel aria-labelledby="rules-h" {
            h2 #rules-h { "Rules (" (rules.len()) ")" }
            div.table-wrap {
                table #rules-table {
                    caption.sr-only { "Notification rules" }
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Kind" } th scope="col" { "Period" }
                        th scope="col" { "Fires" } th scope="col" { "Status" } th scope="col" { "Change" }
                    } }
                    tbody {
                        @for r in &rules {
                            tr {
                                td { (r.name) } td { (r.kind.as_str().replace('_', " ")) } td { (r.period.as_str()) }
                                td { (watches(r, &currency)) }
                                (switch_cells(ctx, &format!("/rules/{}", r.id), r.enabled, &r.name,
                                    &format!("Remove the rule {}? Notifications it sent stay.", r.name)))
                            }
                        }
                        @if rules.is_empty() { tr { td colspan="6" { "No rules yet." } } }
                    }
                }
            }
        }
        section.panel aria-labelledby="new-rule-h" {
            h2 #new-rule-h { "Add a rule" }
            p.hint { "Fill what the kind needs: milestones take amounts or a step; reminders a schedule (cron, default Mondays 09:00); behind-pace alerts a level and a percentage. Blank fields take the defaults." }
            form method="post" action="/rules" novalidate {
                (csrf_field(ctx))
                (problems.summary())
                div.form-grid {
                    (form::input(Input { name: "name", label: "Name", value: v(&new.name), kind: "text", required: true }, problems))
                    (form::select("kind", "Kind", &options(&["milestone", "target_achieved", "target_due", "behind_pace"]), v(&new.kind), problems))
                    (form::select("period", "Period", &options(&["month", "quarter", "year", "all"]), v(&new.period), problems))
                    (form::input(Input { name: "thresholds", label: &format!("Milestone amounts ({currency}), separated by spaces"), value: v(&new.thresholds), kind: "text", required: false }, problems))
                    (form::input(Input { name: "every", label: &format!("Or a milestone every ({currency})"), value: v(&new.every), kind: "text", required: false }, problems))
                    (form::select("scope", "Target scope (targets reached)", &options(&["", "company", "branch"]), v(&new.scope), problems))
                    (form::input(Input { name: "schedule", label: "Schedule (cron, reminders)", value: v(&new.schedule), kind: "text", required: false }, problems))
                    (form::select("level", "Level (behind pace)", &options(&["", "team", "branch", "agent"]), v(&new.level), problems))
                    (form::input(Input { name: "behind_percent", label: "Percent behind (behind pace)", value: v(&new.behind_percent), kind: "text", required: false }, problems))
                    (form::input(Input { name: "template", label: "Message (blank: the default for the kind)", value: v(&new.template), kind: "text", required: false }, problems))
                }
                button type="submit" { "Add rule" }
            }
        }
    };
    respond(status, document(Some(ctx), "Notification rules", body))
}

/// The form as the API's rule specification; `thresholds` split on spaces and semicolons, each
/// amount read as people write it (`50,000`).
fn spec(f: &RuleForm) -> RuleSpec {
    let text = |s: &Option<String>| given(s);
    let amount = |s: String| serde_json::Value::String(form::ungroup_amount(&s));
    RuleSpec {
        name: f.name.clone(),
        kind: text(&f.kind),
        enabled: None,
        period: text(&f.period),
        thresholds: text(&f.thresholds)
            .map(|t| t.split([' ', ';']).filter(|s| !s.is_empty()).map(|s| amount(s.to_owned())).collect()),
        every: text(&f.every).map(amount),
        scope: text(&f.scope),
        schedule: text(&f.schedule),
        timezone: None,
        template: text(&f.template),
        level: text(&f.level),
        behind_percent: text(&f.behind_percent).map(serde_json::Value::String),
        from_working_day: None,
        notify_agent: None,
    }
}

/// Errors on `thresholds[2]` are shown beside the one amounts field.
fn rule_problems(e: &ApiError) -> Problems {
    let mut p = Problems::from_error(e);
    if e.code() == "duplicate_rule_name" {
        p = Problems { fields: vec![moon_domain::FieldError::new("name", e.code(), e.detail())], general: None };
    }
    for f in &mut p.fields {
        if f.field.starts_with("thresholds[") {
            f.field = String::from("thresholds");
        }
    }
    p
}

/// `POST /rules`: adds a rule.
pub async fn create(State(state): State<WebState>, ctx: Ctx, body: Bytes) -> Response {
    let f: RuleForm = match form::parse(&body) {
        Ok(f) => f,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    match service::create_rule(&state.db, &ctx.principal, &spec(&f), &state.notify.timezone).await {
        Ok(r) => see_other("/rules", &format!("Rule {} added.", r.name)),
        Err(e) => {
            let e = ApiError::from(e);
            render(&state, &ctx, &f, &rule_problems(&e), e.status()).await
        }
    }
}

/// `POST /rules/{id}`: turns a rule on or off.
pub async fn switch(State(state): State<WebState>, ctx: Ctx, Path(id): Path<String>, body: Bytes) -> Response {
    let done = async {
        let id = moon_http::parse_id(&id)?;
        let spec = RuleSpec { enabled: Some(SwitchForm::on(&body)?), ..RuleSpec::default() };
        Ok::<_, ApiError>(service::update_rule(&state.db, &ctx.principal, id, &spec, &state.notify.timezone).await?)
    }
    .await;
    done_or_error(done, "/rules", |r| format!("Rule {} is {}.", r.name, if r.enabled { "on" } else { "off" }))
}

/// `POST /rules/{id}/delete`: removes a rule (the notifications it made stay).
pub async fn remove(State(state): State<WebState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let done = async {
        let id = moon_http::parse_id(&id)?;
        let r = service::rule(&state.db, id).await?;
        service::delete_rule(&state.db, &ctx.principal, id).await?;
        Ok::<_, ApiError>(r)
    }
    .await;
    done_or_error(done, "/rules", |r| format!("Rule {} removed.", r.name))
}
