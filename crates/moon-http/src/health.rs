//! Liveness and readiness, served by every target.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use crate::{ApiError, ApiResult};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use moon_db::Db;

/// A readiness condition a component adds to `/readyz` (the warehouse it reads answers, ...):
/// `Err(reason)` keeps the process out of the load balancer until it holds.
pub type ReadyCheck = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// What `/readyz` checks: the operational database and its migrations, then each component's
/// own conditions.
#[derive(Clone)]
pub struct Readiness {
    /// The operational database.
    pub db: Db,
    /// The components' checks, by name.
    pub checks: Arc<Vec<(&'static str, ReadyCheck)>>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.checks.iter().map(|(n, _)| *n).collect();
        f.debug_struct("Readiness").field("checks", &names).finish_non_exhaustive()
    }
}

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

/// The database is reachable and carries every migration this binary needs, and every component
/// of this process says it is ready (e.g. the warehouse answers); 503 otherwise, so
/// a load balancer sends no traffic to a pod that would fail it.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()), responses(
    (status = 200, body = Health),
    (status = 503, body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn readyz(State(ready): State<Readiness>) -> ApiResult<Json<Health>> {
    let db = &ready.db;
    let unavailable = |detail: String| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", detail);
    db.ping().await.map_err(|e| unavailable(format!("database unreachable: {e}")))?;
    let status = db.migration_status().await.map_err(|e| unavailable(format!("cannot read migration state: {e}")))?;
    if !status.is_current() {
        return Err(unavailable(format!("database migrations pending: {:?}", status.pending)));
    }
    for (name, check) in ready.checks.iter() {
        check().await.map_err(|reason| unavailable(format!("{name}: {reason}")))?;
    }
    Ok(Json(Health { status: "ready" }))
}
