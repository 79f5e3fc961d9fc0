//! moon-server's part of the test kit: a real server on an ephemeral port over a fresh database
//! per test, for each backend, and the macros that run a scenario on every backend. What is not
//! specific to the server (the fresh databases, loud skips, the SMTP sink) is in `moon-testkit`.

use std::sync::atomic::{AtomicU32, Ordering};

use moon_server::auth::ratelimit::{Limit, RateLimits};
use moon_server::auth::users::Binding;
use moon_server::{Config, Running};
use serde_json::Value;

pub use moon_testkit::{Backend, TestDb};

/// A running server and a client for it. `client` sends an admin API token (created through the
/// library, not over HTTP) on every request, so scenarios that are not about security need no
/// sign-in; [`TestApp::client_as`] and [`TestApp::anonymous`] act as anyone else.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    /// A library handle on the server's database, for fixtures that bypass HTTP.
    pub store: moon_db::Db,
    /// The admin API token `client` sends.
    pub admin_token: String,
    /// The warehouse the server's aggregator writes: a fresh PostgreSQL database for the
    /// PostgreSQL and MariaDB backends (the pairs the issue names), a SQLite file otherwise.
    pub warehouse: TestDb,
    /// The configuration the server runs with.
    pub config: Config,
    /// `client` as a [`TestClient`]; `app.get(..)`, `app.post(..)`, `app.url(..)` … reach it
    /// through `Deref`.
    admin: TestClient,
    server: Option<Running>,
}

impl std::ops::Deref for TestApp {
    type Target = TestClient;

    fn deref(&self) -> &TestClient {
        &self.admin
    }
}

static USERS: AtomicU32 = AtomicU32::new(0);

/// A client acting as one caller: its own default headers (a bearer token, a session cookie and
/// CSRF token, or nothing).
#[derive(Clone)]
pub struct TestClient {
    pub base: String,
    pub client: reqwest::Client,
    pub headers: reqwest::header::HeaderMap,
}

impl TestClient {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The same caller with one more header on every request.
    pub fn with_header(mut self, name: &'static str, value: &str) -> TestClient {
        self.headers.insert(name, value.parse().expect("header value"));
        self
    }

    /// A request builder carrying this caller's headers, for tests that read response headers.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).headers(self.headers.clone())
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        read(self.request(reqwest::Method::GET, path).send().await.expect("request")).await
    }

    /// `POST /api/v1/auth/sign-in`, returning the raw response (for its cookies and headers).
    pub async fn sign_in(&self, username: &str, password: &str) -> reqwest::Response {
        self.request(reqwest::Method::POST, "/api/v1/auth/sign-in")
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .expect("request")
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        read(self.request(method, path).json(&body).send().await.expect("request")).await
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
        read(self.request(reqwest::Method::DELETE, path).send().await.expect("request")).await
    }
}

/// The branches and teams every test server starts with.
pub const FIXTURE_BRANCHES: &[&str] = &["Colombo", "Kandy", "Galle", "Matara", "Jaffna", "Kurunegala"];
/// See [`FIXTURE_BRANCHES`].
pub const FIXTURE_REGIONS: &[&str] = &["West", "South"];
/// See [`FIXTURE_BRANCHES`].
pub const FIXTURE_TEAMS: &[&str] = &["Alpha", "Beta", "Gamma", "Delta", "Big", "Solo", "Zeta", "A"];

/// Limits no ordinary scenario reaches; rate-limit tests set their own.
fn generous() -> RateLimits {
    let big = Limit { per_minute: 1_000_000, burst: 100_000 };
    RateLimits { auth: big, read: big, write: big }
}

impl TestApp {
    /// Starts every component over a fresh database; `None` when the backend is not configured.
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Like [`TestApp::spawn`], adjusting the configuration first.
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Option<TestApp> {
        // `None` when the backend is not configured; the kit has said so, loudly.
        let db = TestDb::create(backend).await?;
        let warehouse = TestDb::warehouse_for(backend).await;
        let mut config = Config::for_database(db.url.clone());
        config.warehouse_url = Some(moon_server::Secret::new(warehouse.url.clone()));
        config.security.rate_limits = generous();
        adjust(&mut config);
        let server = moon_server::start(config.clone()).await.expect("server starts");
        let base = format!("http://{}", server.addr);
        let store = moon_db::Db::connect(&db.url, &moon_db::DbOptions::default()).await.expect("library handle");
        let (_, _, admin_token) = make_user(&store, "admin", None).await;
        // Agents join known branches and teams only: the ones scenarios use exist from the start.
        use moon_server::organisation::{Kind, ensure_units};
        ensure_units(&store, Kind::Region, FIXTURE_REGIONS).await.expect("fixture regions");
        ensure_units(&store, Kind::Branch, FIXTURE_BRANCHES).await.expect("fixture branches");
        ensure_units(&store, Kind::Team, FIXTURE_TEAMS).await.expect("fixture teams");
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {admin_token}").parse().unwrap());
        let client = reqwest::Client::builder().default_headers(headers).build().unwrap();
        let admin = TestClient { base: base.clone(), client: client.clone(), headers: Default::default() };
        Some(TestApp { base, client, db, store, admin_token, warehouse, config, admin, server: Some(server) })
    }

    /// The admin client as a [`TestClient`].
    pub fn admin(&self) -> TestClient {
        self.admin.clone()
    }

    /// A client without credentials.
    pub fn anonymous(&self) -> TestClient {
        TestClient { base: self.base.clone(), client: reqwest::Client::new(), headers: Default::default() }
    }

    /// A client with this bearer token.
    pub fn bearer(&self, token: &str) -> TestClient {
        self.anonymous().with_header("authorization", &format!("Bearer {token}"))
    }

    /// A new user of `role` (bound to a branch for a manager, an agent code for an agent) and a
    /// client sending an API token of theirs.
    pub async fn client_as(&self, role: &str, bound_to: Option<&str>) -> TestClient {
        let (_, _, token) = make_user(&self.store, role, bound_to).await;
        self.bearer(&token)
    }

    /// A new user of `role`: (id, username, password), for sign-in tests.
    pub async fn user(&self, role: &str, bound_to: Option<&str>) -> (i64, String, String) {
        let (id, name, _) = make_user(&self.store, role, bound_to).await;
        let password = format!("correct horse battery {n}", n = name.len() * 7919);
        let hasher = moon_server::auth::password::Hasher::new(1);
        let changes = moon_server::auth::users::UserChanges { password: Some(password.clone()), ..Default::default() };
        moon_server::auth::users::update(&self.store, &hasher, id, changes, &moon_http::Principal::operator())
            .await
            .expect("set password");
        (id, name, password)
    }

    /// Polls a GET route until `done` accepts its JSON, failing after `limit`: for state that
    /// arrives asynchronously, such as KPIs after a sale.
    pub async fn wait_for(&self, path: &str, limit: std::time::Duration, done: impl Fn(&Value) -> bool) -> Value {
        let started = std::time::Instant::now();
        loop {
            let (s, b) = self.get(path).await;
            assert_eq!(s, 200, "{path}: {b}");
            if done(&b) {
                return b;
            }
            assert!(started.elapsed() < limit, "{path} did not reach the expected state within {limit:?}: {b}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Creates an agent through the API and returns its id.
    pub async fn agent(&self, code: &str, branch: &str, team: &str) -> i64 {
        let (s, b) = self
            .post(
                "/api/v1/agents",
                serde_json::json!({"agent_code": code, "first_name": "Test", "last_name": code, "branch": branch, "team": team, "analytics_consent": true}),
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
        self.store.close().await;
    }
}

/// Creates a user directly through the library, with a random password and an API token:
/// (id, username, token).
async fn make_user(store: &moon_db::Db, role: &str, bound_to: Option<&str>) -> (i64, String, String) {
    let n = USERS.fetch_add(1, Ordering::SeqCst);
    let name = format!("test-{role}-{n}");
    let (branch, code) = match role {
        "manager" => (bound_to, None),
        "agent" => (None, bound_to),
        _ => (None, None),
    };
    let binding = Binding::parse(role, branch, code).expect("valid role and binding");
    let hasher = moon_server::auth::password::Hasher::new(1);
    let password = moon_server::auth::password::generate().unwrap();
    let user =
        moon_server::auth::users::create(store, &hasher, &name, &password, binding, &moon_http::Principal::operator())
            .await
            .expect("create user");
    let (_, token) = moon_server::auth::token::create(store, user.id, "tests", None, &moon_http::Principal::operator())
        .await
        .expect("create token");
    (user.id, name, token)
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

/// Sends a file as a request body with its media type, asking for `accept`; (status, content
/// type, body text). For the import routes.
pub async fn send_file(
    request: reqwest::RequestBuilder,
    content_type: &str,
    accept: &str,
    body: &str,
) -> (u16, String, String) {
    let r = request
        .header("content-type", content_type)
        .header("accept", accept)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (status, ct, r.text().await.unwrap())
}

/// [`send_file`] asking for JSON; the body as JSON (or as a JSON string when it is not).
pub async fn send_file_json(request: reqwest::RequestBuilder, content_type: &str, body: &str) -> (u16, Value) {
    let (s, _, text) = send_file(request, content_type, "application/json", body).await;
    (s, serde_json::from_str(&text).unwrap_or(Value::String(text)))
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

/// Like [`on_every_backend`], with the configuration adjusted by `$adjust` (a closure taking
/// `&mut Config`), in a module `$group` so several adjusted groups can live in one test file.
#[macro_export]
macro_rules! on_every_backend_with {
    ($group:ident, $adjust:expr, $($name:ident),* $(,)?) => {
        mod $group {
            $crate::on_backend_with!(sqlite, Sqlite, $adjust, $($name),*);
            $crate::on_backend_with!(postgres, Postgres, $adjust, $($name),*);
            $crate::on_backend_with!(mysql, MySql, $adjust, $($name),*);
        }
    };
}

/// One backend's module of [`on_every_backend_with`].
#[macro_export]
macro_rules! on_backend_with {
    ($module:ident, $backend:ident, $adjust:expr, $($name:ident),*) => {
        mod $module {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(app) = $crate::common::TestApp::spawn_with(moon_db::Backend::$backend, $adjust).await {
                    super::super::$name(&app).await;
                    app.stop().await;
                }
            })*
        }
    };
}

/// SMTP settings sending through the test kit's sink on loopback at `port` (no TLS).
pub fn loopback_smtp(port: u16) -> moon_server::notifications::settings::SmtpSettings {
    moon_server::notifications::settings::SmtpSettings {
        host: String::from("127.0.0.1"),
        port,
        from: String::from("MoonInsurance <noreply@moon.test>"),
        username: None,
        password: None,
        tls: moon_server::notifications::settings::SmtpTls::None,
    }
}

/// The `(field, code)` pairs of a problem's `errors`, sorted, so a test compares every field
/// error at once whatever order the server lists them in (none: an empty list).
pub fn fields(problem: &Value) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| (e["field"].as_str().unwrap().to_owned(), e["code"].as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    f.sort();
    f
}

/// Expected `(field, code)` pairs in the order [`fields`] returns them.
pub fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = expected.iter().map(|(f, c)| (String::from(*f), String::from(*c))).collect();
    p.sort();
    p
}
