//! The HTTP services of MoonInsurance and their wiring.
//!
//! Components (agents; integration = products, sales, the business calendar and sales targets;
//! notifications) each own a router, their
//! use cases and their queries. [`app`] assembles the components a target asks for; tests and the
//! `moon` binary both start servers through [`app::start`] / [`app::serve`]. [`web`] is the
//! browser console over the same use cases.

pub(crate) mod agents;
pub mod anomalies;
pub mod app;
pub mod audit;
pub mod auth;
pub mod bulk;
pub mod calendar;
pub mod commissions;
pub mod component;
pub mod config;
pub mod demo;
pub mod digest_job;
pub mod error;
pub mod file_import;
pub mod idempotency;
pub mod json_array;
pub mod kpis;
pub(crate) mod legacy;
pub mod notifications;
pub mod organisation;
pub mod pace_alerts;
pub mod performance;
pub mod policies;
pub mod privacy;
pub(crate) mod products;
pub mod retention;
pub(crate) mod sales;
pub mod sales_targets;
/// Bulk import of sales, for the `moon import` command.
pub use agents::import as agents_import;
pub use sales::import as sales_import;
pub mod targets;
pub mod web;

#[cfg(test)]
mod scope_tests;

pub use app::{AppState, Running, serve, start};
pub use config::Config;
pub use moon_db::Secret;
