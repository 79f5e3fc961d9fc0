//! Liveness and readiness, served by every target.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use crate::{ApiError, ApiResult};
use moon_db::Db;

/// Health status body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` or `ready`.
    pub status: &'static str,
}

/// The process is alive and answering. Never touches the database, so a slow database does not
/// get healthy pods restarted.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()), responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The database is reachable and carries every migration this binary needs; 503 otherwise, so
/// a load balancer sends no traffic to a pod that would fail it.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()), responses(
    (status = 200, body = Health),
    (status = 503, body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn readyz(State(db): State<Db>) -> ApiResult<Json<Health>> {
    let unavailable = |detail: String| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", detail);
    db.ping().await.map_err(|e| unavailable(format!("database unreachable: {e}")))?;
    let status = db.migration_status().await.map_err(|e| unavailable(format!("cannot read migration state: {e}")))?;
    if !status.is_current() {
        return Err(unavailable(format!("database migrations pending: {:?}", status.pending)));
    }
    Ok(Json(Health { status: "ready" }))
}
