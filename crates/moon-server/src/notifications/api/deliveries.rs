//! The HTTP routes of the notification deliveries (see `super::super::deliveries` for its data).

use super::super::NotificationsState;
use super::super::deliveries::*;
use axum::Json;
use axum::extract::{Path, State};
use moon_db::Db;
use moon_http::paging::Paged;
use moon_http::{ApiError, ApiQuery, ApiResult, PageParams, Principal};

/// The routes of the delivery log.
pub(in crate::notifications) fn routes<S>() -> utoipa_axum::router::OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    moon_db::Db: axum::extract::FromRef<S>,
    NotificationsState: axum::extract::FromRef<S>,
{
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new().routes(routes!(list_deliveries)).routes(routes!(redeliver))
}

/// The delivery log: webhook and e-mail deliveries with their attempts and outcome.
#[utoipa::path(get, path = "/api/v1/notifications/deliveries", tag = "notifications", params(DeliveryFilter),
    responses((status = 200, body = Paged<Delivery>), (status = 400, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn list_deliveries(
    State(db): State<Db>,
    ApiQuery(f): ApiQuery<DeliveryFilter>,
) -> ApiResult<Json<Paged<Delivery>>> {
    let page = PageParams { limit: f.limit.clone(), cursor: f.cursor.clone(), order: f.order.clone() }.parse()?;
    if let Some(s) = &f.status
        && !["pending", "succeeded", "dead"].contains(&s.as_str())
    {
        return Err(ApiError::field(moon_domain::FieldError::new(
            "status",
            "unknown_status",
            "status is pending, succeeded or dead",
        )));
    }
    let rows = list(&db, &f, &page).await?;
    Ok(Json(page.finish(rows, |d| d.id)))
}

/// Send a delivery again (a dead one, or a succeeded one a receiver lost): it becomes pending
/// with a fresh attempt budget, due now.
#[utoipa::path(post, path = "/api/v1/notifications/deliveries/{id}/redeliver", tag = "notifications", params(("id" = i64, Path, description = "Delivery id")),
    responses((status = 200, body = Delivery), (status = 404, body = moon_http::error::Problem)))]
async fn redeliver(
    State(state): State<NotificationsState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Delivery>> {
    let id = moon_http::parse_id(&id)?;
    Ok(Json(super::super::service::redeliver(&state, &principal, id).await?))
}
