//! Sales as the API shows them, and the inputs that record and change them.

use chrono::{DateTime, NaiveDate, Utc};
use moon_domain::{AgentCode, FieldError, FieldErrors, Label, Money, PolicyNumber, Typed, parse_date};
use serde::{Deserialize, Serialize};

use moon_http::paging::{BY_ID, KeyKind, KeyValue, ListingSort, SortSpec};
use moon_http::patch::double_option;

use crate::agents::model::AgentRef;

/// A recorded policy sale.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Sale {
    /// Numeric id (`sale_id` on the original routes).
    pub id: i64,
    /// The selling agent's id.
    pub agent_id: i64,
    /// The selling agent's code.
    pub agent_code: String,
    /// The product sold.
    pub product_id: i64,
    /// The product's name.
    pub product_name: String,
    /// Premium amount of the sale.
    pub amount: Money,
    /// Day of the sale.
    pub sale_date: NaiveDate,
    /// Branch credited with the sale.
    pub branch: String,
    /// The insurer's policy number, unique when given.
    pub policy_number: Option<String>,
    /// The system the sale came from, with `external_ref`; `null` for sales entered here.
    pub source_system: Option<String>,
    /// The sale's key in `source_system`: unique per source system, so a re-sent sale is
    /// recognised instead of recorded twice.
    pub external_ref: Option<String>,
    /// When recorded (UTC).
    pub created_at: DateTime<Utc>,
    /// When last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/sales`. Fields are [`Typed`], so a value of the wrong type is reported
/// with every other bad field rather than alone.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSale {
    /// The selling agent's code; give this or `agent_id`.
    #[schema(value_type = Option<String>)]
    pub agent_code: Option<Typed<String>>,
    /// The selling agent's id; give this or `agent_code`.
    #[schema(value_type = Option<i64>)]
    pub agent_id: Option<Typed<i64>>,
    /// Required: the product sold.
    #[schema(value_type = Option<i64>)]
    pub product_id: Option<Typed<i64>>,
    /// Required: a positive amount with at most two decimals, as a string or number.
    #[schema(value_type = Option<String>)]
    pub amount: Option<serde_json::Value>,
    /// Required: `YYYY-MM-DD`, not in the future.
    #[schema(value_type = Option<String>)]
    pub sale_date: Option<Typed<String>>,
    /// Branch credited; defaults to the agent's branch.
    #[schema(value_type = Option<String>)]
    pub branch: Option<Typed<String>>,
    /// Optional policy number, unique.
    #[schema(value_type = Option<String>)]
    pub policy_number: Option<Typed<String>>,
    /// The sending system's name (letters, digits, `._:-`, at most 60); required with
    /// `external_ref`.
    #[schema(value_type = Option<String>, example = "policy-admin")]
    pub source_system: Option<Typed<String>>,
    /// The sale's key in the sending system, unique per `source_system` (at most 100
    /// characters): a second sale with the same pair is refused with 409 naming the first.
    #[schema(value_type = Option<String>, example = "PA-2026-000123")]
    pub external_ref: Option<Typed<String>>,
}

/// Body of `PATCH /api/v1/sales/{id}`: only fields present change; `policy_number: null` clears it.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSale {
    /// New agent, by code.
    #[schema(value_type = Option<String>)]
    pub agent_code: Option<Typed<String>>,
    /// New agent, by id.
    #[schema(value_type = Option<i64>)]
    pub agent_id: Option<Typed<i64>>,
    /// New product.
    #[schema(value_type = Option<i64>)]
    pub product_id: Option<Typed<i64>>,
    /// New amount.
    #[schema(value_type = Option<String>)]
    pub amount: Option<serde_json::Value>,
    /// New date.
    #[schema(value_type = Option<String>)]
    pub sale_date: Option<Typed<String>>,
    /// New branch.
    #[schema(value_type = Option<String>)]
    pub branch: Option<Typed<String>>,
    /// New policy number, or null to clear it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub policy_number: Option<Option<Typed<String>>>,
}

/// Validated sale fields. On create, `agent`, `product_id`, `amount` and `sale_date` are present.
#[derive(Debug, Clone, Default)]
pub struct SaleFields {
    pub agent: Option<AgentRef>,
    pub product_id: Option<i64>,
    pub amount: Option<Money>,
    pub sale_date: Option<NaiveDate>,
    pub branch: Option<Label>,
    pub policy_number: Option<Option<PolicyNumber>>,
    /// `(source_system, external_ref)`, on create only.
    pub external: Option<ExternalRef>,
}

/// Where a sale came from: a source system and the sale's key there, both validated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExternalRef {
    /// The sending system.
    pub source_system: String,
    /// The sale's key in that system.
    pub external_ref: String,
}

impl ExternalRef {
    /// Checks both halves; each bad half is one error in `e`.
    pub fn parse(e: &mut FieldErrors, source_system: &str, external_ref: &str) -> Option<ExternalRef> {
        let source = source_system.trim();
        let key = external_ref.trim();
        let mut ok = true;
        if source.is_empty()
            || source.len() > 60
            || !source.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
        {
            e.push(FieldError::new(
                "source_system",
                "invalid_source_system",
                "source_system must be 1 to 60 letters, digits or . _ : -",
            ));
            ok = false;
        }
        if key.is_empty() || key.chars().count() > 100 || key.chars().any(char::is_control) {
            e.push(FieldError::new(
                "external_ref",
                "invalid_external_ref",
                "external_ref must be 1 to 100 characters without control characters",
            ));
            ok = false;
        }
        ok.then(|| ExternalRef { source_system: source.to_owned(), external_ref: key.to_owned() })
    }
}

/// A sale may be dated at most this many days after today in the business time zone (the caller
/// passes that date in): none, since the business calendar decides when a day begins.
const MAX_DAYS_AHEAD: i64 = 0;

fn agent_ref(e: &mut FieldErrors, code: Option<&str>, id: Option<i64>) -> Option<AgentRef> {
    match (code, id) {
        (Some(_), Some(_)) => {
            e.push(FieldError::new("agent_code", "ambiguous", "give either agent_code or agent_id, not both"));
            None
        }
        (Some(c), None) => e.take(AgentCode::parse("agent_code", c)).map(AgentRef::Code),
        (None, Some(id)) => Some(AgentRef::Id(id)),
        (None, None) => None,
    }
}

fn date(e: &mut FieldErrors, raw: Option<&str>, today: NaiveDate) -> Option<NaiveDate> {
    let d = e.take_opt(raw.map(|s| parse_date("sale_date", s)))?;
    if (d - today).num_days() > MAX_DAYS_AHEAD {
        e.push(FieldError::new("sale_date", "in_future", format!("sale_date {d} is in the future")));
        return None;
    }
    Some(d)
}

/// The value of a [`Typed`] field, its type error recorded in `e`.
fn typed<T: Clone>(e: &mut FieldErrors, field: &str, v: Option<&Typed<T>>) -> Option<T> {
    e.take_opt(v.map(|t| t.get(field)))
}

impl CreateSale {
    /// Validates every field, reporting all problems together.
    pub fn validate(&self, today: NaiveDate) -> Result<SaleFields, Vec<FieldError>> {
        let mut e = FieldErrors::new();
        if self.agent_code.is_none() && self.agent_id.is_none() {
            e.push(FieldError::new("agent_code", "required", "agent_code (or agent_id) is required"));
        }
        for (field, missing) in [
            ("product_id", self.product_id.is_none()),
            ("amount", self.amount.is_none()),
            ("sale_date", self.sale_date.is_none()),
        ] {
            if missing {
                e.push(FieldError::required(field));
            }
        }
        let agent_code = typed(&mut e, "agent_code", self.agent_code.as_ref());
        let agent_id = typed(&mut e, "agent_id", self.agent_id.as_ref());
        let product_id = typed(&mut e, "product_id", self.product_id.as_ref());
        let sale_date = typed(&mut e, "sale_date", self.sale_date.as_ref());
        let branch = typed(&mut e, "branch", self.branch.as_ref());
        let policy_number = typed(&mut e, "policy_number", self.policy_number.as_ref());
        let source_system = typed(&mut e, "source_system", self.source_system.as_ref());
        let external_ref = typed(&mut e, "external_ref", self.external_ref.as_ref());
        let external = match (source_system.as_deref(), external_ref.as_deref()) {
            (Some(s), Some(r)) => ExternalRef::parse(&mut e, s, r),
            (Some(_), None) if self.external_ref.is_none() => {
                e.push(FieldError::new("external_ref", "required", "external_ref is required with source_system"));
                None
            }
            (None, Some(_)) if self.source_system.is_none() => {
                e.push(FieldError::new("source_system", "required", "source_system is required with external_ref"));
                None
            }
            _ => None,
        };
        let fields = SaleFields {
            external,
            agent: agent_ref(&mut e, agent_code.as_deref(), agent_id),
            product_id,
            amount: e.take_opt(self.amount.as_ref().map(|v| Money::parse_json("amount", v))),
            sale_date: date(&mut e, sale_date.as_deref(), today),
            branch: e.take_opt(branch.as_deref().filter(|b| !b.trim().is_empty()).map(|s| Label::parse("branch", s))),
            policy_number: policy_number
                .as_deref()
                .filter(|p| !p.trim().is_empty())
                .map(|p| e.take(PolicyNumber::parse("policy_number", p)).map(Some))
                .unwrap_or(Some(None)),
        };
        e.finish()?;
        Ok(fields)
    }
}

impl UpdateSale {
    /// Validates the fields present.
    pub fn validate(&self, today: NaiveDate) -> Result<SaleFields, Vec<FieldError>> {
        let mut e = FieldErrors::new();
        let agent_code = typed(&mut e, "agent_code", self.agent_code.as_ref());
        let agent_id = typed(&mut e, "agent_id", self.agent_id.as_ref());
        let sale_date = typed(&mut e, "sale_date", self.sale_date.as_ref());
        let branch = typed(&mut e, "branch", self.branch.as_ref());
        let fields = SaleFields {
            external: None,
            agent: agent_ref(&mut e, agent_code.as_deref(), agent_id),
            product_id: typed(&mut e, "product_id", self.product_id.as_ref()),
            amount: e.take_opt(self.amount.as_ref().map(|v| Money::parse_json("amount", v))),
            sale_date: date(&mut e, sale_date.as_deref(), today),
            branch: e.take_opt(branch.as_deref().map(|s| Label::parse("branch", s))),
            policy_number: match &self.policy_number {
                None => None,
                Some(None) => Some(None),
                Some(Some(p)) => match typed(&mut e, "policy_number", Some(p)) {
                    None => None,
                    Some(p) if p.trim().is_empty() => Some(None),
                    Some(p) => e.take(PolicyNumber::parse("policy_number", &p)).map(Some),
                },
            },
        };
        e.finish()?;
        Ok(fields)
    }
}

/// Filters of `GET /api/v1/sales`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SaleFilter {
    /// Only sales by this agent (code).
    pub agent_code: Option<String>,
    /// Only sales by this agent (id).
    pub agent_id: Option<String>,
    /// Only sales of this product.
    pub product_id: Option<String>,
    /// Only sales credited to this branch.
    pub branch: Option<String>,
    /// Only sales by agents currently in this team.
    pub team: Option<String>,
    /// Only sales on or after this date (`YYYY-MM-DD`).
    pub from: Option<String>,
    /// Only sales on or before this date (`YYYY-MM-DD`).
    pub to: Option<String>,
    /// Only the sale with this policy number.
    pub policy_number: Option<String>,
    /// Rows per page, 1–500 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page, from a request with the same `sort`.
    pub cursor: Option<String>,
    /// The column to order by, then id; any other value is a 400.
    #[param(inline)]
    pub sort: Option<SaleSort>,
    /// `asc` (default) or `desc`, for the sort column and id alike.
    pub order: Option<String>,
}

/// The orders a sales listing offers: columns of `sales` itself with a (column, id) index, so a
/// page costs the same whichever is chosen.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SaleSort {
    /// Id: the order of recording.
    #[default]
    Id,
    /// Day of the sale.
    SaleDate,
    /// Premium amount.
    Amount,
}

impl ListingSort for SaleSort {
    const ALL: &'static [SaleSort] = &[Self::Id, Self::SaleDate, Self::Amount];

    fn spec(self) -> SortSpec {
        match self {
            Self::Id => BY_ID,
            Self::SaleDate => SortSpec { name: "sale_date", keys: &[("sale_date", KeyKind::Date)] },
            Self::Amount => SortSpec { name: "amount", keys: &[("amount_cents", KeyKind::Int)] },
        }
    }
}

impl SaleSort {
    /// The values of the sort columns in `s`, for its cursor.
    pub fn keys_of(self, s: &Sale) -> Vec<KeyValue> {
        match self {
            Self::Id => Vec::new(),
            Self::SaleDate => vec![KeyValue::Date(s.sale_date)],
            Self::Amount => vec![KeyValue::Int(s.amount.cents())],
        }
    }
}

#[cfg(test)]
mod tests {
    use moon_http::paging::ListingSort;

    fn names_match_the_query_string<S>()
    where
        S: ListingSort + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        for &sort in S::ALL {
            let parsed: S = serde_json::from_value(serde_json::json!(sort.spec().name)).unwrap();
            assert_eq!((parsed, S::from_name(sort.spec().name)), (sort, Some(sort)));
        }
    }

    #[test]
    fn sort_names_are_the_ones_the_query_string_accepts() {
        names_match_the_query_string::<crate::agents::model::AgentSort>();
        names_match_the_query_string::<super::SaleSort>();
    }
}
