//! The HTTP edge shared by every component: errors, extractors, paging, principal, health.

pub mod error;
pub mod extract;
pub mod health;
pub mod metrics;
pub mod paging;
pub mod principal;
pub mod request_log;
pub mod tls;

pub use error::{ApiError, ApiResult};
pub use extract::{ApiJson, ApiQuery};
pub use paging::{Page, PageParams, PageState};
pub use principal::{Principal, Role, Scope};

/// Parses a numeric id from a path segment; anything else cannot name a record, so it is a 404
/// like any other missing record.
pub fn parse_id(raw: &str) -> ApiResult<i64> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| ApiError::not_found(format!("record {raw:?}")))
}
