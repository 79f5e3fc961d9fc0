//! Analytics, headless: the change log turned into KPIs in a warehouse, and the KPI queries over
//! it.
//!
//! Data flows one way: write transactions append to the change log ([`moon_changelog`]); the
//! [`aggregator::Aggregator`] applies it to the [`warehouse::Warehouse`] as net deltas on daily
//! rollups; the KPI queries ([`kpi`]), and through them the server's KPI API and console, and BI
//! tools read the warehouse only. This crate knows no HTTP: `moon serve`, `moon aggregate` and
//! the tests all drive the same [`Aggregator`].

pub mod aggregator;
pub mod delta;
pub mod kpi;
pub mod pseudonym;
mod sqlite_scan;
pub mod verify;
pub mod warehouse;

pub use aggregator::{Aggregator, Fault, Outcome, RefreshMetrics};
pub use pseudonym::PseudonymKey;
pub use warehouse::{Flavor, Warehouse};
