//! The MoonInsurance test kit: what every crate's integration tests share and no product code
//! needs.
//!
//! - [`TestDb`]: a fresh database per test on SQLite, PostgreSQL or MariaDB/MySQL, dropped
//!   afterwards, so tests never see each other's rows and can run in parallel.
//! - [`skip`]: how a test that cannot run says so: loudly, once per process, and as a failure
//!   under CI, where nothing may be skipped.
//! - [`SmtpSink`]: a real SMTP server on loopback that records what it receives, so the e-mail
//!   channel is tested over the wire without anything installed beside cargo.
//!
//! The kit depends on `moon-db` only, never on `moon-server`, so a component crate's tests can use
//! it without linking the server. Booting an application (`TestApp`) belongs to the crate that
//! owns the application.

#![expect(
    clippy::expect_used,
    reason = "the kit runs inside tests: a fixture that cannot be set up fails the test, saying why"
)]

mod db;
pub mod skip;
mod smtp;

pub use db::TestDb;
pub use moon_db::Backend;
pub use smtp::{Mail, SmtpSink};
