//! A fresh database per test, on each backend.
//!
//! SQLite always runs, on a temporary file. PostgreSQL and MariaDB/MySQL run when
//! `MOON_TEST_POSTGRES_URL` / `MOON_TEST_MYSQL_URL` name a server the tests may create databases
//! on; each test creates a uniquely named database there and drops it when done, so tests share
//! nothing, run in parallel, and leave nothing behind.

use std::sync::atomic::{AtomicU32, Ordering};

use moon_db::Backend;
use moon_db::sqlx::{self, Connection};

/// The variable naming a server for this backend's tests, and an example value; SQLite needs
/// none.
fn server_var(backend: Backend) -> Option<(&'static str, &'static str)> {
    match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(("MOON_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")),
        Backend::MySql => Some(("MOON_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")),
    }
}

/// What a skipped backend's tests are called in the skip report.
fn tests_of(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "the SQLite tests",
        Backend::Postgres => "the PostgreSQL tests",
        Backend::MySql => "the MariaDB/MySQL tests",
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A database name no other test of any process uses at the same time: process id, a counter,
/// and the clock's nanoseconds (against a reused process id).
fn unique_name() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("moon_test_{}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst), nanos)
}

/// Replaces the database name (the URL path) of a server URL.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("database URL has a scheme");
    let (authority, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let query = tail.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
    format!("{scheme}://{authority}/{name}{query}")
}

/// A database that exists for one test, dropped with this value.
#[derive(Debug)]
pub struct TestDb {
    /// Which backend it is on.
    pub backend: Backend,
    /// Its URL, for the code under test.
    pub url: String,
    /// The server URL it was created through (`None` for SQLite), to drop it again.
    admin_url: Option<String>,
    name: String,
}

impl TestDb {
    /// Creates a fresh database, or returns `None` when the backend's server is not configured
    /// (after reporting the skip loudly; under CI that is a failure: see [`crate::skip`]).
    ///
    /// # Panics
    ///
    /// When the configured server cannot be reached or refuses to create a database: a server
    /// that was asked for must work.
    pub async fn create(backend: Backend) -> Option<TestDb> {
        let name = unique_name();
        let Some((var, example)) = server_var(backend) else {
            let path = std::env::temp_dir().join(format!("{name}.db"));
            return Some(TestDb { backend, url: format!("sqlite://{}", path.display()), admin_url: None, name });
        };
        let Some(admin) = std::env::var(var).ok().filter(|s| !s.is_empty()) else {
            crate::skip::skip(
                tests_of(backend),
                &format!("{var} is not set"),
                &format!("To run them, set it to a server where the tests may create databases, e.g. {var}={example}"),
            );
            return None;
        };
        let stmt = format!("CREATE DATABASE {name}");
        match backend {
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&admin).await.expect("connect to MOON_TEST_POSTGRES_URL");
                sqlx::query(sqlx::AssertSqlSafe(stmt)).execute(&mut c).await.expect("create database");
            }
            _ => {
                let mut c = sqlx::MySqlConnection::connect(&admin).await.expect("connect to MOON_TEST_MYSQL_URL");
                sqlx::query(sqlx::AssertSqlSafe(format!("{stmt} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")))
                    .execute(&mut c)
                    .await
                    .expect("create database");
            }
        }
        Some(TestDb { backend, url: with_database(&admin, &name), admin_url: Some(admin), name })
    }

    /// A fresh warehouse for an operational database on `backend`: a PostgreSQL database for the
    /// PostgreSQL and MariaDB backends (the pairs deployments use), a SQLite file otherwise.
    pub async fn warehouse_for(backend: Backend) -> TestDb {
        if backend != Backend::Sqlite
            && let Some(db) = TestDb::create(Backend::Postgres).await
        {
            return db;
        }
        TestDb::create(Backend::Sqlite).await.expect("a SQLite warehouse needs no server")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let backend = self.backend;
        let name = self.name.clone();
        let Some(admin) = self.admin_url.clone() else {
            let path = std::env::temp_dir().join(format!("{name}.db"));
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            return;
        };
        // Drop may run inside or outside a runtime, and must not block one: use a private
        // runtime on a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async move {
                let stmt = format!("DROP DATABASE IF EXISTS {name}");
                match backend {
                    Backend::Postgres => {
                        if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                            let _ =
                                sqlx::query(sqlx::AssertSqlSafe(format!("{stmt} WITH (FORCE)"))).execute(&mut c).await;
                        }
                    }
                    _ => {
                        if let Ok(mut c) = sqlx::MySqlConnection::connect(&admin).await {
                            let _ = sqlx::query(sqlx::AssertSqlSafe(stmt)).execute(&mut c).await;
                        }
                    }
                }
            });
        })
        .join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_replaces_only_the_path() {
        assert_eq!(with_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
        assert_eq!(
            with_database("mysql://root@h:3306/test?ssl-mode=disabled", "x"),
            "mysql://root@h:3306/x?ssl-mode=disabled"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }

    #[test]
    fn names_are_unique_within_a_process() {
        assert_ne!(unique_name(), unique_name());
    }
}
