//! Policies, their transactions and credits as the API shows them, and the bodies that create
//! them (ADR 0024, sections 1 and 2). Bodies keep raw JSON where a wrong type must be reported
//! beside every other bad field.

use chrono::{DateTime, NaiveDate, Utc};
use moon_domain::credit::{self, Share, Split};
use moon_domain::{AgentCode, FieldError, FieldErrors, Money, PolicyNumber, Typed, parse_date};
use serde::{Deserialize, Serialize};

use crate::agents::model::AgentRef;

/// What a transaction does to a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The sale: the first premium (a mirrored sale, or `POST /api/v1/policies`).
    NewBusiness,
    /// A new term's premium (> 0); the premium in force becomes this amount.
    Renewal,
    /// A change of premium up or down (≠ 0); the premium in force moves by it.
    Endorsement,
    /// The holder ended the policy (< 0, at most the premium in force).
    Cancellation,
    /// The policy ended unpaid (< 0, at most the premium in force).
    Lapse,
    /// A cancelled or lapsed policy back in force (> 0, at most what was taken away).
    Reinstatement,
    /// A correction of a transaction in a closed period (slice 6; not written yet).
    Adjustment,
}

impl Kind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::NewBusiness => "new_business",
            Kind::Renewal => "renewal",
            Kind::Endorsement => "endorsement",
            Kind::Cancellation => "cancellation",
            Kind::Lapse => "lapse",
            Kind::Reinstatement => "reinstatement",
            Kind::Adjustment => "adjustment",
        }
    }

    /// Every kind, for reading rows back.
    pub const ALL: [Kind; 7] = [
        Kind::NewBusiness,
        Kind::Renewal,
        Kind::Endorsement,
        Kind::Cancellation,
        Kind::Lapse,
        Kind::Reinstatement,
        Kind::Adjustment,
    ];

    /// The kinds `POST /api/v1/policies/{id}/transactions` accepts.
    pub const POSTABLE: [Kind; 5] =
        [Kind::Renewal, Kind::Endorsement, Kind::Cancellation, Kind::Lapse, Kind::Reinstatement];

    /// Whether `cents` has the sign this kind requires (ADR 0024, section 1).
    pub fn sign_ok(self, cents: i64) -> bool {
        match self {
            Kind::NewBusiness | Kind::Renewal | Kind::Reinstatement => cents > 0,
            Kind::Cancellation | Kind::Lapse => cents < 0,
            Kind::Endorsement | Kind::Adjustment => cents != 0,
        }
    }

    fn sign_rule(self) -> &'static str {
        match self {
            Kind::NewBusiness | Kind::Renewal | Kind::Reinstatement => "above zero",
            Kind::Cancellation | Kind::Lapse => "below zero (the premium taken away)",
            Kind::Endorsement | Kind::Adjustment => "not zero",
        }
    }
}

/// Where a policy stands, following its last status-changing transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Paid and running.
    InForce,
    /// Ended by a cancellation.
    Cancelled,
    /// Ended by a lapse.
    Lapsed,
}

impl Status {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::InForce => "in_force",
            Status::Cancelled => "cancelled",
            Status::Lapsed => "lapsed",
        }
    }

    /// Parses a stored or queried spelling.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        match raw.trim() {
            "in_force" => Ok(Status::InForce),
            "cancelled" => Ok(Status::Cancelled),
            "lapsed" => Ok(Status::Lapsed),
            other => Err(FieldError::new(
                field,
                "invalid_status",
                format!("{field} is one of in_force, cancelled, lapsed; got {other:?}"),
            )),
        }
    }
}

/// One agent's credited part of a transaction.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Credit {
    /// The credited agent.
    pub agent_id: i64,
    /// Their code.
    pub agent_code: String,
    /// Share in basis points (10000 = 100 %).
    pub share_bp: i64,
    /// Credited amount, signed like the transaction; the credits sum to it exactly.
    pub amount: Money,
    /// The branch credited.
    pub branch: String,
}

/// A dated, signed movement of a policy's value with its credits.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Transaction {
    /// Numeric id.
    pub id: i64,
    /// What it did.
    pub kind: Kind,
    /// The day it took effect.
    pub effective_date: NaiveDate,
    /// Signed amount: negative where it takes value away.
    pub amount: Money,
    /// The sale this transaction mirrors (new business recorded through the sales routes).
    pub sale_id: Option<i64>,
    /// First day of the month it counts in (for period close, later).
    pub booked_period_start: NaiveDate,
    /// Free text.
    pub note: Option<String>,
    /// Who wrote it: `user:<id>`, `operator` or `system:…`.
    pub created_by: String,
    /// When written (UTC).
    pub created_at: DateTime<Utc>,
    /// Who is credited, summing to `amount`.
    pub credits: Vec<Credit>,
}

/// A policy as listings show it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PolicySummary {
    /// Numeric id.
    pub id: i64,
    /// The insurer's policy number (`SALE-<sale id>` for a mirrored sale without one).
    pub policy_number: String,
    /// The product.
    pub product_id: i64,
    /// Its name.
    pub product_name: String,
    /// The insurer's opaque customer reference.
    pub holder_ref: Option<String>,
    /// The holder's name, if recorded: personal, masked in the audit trail.
    pub customer_name: Option<String>,
    /// The premium in force.
    pub premium: Money,
    /// First day of cover.
    pub start_date: NaiveDate,
    /// The day a cancellation or lapse took effect; null while in force.
    pub end_date: Option<NaiveDate>,
    /// in_force, cancelled or lapsed.
    pub status: Status,
    /// When created (UTC).
    pub created_at: DateTime<Utc>,
    /// When last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

/// A policy with its transactions, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Policy {
    /// The policy.
    #[serde(flatten)]
    pub policy: PolicySummary,
    /// Every transaction, in the order written.
    pub transactions: Vec<Transaction>,
}

/// The transactions of one policy.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Transactions {
    /// Oldest first.
    pub items: Vec<Transaction>,
}

/// One credit of a body: an agent (by code or id) and a share.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditInput {
    /// The agent's code; give this or `agent_id`.
    #[schema(value_type = Option<String>)]
    pub agent_code: Option<Typed<String>>,
    /// The agent's id.
    #[schema(value_type = Option<i64>)]
    pub agent_id: Option<Typed<i64>>,
    /// Share in basis points, 1–10000; a transaction's shares sum to 10000.
    #[schema(value_type = Option<i64>)]
    pub share_bp: Option<Typed<i64>>,
}

/// Body of `POST /api/v1/policies`: a policy with its new-business transaction.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePolicy {
    /// Required: the insurer's policy number, unique (`SALE-` is reserved for mirrored sales).
    #[schema(value_type = Option<String>)]
    pub policy_number: Option<Typed<String>>,
    /// Required: the product.
    #[schema(value_type = Option<i64>)]
    pub product_id: Option<Typed<i64>>,
    /// Required: the insurer's opaque customer reference (at most 64 characters).
    #[schema(value_type = Option<String>)]
    pub holder_ref: Option<Typed<String>>,
    /// Optional holder name (personal data: masked in the audit trail).
    #[schema(value_type = Option<String>)]
    pub customer_name: Option<Typed<String>>,
    /// Required: the first premium, above zero.
    #[schema(value_type = Option<String>)]
    pub premium: Option<serde_json::Value>,
    /// Required: `YYYY-MM-DD`, not in the future: the new business's date.
    #[schema(value_type = Option<String>)]
    pub start_date: Option<Typed<String>>,
    /// Who is credited; an agent may leave it out (all to themselves). Shares sum to 10000.
    #[schema(value_type = Option<Vec<CreditInput>>)]
    pub credits: Option<Vec<CreditInput>>,
    /// Free text on the new-business transaction.
    #[schema(value_type = Option<String>)]
    pub note: Option<Typed<String>>,
}

/// Body of `POST /api/v1/policies/{id}/transactions`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTransaction {
    /// Required: renewal, endorsement, cancellation, lapse or reinstatement.
    #[schema(value_type = Option<String>)]
    pub kind: Option<Typed<String>>,
    /// Required: `YYYY-MM-DD`, not in the future, not before the policy's last transaction.
    #[schema(value_type = Option<String>)]
    pub effective_date: Option<Typed<String>>,
    /// Required: signed amount (renewal, reinstatement > 0; cancellation, lapse < 0;
    /// endorsement ≠ 0).
    #[schema(value_type = Option<String>)]
    pub amount: Option<serde_json::Value>,
    /// Own shares; without them the shares of the policy's last transaction are inherited.
    #[schema(value_type = Option<Vec<CreditInput>>)]
    pub credits: Option<Vec<CreditInput>>,
    /// Free text.
    #[schema(value_type = Option<String>)]
    pub note: Option<Typed<String>>,
}

/// A credit of a validated body: who (still to resolve) and the share.
#[derive(Debug, Clone)]
pub struct CreditRef {
    /// The agent named.
    pub agent: AgentRef,
    /// Basis points.
    pub share_bp: i64,
}

/// A validated [`CreatePolicy`].
#[expect(missing_docs, reason = "the fields are the body's, validated")]
#[derive(Debug, Clone)]
pub struct PolicyFields {
    pub policy_number: String,
    pub product_id: i64,
    pub holder_ref: String,
    pub customer_name: Option<String>,
    pub premium_cents: i64,
    pub start_date: NaiveDate,
    /// `None`: the caller (an agent) takes it all.
    pub credits: Option<Vec<CreditRef>>,
    pub note: Option<String>,
}

/// A validated [`CreateTransaction`].
#[expect(missing_docs, reason = "the fields are the body's, validated")]
#[derive(Debug, Clone)]
pub struct TransactionFields {
    pub kind: Kind,
    pub effective_date: NaiveDate,
    pub amount_cents: i64,
    /// `None`: inherit the last transaction's shares.
    pub credits: Option<Vec<CreditRef>>,
    pub note: Option<String>,
}

/// The prefix of generated policy numbers for mirrored sales without one.
pub const MIRROR_PREFIX: &str = "SALE-";

fn typed<T: Clone>(e: &mut FieldErrors, field: &str, v: Option<&Typed<T>>) -> Option<T> {
    v.and_then(|t| e.take(t.get(field)))
}

fn required<T>(e: &mut FieldErrors, field: &str, v: Option<T>, present: bool) -> Option<T> {
    if !present {
        e.push(FieldError::required(field));
    }
    v
}

fn date(e: &mut FieldErrors, field: &str, raw: Option<&str>, today: NaiveDate) -> Option<NaiveDate> {
    let d = e.take_opt(raw.map(|s| parse_date(field, s)))?;
    if d > today {
        e.push(FieldError::new(field, "in_future", format!("{field} {d} is in the future")));
        return None;
    }
    Some(d)
}

fn note(e: &mut FieldErrors, raw: Option<&Typed<String>>) -> Option<String> {
    let n = typed(e, "note", raw)?;
    let n = n.trim();
    if n.is_empty() {
        return None;
    }
    if n.chars().count() > 500 {
        e.push(FieldError::new("note", "too_long", "note may have at most 500 characters"));
        return None;
    }
    Some(n.to_owned())
}

/// Checks a list of credits; the shares' sum and uniqueness by agent are checked here too.
fn credits(e: &mut FieldErrors, list: Option<&[CreditInput]>) -> Option<Vec<CreditRef>> {
    let list = list?;
    let mut refs = Vec::with_capacity(list.len());
    let mut ok = true;
    for (i, c) in list.iter().enumerate() {
        let code = typed(e, &format!("credits[{i}].agent_code"), c.agent_code.as_ref());
        let id = typed(e, &format!("credits[{i}].agent_id"), c.agent_id.as_ref());
        let share = typed(e, &format!("credits[{i}].share_bp"), c.share_bp.as_ref());
        if c.share_bp.is_none() {
            e.push(FieldError::required(format!("credits[{i}].share_bp")));
        }
        let agent = match (code, id) {
            (Some(_), Some(_)) => {
                e.push(FieldError::new(
                    format!("credits[{i}].agent_code"),
                    "ambiguous",
                    "give either agent_code or agent_id, not both",
                ));
                None
            }
            (Some(c), None) => e.take(AgentCode::parse(&format!("credits[{i}].agent_code"), &c)).map(AgentRef::Code),
            (None, Some(id)) => Some(AgentRef::Id(id)),
            (None, None) => {
                if c.agent_code.is_none() && c.agent_id.is_none() {
                    e.push(FieldError::new(
                        format!("credits[{i}].agent_code"),
                        "required",
                        "agent_code (or agent_id) is required",
                    ));
                }
                None
            }
        };
        match (agent, share) {
            (Some(agent), Some(share_bp)) => refs.push(CreditRef { agent, share_bp }),
            _ => ok = false,
        }
    }
    if !ok {
        return None;
    }
    // The split's own rules (sum, range, count); agents are compared once resolved.
    let shares: Vec<Share> =
        refs.iter().enumerate().map(|(i, r)| Share { agent_id: -(i as i64) - 1, share_bp: r.share_bp }).collect();
    match Split::new("credits", shares) {
        Ok(_) => Some(refs),
        Err(errors) => {
            for err in errors {
                e.push(err);
            }
            None
        }
    }
}

impl CreatePolicy {
    /// Every bad field at once; `today` is the business calendar's date.
    pub fn validate(&self, today: NaiveDate) -> Result<PolicyFields, Vec<FieldError>> {
        let mut e = FieldErrors::new();
        let number = typed(&mut e, "policy_number", self.policy_number.as_ref());
        let number = required(&mut e, "policy_number", number, self.policy_number.is_some())
            .and_then(|p| e.take(PolicyNumber::parse("policy_number", &p)))
            .map(PolicyNumber::into_inner);
        if let Some(n) = &number
            && n.to_ascii_uppercase().starts_with(MIRROR_PREFIX)
        {
            e.push(FieldError::new(
                "policy_number",
                "reserved",
                format!("policy numbers starting {MIRROR_PREFIX} are kept for sales recorded without one"),
            ));
        }
        let product = typed(&mut e, "product_id", self.product_id.as_ref());
        let product_id = required(&mut e, "product_id", product, self.product_id.is_some());
        if let Some(p) = product_id
            && p <= 0
        {
            e.push(FieldError::new("product_id", "invalid_id", "product_id must be a whole number above 0"));
        }
        let holder = typed(&mut e, "holder_ref", self.holder_ref.as_ref());
        let holder_ref = required(&mut e, "holder_ref", holder, self.holder_ref.is_some()).and_then(|h| {
            let h = h.trim().to_owned();
            if h.is_empty() || h.chars().count() > 64 || h.chars().any(char::is_control) {
                e.push(FieldError::new("holder_ref", "invalid_holder_ref", "holder_ref must be 1 to 64 characters"));
                None
            } else {
                Some(h)
            }
        });
        let customer_name = typed(&mut e, "customer_name", self.customer_name.as_ref())
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .and_then(|n| {
                if n.chars().count() > 200 {
                    e.push(FieldError::new(
                        "customer_name",
                        "too_long",
                        "customer_name may have at most 200 characters",
                    ));
                    None
                } else {
                    Some(n)
                }
            });
        let premium = match &self.premium {
            None => {
                e.push(FieldError::required("premium"));
                None
            }
            Some(v) => e.take(Money::parse_json("premium", v)).map(Money::cents),
        };
        let start = typed(&mut e, "start_date", self.start_date.as_ref());
        let start = required(&mut e, "start_date", start, self.start_date.is_some());
        let start_date = date(&mut e, "start_date", start.as_deref(), today);
        let credits = credits(&mut e, self.credits.as_deref());
        let note = note(&mut e, self.note.as_ref());
        e.finish()?;
        match (number, product_id, holder_ref, premium, start_date) {
            (Some(policy_number), Some(product_id), Some(holder_ref), Some(premium_cents), Some(start_date)) => {
                Ok(PolicyFields {
                    policy_number,
                    product_id,
                    holder_ref,
                    customer_name,
                    premium_cents,
                    start_date,
                    credits,
                    note,
                })
            }
            _ => Err(vec![FieldError::new("", "invalid", "the policy is incomplete")]),
        }
    }
}

impl CreateTransaction {
    /// Every bad field at once; the limits that depend on the policy are checked in the service.
    pub fn validate(&self, today: NaiveDate) -> Result<TransactionFields, Vec<FieldError>> {
        let mut e = FieldErrors::new();
        let raw_kind = typed(&mut e, "kind", self.kind.as_ref());
        let kind = required(&mut e, "kind", raw_kind, self.kind.is_some()).and_then(|k| {
            let found = Kind::POSTABLE.into_iter().find(|c| c.as_str() == k.trim());
            if found.is_none() {
                e.push(FieldError::new(
                    "kind",
                    "invalid_kind",
                    format!("kind is one of renewal, endorsement, cancellation, lapse, reinstatement; got {k:?}"),
                ));
            }
            found
        });
        let raw_date = typed(&mut e, "effective_date", self.effective_date.as_ref());
        let raw_date = required(&mut e, "effective_date", raw_date, self.effective_date.is_some());
        let effective_date = date(&mut e, "effective_date", raw_date.as_deref(), today);
        let amount = match &self.amount {
            None => {
                e.push(FieldError::required("amount"));
                None
            }
            Some(v) => e.take(credit::parse_signed("amount", v)),
        };
        if let (Some(k), Some(a)) = (kind, amount)
            && !k.sign_ok(a)
        {
            e.push(FieldError::new(
                "amount",
                "wrong_sign",
                format!("the amount of a {} must be {}", k.as_str(), k.sign_rule()),
            ));
        }
        let credits = credits(&mut e, self.credits.as_deref());
        let note = note(&mut e, self.note.as_ref());
        e.finish()?;
        match (kind, effective_date, amount) {
            (Some(kind), Some(effective_date), Some(amount_cents)) => {
                Ok(TransactionFields { kind, effective_date, amount_cents, credits, note })
            }
            _ => Err(vec![FieldError::new("", "invalid", "the transaction is incomplete")]),
        }
    }
}

/// Reads a stored kind.
pub fn kind_of(raw: &str) -> Option<Kind> {
    Kind::ALL.into_iter().find(|k| k.as_str() == raw)
}

/// Filters of `GET /api/v1/policies`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PolicyFilter {
    /// Only the policy with this number.
    pub policy_number: Option<String>,
    /// Only policies of this product.
    pub product_id: Option<String>,
    /// Only policies crediting this agent (code).
    pub agent_code: Option<String>,
    /// Only policies crediting this agent (id).
    pub agent_id: Option<String>,
    /// in_force, cancelled or lapsed.
    pub status: Option<String>,
    /// Rows per page, 1–500 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `asc` (default) or `desc` by id.
    pub order: Option<String>,
}
