//! The HTTP routes of the notification webhooks (see `super::super::webhooks` for its data).

use super::super::NotificationsState;
use super::super::webhooks::*;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use moon_db::Db;
use moon_db::sea_query::{Expr, ExprTrait, Query};
use moon_http::{ApiError, ApiJson, ApiResult, Principal};

/// The routes of webhook subscriptions.
pub(in crate::notifications) fn routes<S>() -> utoipa_axum::router::OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    moon_db::Db: axum::extract::FromRef<S>,
    NotificationsState: axum::extract::FromRef<S>,
{
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new().routes(routes!(list_subscriptions, create_subscription)).routes(routes!(
        get_subscription,
        update_subscription,
        delete_subscription
    ))
}

fn not_found(id: i64) -> ApiError {
    ApiError::not_found(format!("webhook subscription {id}"))
}

/// List webhook subscriptions.
#[utoipa::path(get, path = "/api/v1/notifications/webhooks", tag = "notifications",
    responses((status = 200, body = Vec<Subscription>)))]
async fn list_subscriptions(State(db): State<Db>) -> ApiResult<Json<Vec<Subscription>>> {
    Ok(Json(all(&db).await?))
}

/// Subscribe a receiver URL to notification events. Without `secret`, one is generated and
/// returned in this answer only.
#[utoipa::path(post, path = "/api/v1/notifications/webhooks", tag = "notifications", request_body = SubscriptionSpec,
    responses((status = 201, body = CreatedSubscription), (status = 422, body = moon_http::error::Problem)))]
async fn create_subscription(
    State(state): State<NotificationsState>,
    principal: Principal,
    ApiJson(body): ApiJson<SubscriptionSpec>,
) -> ApiResult<(StatusCode, Json<CreatedSubscription>)> {
    let c = check(&body, true).map_err(ApiError::validation)?;
    let (sub, generated) = super::super::service::create_subscription(&state, &principal, c).await?;
    Ok((StatusCode::CREATED, Json(CreatedSubscription { subscription: sub, secret: generated })))
}

/// Get one webhook subscription.
#[utoipa::path(get, path = "/api/v1/notifications/webhooks/{id}", tag = "notifications", params(("id" = i64, Path, description = "Subscription id")),
    responses((status = 200, body = Subscription), (status = 404, body = moon_http::error::Problem)))]
async fn get_subscription(State(db): State<Db>, Path(id): Path<String>) -> ApiResult<Json<Subscription>> {
    let id = moon_http::parse_id(&id)?;
    let mut q = Query::select();
    q.columns(COLUMNS).from("webhook_subscriptions").and_where(Expr::col("id").eq(id));
    db.fetch_optional::<Row>(&q).await?.map(|r| Json(r.into())).ok_or_else(|| not_found(id))
}

/// Change a subscription's URL, events, secret or state.
#[utoipa::path(patch, path = "/api/v1/notifications/webhooks/{id}", tag = "notifications", params(("id" = i64, Path, description = "Subscription id")), request_body = SubscriptionSpec,
    responses((status = 200, body = Subscription), (status = 404, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn update_subscription(
    State(state): State<NotificationsState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SubscriptionSpec>,
) -> ApiResult<Json<Subscription>> {
    let id = moon_http::parse_id(&id)?;
    let c = check(&body, false).map_err(ApiError::validation)?;
    Ok(Json(super::super::service::update_subscription(&state, &principal, id, c).await?))
}

/// Delete a subscription and its delivery log.
#[utoipa::path(delete, path = "/api/v1/notifications/webhooks/{id}", tag = "notifications", params(("id" = i64, Path, description = "Subscription id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = moon_http::error::Problem)))]
async fn delete_subscription(
    State(db): State<Db>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = moon_http::parse_id(&id)?;
    super::super::service::delete_subscription(&db, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
