//! Analytics, headless: the change log turned into KPIs in a warehouse, and the KPI queries over
//! it.
//!
//! Data flows one way: write transactions append to the change log ([`moon_changelog`]); the
//! [`Aggregator`] applies it to the [`Warehouse`] as net deltas on daily rollups; the KPI queries
//! ([`kpi`]), and through them the server's KPI API and console, and BI tools read the warehouse
//! only. This crate knows no HTTP: `moon serve`, `moon aggregate` and the tests all drive the same
//! [`Aggregator`].
//!
//! | module | what |
//! | --- | --- |
//! | [`rollups`] | every rollup the warehouse keeps, declared once; all the others read it |
//! | [`history_dims`] | `dim_membership`, `dim_date` and `fact_target` rows, computed |
//! | [`membership`] | agents' team and branch history: which team a sale counts for |
//! | [`source`] | every read of the operational database (change log, dimensions, snapshot) |
//! | [`refresh`] | netting deltas, deciding rebuild or incremental, and both algorithms |
//! | `sinks` | the warehouse writers: cells, rollups, dimensions, original tables, cursor |
//! | [`runner`] | the background poll loop and its metrics |
//! | `dialect` | every difference between SQLite, PostgreSQL and Redshift warehouses |
//! | [`schema`], [`warehouse`] | the tables, and opening a warehouse |
//! | [`verify`], [`kpi`] | `--verify`, and the KPI queries |

pub mod aggregator;
mod dialect;
pub mod dimension;
pub mod history_dims;
pub mod kpi;
pub mod membership;
pub mod pseudonym;
pub mod refresh;
pub mod rollups;
pub mod runner;
pub mod schema;
mod sinks;
pub mod source;
pub mod verify;
pub mod warehouse;

pub use aggregator::{Aggregator, Fault, Outcome};
pub use dialect::{DEFAULT_WAREHOUSE_CACHE_MIB, Flavor};
pub use pseudonym::PseudonymKey;
pub use runner::{RefreshJob, RefreshMetrics};
pub use warehouse::Warehouse;
