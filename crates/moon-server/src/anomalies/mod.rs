//! Anomaly detection (issue 17, item 4): findings that something unusual happened, each
//! explained and dismissable, with alerts to admins.
//!
//! The detectors read what the security layer and the sales already record (the sign-in
//! throttle, the audit trail, the addresses tokens are used from, the sales table), so they
//! span components: like subject access (`crate::privacy`) this sits above them, among the tools
//! (docs/architecture.json), and calls each component's own read functions (`auth::signals`,
//! `sales::signals`); the wiring starts its job.
//! The decisions are pure ([`detect`], over [`stats`]); [`job`] gathers, stores and alerts;
//! [`repo`] owns the `anomalies` table; [`routes`] lists and dismisses (admins only).
//! Design and defaults: docs/adr/0020-anomaly-detection.md and README.md.

pub mod detect;
pub mod job;
pub mod repo;
pub mod routes;
pub mod settings;
pub mod stats;

pub use settings::AnomalySettings;
