//! What a sales target is, as the API reads and writes it, and the validation of its fields.

use chrono::{DateTime, NaiveDate, Utc};
use moon_domain::{AgentCode, BusinessCalendar, FieldError, FieldErrors, Label, Money, Period, PeriodKind};
use serde::{Deserialize, Serialize};

/// Whose target it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScopeKind {
    /// The whole company (no key).
    Company,
    /// A region, by code.
    Region,
    /// A branch, by code.
    Branch,
    /// A team, by code.
    Team,
    /// One agent, by agent code.
    Agent,
}

impl ScopeKind {
    /// The name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Company => "company",
            ScopeKind::Region => "region",
            ScopeKind::Branch => "branch",
            ScopeKind::Team => "team",
            ScopeKind::Agent => "agent",
        }
    }

    /// The organisation unit kind a scope names, if it names one.
    pub fn unit_kind(self) -> Option<crate::agents::org::model::UnitKind> {
        use crate::agents::org::model::UnitKind;
        match self {
            ScopeKind::Region => Some(UnitKind::Region),
            ScopeKind::Branch => Some(UnitKind::Branch),
            ScopeKind::Team => Some(UnitKind::Team),
            ScopeKind::Company | ScopeKind::Agent => None,
        }
    }

    /// Parses one of the five names.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "company" => Ok(ScopeKind::Company),
            "region" => Ok(ScopeKind::Region),
            "branch" => Ok(ScopeKind::Branch),
            "team" => Ok(ScopeKind::Team),
            "agent" => Ok(ScopeKind::Agent),
            _ => Err(FieldError::new(
                field,
                "invalid_scope_kind",
                format!("{field} must be company, region, branch, team or agent; got {raw:?}"),
            )),
        }
    }
}

/// A sales target for one scope, product (or line, or all products) and fiscal period.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Target {
    /// Numeric id.
    pub id: i64,
    /// company, region, branch, team or agent.
    pub scope_kind: ScopeKind,
    /// The region, branch or team code, or the agent code; empty for the company.
    pub scope_key: String,
    /// Only sales of this product count, when set.
    pub product_id: Option<i64>,
    /// Only sales of this line of business (product type) count, when set.
    pub product_line: Option<String>,
    /// The period's label: `2026-11`, `FY2026 Q4`, `FY2026`.
    pub period: String,
    /// month, quarter or year.
    pub period_kind: PeriodKind,
    /// First day of the period.
    pub period_start: NaiveDate,
    /// Last day of the period (inclusive).
    pub period_end: NaiveDate,
    /// The amount to sell.
    pub amount: Money,
    /// The number of policies to sell, when set.
    pub policy_count: Option<i64>,
    /// Whether the period is locked (changes need a correction reason).
    pub locked: bool,
    /// When created (UTC).
    pub created_at: DateTime<Utc>,
    /// When last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

/// `"correction": {"reason": "..."}`: the change is knowingly made to a locked period.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionBody {
    /// Why the locked period must change; kept in the audit trail.
    pub reason: Option<String>,
}

/// Body of `POST /api/v1/targets`: creates the target, or replaces the amount and count of the
/// one with the same scope, product or line, and period.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetTarget {
    /// Required: company, region, branch, team or agent.
    pub scope_kind: Option<String>,
    /// Required except for the company: the region, branch or team code, or the agent code.
    pub scope_key: Option<String>,
    /// A product by id (number) or name (string); omit for all products.
    #[schema(value_type = Option<String>)]
    pub product: Option<serde_json::Value>,
    /// A line of business (product type) instead of one product.
    pub product_line: Option<String>,
    /// Required: `2026-11`, `FY2026 Q4`, `FY2026`, or `kind:start` such as `quarter:2026-10-01`.
    pub period: Option<String>,
    /// Required: a positive amount with at most two decimals, as a string or number.
    #[schema(value_type = Option<String>)]
    pub amount: Option<serde_json::Value>,
    /// Policies to sell, a whole number of at least 1.
    #[schema(value_type = Option<i64>)]
    pub policy_count: Option<serde_json::Value>,
    /// Required when the period is locked.
    pub correction: Option<CorrectionBody>,
}

/// Body of `PATCH /api/v1/targets/{id}`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTarget {
    /// New amount.
    #[schema(value_type = Option<String>)]
    pub amount: Option<serde_json::Value>,
    /// New policy count; `null` clears it.
    #[serde(default, deserialize_with = "moon_http::patch::double_option")]
    #[schema(value_type = Option<i64>)]
    pub policy_count: Option<Option<serde_json::Value>>,
    /// Required when the period is locked.
    pub correction: Option<CorrectionBody>,
}

/// What sales a target counts: all, one product, or one line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// Every product.
    All,
    /// One product, by id.
    Product(i64),
    /// One line of business.
    Line(String),
}

impl Subject {
    /// The NULL-free key column (`''`, `product:<id>`, `line:<type>`).
    pub fn key(&self) -> String {
        match self {
            Subject::All => String::new(),
            Subject::Product(id) => format!("product:{id}"),
            Subject::Line(l) => format!("line:{l}"),
        }
    }
}

/// A product as the client named it, resolved by the use case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProductRef {
    /// By id.
    Id(i64),
    /// By unique name.
    Name(String),
}

/// Validated fields of a target before the product is resolved.
#[expect(missing_docs, reason = "the same fields as `SetTarget`, validated")]
#[derive(Debug, Clone)]
pub struct TargetFields {
    pub scope_kind: ScopeKind,
    pub scope_key: String,
    pub product: Option<ProductRef>,
    pub product_line: Option<String>,
    pub period: Period,
    pub amount: Money,
    pub policy_count: Option<i64>,
}

/// A correction's reason, or an error when one was sent without a reason.
pub fn correction(e: &mut FieldErrors, c: Option<&CorrectionBody>) -> Option<String> {
    let c = c?;
    match c.reason.as_deref().map(str::trim) {
        Some(r) if !r.is_empty() && r.chars().count() <= 500 => Some(r.to_owned()),
        Some(r) if !r.is_empty() => {
            e.push(FieldError::new(
                "correction.reason",
                "too_long",
                "correction.reason must be at most 500 characters",
            ));
            None
        }
        _ => {
            e.push(FieldError::new("correction.reason", "required", "a correction needs a reason"));
            None
        }
    }
}

/// A policy count: a whole number from 1 to 1,000,000,000, as a JSON number or string.
pub fn policy_count(field: &str, v: &serde_json::Value) -> Result<i64, FieldError> {
    let n = match v {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if (1..=1_000_000_000).contains(&n) => Ok(n),
        _ => Err(FieldError::new(
            field,
            "invalid_count",
            format!("{field} must be a whole number from 1 to 1000000000; got {v}"),
        )),
    }
}

fn product_ref(v: &serde_json::Value) -> Result<ProductRef, FieldError> {
    match v {
        serde_json::Value::Number(n) => n.as_i64().filter(|i| *i > 0).map(ProductRef::Id),
        serde_json::Value::String(s) if s.trim().parse::<i64>().is_ok_and(|i| i > 0) => {
            s.trim().parse().ok().map(ProductRef::Id)
        }
        serde_json::Value::String(s) => Label::parse("product", s).ok().map(|l| ProductRef::Name(l.into_inner())),
        _ => None,
    }
    .ok_or_else(|| {
        FieldError::new("product", "invalid_product", format!("product must be a product id or name; got {v}"))
    })
}

impl SetTarget {
    /// Validates every field, all problems together; `calendar` reads the period.
    pub fn validate(&self, calendar: &BusinessCalendar) -> Result<(TargetFields, Option<String>), Vec<FieldError>> {
        let mut e = FieldErrors::new();
        for (field, missing) in [
            ("scope_kind", self.scope_kind.is_none()),
            ("period", self.period.is_none()),
            ("amount", self.amount.is_none()),
        ] {
            if missing {
                e.push(FieldError::required(field));
            }
        }
        let kind = e.take_opt(self.scope_kind.as_deref().map(|k| ScopeKind::parse("scope_kind", k)));
        let key = self.scope_key.as_deref().map(str::trim).filter(|k| !k.is_empty());
        let scope_key = match (kind, key) {
            (Some(ScopeKind::Company), None) => Some(String::new()),
            (Some(ScopeKind::Company), Some(_)) => {
                e.push(FieldError::new("scope_key", "not_allowed", "a company target has no scope_key"));
                None
            }
            (Some(_), None) => {
                e.push(FieldError::new(
                    "scope_key",
                    "required",
                    "scope_key is required for a region, branch, team or agent target",
                ));
                None
            }
            (Some(ScopeKind::Agent), Some(k)) => e.take(AgentCode::parse("scope_key", k)).map(AgentCode::into_inner),
            (Some(_), Some(k)) => e.take(Label::parse("scope_key", k)).map(Label::into_inner),
            (None, _) => None,
        };
        if self.product.is_some() && self.product_line.is_some() {
            e.push(FieldError::new("product_line", "ambiguous", "give a product or a product_line, not both"));
        }
        let product = e.take_opt(self.product.as_ref().map(product_ref));
        let product_line =
            e.take_opt(self.product_line.as_deref().map(|l| Label::parse("product_line", l).map(Label::into_inner)));
        let period = e.take_opt(self.period.as_deref().map(|p| calendar.fiscal.parse("period", p)));
        let amount = e.take_opt(self.amount.as_ref().map(|a| Money::parse_json("amount", a)));
        let policy_count =
            e.take_opt(self.policy_count.as_ref().filter(|v| !v.is_null()).map(|v| policy_count("policy_count", v)));
        let reason = correction(&mut e, self.correction.as_ref());
        e.finish()?;
        match (kind, scope_key, period, amount) {
            (Some(scope_kind), Some(scope_key), Some(period), Some(amount)) => Ok((
                TargetFields { scope_kind, scope_key, product, product_line, period, amount, policy_count },
                reason,
            )),
            _ => Err(vec![FieldError::required("scope_kind")]),
        }
    }
}

/// The kind and first day of a period, for queries.
pub fn period_key(p: Period) -> (PeriodKind, NaiveDate) {
    (p.kind(), p.start())
}
