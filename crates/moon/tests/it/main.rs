//! Tests of the real `moon` binary, in one test binary (each file under `tests/it/` used to be
//! its own, linking the whole server again).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod audit_cli;
mod cli;
mod import_cli;
// Needs the `otel` feature: `cargo test -p moon --features otel --test it otlp` (run by .ci/run).
#[cfg(feature = "otel")]
mod otlp;
mod request_log;
mod served;
