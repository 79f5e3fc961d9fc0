//! Skipping a test, loudly.
//!
//! libtest reports a test that returns early as `ok`, and swallows what a passing test prints
//! with `eprintln!`: a run without PostgreSQL or MariaDB used to look all green while two thirds of
//! the scenarios never ran. So a skip is written straight to the process's stderr, past libtest's
//! capture, once per process for each thing skipped, saying what to set. Under CI (`CI=true` or
//! `CI=1`), where every test must run, a skip is a failure instead.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Mutex, PoisonError};

/// What this process has already reported as skipped.
static REPORTED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Whether this is a CI run (`CI=true` or `CI=1`, as CI services and `.ci/run` set it), where a
/// test that cannot run must fail rather than pass unseen.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// Reports that `what` (say, "the PostgreSQL tests") does not run `because` of something missing,
/// and how to fix it (`remedy`); the caller then returns without running.
///
/// # Panics
///
/// Under CI ([`in_ci`]), with the same message: there, nothing may be skipped.
pub fn skip(what: &str, because: &str, remedy: &str) {
    if in_ci() {
        panic!("cannot run {what}: {because}. CI is set, and in CI no test may be skipped. {remedy}.");
    }
    let first = REPORTED.lock().unwrap_or_else(PoisonError::into_inner).insert(what.to_owned());
    if !first {
        return;
    }
    let line = "*".repeat(100);
    let message =
        format!("\n{line}\n* SKIPPED {what}: {because}.\n* They report `ok` without having run. {remedy}.\n{line}\n");
    // Straight to the file descriptor: libtest captures `eprint!` of passing tests, not this.
    let _ = std::io::stderr().write_all(message.as_bytes());
}
