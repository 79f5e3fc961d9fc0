//! Analytics: the change log turned into KPIs in a warehouse, and the KPI API over it.
//!
//! Data flows one way: write transactions append to the change log ([`crate::changelog`]); the
//! [`aggregator::Aggregator`] applies it to the [`warehouse::Warehouse`] as net deltas on daily
//! rollups; the KPI API ([`routes`]) and BI tools read the warehouse only.

pub mod aggregator;
pub mod delta;
pub mod kpi;
pub mod pseudonym;
pub mod routes;
mod sqlite_scan;
pub mod verify;
pub mod warehouse;

pub use aggregator::{Aggregator, Fault, Outcome};
pub use pseudonym::PseudonymKey;
pub use warehouse::{Flavor, Warehouse};
