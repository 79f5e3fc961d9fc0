//! The HTTP edge shared by every component: problem+json errors, extractors, paging, principal
//! and scope, health, metrics and request logs.
//!
//! It sits below the components and knows none of them, nor the wiring: handlers here take the
//! sub-state they need (the database, the metrics registry) through `FromRef`, never the
//! application state.

pub mod error;
pub mod extract;
pub mod health;
pub mod input;
pub mod metrics;
pub mod openapi;
pub mod paging;
pub mod patch;
pub mod principal;
pub mod request_log;
pub mod serve;
pub mod tls;
pub mod trace_context;

pub use error::{ApiError, ApiResult};
pub use extract::{ApiJson, ApiQuery};
pub use paging::{Page, PageParams, PageState};
pub use principal::{Principal, Role, Scope};

/// Parses a numeric id from a path segment; anything else cannot name a record, so it is a 404
/// like any other missing record.
pub fn parse_id(raw: &str) -> ApiResult<i64> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| ApiError::not_found(format!("record {raw:?}")))
}
