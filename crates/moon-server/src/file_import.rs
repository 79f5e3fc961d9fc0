//! Small file imports (holidays, targets, agents): reading the file, the request's options and
//! the validation report every import answers with, line by line. Shared by several components,
//! so it knows none of them and no security: each import writes its own audit entry from
//! [`ImportReport::finish`].

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use moon_domain::FieldError;
use moon_http::ApiError;
use serde::{Deserialize, Serialize};

/// One problem in an imported file: the line (1 is the header), the column, a stable code and a
/// sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LineError {
    /// Line of the file, counting the header as line 1.
    pub line: u64,
    /// Column (or `row` for the whole line).
    pub field: String,
    /// Stable code, such as `required` or `duplicate_in_file`.
    pub code: &'static str,
    /// What is wrong, in a sentence.
    pub message: String,
}

impl LineError {
    /// A field error found on `line`.
    pub fn at(line: u64, e: FieldError) -> Self {
        Self { line, field: e.field, code: e.code, message: e.message }
    }
}

/// The file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated with a header line; `#` lines are comments.
    Csv,
    /// One JSON object per line, with the fields of the matching create request.
    JsonLines,
}

impl Format {
    /// The format a media type names, if any.
    pub fn from_media_type(mime: &str) -> Option<Format> {
        match mime {
            "text/csv" => Some(Format::Csv),
            "application/x-ndjson" | "application/jsonl" | "application/jsonlines" => Some(Format::JsonLines),
            _ => None,
        }
    }

    /// The format a file name suggests: `.jsonl`/`.ndjson` are JSON Lines, anything else CSV.
    pub fn from_path(path: &std::path::Path) -> Format {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("jsonl" | "ndjson") => Format::JsonLines,
            _ => Format::Csv,
        }
    }
}

impl Format {
    /// The format the request's `Content-Type` names; 415 for any other.
    pub fn of_request(headers: &HeaderMap) -> Result<Format, ApiError> {
        let mime = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase())
            .unwrap_or_default();
        Format::from_media_type(&mime).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send text/csv or application/x-ndjson",
            )
        })
    }
}

/// Whether the client asked for the report as CSV (`Accept: text/csv`).
pub fn wants_csv(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/csv"))
}

/// Quotes a CSV cell when it needs it.
pub fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
}

/// What an import did, or would have done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// Whether anything was written: false when an all-or-nothing import found errors.
    pub applied: bool,
    /// Data rows read.
    pub rows: usize,
    /// Rows that created a record.
    pub created: usize,
    /// Rows that changed an existing record.
    pub updated: usize,
    /// Rows that changed nothing (same values) or were left out for their errors.
    pub skipped: usize,
    /// Every problem, by line.
    pub errors: Vec<LineError>,
}

impl ImportReport {
    /// Ends an applied import: rows not written (`good` were) count as skipped. Returns the
    /// counts for the import's one audit entry.
    pub fn finish(&mut self, good: usize) -> serde_json::Value {
        self.skipped += self.rows - good;
        self.applied = true;
        serde_json::json!({"rows": self.rows, "created": self.created, "updated": self.updated, "errors": self.errors.len()})
    }
}

impl ImportReport {
    /// The report as CSV: a `#` comment line with the counts, then `line,field,code,message`.
    pub fn to_csv(&self) -> String {
        use std::fmt::Write;
        let mut out = format!(
            "# applied={} rows={} created={} updated={} skipped={}\nline,field,code,message\n",
            self.applied, self.rows, self.created, self.updated, self.skipped
        );
        for e in &self.errors {
            let _ = writeln!(out, "{},{},{},{}", e.line, csv_cell(&e.field), e.code, csv_cell(&e.message));
        }
        out
    }

    /// The answer: as [`IntoResponse`], or as CSV with the same status when `csv`.
    pub fn respond(self, csv: bool) -> Response {
        if !csv {
            return self.into_response();
        }
        let status = if self.applied { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
        (status, [(header::CONTENT_TYPE, "text/csv; charset=utf-8")], self.to_csv()).into_response()
    }
}

impl IntoResponse for ImportReport {
    /// 200 with the report when applied; otherwise 422 `import_rejected` as problem+json whose
    /// `errors[]` are the report's line errors (so the file can be fixed in one go).
    fn into_response(self) -> Response {
        if self.applied {
            return (StatusCode::OK, axum::Json(self)).into_response();
        }
        let body = serde_json::json!({
            "type": "about:blank",
            "title": "Unprocessable Content",
            "status": 422,
            "detail": format!("{} problem(s) in the file; nothing was imported", self.errors.len()),
            "code": "import_rejected",
            "errors": self.errors,
            "report": self,
        });
        (StatusCode::UNPROCESSABLE_ENTITY, [(header::CONTENT_TYPE, "application/problem+json")], axum::Json(body))
            .into_response()
    }
}

/// Options of the CSV imports.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// `all` (default): any error imports nothing; `partial`: import the good rows, report the rest.
    pub mode: Option<String>,
}

impl ImportParams {
    /// Whether good rows are kept when others fail.
    pub fn partial(&self) -> Result<bool, ApiError> {
        match self.mode.as_deref().map(str::trim) {
            None | Some("" | "all" | "all_or_nothing") => Ok(false),
            Some("partial" | "valid_rows") => Ok(true),
            Some(other) => Err(ApiError::field(moon_domain::FieldError::new(
                "mode",
                "invalid_mode",
                format!("mode must be all or partial; got {other:?}"),
            ))),
        }
    }
}

/// The request body as UTF-8 text (a CSV file).
pub fn csv_text(body: &Bytes) -> Result<&str, ApiError> {
    std::str::from_utf8(body).map_err(|_| ApiError::bad_request("invalid_encoding", "the file must be UTF-8 text"))
}

/// A data row of a CSV file: its line number and (column, value) pairs.
pub type CsvRow = (u64, Vec<(String, String)>);

/// A CSV file's data rows as (line number, column → value); `#` lines are comments, the first
/// other line is the header (names trimmed, lower-cased). Missing columns come back as errors
/// on line 1.
pub fn read_csv(text: &str, required: &[&str], optional: &[&str]) -> Result<Vec<CsvRow>, Vec<LineError>> {
    let mut reader =
        csv::ReaderBuilder::new().comment(Some(b'#')).trim(csv::Trim::All).flexible(true).from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|c| c.trim().to_ascii_lowercase()).collect(),
        Err(e) => {
            return Err(vec![LineError {
                line: 1,
                field: String::from("header"),
                code: "unreadable",
                message: e.to_string(),
            }]);
        }
    };
    // Line numbers from byte offsets: the reader's own line count passes over blank lines, and
    // the report must point at the line an editor shows.
    let line_at = |pos: &csv::Position| {
        let bytes = text.as_bytes();
        let mut at = usize::try_from(pos.byte()).unwrap_or(usize::MAX).min(bytes.len());
        // A record's position is where the reader started looking for it: step over the blank
        // and comment lines it passed on the way.
        while at < bytes.len() {
            match bytes[at] {
                b'\n' | b'\r' => at += 1,
                b'#' if at == 0 || bytes[at - 1] == b'\n' => {
                    at = bytes[at..].iter().position(|b| *b == b'\n').map_or(bytes.len(), |i| at + i + 1);
                }
                _ => break,
            }
        }
        u64::try_from(bytes[..at].iter().filter(|b| **b == b'\n').count()).unwrap_or(u64::MAX) + 1
    };
    let header_line = reader.headers().ok().and_then(|h| h.position()).map_or(1, &line_at);
    let mut errors: Vec<LineError> = Vec::new();
    for col in required {
        if !headers.iter().any(|h| h == col) {
            errors.push(LineError {
                line: header_line,
                field: (*col).to_owned(),
                code: "missing_column",
                message: format!("the header must name a column {col:?}"),
            });
        }
    }
    for h in &headers {
        if !required.contains(&h.as_str()) && !optional.contains(&h.as_str()) {
            let known: Vec<&str> = required.iter().chain(optional).copied().collect();
            errors.push(LineError {
                line: header_line,
                field: h.clone(),
                code: "unknown_column",
                message: format!("unknown column {h:?}; known columns: {}", known.join(", ")),
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        match record {
            Ok(r) => {
                let line = r.position().map_or(0, &line_at);
                if r.iter().all(str::is_empty) {
                    continue;
                }
                if r.len() > headers.len() {
                    errors.push(LineError {
                        line,
                        field: String::from("row"),
                        code: "too_many_columns",
                        message: format!("{} values for {} columns", r.len(), headers.len()),
                    });
                    continue;
                }
                rows.push((line, headers.iter().cloned().zip(r.iter().map(str::to_owned)).collect()));
            }
            Err(e) => {
                let line = e.position().map_or(0, &line_at);
                errors.push(LineError { line, field: String::from("row"), code: "unreadable", message: e.to_string() });
            }
        }
    }
    if errors.is_empty() { Ok(rows) } else { Err(errors) }
}

/// The value of `column` in a row, `None` when absent or empty.
pub fn cell<'a>(row: &'a [(String, String)], column: &str) -> Option<&'a str> {
    row.iter().find(|(c, _)| c == column).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_header_and_lines_are_read_and_bad_headers_are_named() {
        let rows = read_csv(
            "# source\ndate,name\n2026-01-01, New Year \n\n# more\n2026-02-04,\"National, Day\"\n",
            &["date", "name"],
            &[],
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].0, cell(&rows[0].1, "name")), (3, Some("New Year")));
        assert_eq!((rows[1].0, cell(&rows[1].1, "name")), (6, Some("National, Day")));
        let e = read_csv("day,name,colour\n", &["date", "name"], &[]).unwrap_err();
        assert_eq!(
            e.iter().map(|e| (e.field.as_str(), e.code)).collect::<Vec<_>>(),
            [("date", "missing_column"), ("day", "unknown_column"), ("colour", "unknown_column")]
        );
        let e = read_csv("date,name\n2026-01-01,a,b\n", &["date", "name"], &[]).unwrap_err();
        assert_eq!((e[0].line, e[0].code), (2, "too_many_columns"));
    }
}
