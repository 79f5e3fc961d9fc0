//! Test kit: a real server on an ephemeral port over a fresh database per test, for each backend.
//!
//! SQLite always runs. PostgreSQL and MariaDB/MySQL run when `MOON_TEST_POSTGRES_URL` /
//! `MOON_TEST_MYSQL_URL` name a server the tests may create databases on; each test creates a
//! uniquely named database and drops it afterwards.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::atomic::{AtomicU32, Ordering};

use moon_db::sqlx::{self, Connection};
use moon_server::{Config, Running};
use serde_json::Value;

pub use moon_db::Backend;

/// The variable naming a server for this backend's tests; SQLite needs none.
fn env(backend: Backend) -> Option<&'static str> {
    match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some("MOON_TEST_POSTGRES_URL"),
        Backend::MySql => Some("MOON_TEST_MYSQL_URL"),
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

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

/// A database that exists for one test.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    admin_url: Option<String>,
    name: String,
}

impl TestDb {
    /// Creates a fresh database, or `None` when the backend is not configured.
    pub async fn create(backend: Backend) -> Option<TestDb> {
        let name = unique_name();
        match env(backend) {
            None => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                Some(TestDb { backend, url: format!("sqlite://{}", path.display()), admin_url: None, name })
            }
            Some(var) => {
                let admin = std::env::var(var).ok().filter(|s| !s.is_empty())?;
                let stmt = format!("CREATE DATABASE {name}");
                match backend {
                    Backend::Postgres => {
                        let mut c =
                            sqlx::PgConnection::connect(&admin).await.expect("connect to MOON_TEST_POSTGRES_URL");
                        sqlx::query(sqlx::AssertSqlSafe(stmt)).execute(&mut c).await.expect("create database");
                    }
                    _ => {
                        let mut c =
                            sqlx::MySqlConnection::connect(&admin).await.expect("connect to MOON_TEST_MYSQL_URL");
                        sqlx::query(sqlx::AssertSqlSafe(format!("{stmt} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")))
                            .execute(&mut c)
                            .await
                            .expect("create database");
                    }
                }
                Some(TestDb { backend, url: with_database(&admin, &name), admin_url: Some(admin), name })
            }
        }
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
        // Drop runs outside any async context guarantee: use a private runtime on a thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
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

/// A running server and a client for it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    /// The warehouse the server's aggregator writes: a fresh PostgreSQL database for the
    /// PostgreSQL and MariaDB backends (the pairs the issue names), a SQLite file otherwise.
    pub warehouse: TestDb,
    /// The configuration the server runs with.
    pub config: Config,
    server: Option<Running>,
}

impl TestDb {
    /// A fresh warehouse for an operational database on `backend`.
    pub async fn warehouse_for(backend: Backend) -> TestDb {
        if backend != Backend::Sqlite
            && let Some(db) = TestDb::create(Backend::Postgres).await
        {
            return db;
        }
        TestDb::create(Backend::Sqlite).await.expect("a SQLite warehouse needs no server")
    }
}

impl TestApp {
    /// Starts every component over a fresh database; `None` when the backend is not configured.
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Like [`TestApp::spawn`], adjusting the configuration first.
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Option<TestApp> {
        let Some(db) = TestDb::create(backend).await else {
            eprintln!("skipping {backend:?}: set {} to run it", env(backend).unwrap_or_default());
            return None;
        };
        let warehouse = TestDb::warehouse_for(backend).await;
        let mut config = Config::for_database(db.url.clone());
        config.warehouse_url = Some(moon_server::Secret::new(warehouse.url.clone()));
        adjust(&mut config);
        let server = moon_server::start(config.clone()).await.expect("server starts");
        let base = format!("http://{}", server.addr);
        Some(TestApp { base, client: reqwest::Client::new(), db, warehouse, config, server: Some(server) })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.client.get(self.url(path)).send().await.expect("request");
        read(r).await
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let r = self.client.request(method, self.url(path)).json(&body).send().await.expect("request");
        read(r).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, body).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PATCH, path, body).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, body).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let r = self.client.delete(self.url(path)).send().await.expect("request");
        read(r).await
    }

    /// Creates an agent through the API and returns its id.
    pub async fn agent(&self, code: &str, branch: &str, team: &str) -> i64 {
        let (s, b) = self
            .post(
                "/api/v1/agents",
                serde_json::json!({"agent_code": code, "first_name": "Test", "last_name": code, "branch": branch, "team": team}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        b["id"].as_i64().unwrap()
    }

    /// Creates a product through the API and returns its id.
    pub async fn product(&self, name: &str, target: &str) -> i64 {
        let (s, b) = self
            .post(
                "/api/v1/products",
                serde_json::json!({"product_type": "Life", "product_name": name, "target_amount": target}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        b["id"].as_i64().unwrap()
    }

    /// Records a sale through the API and returns its id.
    pub async fn sale(&self, agent_code: &str, product_id: i64, amount: &str, date: &str) -> i64 {
        let (s, b) = self
            .post(
                "/api/v1/sales",
                serde_json::json!({"agent_code": agent_code, "product_id": product_id, "amount": amount, "sale_date": date}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        b["id"].as_i64().unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.expect("clean shutdown");
        }
    }
}

async fn read(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let text = r.text().await.expect("body");
    if status >= 400 && !text.is_empty() {
        assert_eq!(ct, "application/problem+json", "error {status} must be problem+json: {text}");
    }
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    (status, body)
}

/// Generates one `#[tokio::test]` per backend for each scenario `async fn name(app: &TestApp)`,
/// in modules `sqlite`, `postgres` and `mysql`, so a failure names its backend.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        $crate::on_backend!(sqlite, Sqlite, $($name),*);
        $crate::on_backend!(postgres, Postgres, $($name),*);
        $crate::on_backend!(mysql, MySql, $($name),*);
    };
}

/// One backend's module of [`on_every_backend`].
#[macro_export]
macro_rules! on_backend {
    ($module:ident, $backend:ident, $($name:ident),*) => {
        mod $module {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(app) = $crate::common::TestApp::spawn(moon_db::Backend::$backend).await {
                    super::$name(&app).await;
                    app.stop().await;
                }
            })*
        }
    };
}
