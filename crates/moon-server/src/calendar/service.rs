//! Calendar use cases: holidays added, removed and imported (admins), each write with its audit
//! entry in one transaction.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use moon_db::Db;
use moon_db::DbError;
use moon_domain::{FieldErrors, Label, parse_date};
use moon_http::{Principal, Scope};

use super::{Holiday, repo};
use crate::audit;
use crate::error::{Error, Result};
use crate::file_import::{ImportReport, LineError, cell, read_csv};

fn require_admin(principal: &Principal) -> Result<()> {
    if principal.scope == Scope::All && principal.role == moon_http::Role::Admin {
        Ok(())
    } else {
        Err(Error::forbidden("only administrators may change the business calendar"))
    }
}

/// Validates a holiday's fields, all errors together.
pub fn validate(date: Option<&str>, name: Option<&str>) -> std::result::Result<Holiday, Vec<moon_domain::FieldError>> {
    let mut e = FieldErrors::new();
    if date.is_none() {
        e.push(moon_domain::FieldError::required("date"));
    }
    if name.is_none() {
        e.push(moon_domain::FieldError::required("name"));
    }
    let date = e.take_opt(date.map(|d| parse_date("date", d)));
    let name = e.take_opt(name.map(|n| Label::parse("name", n)));
    e.finish()?;
    match (date, name) {
        (Some(date), Some(name)) => Ok(Holiday { date, name: name.into_inner() }),
        _ => Err(vec![moon_domain::FieldError::required("date")]),
    }
}

/// Adds a holiday; a date already listed is 409 `duplicate_holiday`.
pub async fn add(db: &Db, principal: &Principal, h: &Holiday) -> Result<Holiday> {
    require_admin(principal)?;
    let mut tx = db.begin().await?;
    let duplicate = || Error::conflict("duplicate_holiday", format!("{} is already a holiday", h.date));
    if repo::find(&mut tx, h.date).await?.is_some() {
        return Err(duplicate());
    }
    match repo::insert(&mut tx, h).await {
        Err(DbError::UniqueViolation) => return Err(duplicate()),
        other => other?,
    }
    audit::append(&mut tx, principal, audit::Event::on("holiday.create", "holiday", h.date).with_diff(None, Some(h)))
        .await?;
    tx.commit().await?;
    Ok(h.clone())
}

/// Removes the holiday on `date`.
pub async fn delete(db: &Db, principal: &Principal, date: NaiveDate) -> Result<()> {
    require_admin(principal)?;
    let mut tx = db.begin().await?;
    let current = repo::find(&mut tx, date).await?.ok_or_else(|| Error::not_found(format!("holiday {date}")))?;
    repo::delete(&mut tx, date).await?;
    audit::append(
        &mut tx,
        principal,
        audit::Event::on("holiday.delete", "holiday", date).with_diff(Some(&current), None),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Imports `date,name` rows: a new date is added, a listed date is renamed when the name
/// differs. All or nothing unless `partial`, which keeps the good rows. One transaction, one
/// audit entry with the counts.
pub async fn import(db: &Db, principal: &Principal, text: &str, partial: bool) -> Result<ImportReport> {
    require_admin(principal)?;
    let mut report = ImportReport::default();
    let rows = match read_csv(text, &["date", "name"], &[]) {
        Ok(rows) => rows,
        Err(errors) => {
            report.errors = errors;
            return Ok(report);
        }
    };
    report.rows = rows.len();
    let mut good: BTreeMap<NaiveDate, (u64, Holiday)> = BTreeMap::new();
    for (line, row) in &rows {
        match validate(cell(row, "date"), cell(row, "name")) {
            Ok(h) => {
                if let Some((first, _)) = good.get(&h.date) {
                    report.errors.push(LineError {
                        line: *line,
                        field: String::from("date"),
                        code: "duplicate_in_file",
                        message: format!("{} is listed already on line {first}", h.date),
                    });
                } else {
                    good.insert(h.date, (*line, h));
                }
            }
            Err(errors) => report.errors.extend(errors.into_iter().map(|e| LineError::at(*line, e))),
        }
    }
    report.errors.sort_by_key(|e| e.line);
    if !report.errors.is_empty() && !partial {
        return Ok(report);
    }
    let mut tx = db.begin().await?;
    for (_, h) in good.values() {
        match repo::find(&mut tx, h.date).await? {
            None => {
                repo::insert(&mut tx, h).await?;
                report.created += 1;
            }
            Some(current) if current.name != h.name => {
                repo::rename(&mut tx, h).await?;
                report.updated += 1;
            }
            Some(_) => report.skipped += 1,
        }
    }
    let good = good.len();
    let detail = report.finish(good);
    let event = crate::audit::Event {
        action: "holiday.import",
        entity: Some("holiday"),
        entity_id: None,
        changes: Some(detail),
    };
    crate::audit::append(&mut tx, principal, event).await?;
    tx.commit().await?;
    Ok(report)
}
