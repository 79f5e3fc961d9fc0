//! What a commission plan and its versions are, as the API reads and writes them, and the
//! validation of the request bodies (every bad field together; the rules themselves are
//! validated by `moon_domain::commission::parse`).

use chrono::{DateTime, NaiveDate, Utc};
use moon_domain::commission::{PlanRules, RulesDoc};
use moon_domain::{FieldError, FieldErrors, Label, parse_date};
use serde::{Deserialize, Serialize};

/// Whose pay a plan decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlanRole {
    /// Sales agents, on what they are credited with.
    Agent,
    /// Branch managers, on what their branch is credited with.
    Manager,
}

impl PlanRole {
    /// The name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanRole::Agent => "agent",
            PlanRole::Manager => "manager",
        }
    }

    /// Parses `agent` or `manager`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "agent" => Ok(PlanRole::Agent),
            "manager" => Ok(PlanRole::Manager),
            _ => Err(FieldError::new(field, "invalid_role", format!("{field} must be agent or manager; got {raw:?}"))),
        }
    }
}

/// What a plan covers: every product (`All`), one product or one line of business, keyed in
/// the database as sales targets key theirs.
pub use crate::sales_targets::model::Subject;

/// How specific a subject is: a product's plan beats its line's, which beats the all-products
/// plan.
pub fn rank(subject: &Subject) -> u8 {
    match subject {
        Subject::Product(_) => 2,
        Subject::Line(_) => 1,
        Subject::All => 0,
    }
}

/// Whether a version pays or ends the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VersionStatus {
    /// Its rules pay from its date.
    Active,
    /// The plan pays nothing from its date (until a later version).
    Retired,
}

impl VersionStatus {
    /// The name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Active => "active",
            VersionStatus::Retired => "retired",
        }
    }
}

/// One version of a plan: immutable once written.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PlanVersion {
    /// 1, 2, … in order of `effective_from`.
    pub version: i64,
    /// The first day it applies (business calendar); it applies until the next version's date.
    pub effective_from: NaiveDate,
    /// active, or retired (the plan ends on `effective_from`).
    pub status: VersionStatus,
    /// The rules (absent for a retirement).
    pub rules: Option<RulesDoc>,
    /// Why it was made.
    pub note: Option<String>,
    /// When it was written (UTC).
    pub created_at: DateTime<Utc>,
    /// Who wrote it (`user:<id>` or `operator`).
    pub created_by: String,
}

/// A commission plan with every version.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Plan {
    /// Numeric id.
    pub id: i64,
    /// What people call it.
    pub name: String,
    /// agent or manager.
    pub role: PlanRole,
    /// The product it covers, when one.
    pub product_id: Option<i64>,
    /// The line of business it covers, when one.
    pub product_line: Option<String>,
    /// The version in force on the business today (absent when none has started, or it is a
    /// retirement).
    pub current_version: Option<i64>,
    /// Every version, oldest first.
    pub versions: Vec<PlanVersion>,
    /// When created (UTC).
    pub created_at: DateTime<Utc>,
    /// When last given a version (UTC).
    pub updated_at: DateTime<Utc>,
}

/// The plan that pays a role for a product on a day, with the version in force then.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Applicable {
    /// The plan (with every version).
    pub plan: Plan,
    /// The version in force on the day asked about.
    pub version: PlanVersion,
}

/// Body of `POST /api/v1/commission-plans`: a plan and its first version.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePlan {
    /// Required: what people call it (1–100 characters).
    pub name: Option<String>,
    /// Required: agent or manager.
    pub role: Option<String>,
    /// The product it covers, by id; omit (with `product_line`) for every product.
    #[schema(value_type = Option<i64>)]
    pub product_id: Option<serde_json::Value>,
    /// A line of business (product type) instead of one product.
    pub product_line: Option<String>,
    /// Required: the first day the first version applies, `YYYY-MM-DD`.
    pub effective_from: Option<String>,
    /// Required: what the first version pays.
    pub rules: Option<RulesDoc>,
    /// Why (kept with the version and in the audit trail), at most 500 characters.
    pub note: Option<String>,
}

/// Body of `POST /api/v1/commission-plans/{id}/versions`: new rules from a date.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVersion {
    /// Required: the first day it applies, after the latest version's date.
    pub effective_from: Option<String>,
    /// Required: what it pays.
    pub rules: Option<RulesDoc>,
    /// Why, at most 500 characters.
    pub note: Option<String>,
}

/// Body of `POST /api/v1/commission-plans/{id}/retire`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetirePlan {
    /// Required: the first day the plan no longer pays, after the latest version's date.
    pub effective_from: Option<String>,
    /// Why, at most 500 characters.
    pub note: Option<String>,
}

/// A validated plan, before its product is checked against the catalogue.
#[expect(missing_docs, reason = "the fields of `CreatePlan`, validated")]
#[derive(Debug, Clone)]
pub struct PlanFields {
    pub name: String,
    pub role: PlanRole,
    pub subject: Subject,
    pub version: VersionFields,
}

/// A validated version (rules `None`: a retirement).
#[expect(missing_docs, reason = "the fields of `NewVersion`, validated")]
#[derive(Debug, Clone)]
pub struct VersionFields {
    pub effective_from: NaiveDate,
    pub rules: Option<PlanRules>,
    pub note: Option<String>,
}

fn note(e: &mut FieldErrors, raw: Option<&str>) -> Option<String> {
    let n = raw.map(str::trim).filter(|n| !n.is_empty())?;
    if n.chars().count() > 500 || n.chars().any(char::is_control) {
        e.push(FieldError::new(
            "note",
            "invalid_note",
            "note must be at most 500 characters, without control characters",
        ));
        return None;
    }
    Some(n.to_owned())
}

fn effective_from(e: &mut FieldErrors, raw: Option<&str>) -> Option<NaiveDate> {
    match raw {
        None => {
            e.push(FieldError::required("effective_from"));
            None
        }
        Some(d) => e.take(parse_date("effective_from", d)),
    }
}

fn rules(e: &mut FieldErrors, doc: Option<&RulesDoc>) -> Option<PlanRules> {
    match doc {
        None => {
            e.push(FieldError::required("rules"));
            None
        }
        Some(doc) => match moon_domain::commission::parse("rules", doc) {
            Ok(r) => Some(r),
            Err(errors) => {
                for err in errors {
                    e.push(err);
                }
                None
            }
        },
    }
}

fn product_id(v: &serde_json::Value) -> Result<i64, FieldError> {
    let n = match v {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    n.filter(|n| *n > 0).ok_or_else(|| {
        FieldError::new("product_id", "invalid_id", format!("product_id must be a product's id; got {v}"))
    })
}

impl CreatePlan {
    /// Validates every field, all problems together.
    pub fn validate(&self) -> Result<PlanFields, Vec<FieldError>> {
        let mut e = FieldErrors::new();
        let name = match self.name.as_deref() {
            None => {
                e.push(FieldError::required("name"));
                None
            }
            Some(n) => e.take(Label::parse("name", n)).map(Label::into_inner),
        };
        let role = match self.role.as_deref() {
            None => {
                e.push(FieldError::required("role"));
                None
            }
            Some(r) => e.take(PlanRole::parse("role", r)),
        };
        let product = self.product_id.as_ref().filter(|v| !v.is_null());
        if product.is_some() && self.product_line.is_some() {
            e.push(FieldError::new("product_line", "ambiguous", "give a product_id or a product_line, not both"));
        }
        let subject = match (product, self.product_line.as_deref()) {
            (Some(v), _) => e.take(product_id(v)).map(Subject::Product),
            (None, Some(l)) => e.take(Label::parse("product_line", l)).map(|l| Subject::Line(l.into_inner())),
            (None, None) => Some(Subject::All),
        };
        let from = effective_from(&mut e, self.effective_from.as_deref());
        let rules = rules(&mut e, self.rules.as_ref());
        let note = note(&mut e, self.note.as_deref());
        e.finish()?;
        match (name, role, subject, from, rules) {
            (Some(name), Some(role), Some(subject), Some(effective_from), Some(rules)) => Ok(PlanFields {
                name,
                role,
                subject,
                version: VersionFields { effective_from, rules: Some(rules), note },
            }),
            _ => Err(vec![FieldError::required("name")]),
        }
    }
}

impl NewVersion {
    /// Validates every field, all problems together.
    pub fn validate(&self) -> Result<VersionFields, Vec<FieldError>> {
        let mut e = FieldErrors::new();
        let from = effective_from(&mut e, self.effective_from.as_deref());
        let rules = rules(&mut e, self.rules.as_ref());
        let note = note(&mut e, self.note.as_deref());
        e.finish()?;
        match (from, rules) {
            (Some(effective_from), Some(rules)) => Ok(VersionFields { effective_from, rules: Some(rules), note }),
            _ => Err(vec![FieldError::required("rules")]),
        }
    }
}

impl RetirePlan {
    /// Validates every field, all problems together.
    pub fn validate(&self) -> Result<VersionFields, Vec<FieldError>> {
        let mut e = FieldErrors::new();
        let from = effective_from(&mut e, self.effective_from.as_deref());
        let note = note(&mut e, self.note.as_deref());
        e.finish()?;
        from.map(|effective_from| VersionFields { effective_from, rules: None, note })
            .ok_or_else(|| vec![FieldError::required("effective_from")])
    }
}
