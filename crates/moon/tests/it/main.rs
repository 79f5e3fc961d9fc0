//! Tests of the real `moon` binary, in one test binary (each file under `tests/it/` used to be
//! its own, linking the whole server again).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod audit_cli;
mod cli;
mod request_log;
