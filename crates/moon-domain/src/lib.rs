//! Pure domain types of MoonInsurance, with no I/O.
//!
//! Every value that crosses the system's edge (HTTP body, query string, CLI flag) is parsed into
//! one of these types once; past the edge, code can rely on it being valid. Parsing failures are
//! [`FieldError`]s that name the offending field so the HTTP layer can point a person at it.

pub mod calendar;
pub mod commission;
pub mod credit;
mod money;
pub mod performance;
mod text;
mod typed;
mod validation;

pub use calendar::{Bands, BusinessCalendar, FiscalYearStart, Period, PeriodKind, WorkWeek};
pub use money::{CurrencyCode, Money, Total, group_thousands};
pub use text::{AgentCode, Email, Label, Message, PhoneNumber, PolicyNumber};
pub use typed::Typed;
pub use validation::{FieldError, FieldErrors, parse_date};
