//! Sales target use cases: set (create or replace), change, delete, import, copy forward and
//! lock. Every write is one transaction with its change-log entry (in `repo`) and its audit
//! entry; a change to a locked period is refused unless it is an explicit correction with a
//! reason, which the audit trail records as such.

use std::collections::BTreeMap;

use moon_db::{Db, DbError, Tx};
use moon_domain::{BusinessCalendar, FieldError, Money, Period};
use moon_http::{Page, Principal, Role, Scope};
use rust_decimal::Decimal;
use serde::Serialize;

use super::model::{ProductRef, ScopeKind, SetTarget, Subject, Target, TargetFields};
use super::repo::{self, NewTarget, TargetQuery, TargetRow, Visibility};
use crate::audit;
use crate::calendar::PeriodInfo;
use crate::error::{Error, Result};
use crate::file_import::{ImportReport, LineError, cell, read_csv};

fn require_admin(principal: &Principal) -> Result<()> {
    if principal.scope == Scope::All && principal.role == Role::Admin {
        Ok(())
    } else {
        Err(Error::forbidden("only administrators may set sales targets"))
    }
}

/// Which targets the caller may read: admins and analysts all; a manager the company's, the
/// regions', their branch's and those of its teams and agents; an agent the company's, their
/// branch's, their team's and their own. Branch and team keys are compared with the agents'
/// branch and team case-insensitively until the organisation's codes replace the free text.
pub async fn visibility(db: &Db, principal: &Principal) -> Result<Visibility> {
    match &principal.scope {
        Scope::All => Ok(Visibility { all: true, ..Visibility::default() }),
        Scope::Branch(branch) => {
            let page = Page { limit: 100_000, after: None, descending: false };
            let agents = crate::agents::repo::list(db, &principal.scope, &Default::default(), &page).await?;
            let mut teams: Vec<String> = agents.iter().map(|a| a.team.clone()).collect();
            teams.sort();
            teams.dedup();
            Ok(Visibility {
                all: false,
                regions: true,
                branches: vec![branch.clone()],
                teams,
                agents: agents.into_iter().map(|a| a.agent_code).collect(),
            })
        }
        Scope::Agent(id) => match crate::agents::repo::get(db, &principal.scope, *id).await? {
            Some(a) => Ok(Visibility {
                all: false,
                regions: false,
                branches: vec![a.branch],
                teams: vec![a.team],
                agents: vec![a.agent_code],
            }),
            None => Ok(Visibility::default()),
        },
    }
}

async fn with_locks(db: &Db, calendar: &BusinessCalendar, rows: Vec<TargetRow>) -> Result<Vec<Target>> {
    let (Some(from), Some(to)) = (rows.iter().map(|r| r.period_start).min(), rows.iter().map(|r| r.period_end).max())
    else {
        return Ok(Vec::new());
    };
    let locks = repo::locks_between(db, from, to).await?;
    rows.iter()
        .map(|r| {
            let locked = locks.iter().any(|l| l.period_start <= r.period_start && l.period_end >= r.period_end);
            Ok(r.to_target(calendar, locked)?)
        })
        .collect()
}

/// One page of the targets the caller may see.
pub async fn list(
    db: &Db,
    calendar: &BusinessCalendar,
    principal: &Principal,
    q: &TargetQuery,
    page: &Page,
) -> Result<Vec<Target>> {
    let vis = visibility(db, principal).await?;
    let rows = repo::list(db, &vis, q, page).await?;
    with_locks(db, calendar, rows).await
}

/// One target, if the caller may see it.
pub async fn get(db: &Db, calendar: &BusinessCalendar, principal: &Principal, id: i64) -> Result<Target> {
    let vis = visibility(db, principal).await?;
    let row = repo::get(db, &vis, id).await?.ok_or_else(|| Error::not_found(format!("target {id}")))?;
    with_locks(db, calendar, vec![row]).await?.pop().ok_or_else(|| Error::internal("a target listed itself away"))
}

fn locked(period: &str) -> Error {
    Error::conflict(
        "period_locked",
        format!("the period {period} is locked; send \"correction\": {{\"reason\": \"...\"}} to change it anyway"),
    )
}

/// Refuses a change to a locked period unless it carries a correction reason; `Some(reason)`
/// when the change is a correction.
async fn gate(
    tx: &mut Tx,
    calendar: &BusinessCalendar,
    period: Period,
    reason: Option<&str>,
) -> Result<Option<String>> {
    match repo::lock_covering(tx, period).await? {
        None => Ok(None),
        Some(_) => match reason {
            Some(r) => Ok(Some(r.to_owned())),
            None => Err(locked(&calendar.fiscal.label(period))),
        },
    }
}

/// Resolves the product (by id or name) and checks the agent of an agent target exists; each
/// problem is a field error.
async fn resolve(tx: &mut Tx, f: &TargetFields) -> Result<NewTarget, Vec<FieldError>> {
    let mut errors = Vec::new();
    let db_error = |e: DbError| vec![FieldError::new("row", "database", e.to_string())];
    let subject = match (&f.product, &f.product_line) {
        (Some(ProductRef::Id(id)), _) => match crate::products::repo::find(tx, *id).await.map_err(db_error)? {
            Some(p) => Subject::Product(p.id),
            None => {
                errors.push(FieldError::new("product", "unknown_product", format!("no product has id {id}")));
                Subject::All
            }
        },
        (Some(ProductRef::Name(name)), _) => {
            match crate::products::repo::find_by_name(tx, name).await.map_err(db_error)? {
                Some(p) => Subject::Product(p.id),
                None => {
                    errors.push(FieldError::new("product", "unknown_product", format!("no product is named {name:?}")));
                    Subject::All
                }
            }
        }
        (None, Some(line)) => Subject::Line(line.clone()),
        (None, None) => Subject::All,
    };
    // Organisation scopes name a unit by code or name in any case and are stored by its code,
    // the key sales and memberships hold, so "colombo " and "Colombo" are one target.
    let mut scope_key = f.scope_key.clone();
    if let Some(kind) = f.scope_kind.unit_kind() {
        match crate::agents::org::service::lookup(tx, kind, "scope_key", &f.scope_key).await.map_err(db_error)? {
            Ok(unit) => scope_key = unit.code,
            Err(e) => errors.push(e),
        }
    }
    if f.scope_kind == ScopeKind::Agent
        && crate::agents::repo::find_by_code(tx, &Scope::All, &f.scope_key).await.map_err(db_error)?.is_none()
    {
        errors.push(FieldError::new("scope_key", "unknown_agent", format!("no agent has the code {}", f.scope_key)));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(NewTarget {
        scope_kind: f.scope_kind,
        scope_key,
        subject,
        product_line: f.product_line.clone(),
        period: f.period,
        amount_cents: f.amount.cents(),
        policy_count: f.policy_count,
    })
}

/// What a set did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new target.
    Created,
    /// The amount or count changed.
    Updated,
    /// Same values as stored.
    Unchanged,
}

fn audit_event(
    action: &'static str,
    id: i64,
    before: Option<&TargetRow>,
    after: Option<&TargetRow>,
    reason: Option<&str>,
) -> audit::Event {
    let b = before.map(TargetRow::facts);
    let a = after.map(TargetRow::facts);
    match reason {
        None => audit::Event::on(action, "target", id)
            .with_diff(b.as_ref().map(facts_json).as_ref(), a.as_ref().map(facts_json).as_ref()),
        Some(reason) => {
            let to_json =
                |f: Option<moon_changelog::TargetFacts>| f.as_ref().map_or(serde_json::Value::Null, facts_json);
            let changes = audit::diff(&to_json(b), &to_json(a));
            audit::Event::on("target.correct", "target", id).with_detail(
                serde_json::json!({"correction": {"reason": reason}, "operation": action, "changes": changes}),
            )
        }
    }
}

fn facts_json(f: &moon_changelog::TargetFacts) -> serde_json::Value {
    serde_json::json!({
        "scope_kind": f.scope_kind, "scope_key": f.scope_key, "product_id": f.product_id,
        "product_line": f.product_line, "period_kind": f.period_kind, "period_start": f.period_start,
        "amount_cents": f.amount_cents, "policy_count": f.policy_count,
    })
}

/// Sets one target inside the caller's transaction: creates it, or replaces the amount and
/// count of the one with the same key.
async fn set_in(
    tx: &mut Tx,
    calendar: &BusinessCalendar,
    principal: &Principal,
    t: &NewTarget,
    reason: Option<&str>,
) -> Result<(TargetRow, Outcome)> {
    let correction = gate(tx, calendar, t.period, reason).await?;
    let correction = correction.as_deref();
    match repo::find_by_key(tx, t.scope_kind, &t.scope_key, &t.subject, t.period).await? {
        Some(current) if current.amount_cents == t.amount_cents && current.policy_count == t.policy_count => {
            Ok((current, Outcome::Unchanged))
        }
        Some(current) => {
            let after = repo::update(tx, &current, t.amount_cents, t.policy_count).await?;
            audit::append(
                tx,
                principal,
                audit_event("target.update", after.id, Some(&current), Some(&after), correction),
            )
            .await?;
            Ok((after, Outcome::Updated))
        }
        None => {
            let row = match repo::insert(tx, t).await {
                Err(DbError::UniqueViolation) => {
                    return Err(Error::conflict("duplicate_target", "the same target was set concurrently; retry"));
                }
                other => other?,
            };
            audit::append(tx, principal, audit_event("target.create", row.id, None, Some(&row), correction)).await?;
            Ok((row, Outcome::Created))
        }
    }
}

/// Creates a target or replaces the one with the same scope, product or line, and period.
pub async fn set(
    db: &Db,
    calendar: &BusinessCalendar,
    principal: &Principal,
    f: &TargetFields,
    reason: Option<&str>,
) -> Result<(Target, Outcome)> {
    require_admin(principal)?;
    let mut tx = db.begin().await?;
    let t = resolve(&mut tx, f).await.map_err(Error::Invalid)?;
    let (row, outcome) = set_in(&mut tx, calendar, principal, &t, reason).await?;
    let lock = repo::lock_covering(&mut tx, t.period).await?.is_some();
    tx.commit().await?;
    Ok((row.to_target(calendar, lock)?, outcome))
}

/// Changes a target's amount and/or count (`Some(None)` clears the count).
pub async fn update(
    db: &Db,
    calendar: &BusinessCalendar,
    principal: &Principal,
    id: i64,
    amount: Option<Money>,
    policy_count: Option<Option<i64>>,
    reason: Option<&str>,
) -> Result<Target> {
    require_admin(principal)?;
    let mut tx = db.begin().await?;
    let current = repo::find(&mut tx, id).await?.ok_or_else(|| Error::not_found(format!("target {id}")))?;
    let period = current.period(calendar.fiscal)?;
    let correction = gate(&mut tx, calendar, period, reason).await?;
    let amount_cents = amount.map_or(current.amount_cents, Money::cents);
    let count = policy_count.unwrap_or(current.policy_count);
    let row = if amount_cents == current.amount_cents && count == current.policy_count {
        current
    } else {
        let after = repo::update(&mut tx, &current, amount_cents, count).await?;
        audit::append(
            &mut tx,
            principal,
            audit_event("target.update", id, Some(&current), Some(&after), correction.as_deref()),
        )
        .await?;
        after
    };
    let lock = repo::lock_covering(&mut tx, period).await?.is_some();
    tx.commit().await?;
    Ok(row.to_target(calendar, lock)?)
}

/// Deletes a target.
pub async fn delete(
    db: &Db,
    calendar: &BusinessCalendar,
    principal: &Principal,
    id: i64,
    reason: Option<&str>,
) -> Result<()> {
    require_admin(principal)?;
    let mut tx = db.begin().await?;
    let current = repo::find(&mut tx, id).await?.ok_or_else(|| Error::not_found(format!("target {id}")))?;
    let correction = gate(&mut tx, calendar, current.period(calendar.fiscal)?, reason).await?;
    repo::delete(&mut tx, &current).await?;
    audit::append(&mut tx, principal, audit_event("target.delete", id, Some(&current), None, correction.as_deref()))
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Columns of a target import.
pub const IMPORT_COLUMNS: [&str; 7] =
    ["scope_kind", "scope_key", "product", "product_line", "period", "amount", "policy_count"];

/// Imports targets from CSV (`scope_kind,scope_key,product,product_line,period,amount,policy_count`;
/// scope_kind, period and amount required): every line is validated like `POST /api/v1/targets`
/// (a product by id or name; a locked period is an error on its line), then all are set in one
/// transaction. All or nothing unless `partial`.
pub async fn import(
    db: &Db,
    calendar: &BusinessCalendar,
    principal: &Principal,
    text: &str,
    partial: bool,
) -> Result<ImportReport> {
    require_admin(principal)?;
    let mut report = ImportReport::default();
    let rows = match read_csv(
        text,
        &["scope_kind", "period", "amount"],
        &["scope_key", "product", "product_line", "policy_count"],
    ) {
        Ok(rows) => rows,
        Err(errors) => {
            report.errors = errors;
            return Ok(report);
        }
    };
    report.rows = rows.len();
    let mut tx = db.begin().await?;
    let mut good: BTreeMap<(ScopeKind, String, Subject, Period), (u64, NewTarget)> = BTreeMap::new();
    for (line, row) in &rows {
        let text = |c: &str| cell(row, c).map(str::to_owned);
        let body = SetTarget {
            scope_kind: text("scope_kind"),
            scope_key: text("scope_key"),
            product: text("product").map(serde_json::Value::String),
            product_line: text("product_line"),
            period: text("period"),
            amount: text("amount").map(serde_json::Value::String),
            policy_count: text("policy_count").map(serde_json::Value::String),
            correction: None,
        };
        let fields = match body.validate(calendar) {
            Ok((f, _)) => f,
            Err(errors) => {
                report.errors.extend(errors.into_iter().map(|e| LineError::at(*line, e)));
                continue;
            }
        };
        let t = match resolve(&mut tx, &fields).await {
            Ok(t) => t,
            Err(errors) => {
                report.errors.extend(errors.into_iter().map(|e| LineError::at(*line, e)));
                continue;
            }
        };
        if repo::lock_covering(&mut tx, t.period).await?.is_some() {
            let label = calendar.fiscal.label(t.period);
            report.errors.push(LineError {
                line: *line,
                field: String::from("period"),
                code: "period_locked",
                message: format!("the period {label} is locked"),
            });
            continue;
        }
        let key = (t.scope_kind, t.scope_key.clone(), t.subject.clone(), t.period);
        if let Some((first, _)) = good.get(&key) {
            report.errors.push(LineError {
                line: *line,
                field: String::from("row"),
                code: "duplicate_in_file",
                message: format!("the same target is set on line {first}"),
            });
            continue;
        }
        good.insert(key, (*line, t));
    }
    report.errors.sort_by_key(|e| e.line);
    if !report.errors.is_empty() && !partial {
        return Ok(report);
    }
    let mut sorted: Vec<&(u64, NewTarget)> = good.values().collect();
    sorted.sort_by_key(|(line, _)| *line);
    for (_, t) in sorted {
        match set_in(&mut tx, calendar, principal, t, None).await?.1 {
            Outcome::Created => report.created += 1,
            Outcome::Updated => report.updated += 1,
            Outcome::Unchanged => report.skipped += 1,
        }
    }
    let good = good.len();
    let detail = report.finish(good);
    let event =
        crate::audit::Event { action: "target.import", entity: Some("target"), entity_id: None, changes: Some(detail) };
    crate::audit::append(&mut tx, principal, event).await?;
    tx.commit().await?;
    Ok(report)
}

/// What a copy did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CopyReport {
    /// The period copied.
    pub from: PeriodInfo,
    /// The period written.
    pub to: PeriodInfo,
    /// The percentage applied to every amount and count (100: unchanged).
    #[schema(value_type = String)]
    pub scale_percent: String,
    /// Targets created in `to`.
    pub created: usize,
    /// Targets of `from` that `to` had already (left as they were).
    pub skipped_existing: usize,
}

/// Scales an amount in cents by a percentage, rounding half away from zero to the cent (at
/// least one cent).
pub fn scale(cents: i64, percent: Decimal) -> Option<i64> {
    let scaled = (Decimal::from(cents) * percent / Decimal::from(100))
        .round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    i64::try_from(scaled).ok().map(|c| c.max(1))
}

/// Copies every target of `from` to `to` (by default the next period of the same kind), scaled
/// by `percent`, leaving targets that `to` already has. `to` must not be locked.
pub async fn copy(
    db: &Db,
    calendar: &BusinessCalendar,
    principal: &Principal,
    from: Period,
    to: Option<Period>,
    percent: Decimal,
) -> Result<CopyReport> {
    require_admin(principal)?;
    let to = to.unwrap_or_else(|| from.next());
    let mut errors = Vec::new();
    if to.kind() != from.kind() {
        errors.push(FieldError::new(
            "to",
            "kind_mismatch",
            format!("copy a {} to a {}, not to a {}", from.kind().as_str(), from.kind().as_str(), to.kind().as_str()),
        ));
    }
    if to == from {
        errors.push(FieldError::new("to", "same_period", "to must differ from from"));
    }
    if percent <= Decimal::ZERO || percent > Decimal::from(10_000) {
        errors.push(FieldError::new(
            "scale_percent",
            "out_of_range",
            "scale_percent must be above 0 and at most 10000",
        ));
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let mut tx = db.begin().await?;
    if repo::lock_covering(&mut tx, to).await?.is_some() {
        return Err(locked(&calendar.fiscal.label(to)));
    }
    let mut report = CopyReport {
        from: PeriodInfo::of(calendar, from),
        to: PeriodInfo::of(calendar, to),
        scale_percent: percent.normalize().to_string(),
        created: 0,
        skipped_existing: 0,
    };
    for row in repo::in_period(&mut tx, from).await? {
        let subject = match (row.product_id, &row.product_line) {
            (Some(id), _) => Subject::Product(id),
            (None, Some(l)) => Subject::Line(l.clone()),
            (None, None) => Subject::All,
        };
        let kind =
            ScopeKind::parse("scope_kind", &row.scope_kind).map_err(|e| Error::Internal(anyhow::anyhow!("{e}")))?;
        if repo::find_by_key(&mut tx, kind, &row.scope_key, &subject, to).await?.is_some() {
            report.skipped_existing += 1;
            continue;
        }
        let amount_cents = scale(row.amount_cents, percent).filter(|c| *c <= Money::MAX.cents()).ok_or_else(|| {
            Error::field(FieldError::new(
                "scale_percent",
                "out_of_range",
                "a scaled amount would exceed the largest amount",
            ))
        })?;
        let t = NewTarget {
            scope_kind: kind,
            scope_key: row.scope_key.clone(),
            subject,
            product_line: row.product_line.clone(),
            period: to,
            amount_cents,
            policy_count: row.policy_count.and_then(|n| scale(n, percent)),
        };
        let created = repo::insert(&mut tx, &t).await?;
        audit::append(&mut tx, principal, audit_event("target.create", created.id, None, Some(&created), None)).await?;
        report.created += 1;
    }
    let detail = serde_json::json!({"from": report.from.label, "to": report.to.label, "scale_percent": report.scale_percent, "created": report.created, "skipped_existing": report.skipped_existing});
    audit::append(
        &mut tx,
        principal,
        audit::Event { action: "target.copy", entity: Some("target"), entity_id: None, changes: Some(detail) },
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}

/// A locked period.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PeriodLock {
    /// The period.
    pub period: PeriodInfo,
    /// When it was locked (UTC).
    pub locked_at: chrono::DateTime<chrono::Utc>,
    /// Who locked it.
    pub locked_by: String,
}

/// Locks a finished period (its last day before `today`); locking it again changes nothing.
pub async fn lock(
    db: &Db,
    calendar: &BusinessCalendar,
    principal: &Principal,
    period: Period,
    today: chrono::NaiveDate,
) -> Result<PeriodLock> {
    require_admin(principal)?;
    let label = calendar.fiscal.label(period);
    if period.end() >= today {
        return Err(Error::conflict(
            "period_not_finished",
            format!("the period {label} ends on {}; only a finished period can be locked", period.end()),
        ));
    }
    let mut tx = db.begin().await?;
    if repo::find_lock(&mut tx, period).await?.is_none() {
        match repo::insert_lock(&mut tx, period, &principal.id).await {
            Err(DbError::UniqueViolation) => {}
            other => other?,
        }
        let event = audit::Event::on("target.period_lock", "target_period", &label)
            .with_detail(serde_json::json!({"period": label, "start": period.start(), "end": period.end()}));
        audit::append(&mut tx, principal, event).await?;
    }
    let row = repo::find_lock(&mut tx, period)
        .await?
        .ok_or_else(|| Error::internal("a lock vanished inside its own transaction"))?;
    tx.commit().await?;
    Ok(PeriodLock { period: PeriodInfo::of(calendar, period), locked_at: row.locked_at, locked_by: row.locked_by })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_rounds_half_away_from_zero_to_the_cent() {
        assert_eq!(scale(10_000, Decimal::from(110)), Some(11_000));
        assert_eq!(scale(1, Decimal::new(150, 0)), Some(2), "1.5 cents round up");
        assert_eq!(scale(333, Decimal::new(3333, 2)), Some(111), "333 × 33.33 % = 110.99 cents");
        assert_eq!(scale(1, Decimal::new(1, 0)), Some(1), "never below one cent");
    }
}
