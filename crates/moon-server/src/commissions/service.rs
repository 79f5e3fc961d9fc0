//! Commission plan use cases: list and read (each role the plans that pay it), create, add a
//! version, retire, and "which plan pays role R for product P on day D". Admins change plans;
//! every change is one transaction with its audit entry. Versions are never rewritten: a change
//! is a new version from a date after the latest one, so what a past statement used stays
//! readable.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use moon_db::{Db, DbError};
use moon_domain::FieldError;
use moon_domain::commission::RulesDoc;
use moon_http::{Page, Principal, Role, Scope};

use super::model::{
    Applicable, CreatePlan, NewVersion, Plan, PlanRole, PlanVersion, RetirePlan, Subject, VersionFields, VersionStatus,
};
use super::repo::{self, NewVersionRow, PlanQuery, PlanRow, VersionRow};
use crate::audit;
use crate::error::{Error, Result};

fn require_admin(principal: &Principal) -> Result<()> {
    if principal.scope == Scope::All && principal.role == Role::Admin {
        Ok(())
    } else {
        Err(Error::forbidden("only administrators may change commission plans"))
    }
}

/// The plan roles a caller may read: admins and analysts every plan (plans hold no personal
/// data); a manager the plans that pay managers and the agents they manage; an agent the plans
/// that pay agents.
pub fn readable_roles(principal: &Principal) -> Option<Vec<PlanRole>> {
    match principal.role {
        Role::Admin | Role::Analyst => None,
        Role::Manager => Some(vec![PlanRole::Agent, PlanRole::Manager]),
        Role::Agent => Some(vec![PlanRole::Agent]),
        // A wallboard screen reads no plans (the policy keeps it away from them anyway).
        Role::Wallboard => Some(Vec::new()),
    }
}

fn corrupt(what: String) -> Error {
    Error::Internal(anyhow::anyhow!("a stored commission plan cannot be read: {what}"))
}

fn subject_of(row: &PlanRow) -> Subject {
    match (row.product_id, &row.product_line) {
        (Some(id), _) => Subject::Product(id),
        (None, Some(l)) => Subject::Line(l.clone()),
        (None, None) => Subject::All,
    }
}

fn version_of(row: &VersionRow) -> Result<PlanVersion> {
    let status = match row.status.as_str() {
        "active" => VersionStatus::Active,
        "retired" => VersionStatus::Retired,
        other => return Err(corrupt(format!("version {} has status {other:?}", row.id))),
    };
    let rules = match &row.rules {
        Some(text) => {
            Some(serde_json::from_str::<RulesDoc>(text).map_err(|e| corrupt(format!("version {}: {e}", row.id)))?)
        }
        None => None,
    };
    Ok(PlanVersion {
        version: row.version,
        effective_from: row.effective_from,
        status,
        rules,
        note: row.note.clone(),
        created_at: row.created_at,
        created_by: row.created_by.clone(),
    })
}

/// The version in force on `day`: the latest that started on or before it.
fn in_force(versions: &[PlanVersion], day: NaiveDate) -> Option<&PlanVersion> {
    versions.iter().filter(|v| v.effective_from <= day).max_by_key(|v| v.effective_from)
}

fn to_plan(row: &PlanRow, versions: &[VersionRow], today: NaiveDate) -> Result<Plan> {
    let role = PlanRole::parse("role", &row.role).map_err(|e| corrupt(e.message))?;
    let mut versions: Vec<PlanVersion> = versions.iter().map(version_of).collect::<Result<_>>()?;
    versions.sort_by_key(|v| v.effective_from);
    let current_version = in_force(&versions, today).filter(|v| v.status == VersionStatus::Active).map(|v| v.version);
    Ok(Plan {
        id: row.id,
        name: row.name.clone(),
        role,
        product_id: row.product_id,
        product_line: row.product_line.clone(),
        current_version,
        versions,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

async fn with_versions(db: &Db, rows: &[PlanRow], today: NaiveDate) -> Result<Vec<Plan>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut by_plan: BTreeMap<i64, Vec<VersionRow>> = BTreeMap::new();
    for v in repo::versions_of(db, &ids).await? {
        by_plan.entry(v.plan_id).or_default().push(v);
    }
    rows.iter().map(|r| to_plan(r, by_plan.get(&r.id).map_or(&[][..], Vec::as_slice), today)).collect()
}

/// One page of the plans the caller may read, each with every version.
pub async fn list(db: &Db, principal: &Principal, q: &PlanQuery, page: &Page, today: NaiveDate) -> Result<Vec<Plan>> {
    let roles = readable_roles(principal);
    let rows = repo::list(db, roles.as_deref(), q, page).await?;
    with_versions(db, &rows, today).await
}

/// One plan, if the caller may read it.
pub async fn get(db: &Db, principal: &Principal, id: i64, today: NaiveDate) -> Result<Plan> {
    let roles = readable_roles(principal);
    let row =
        repo::get(db, roles.as_deref(), id).await?.ok_or_else(|| Error::not_found(format!("commission plan {id}")))?;
    with_versions(db, std::slice::from_ref(&row), today).await?.pop().ok_or_else(|| Error::internal("a plan vanished"))
}

/// A positive whole number in a raw JSON value, as a product id is sent.
fn raw_id(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|id| *id > 0)
}

async fn product_exists(db: &Db, id: i64) -> Result<bool> {
    Ok(crate::products::repo::get(db, id).await?.is_some())
}

/// Checks every product the body names against the catalogue (the plan's product or line, and
/// each contest's product), even when other fields are invalid, so one answer lists them all.
async fn unknown_products(
    db: &Db,
    product: Option<&serde_json::Value>,
    line: Option<&str>,
    rules: Option<&RulesDoc>,
) -> Result<Vec<FieldError>> {
    let mut errors = Vec::new();
    if let Some(id) = product.and_then(raw_id)
        && !product_exists(db, id).await?
    {
        errors.push(FieldError::new("product_id", "unknown_product", format!("no product has id {id}")));
    }
    if let Some(line) = line.map(str::trim).filter(|l| !l.is_empty()) {
        let page = Page { limit: 1, after: None, descending: false };
        if crate::products::repo::list(db, Some(line), &page).await?.is_empty() {
            errors.push(FieldError::new(
                "product_line",
                "unknown_product_line",
                format!("no product has the line of business {line:?}"),
            ));
        }
    }
    for (i, inc) in rules.map_or(&[][..], |r| r.incentives.as_slice()).iter().enumerate() {
        if let Some(id) = inc.product_id.as_ref().and_then(raw_id)
            && !product_exists(db, id).await?
        {
            let field = format!("rules.incentives[{i}].product_id");
            errors.push(FieldError::new(field, "unknown_product", format!("no product has id {id}")));
        }
    }
    Ok(errors)
}

/// Merges the body's own errors with the catalogue's, sorted by field.
fn invalid<T>(parsed: std::result::Result<T, Vec<FieldError>>, mut unknown: Vec<FieldError>) -> Result<T> {
    match parsed {
        Ok(v) if unknown.is_empty() => Ok(v),
        Ok(_) => Err(Error::Invalid(unknown)),
        Err(mut errors) => {
            errors.append(&mut unknown);
            errors.sort_by(|a, b| a.field.cmp(&b.field));
            Err(Error::Invalid(errors))
        }
    }
}

fn audit_detail(row: &PlanRow, version: i64, v: &VersionFields) -> serde_json::Value {
    serde_json::json!({
        "name": row.name, "role": row.role, "product_id": row.product_id, "product_line": row.product_line,
        "version": version, "effective_from": v.effective_from,
        "rules": v.rules.as_ref().map(|r| r.to_doc()), "note": v.note,
    })
}

fn stored_rules(v: &VersionFields) -> Result<Option<String>> {
    v.rules
        .as_ref()
        .map(|r| serde_json::to_string(&r.to_doc()))
        .transpose()
        .map_err(|e| Error::Internal(anyhow::Error::new(e)))
}

/// Creates a plan with its first version (admins). One plan per role and subject: a second is
/// a 409 naming the first.
pub async fn create(db: &Db, principal: &Principal, body: &CreatePlan, today: NaiveDate) -> Result<Plan> {
    require_admin(principal)?;
    let unknown =
        unknown_products(db, body.product_id.as_ref(), body.product_line.as_deref(), body.rules.as_ref()).await?;
    let fields = invalid(body.validate(), unknown)?;
    let mut tx = db.begin().await?;
    if let Some(existing) = repo::find_by_key(&mut tx, fields.role, &fields.subject).await? {
        return Err(Error::conflict(
            "duplicate_plan",
            format!(
                "commission plan {} ({:?}) already pays this role for this product; add a version to it instead",
                existing.id, existing.name
            ),
        ));
    }
    let id = match repo::insert_plan(&mut tx, &fields.name, fields.role, &fields.subject).await {
        Err(DbError::UniqueViolation) => {
            return Err(Error::conflict("duplicate_plan", "the same plan was created concurrently; retry"));
        }
        other => other?,
    };
    let v = &fields.version;
    let rules = stored_rules(v)?;
    repo::insert_version(
        &mut tx,
        &NewVersionRow {
            plan_id: id,
            version: 1,
            effective_from: v.effective_from,
            status: VersionStatus::Active,
            rules,
            note: v.note.as_deref(),
            created_by: &principal.id,
        },
    )
    .await?;
    let row =
        repo::find(&mut tx, id).await?.ok_or_else(|| Error::internal("a plan vanished inside its transaction"))?;
    let event = audit::Event::on("commission_plan.create", "commission_plan", id).with_detail(audit_detail(&row, 1, v));
    audit::append(&mut tx, principal, event).await?;
    tx.commit().await?;
    get(db, principal, id, today).await
}

/// Adds a version from a date after the latest version's; `rules: None` retires the plan.
async fn add(db: &Db, principal: &Principal, id: i64, v: VersionFields, today: NaiveDate) -> Result<Plan> {
    let mut tx = db.begin().await?;
    // Row counts of an UPDATE differ between backends (MySQL counts changed rows only), so
    // whether the plan exists is read after the lock, not from the count.
    repo::touch(&mut tx, id).await?;
    let row = repo::find(&mut tx, id).await?.ok_or_else(|| Error::not_found(format!("commission plan {id}")))?;
    let existing = repo::versions_in(&mut tx, id).await?;
    let latest = existing.iter().max_by_key(|r| r.effective_from);
    if let Some(latest) = latest {
        if v.effective_from <= latest.effective_from {
            return Err(Error::field(FieldError::new(
                "effective_from",
                "not_after_latest",
                format!(
                    "effective_from must be after {} (version {}): versions are never rewritten, only followed",
                    latest.effective_from, latest.version
                ),
            )));
        }
        if v.rules.is_none() && latest.status == VersionStatus::Retired.as_str() {
            return Err(Error::conflict(
                "already_retired",
                format!("commission plan {id} is retired from {}; add a version to revive it", latest.effective_from),
            ));
        }
    }
    let number = existing.iter().map(|r| r.version).max().unwrap_or(0) + 1;
    let status = if v.rules.is_some() { VersionStatus::Active } else { VersionStatus::Retired };
    let rules = stored_rules(&v)?;
    let new = NewVersionRow {
        plan_id: id,
        version: number,
        effective_from: v.effective_from,
        status,
        rules,
        note: v.note.as_deref(),
        created_by: &principal.id,
    };
    match repo::insert_version(&mut tx, &new).await {
        Err(DbError::UniqueViolation) => {
            return Err(Error::conflict("concurrent_version", "another version was added at the same time; retry"));
        }
        other => other?,
    };
    let action = if status == VersionStatus::Retired { "commission_plan.retire" } else { "commission_plan.version" };
    let event = audit::Event::on(action, "commission_plan", id).with_detail(audit_detail(&row, number, &v));
    audit::append(&mut tx, principal, event).await?;
    tx.commit().await?;
    get(db, principal, id, today).await
}

/// Adds a version with new rules (admins).
pub async fn add_version(db: &Db, principal: &Principal, id: i64, body: &NewVersion, today: NaiveDate) -> Result<Plan> {
    require_admin(principal)?;
    let unknown = unknown_products(db, None, None, body.rules.as_ref()).await?;
    let fields = invalid(body.validate(), unknown)?;
    add(db, principal, id, fields, today).await
}

/// Retires a plan from a date (admins): it pays nothing from then, and earlier versions stay.
pub async fn retire(db: &Db, principal: &Principal, id: i64, body: &RetirePlan, today: NaiveDate) -> Result<Plan> {
    require_admin(principal)?;
    let fields = body.validate().map_err(Error::Invalid)?;
    add(db, principal, id, fields, today).await
}

/// The plan that pays `role` for sales of product `product_id` dated `on`, with the version in
/// force that day: the product's own plan if it has one in force, else its line's, else the
/// all-products plan. A retired plan, or one whose first version starts later, does not apply.
/// `None` when no plan applies. Statements call this for every credited transaction.
pub async fn applicable(db: &Db, role: PlanRole, product_id: i64, on: NaiveDate) -> Result<Option<Applicable>> {
    let product = crate::products::repo::get(db, product_id).await?.ok_or_else(|| {
        Error::field(FieldError::new("product_id", "unknown_product", format!("no product has id {product_id}")))
    })?;
    let subjects = [Subject::Product(product.id), Subject::Line(product.product_type.clone()), Subject::All];
    let rows = repo::for_subjects(db, role, &subjects).await?;
    let plans = with_versions(db, &rows, on).await?;
    let best = rows
        .iter()
        .zip(plans)
        .filter_map(|(row, plan)| {
            let version = in_force(&plan.versions, on).filter(|v| v.status == VersionStatus::Active)?.clone();
            Some((super::model::rank(&subject_of(row)), Applicable { plan, version }))
        })
        .max_by_key(|(rank, _)| *rank);
    Ok(best.map(|(_, a)| a))
}
