//! Keyset paging: a capped `limit`, an opaque `cursor`, and a stable order by id.
//!
//! Keyset (not OFFSET) paging keeps the cost of page 1000 the same as page 1 and never skips or
//! repeats a row when others are inserted meanwhile.

use serde::{Deserialize, Serialize};

use super::ApiError;
use moon_domain::FieldError;

/// Rows per page when the client does not say.
pub const DEFAULT_LIMIT: u32 = 50;
/// The most rows one page may hold; larger requests are capped to it.
pub const MAX_LIMIT: u32 = 500;

/// Paging parameters as they arrive in the query string.
#[derive(Debug, Default, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Rows per page, 1–500 (default 50); larger values are capped at 500.
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page; omit for the first page.
    pub cursor: Option<String>,
    /// `asc` (default, oldest first) or `desc` (newest first).
    pub order: Option<String>,
}

/// Validated paging: fetch `limit + 1` rows after `after` to learn whether more exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows the client asked for, after capping.
    pub limit: u32,
    /// Only rows with an id beyond this one (greater for ascending, smaller for descending).
    pub after: Option<i64>,
    /// Descending id order.
    pub descending: bool,
}

impl PageParams {
    /// Validates the raw parameters.
    pub fn parse(&self) -> Result<Page, ApiError> {
        let mut errors = Vec::new();
        let limit = match self.limit.as_deref().map(str::trim) {
            None | Some("") => DEFAULT_LIMIT,
            Some(raw) => match raw.parse::<u64>() {
                Ok(0) | Err(_) => {
                    errors.push(FieldError::new(
                        "limit",
                        "invalid_limit",
                        format!("limit must be a whole number from 1 to {MAX_LIMIT}; got {raw:?}"),
                    ));
                    DEFAULT_LIMIT
                }
                Ok(n) => n.min(u64::from(MAX_LIMIT)) as u32,
            },
        };
        let after = match self.cursor.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => match raw.parse::<i64>() {
                Ok(n) if n >= 0 => Some(n),
                _ => {
                    errors.push(FieldError::new(
                        "cursor",
                        "invalid_cursor",
                        "cursor must be the next_cursor value of a previous page",
                    ));
                    None
                }
            },
        };
        let descending = match self.order.as_deref().map(str::trim) {
            None | Some("") | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                errors.push(FieldError::new(
                    "order",
                    "invalid_order",
                    format!("order must be asc or desc; got {other:?}"),
                ));
                false
            }
        };
        if errors.is_empty() { Ok(Page { limit, after, descending }) } else { Err(ApiError::validation(errors)) }
    }
}

impl Page {
    /// The page the original system's listings return: everything, in id order.
    pub const ALL: Page = Page { limit: u32::MAX - 1, after: None, descending: false };

    /// How many rows to ask the database for: one extra reveals whether another page exists.
    pub fn fetch_limit(&self) -> u64 {
        u64::from(self.limit) + 1
    }

    /// Trims the extra row and builds the page state from the last id shown.
    pub fn finish<T>(&self, mut rows: Vec<T>, id_of: impl Fn(&T) -> i64) -> Paged<T> {
        let has_more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        let next_cursor = if has_more { rows.last().map(|r| id_of(r).to_string()) } else { None };
        Paged { items: rows, page: PageState { limit: self.limit, next_cursor } }
    }
}

/// Where the client stands in a listing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PageState {
    /// The effective page size.
    pub limit: u32,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// One page of a listing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Paged<T> {
    /// The rows of this page, in the requested order.
    pub items: Vec<T>,
    /// Paging state.
    pub page: PageState,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(limit: &str, cursor: &str, order: &str) -> PageParams {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        PageParams { limit: opt(limit), cursor: opt(cursor), order: opt(order) }
    }

    #[test]
    fn limit_is_capped_and_validated() {
        assert_eq!(params("", "", "").parse().unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(params("100000", "", "").parse().unwrap().limit, MAX_LIMIT);
        assert_eq!(params("0", "", "").parse().unwrap_err().status().as_u16(), 422);
        assert_eq!(params("x", "", "").parse().unwrap_err().status().as_u16(), 422);
        assert_eq!(params("", "-1", "").parse().unwrap_err().status().as_u16(), 422);
        assert_eq!(params("", "", "sideways").parse().unwrap_err().status().as_u16(), 422);
        assert!(params("", "", "desc").parse().unwrap().descending);
    }

    #[test]
    fn finish_reports_next_cursor_only_when_more_rows_exist() {
        let page = Page { limit: 2, after: None, descending: false };
        let p = page.finish(vec![1_i64, 2, 3], |r| *r);
        assert_eq!((p.items.len(), p.page.next_cursor.as_deref()), (2, Some("2")));
        let p = page.finish(vec![1_i64, 2], |r| *r);
        assert_eq!(p.page.next_cursor, None);
    }
}
