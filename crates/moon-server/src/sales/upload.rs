//! `POST /api/v1/sales/import`: the request body streamed to a temporary file, then imported
//! like `moon import sales FILE`.
//!
//! Why a temporary file rather than parsing the request stream directly: the import needs the
//! file's SHA-256 before its first batch commits (rows without an external reference are keyed
//! by it, so a re-sent file adds nothing), and the hash of a stream is only known at its end.
//! Spooling keeps memory constant (64 KiB chunks) and costs one sequential write and read.

use std::io::Write;
use std::path::PathBuf;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use moon_domain::{BusinessCalendar, FieldError};
use serde::Deserialize;

use super::import::{self, Format, ImportOptions, Mode, SalesImportReport};
use moon_db::Db;
use moon_http::{ApiError, ApiQuery, Principal};

/// Query of `POST /api/v1/sales/import`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// `all_or_nothing` (default: any bad row imports nothing) or `valid_rows` (import the good
    /// rows batch by batch, report the others).
    #[param(example = "valid_rows")]
    pub mode: Option<String>,
    /// `source_system` of rows that give an `external_ref` without one [default: `import`].
    #[param(example = "policy-admin")]
    pub source_system: Option<String>,
}

impl ImportQuery {
    fn options(&self, format: Format) -> Result<ImportOptions, ApiError> {
        let mut errors = Vec::new();
        let mode = match self.mode.as_deref().map(str::trim) {
            None | Some("" | "all_or_nothing") => Mode::AllOrNothing,
            Some("valid_rows") => Mode::ValidRows,
            Some(other) => {
                errors.push(FieldError::new(
                    "mode",
                    "invalid_mode",
                    format!("mode must be all_or_nothing or valid_rows; got {other:?}"),
                ));
                Mode::AllOrNothing
            }
        };
        let source_system = self.source_system.clone().unwrap_or_else(|| String::from("import"));
        let mut check = moon_domain::FieldErrors::new();
        super::model::ExternalRef::parse(&mut check, &source_system, "x");
        if let Err(mut e) = check.finish() {
            errors.append(&mut e);
        }
        if !errors.is_empty() {
            return Err(ApiError::bad_request("invalid_query", "invalid import options").with_errors(errors));
        }
        Ok(ImportOptions { mode, format, source_system, ..ImportOptions::default() })
    }
}

/// A spooled upload, removed when dropped.
struct Spooled(PathBuf);

impl Drop for Spooled {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes the body to a temporary file in chunks, refusing more than
/// [`import::MAX_UPLOAD_BYTES`].
async fn spool(body: Body) -> Result<Spooled, ApiError> {
    let name = crate::auth::crypto::random_token().map_err(|_| ApiError::internal())?;
    let path = std::env::temp_dir().join(format!("moon-import-{}.part", &name[..16]));
    let file = std::fs::File::create(&path).map_err(|e| {
        tracing::error!(error = %e, "cannot create the import spool file");
        ApiError::internal()
    })?;
    let spooled = Spooled(path);
    let (tx, rx) = std::sync::mpsc::sync_channel::<axum::body::Bytes>(8);
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        for chunk in rx {
            out.write_all(&chunk)?;
        }
        out.flush()
    });
    let mut stream = body.into_data_stream();
    let mut total: u64 = 0;
    let mut failure = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => {
                total += bytes.len() as u64;
                if total > import::MAX_UPLOAD_BYTES {
                    failure = Some(moon_http::input::too_large());
                    break;
                }
                // The writer thread only stops early on a disk error, reported below.
                let sender = tx.clone();
                if tokio::task::spawn_blocking(move || sender.send(bytes)).await.map_or(true, |r| r.is_err()) {
                    break;
                }
            }
            Err(e) => {
                failure = Some(ApiError::bad_request("unreadable_body", format!("the upload broke off: {e}")));
                break;
            }
        }
    }
    drop(tx);
    let written = writer.await.map_err(|_| ApiError::internal())?;
    if let Some(e) = failure {
        return Err(e);
    }
    written.map_err(|e| {
        tracing::error!(error = %e, "cannot write the import spool file");
        ApiError::internal()
    })?;
    Ok(spooled)
}

fn respond(report: SalesImportReport, csv: bool) -> Response {
    let status = if report.applied { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    if csv {
        return (status, [(header::CONTENT_TYPE, "text/csv; charset=utf-8")], report.to_csv()).into_response();
    }
    if report.applied {
        return (status, axum::Json(report)).into_response();
    }
    let body = serde_json::json!({
        "type": "about:blank",
        "title": "Unprocessable Content",
        "status": 422,
        "detail": format!("{} row(s) rejected; nothing was imported (mode=valid_rows keeps the good rows)", report.rejected),
        "code": "import_rejected",
        "errors": report.errors,
        "report": report,
    });
    (status, [(header::CONTENT_TYPE, "application/problem+json")], axum::Json(body)).into_response()
}

/// Import sales from CSV (`text/csv`, a header naming the columns of `POST /api/v1/sales`) or
/// JSON Lines (`application/x-ndjson`, one sale object a line), streamed (up to 4 GiB). Every
/// row is validated as in a single create. Rows already imported (same external reference, or
/// the same line of the same file) are counted as duplicates and add nothing. The report lists
/// rejected rows by line, field and code; send `Accept: text/csv` for it as CSV.
#[utoipa::path(post, path = "/api/v1/sales/import", tag = "sales", params(ImportQuery),
    request_body(content = String, description = "CSV or JSON Lines", content(
        (String = "text/csv", example = "agent_code,product_id,amount,sale_date,external_ref\nA001,1,1500.00,2026-11-02,PA-1\n"),
        (String = "application/x-ndjson", example = "{\"agent_code\":\"A001\",\"product_id\":1,\"amount\":\"1500.00\",\"sale_date\":\"2026-11-02\",\"external_ref\":\"PA-1\"}\n"))),
    responses(
        (status = 200, description = "Imported; the report", body = SalesImportReport),
        (status = 400, body = moon_http::error::Problem),
        (status = 413, body = moon_http::error::Problem),
        (status = 415, body = moon_http::error::Problem),
        (status = 422, description = "Rows rejected in all_or_nothing mode: problem+json `import_rejected` with the report", body = moon_http::error::Problem)))]
pub(super) async fn import_sales(
    State(db): State<Db>,
    State(calendar): State<BusinessCalendar>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ImportQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let format = Format::of_request(&headers)?;
    let opts = query.options(format)?;
    let file = spool(body).await?;
    let report = import::import_file(&db, &principal, super::today(&calendar), &file.0, &opts, |_| {})
        .await
        .map_err(ApiError::from)?;
    Ok(respond(report, crate::file_import::wants_csv(&headers)))
}
