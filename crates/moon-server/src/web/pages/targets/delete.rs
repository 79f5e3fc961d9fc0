//! Deleting a target from the targets page (admins): a button per row that asks first, calling
//! the use case `DELETE /api/v1/targets/{id}` calls. A locked period refuses (the API's 409):
//! the page says so above the table, beside the row's description, and offers to delete it
//! anyway as a correction with a reason, as the API allows.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use maud::{Markup, html};
use moon_domain::FieldErrors;
use serde::Deserialize;

use super::forms::Forms;
use super::{page_of, render, this_month};
use crate::sales_targets::model::{self, CorrectionBody, Target};
use crate::sales_targets::service;
use crate::web::WebState;
use crate::web::context::Ctx;
use crate::web::form::{self, given};
use crate::web::layout::{self, confirm_button, csrf_field};
use crate::web::pages::see_other;
use moon_http::ApiError;

/// The delete form: only a correction's reason, when the period is locked.
#[derive(Debug, Default, Deserialize)]
pub struct DeleteForm {
    correction_reason: Option<String>,
}

/// A refused deletion, as the page shows it.
#[derive(Debug, Default)]
pub struct Refused {
    /// The target.
    pub id: i64,
    /// What the target is, in words.
    pub what: String,
    /// Why not, worded for people.
    pub message: String,
    /// The period is locked: a correction with a reason may still delete it.
    pub locked: bool,
    /// The reason as typed.
    pub reason: String,
}

/// A target in words: whose, for what, when.
fn describe(t: &Target, product_name: &dyn Fn(i64) -> String) -> String {
    let who = if t.scope_key.is_empty() { String::from("the company") } else { t.scope_key.clone() };
    let what = t
        .product_id
        .map(product_name)
        .or_else(|| t.product_line.clone())
        .unwrap_or_else(|| String::from("all products"));
    format!("{} {who}, {what}, {}", t.scope_kind.as_str(), t.period)
}

/// A row's delete button, asking first.
pub fn button(ctx: &Ctx, t: &Target, product_name: &dyn Fn(i64) -> String) -> Markup {
    let what = describe(t, product_name);
    confirm_button(
        ctx,
        &format!("/targets/{}/delete", t.id),
        &format!("Delete target {}", t.id),
        "danger",
        &format!("Delete the target for {what}? Its figures lose their target."),
    )
}

/// The refusal above the table; for a locked period, the form to delete it as a correction.
pub fn refusal(ctx: &Ctx, r: &Refused) -> Markup {
    html! {
        div.alert #delete-error role="alert" {
            p { "Target " (r.id) " (" (r.what) ") was not deleted: " (r.message) }
            @if r.locked {
                form method="post" action=(format!("/targets/{}/delete", r.id)) novalidate
                    data-confirm="Delete this target of a locked period as a correction?" {
                    (csrf_field(ctx))
                    div.field {
                        label for="d-correction_reason" { "Reason for this correction" }
                        input #d-correction_reason type="text" name="correction_reason" value=(r.reason);
                    }
                    button.danger type="submit" { "Delete as a correction" }
                }
            }
        }
    }
}

/// `POST /targets/{id}/delete`: deletes one target (admins); back to its period's page, or the
/// page with the refusal.
pub async fn delete(State(state): State<WebState>, ctx: Ctx, Path(id): Path<String>, body: Bytes) -> Response {
    let found = async {
        let id = moon_http::parse_id(&id)?;
        let f: DeleteForm = form::parse(&body)?;
        let target = service::get(&state.db, &state.calendar, &ctx.principal, id).await?;
        Ok::<_, ApiError>((target, f))
    }
    .await;
    let (target, f) = match found {
        Ok(x) => x,
        Err(e) => return layout::error_page(e.status(), e.detail()),
    };
    let period = state.calendar.fiscal.parse("period", &target.period).unwrap_or_else(|_| this_month(&state));
    let products = super::products(&state).await.map(|(p, _)| p).unwrap_or_default();
    let product_name =
        |id: i64| products.iter().find(|(p, _)| *p == id).map_or_else(|| format!("product {id}"), |(_, n)| n.clone());
    let what = describe(&target, &product_name);
    let typed = given(&f.correction_reason);
    let deleted = async {
        let mut e = FieldErrors::new();
        let body = typed.clone().map(|r| CorrectionBody { reason: Some(r) });
        let reason = model::correction(&mut e, body.as_ref());
        e.finish().map_err(ApiError::validation)?;
        service::delete(&state.db, &state.calendar, &ctx.principal, target.id, reason.as_deref()).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match deleted {
        Ok(()) => see_other(&page_of(&state, period), &format!("Target for {what} deleted.")),
        Err(e) => {
            let locked = e.code() == "period_locked";
            let message = if locked {
                format!(
                    "the period {} is locked. To delete it anyway, give the reason for this correction.",
                    target.period
                )
            } else if !e.field_errors().is_empty() {
                String::from("give the reason for this correction (at most 500 characters).")
            } else {
                e.detail().to_owned()
            };
            let refused = Refused {
                id: target.id,
                what,
                message,
                locked: locked || !e.field_errors().is_empty(),
                reason: typed.unwrap_or_default(),
            };
            let forms = Forms { refused: Some(refused), ..Forms::default() };
            render(&state, &ctx, period, &forms, e.status()).await
        }
    }
}
