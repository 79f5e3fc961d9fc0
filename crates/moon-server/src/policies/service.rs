//! Policy use cases: list and read in scope, create a policy with its new business, and add a
//! renewal, endorsement, cancellation, lapse or reinstatement with the ADR's sign rules and
//! limits. Every write is one transaction ending in its audit entry. No change-log entry yet:
//! KPIs still count sales (mirrored new business), and other kinds reach the aggregator as
//! `credit` entries in slice 4.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use moon_db::{Db, DbError, Tx};
use moon_domain::credit::{Share, Split};
use moon_domain::{FieldError, Money};
use moon_http::{Page, Principal, Role, Scope};

use super::model::{
    CreatePolicy, CreateTransaction, Credit, CreditRef, Kind, Policy, PolicySummary, Status, Transaction, kind_of,
};
use super::repo::{self, CreditRow, NewCredit, PolicyQuery, PolicyRow, TransactionRow};
use crate::agents::model::AgentRef;
use crate::audit;
use crate::error::{Error, Result};

fn corrupt(what: String) -> Error {
    Error::Internal(anyhow::anyhow!("a stored policy cannot be read: {what}"))
}

fn summary(row: &PolicyRow) -> Result<PolicySummary> {
    let status = Status::parse("status", &row.status).map_err(|e| corrupt(e.message))?;
    Ok(PolicySummary {
        id: row.id,
        policy_number: row.policy_number.clone(),
        product_id: row.product_id,
        product_name: row.product_name.clone(),
        holder_ref: row.holder_ref.clone(),
        customer_name: row.customer_name.clone(),
        premium: Money::from_cents(row.premium_cents),
        start_date: row.start_date,
        end_date: row.end_date,
        status,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn transactions(rows: Vec<TransactionRow>, credits: Vec<CreditRow>) -> Result<BTreeMap<i64, Vec<Transaction>>> {
    let mut by_tx: BTreeMap<i64, Vec<Credit>> = BTreeMap::new();
    for c in credits {
        by_tx.entry(c.transaction_id).or_default().push(Credit {
            agent_id: c.agent_id,
            agent_code: c.agent_code,
            share_bp: c.share_bp,
            amount: Money::from_cents(c.amount_cents),
            branch: c.branch,
        });
    }
    let mut by_policy: BTreeMap<i64, Vec<Transaction>> = BTreeMap::new();
    for t in rows {
        let kind = kind_of(&t.kind).ok_or_else(|| corrupt(format!("transaction {} has kind {:?}", t.id, t.kind)))?;
        by_policy.entry(t.policy_id).or_default().push(Transaction {
            id: t.id,
            kind,
            effective_date: t.effective_date,
            amount: Money::from_cents(t.amount_cents),
            sale_id: t.sale_id,
            booked_period_start: t.booked_period_start,
            note: t.note,
            created_by: t.created_by,
            created_at: t.created_at,
            credits: by_tx.remove(&t.id).unwrap_or_default(),
        });
    }
    Ok(by_policy)
}

/// One page of the policies visible to the caller, without their transactions.
pub async fn list(db: &Db, principal: &Principal, q: &PolicyQuery, page: &Page) -> Result<Vec<PolicySummary>> {
    repo::list(db, &principal.scope, q, page).await?.iter().map(summary).collect()
}

/// One visible policy with every transaction and credit.
pub async fn get(db: &Db, principal: &Principal, id: i64) -> Result<Policy> {
    let row = repo::get(db, &principal.scope, id).await?.ok_or_else(|| Error::not_found(format!("policy {id}")))?;
    let (txs, credits) = repo::history(db, &[id]).await?;
    let mut history = transactions(txs, credits)?;
    Ok(Policy { policy: summary(&row)?, transactions: history.remove(&id).unwrap_or_default() })
}

async fn read_back(tx: &mut Tx, id: i64) -> Result<Policy> {
    let row =
        repo::find(tx, &Scope::All, id).await?.ok_or_else(|| Error::internal("a policy vanished in its write"))?;
    let (txs, credits) = repo::history_in(tx, id).await?;
    let mut history = transactions(txs, credits)?;
    Ok(Policy { policy: summary(&row)?, transactions: history.remove(&id).unwrap_or_default() })
}

/// Resolves the credited agents in the caller's scope (a manager's branch, an agent themself:
/// others are unknown to them, as when recording a sale) and splits `amount_cents`. Every agent
/// that cannot be found is one field error.
async fn resolve_credits(
    tx: &mut Tx,
    principal: &Principal,
    refs: &[CreditRef],
    amount_cents: i64,
) -> Result<Vec<NewCredit>> {
    let mut errors = Vec::new();
    let mut found = Vec::with_capacity(refs.len());
    for (i, r) in refs.iter().enumerate() {
        let (agent, field, shown) = match &r.agent {
            AgentRef::Code(c) => (
                crate::agents::repo::find_by_code(tx, &principal.scope, c.as_str()).await?,
                format!("credits[{i}].agent_code"),
                c.to_string(),
            ),
            AgentRef::Id(id) => (
                crate::agents::repo::find(tx, &principal.scope, *id).await?,
                format!("credits[{i}].agent_id"),
                id.to_string(),
            ),
        };
        match agent {
            Some(a) => found.push((a.id, r.share_bp, a.branch)),
            None => errors.push(FieldError::new(field, "unknown_agent", format!("no agent {shown} exists"))),
        }
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let shares: Vec<Share> =
        found.iter().map(|(agent_id, share_bp, _)| Share { agent_id: *agent_id, share_bp: *share_bp }).collect();
    let split = Split::new("credits", shares).map_err(Error::Invalid)?;
    let cents = split.credit(amount_cents);
    Ok(found.into_iter().zip(cents).map(|((agent, bp, branch), c)| (agent, bp, c, branch)).collect())
}

/// The whole amount to the calling agent, in their branch.
async fn own_credit(tx: &mut Tx, principal: &Principal, amount_cents: i64) -> Result<Vec<NewCredit>> {
    let Scope::Agent(id) = principal.scope else {
        return Err(Error::field(FieldError::new(
            "credits",
            "required",
            "credits is required: name the agents credited and their shares",
        )));
    };
    let refs = [CreditRef { agent: AgentRef::Id(id), share_bp: moon_domain::credit::WHOLE_BP }];
    resolve_credits(tx, principal, &refs, amount_cents).await
}

fn audit_credits(credits: &[NewCredit]) -> serde_json::Value {
    credits
        .iter()
        .map(|(agent, bp, cents, branch)| {
            serde_json::json!({"agent_id": agent, "share_bp": bp, "amount": Money::from_cents(*cents), "branch": branch})
        })
        .collect()
}

/// Creates a policy with its new-business transaction and credits. An agent may leave the
/// credits out (all to themselves) or credit only themselves; a manager credits agents of their
/// branch; the policy number is unique across policies (and sales, whose mirrors hold theirs).
pub async fn create(db: &Db, principal: &Principal, body: &CreatePolicy, today: NaiveDate) -> Result<Policy> {
    let f = body.validate(today).map_err(Error::Invalid)?;
    let mut tx = db.begin().await?;
    let mut errors = Vec::new();
    if crate::products::repo::find(&mut tx, f.product_id).await?.is_none() {
        errors.push(FieldError::new("product_id", "unknown_product", format!("no product {} exists", f.product_id)));
    }
    let credits = match &f.credits {
        Some(refs) => match resolve_credits(&mut tx, principal, refs, f.premium_cents).await {
            Ok(c) => Some(c),
            Err(Error::Invalid(mut e)) => {
                errors.append(&mut e);
                None
            }
            Err(other) => return Err(other),
        },
        None => None,
    };
    if !errors.is_empty() {
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        return Err(Error::Invalid(errors));
    }
    let credits = match credits {
        Some(c) => c,
        None => own_credit(&mut tx, principal, f.premium_cents).await?,
    };
    if repo::number_taken(&mut tx, &f.policy_number).await? {
        return Err(duplicate(&f.policy_number));
    }
    let new = repo::NewPolicy {
        policy_number: &f.policy_number,
        product_id: f.product_id,
        holder_ref: Some(&f.holder_ref),
        customer_name: f.customer_name.as_deref(),
        premium_cents: f.premium_cents,
        start_date: f.start_date,
    };
    let id = match repo::insert_policy(&mut tx, &new).await {
        Err(DbError::UniqueViolation) => return Err(duplicate(&f.policy_number)),
        other => other?,
    };
    let t = repo::NewTransaction {
        policy_id: id,
        kind: Kind::NewBusiness.as_str(),
        effective_date: f.start_date,
        amount_cents: f.premium_cents,
        note: f.note.as_deref(),
        created_by: &principal.id,
    };
    let transaction_id = repo::insert_transaction(&mut tx, &t).await?;
    repo::insert_credits(&mut tx, transaction_id, &credits).await?;
    let policy = read_back(&mut tx, id).await?;
    let event = audit::Event::on("policy.create", "policy", id)
        .with_diff(None, Some(&policy.policy))
        .with_extra(serde_json::json!({"transaction_id": transaction_id, "credits": audit_credits(&credits)}));
    audit::append(&mut tx, principal, event).await?;
    tx.commit().await?;
    Ok(policy)
}

fn duplicate(number: &str) -> Error {
    Error::conflict("duplicate_policy_number", format!("a policy with policy_number {number} already exists"))
}

/// The shares of the policy's latest transaction that has credits: what a later transaction
/// inherits when it names none.
fn inherited(history: &[Transaction]) -> Option<Vec<CreditRef>> {
    let last = history.iter().rev().find(|t| !t.credits.is_empty())?;
    Some(last.credits.iter().map(|c| CreditRef { agent: AgentRef::Id(c.agent_id), share_bp: c.share_bp }).collect())
}

/// Adds a transaction to a visible policy (admins; managers on policies credited to their
/// branch). Checks, against the policy as it stands under its row lock: the status the kind
/// needs, the premium a cancellation, lapse or endorsement down may take, what a reinstatement
/// may give back, and that the date is not before the policy's last transaction. Sets the
/// premium in force, the status and the end date it implies.
pub async fn add_transaction(
    db: &Db,
    principal: &Principal,
    id: i64,
    body: &CreateTransaction,
    today: NaiveDate,
) -> Result<Policy> {
    if principal.role == Role::Agent || principal.role == Role::Analyst {
        return Err(Error::forbidden("only administrators and managers record policy transactions"));
    }
    let f = body.validate(today).map_err(Error::Invalid)?;
    let mut tx = db.begin().await?;
    // Visibility first (404 outside the scope), then the row lock before reading the state.
    repo::find(&mut tx, &principal.scope, id).await?.ok_or_else(|| Error::not_found(format!("policy {id}")))?;
    repo::lock(&mut tx, id).await?;
    let before = read_back(&mut tx, id).await?;
    let p = &before.policy;
    let mut errors = Vec::new();
    if let Some(last) = before.transactions.iter().map(|t| t.effective_date).max()
        && f.effective_date < last
    {
        errors.push(FieldError::new(
            "effective_date",
            "before_last_transaction",
            format!("effective_date must not be before the policy's last transaction ({last})"),
        ));
    }
    let premium = p.premium.cents();
    let (premium_after, status_after, end_after) = match f.kind {
        Kind::Renewal | Kind::Endorsement | Kind::Cancellation | Kind::Lapse if p.status != Status::InForce => {
            return Err(Error::conflict(
                "policy_not_in_force",
                format!("policy {id} is {}: a {} needs a policy in force", p.status.as_str(), f.kind.as_str()),
            ));
        }
        Kind::Reinstatement if p.status == Status::InForce => {
            return Err(Error::conflict(
                "policy_in_force",
                format!("policy {id} is in force: only a cancelled or lapsed policy can be reinstated"),
            ));
        }
        Kind::Renewal => (f.amount_cents, Status::InForce, None),
        Kind::Endorsement => {
            if premium + f.amount_cents <= 0 {
                errors.push(FieldError::new(
                    "amount",
                    "exceeds_premium",
                    format!(
                        "an endorsement down may take at most {} off the premium in force ({})",
                        Money::from_cents(premium - 1),
                        p.premium
                    ),
                ));
            }
            (premium + f.amount_cents, Status::InForce, None)
        }
        Kind::Cancellation | Kind::Lapse => {
            if -f.amount_cents > premium {
                errors.push(FieldError::new(
                    "amount",
                    "exceeds_premium",
                    format!("a {} may take at most the premium in force ({})", f.kind.as_str(), p.premium),
                ));
            }
            let status = if f.kind == Kind::Lapse { Status::Lapsed } else { Status::Cancelled };
            (premium, status, Some(f.effective_date))
        }
        Kind::Reinstatement => {
            let taken = before
                .transactions
                .iter()
                .rev()
                .find(|t| matches!(t.kind, Kind::Cancellation | Kind::Lapse))
                .map_or(0, |t| -t.amount.cents());
            if f.amount_cents > taken {
                errors.push(FieldError::new(
                    "amount",
                    "exceeds_taken",
                    format!("a reinstatement may give back at most what was taken ({})", Money::from_cents(taken)),
                ));
            }
            (premium, Status::InForce, None)
        }
        Kind::NewBusiness | Kind::Adjustment => {
            return Err(Error::internal("a transaction kind the body does not accept reached the service"));
        }
    };
    let refs = match &f.credits {
        Some(own) => own.clone(),
        None => inherited(&before.transactions).ok_or_else(|| {
            Error::field(FieldError::new("credits", "required", "the policy has no credits to inherit; name them"))
        })?,
    };
    // Inherited shares may name agents outside a manager's branch: they are resolved company
    // -wide; shares the caller names stay within the caller's scope.
    let resolver =
        if f.credits.is_some() { principal.clone() } else { Principal { scope: Scope::All, ..principal.clone() } };
    let credits = match resolve_credits(&mut tx, &resolver, &refs, f.amount_cents).await {
        Ok(c) => Some(c),
        Err(Error::Invalid(mut e)) => {
            errors.append(&mut e);
            None
        }
        Err(other) => return Err(other),
    };
    if !errors.is_empty() {
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        return Err(Error::Invalid(errors));
    }
    let credits = credits.unwrap_or_default();
    let t = repo::NewTransaction {
        policy_id: id,
        kind: f.kind.as_str(),
        effective_date: f.effective_date,
        amount_cents: f.amount_cents,
        note: f.note.as_deref(),
        created_by: &principal.id,
    };
    let transaction_id = repo::insert_transaction(&mut tx, &t).await?;
    repo::insert_credits(&mut tx, transaction_id, &credits).await?;
    repo::set_state(&mut tx, id, premium_after, status_after, end_after).await?;
    let after = read_back(&mut tx, id).await?;
    let event = audit::Event::on("policy.transaction", "policy", id)
        .with_diff(Some(&before.policy), Some(&after.policy))
        .with_extra(serde_json::json!({
            "transaction_id": transaction_id,
            "kind": f.kind.as_str(),
            "effective_date": f.effective_date,
            "amount": Money::from_cents(f.amount_cents),
            "credits": audit_credits(&credits),
        }));
    audit::append(&mut tx, principal, event).await?;
    tx.commit().await?;
    Ok(after)
}
