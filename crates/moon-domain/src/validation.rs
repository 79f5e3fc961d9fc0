//! Field-level validation errors, collected so a client sees every problem at once.

use chrono::NaiveDate;
use serde::Serialize;

/// One invalid input field: which one, a stable machine-readable code, and a sentence a person
/// can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Name of the offending field as the client sent it (`amount`, `sale_date`, …).
    pub field: String,
    /// Stable code for programs: `required`, `invalid_format`, `too_long`, `out_of_range`, …
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

impl FieldError {
    /// Builds an error for `field`.
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self { field: field.into(), code, message: message.into() }
    }

    /// The field was absent or null but is mandatory.
    pub fn required(field: impl Into<String>) -> Self {
        let field = field.into();
        let message = format!("{field} is required");
        Self::new(field, "required", message)
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

/// Accumulates field errors while a request is parsed, so every mistake is reported together
/// instead of one per round trip.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the value of `result`, or records its error and yields `None`.
    pub fn take<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    /// Like [`FieldErrors::take`] for an optional input: `None` stays `None` without an error.
    pub fn take_opt<T>(&mut self, result: Option<Result<T, FieldError>>) -> Option<T> {
        result.and_then(|r| self.take(r))
    }

    /// Records an error directly.
    pub fn push(&mut self, error: FieldError) {
        self.0.push(error);
    }

    /// `Ok(())` if nothing was recorded, else every recorded error.
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() { Ok(()) } else { Err(self.0) }
    }
}

/// Parses an ISO 8601 calendar date (`2024-03-10`); impossible dates such as `2024-02-30` fail.
pub fn parse_date(field: &str, raw: &str) -> Result<NaiveDate, FieldError> {
    let trimmed = raw.trim();
    let date = NaiveDate::parse_from_str(trimmed, "%Y-%m-%d").map_err(|_| {
        FieldError::new(
            field,
            "invalid_date",
            format!("{field} must be a real calendar date as YYYY-MM-DD, got {raw:?}"),
        )
    })?;
    // Four-digit years only: keeps every backend's DATE type and text ordering consistent.
    if !(1900..=9999).contains(&chrono::Datelike::year(&date)) || trimmed.len() != 10 {
        return Err(FieldError::new(
            field,
            "out_of_range",
            format!("{field} must be between 1900-01-01 and 9999-12-31"),
        ));
    }
    Ok(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_dates_are_rejected() {
        assert_eq!(parse_date("d", "2024-02-30").unwrap_err().code, "invalid_date");
        assert_eq!(parse_date("d", "2023-02-29").unwrap_err().code, "invalid_date");
        assert_eq!(parse_date("d", "10/03/2024").unwrap_err().code, "invalid_date");
        assert!(parse_date("d", "2024-02-29").is_ok());
    }

    #[test]
    fn collector_reports_every_error() {
        let mut errs = FieldErrors::new();
        let a: Option<u8> = errs.take(Err(FieldError::required("a")));
        let b = errs.take(Ok(2));
        errs.push(FieldError::required("c"));
        assert_eq!((a, b), (None, Some(2)));
        let all = errs.finish().unwrap_err();
        assert_eq!(all.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["a", "c"]);
    }
}
