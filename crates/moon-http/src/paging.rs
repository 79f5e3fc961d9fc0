//! Keyset paging: a capped `limit`, an opaque `cursor`, and a stable order by id, optionally
//! preceded by a sort column.
//!
//! Keyset (not OFFSET) paging keeps the cost of page 1000 the same as page 1 and never skips or
//! repeats a row when others are inserted meanwhile. A listing sorted by another column pages by
//! the pair (that column, id), so duplicates in the column still page completely; its cursor
//! carries the sort's name, the column values and the id of the last row shown.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use moon_db::sea_query::{Expr, ExprTrait, Order, SelectStatement, Value};
use serde::{Deserialize, Serialize};

use crate::ApiError;
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
    /// Validates the raw parameters of a listing ordered by id alone.
    pub fn parse(&self) -> Result<Page, ApiError> {
        self.parse_sorted(BY_ID).map(|sorted| sorted.page)
    }

    /// Validates the raw parameters of a listing ordered by `sort`, then id. A cursor that was
    /// not issued for this sort is refused rather than read as a position in another order.
    pub fn parse_sorted(&self, sort: SortSpec) -> Result<SortedPage, ApiError> {
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
                Ok(n) => Ord::min(n, u64::from(MAX_LIMIT)) as u32,
            },
        };
        let (after, after_keys) = match self.cursor.as_deref().map(str::trim) {
            None | Some("") => (None, Vec::new()),
            Some(raw) => match sort.read_cursor(raw) {
                Ok((keys, id)) => (Some(id), keys),
                Err(message) => {
                    errors.push(FieldError::new("cursor", "invalid_cursor", message));
                    (None, Vec::new())
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
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        Ok(SortedPage { page: Page { limit, after, descending }, sort, after_keys })
    }
}

/// What a sort column holds, so that a cursor's values are bound with the column's own type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Text, compared in the column's collation.
    Text,
    /// A whole number (bound as `i64`).
    Int,
    /// A calendar date.
    Date,
}

/// One sort column's value in the last row of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyValue {
    /// The value of a [`KeyKind::Text`] column.
    Text(String),
    /// The value of a [`KeyKind::Int`] column.
    Int(i64),
    /// The value of a [`KeyKind::Date`] column.
    Date(NaiveDate),
}

impl KeyValue {
    fn to_json(&self) -> serde_json::Value {
        match self {
            KeyValue::Text(s) => serde_json::Value::from(s.as_str()),
            KeyValue::Int(n) => serde_json::Value::from(*n),
            KeyValue::Date(d) => serde_json::Value::from(d.to_string()),
        }
    }

    fn from_json(kind: KeyKind, value: &serde_json::Value) -> Option<Self> {
        match kind {
            KeyKind::Text => value.as_str().map(|s| KeyValue::Text(s.to_owned())),
            KeyKind::Int => value.as_i64().map(KeyValue::Int),
            KeyKind::Date => value.as_str().and_then(|s| s.parse().ok()).map(KeyValue::Date),
        }
    }
}

/// An order a listing offers: its name in `sort=` and the columns it orders by before the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortSpec {
    /// The value of `sort=` that selects it, also written into its cursors.
    pub name: &'static str,
    /// The columns compared before the id, most significant first.
    pub keys: &'static [(&'static str, KeyKind)],
}

/// Order by id alone, whose cursors stay the bare id that clients have always been given.
pub const BY_ID: SortSpec = SortSpec { name: "id", keys: &[] };

const CURSOR_MISMATCH: &str = "cursor must be the next_cursor of a previous page with the same sort";

impl SortSpec {
    /// The cursor after a row with these key values and id: the bare id when ordered by id,
    /// otherwise `[sort, [values…], id]` as JSON in URL-safe base64.
    fn cursor(&self, keys: &[KeyValue], id: i64) -> String {
        if self.keys.is_empty() {
            return id.to_string();
        }
        let values: Vec<serde_json::Value> = keys.iter().map(KeyValue::to_json).collect();
        URL_SAFE_NO_PAD.encode(serde_json::json!([self.name, values, id]).to_string())
    }

    /// Reads a cursor issued by [`SortSpec::cursor`] for this same sort.
    fn read_cursor(&self, raw: &str) -> Result<(Vec<KeyValue>, i64), &'static str> {
        if self.keys.is_empty() {
            return raw.parse::<i64>().ok().filter(|id| *id >= 0).map(|id| (Vec::new(), id)).ok_or(CURSOR_MISMATCH);
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| CURSOR_MISMATCH)?;
        let parsed: (String, Vec<serde_json::Value>, i64) =
            serde_json::from_slice(&bytes).map_err(|_| CURSOR_MISMATCH)?;
        let (name, values, id) = parsed;
        if name != self.name || values.len() != self.keys.len() || id < 0 {
            return Err(CURSOR_MISMATCH);
        }
        let keys = self
            .keys
            .iter()
            .zip(&values)
            .map(|((_, kind), value)| KeyValue::from_json(*kind, value))
            .collect::<Option<Vec<_>>>()
            .ok_or(CURSOR_MISMATCH)?;
        Ok((keys, id))
    }
}

/// The closed set of orders one listing offers, named in `sort=`.
pub trait ListingSort: Copy + 'static {
    /// Every sort, in the order the console offers them.
    const ALL: &'static [Self];

    /// Its name in `sort=` and the columns it orders by.
    fn spec(self) -> SortSpec;

    /// The sort named `name` in a query string, if the listing offers it.
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.spec().name == name)
    }

    /// The names of every sort, for messages listing what is allowed.
    fn names() -> impl Iterator<Item = &'static str> {
        Self::ALL.iter().map(|s| s.spec().name)
    }
}

/// Validated paging of a listing ordered by a [`SortSpec`], then id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortedPage {
    /// Limit, direction and the id of the last row shown.
    pub page: Page,
    /// The order of the listing.
    pub sort: SortSpec,
    /// The sort columns' values in the last row shown; empty on the first page or by id.
    pub after_keys: Vec<KeyValue>,
}

impl SortedPage {
    /// A page of a listing ordered by id alone.
    pub fn by_id(page: Page) -> Self {
        Self { page, sort: BY_ID, after_keys: Vec::new() }
    }

    /// Trims the extra row and builds the page state from the last row's key values and id.
    pub fn finish<T>(&self, rows: Vec<T>, key_of: impl Fn(&T) -> (Vec<KeyValue>, i64)) -> Paged<T> {
        self.page.finish_with(rows, |r| {
            let (keys, id) = key_of(r);
            self.sort.cursor(&keys, id)
        })
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
    pub fn finish<T>(&self, rows: Vec<T>, id_of: impl Fn(&T) -> i64) -> Paged<T> {
        self.finish_with(rows, |r| id_of(r).to_string())
    }

    fn finish_with<T>(&self, mut rows: Vec<T>, cursor_of: impl Fn(&T) -> String) -> Paged<T> {
        let has_more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        let next_cursor = if has_more { rows.last().map(cursor_of) } else { None };
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

/// Applies a [`Page`] to a query ordered by the given id column.
pub fn keyset(q: &mut SelectStatement, id: (&'static str, &'static str), page: &Page) {
    if let Some(after) = page.after {
        let col = Expr::col(id);
        q.and_where(if page.descending { col.lt(after) } else { col.gt(after) });
    }
    q.order_by(id, if page.descending { Order::Desc } else { Order::Asc }).limit(page.fetch_limit());
}

/// Applies a [`SortedPage`] to a query on `table`: rows strictly after the cursor's (keys…, id)
/// in the page's direction, ordered by the keys and then id.
///
/// The tuple comparison is spelt out (`k > v OR (k = v AND …)`) because row-value comparison is
/// not portable; a leading `k >= v` lets every backend start a range scan of a (k, id) index.
pub fn keyset_sorted(q: &mut SelectStatement, table: &'static str, page: &SortedPage) {
    let descending = page.page.descending;
    let beyond = |col: Expr, v: Value| if descending { col.lt(v) } else { col.gt(v) };
    if let Some(after) = page.page.after {
        let keys = page.sort.keys.iter().zip(&page.after_keys);
        let mut cond = beyond(Expr::col((table, "id")), Value::from(after));
        for ((column, _), value) in keys.clone().rev() {
            let (col, v) = (Expr::col((table, *column)), bind(value));
            cond = beyond(col.clone(), v.clone()).or(col.eq(v).and(cond));
        }
        if let Some(((column, _), value)) = keys.clone().next() {
            let col = Expr::col((table, *column));
            q.and_where(if descending { col.lte(bind(value)) } else { col.gte(bind(value)) });
        }
        q.and_where(cond);
    }
    let order = if descending { Order::Desc } else { Order::Asc };
    for (column, _) in page.sort.keys {
        q.order_by((table, *column), order.clone());
    }
    q.order_by((table, "id"), order).limit(page.page.fetch_limit());
}

/// A cursor's key value as a bind parameter of the column's own type.
fn bind(value: &KeyValue) -> Value {
    match value {
        KeyValue::Text(s) => Value::from(s.as_str()),
        KeyValue::Int(n) => Value::from(*n),
        KeyValue::Date(d) => Value::from(*d),
    }
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

    const BY_DATE: SortSpec = SortSpec { name: "sale_date", keys: &[("sale_date", KeyKind::Date)] };
    const BY_AMOUNT: SortSpec = SortSpec { name: "amount", keys: &[("amount_cents", KeyKind::Int)] };

    #[test]
    fn a_sorted_cursor_round_trips_and_is_refused_by_another_sort() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
        let cursor = BY_DATE.cursor(&[KeyValue::Date(date)], 7);
        let p = PageParams { cursor: Some(cursor.clone()), ..PageParams::default() };
        let sorted = p.parse_sorted(BY_DATE).unwrap();
        assert_eq!((sorted.page.after, sorted.after_keys), (Some(7), vec![KeyValue::Date(date)]));
        for other in [BY_AMOUNT, BY_ID] {
            assert_eq!(p.parse_sorted(other).unwrap_err().field_errors()[0].code, "invalid_cursor");
        }
        let by_id = PageParams { cursor: Some("7".into()), ..PageParams::default() };
        assert_eq!(by_id.parse_sorted(BY_DATE).unwrap_err().status().as_u16(), 422);
    }
}
