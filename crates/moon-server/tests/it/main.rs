//! moon-server's integration tests, in one test binary: each file under `tests/it/` used to be a
//! binary of its own, and each linked the whole crate again, which dominated build time on two
//! cores. Now they are modules of this one, sharing the kit in `common`.
//!
//! A test that needs a process to itself (a process-wide log subscriber, say) runs in a child
//! process of this same binary; see `logs`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[macro_use]
mod common;

mod access_review;
mod agents_import;
mod analytics;
mod anomalies;
mod api;
mod architecture;
mod audit;
mod commission_plans;
mod console_rough_edges;
mod field_errors;
mod freshness;
mod hardening;
mod history;
mod home;
mod hostile;
mod import;
mod listings;
mod live;
mod logs;
mod management_pages;
mod notifications_digests;
mod notifications_pace;
mod notifications_rules;
mod organisation;
mod performance;
mod planning;
mod platform;
mod policies;
mod privacy;
mod retention;
mod security;
mod sorting;
mod subject_access;
mod tls;
mod wallboard_tokens;
mod web;
mod write_path;
