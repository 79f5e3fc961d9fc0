//! `GET /commission-plans`: the commission plans the viewer may read, each with every version
//! and what it pays, read-only (plans change through the API and `moon commission-plans`, where
//! a version is a deliberate, audited act). Same use case as `GET /api/v1/commission-plans`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use moon_domain::commission::{PrizeDoc, RulesDoc};
use serde_json::Value;

use crate::commissions::model::{Plan, PlanVersion, VersionStatus};
use crate::commissions::{repo, service};
use crate::web::WebState;
use crate::web::context::Ctx;
use crate::web::layout::{self, document, notice, respond};
use moon_http::{ApiError, Page};

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::from("–"),
    }
}

fn prize(p: Option<&PrizeDoc>) -> String {
    let Some(p) = p else { return String::new() };
    match p.kind.as_deref() {
        Some("per_policy") => format!("{} per policy", text(p.amount.as_ref())),
        Some("threshold") => format!("{} once {} is reached", text(p.amount.as_ref()), text(p.at_least.as_ref())),
        Some("extra_rate") => format!("{} % extra", text(p.percent.as_ref())),
        _ => String::new(),
    }
}

/// What a version pays, in a few lines.
fn rules(r: &RulesDoc) -> Markup {
    html! {
        ul.plain {
            li { "Rate " (text(r.base_rate.as_ref())) " %"
                @if let Some(rr) = &r.renewal_rate { ", renewals " (text(Some(rr))) " %" } }
            @for t in &r.tiers {
                li { "×" (text(t.multiplier.as_ref())) " from " (text(t.from_percent.as_ref())) " % of target"
                    @if let Some(to) = &t.to_percent { " to under " (text(Some(to))) " %" } }
            }
            @if let Some(cap) = &r.cap { li { "Capped at " (text(Some(cap))) " a period" } }
            @if let Some(c) = &r.clawback {
                li { "Clawback of " (text(c.percent.as_ref())) " % within " (text(c.within_days.as_ref())) " days" }
            }
            @for i in &r.incentives {
                li { "Contest " (i.name.as_deref().unwrap_or("")) ": product " (text(i.product_id.as_ref())) ", "
                    (i.from.as_deref().unwrap_or("")) " to " (i.to.as_deref().unwrap_or("")) ", " (prize(i.prize.as_ref())) }
            }
        }
    }
}

fn version_row(plan: &Plan, v: &PlanVersion) -> Markup {
    let current = plan.current_version == Some(v.version);
    html! {
        tr data-plan=(plan.id) data-version=(v.version) {
            td { (plan.name) } td.num { (v.version) @if current { " (in force)" } }
            td { (v.effective_from) }
            td { @match (&v.status, &v.rules) {
                (VersionStatus::Retired, _) => "Retired",
                (_, Some(r)) => (rules(r)),
                (_, None) => "–",
            } }
            td { (v.note.as_deref().unwrap_or("")) }
        }
    }
}

/// `GET /commission-plans`.
pub async fn page(State(state): State<WebState>, ctx: Ctx) -> Response {
    let all = Page { limit: moon_http::paging::MAX_LIMIT, after: None, descending: false };
    let today = state.planning.today();
    let plans = match service::list(&state.db, &ctx.principal, &repo::PlanQuery::default(), &all, today).await {
        Ok(p) => p,
        Err(e) => {
            let e = ApiError::from(e);
            return layout::error_page(e.status(), e.detail());
        }
    };
    let body = html! {
        (notice(ctx.notice.as_deref()))
        p #plans-summary { (plans.len()) " plan(s). Versions are never rewritten: a change is a new version from a later date." }
        @if plans.is_empty() {
            p.muted { "Admins add plans with POST /api/v1/commission-plans or moon commission-plans add." }
        } @else {
            div.table-wrap {
                table #plans-table {
                    caption.sr-only { "Commission plans and their versions" }
                    thead { tr {
                        th scope="col" { "Plan" } th scope="col" { "Pays" } th scope="col" { "On" }
                        th.num scope="col" { "Versions" } th.num scope="col" { "In force today" }
                    } }
                    tbody { @for p in &plans { tr data-plan=(p.id) {
                        td { (p.name) } td { (p.role.as_str()) "s" }
                        td { @match (&p.product_id, &p.product_line) {
                            (Some(id), _) => { "product " (id) },
                            (None, Some(l)) => { "line " (l) },
                            (None, None) => "every product",
                        } }
                        td.num { (p.versions.len()) }
                        td.num { @match p.current_version { Some(v) => (v), None => "none" } }
                    } } }
                }
            }
            h2 { "Versions" }
            div.table-wrap {
                table #plan-versions-table {
                    caption.sr-only { "Every version of every plan" }
                    thead { tr {
                        th scope="col" { "Plan" } th.num scope="col" { "Version" } th scope="col" { "From" }
                        th scope="col" { "Pays" } th scope="col" { "Note" }
                    } }
                    tbody { @for p in &plans { @for v in &p.versions { (version_row(p, v)) } } }
                }
            }
        }
    };
    respond(StatusCode::OK, document(Some(&ctx), "Commission plans", body))
}
