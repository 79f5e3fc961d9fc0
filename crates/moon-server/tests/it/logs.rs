//! Configured and generated secrets never reach a log line, even at debug level: the secret key,
//! the database password, user passwords, session cookies, CSRF and API tokens, TOTP secrets and
//! recovery codes. Logs of a whole security scenario are captured and searched.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::common::{Backend, TestApp};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const SECRET_KEY: &str = "known-secret-key-for-the-log-test-0123456789";

/// Set in the child process that runs the scenario.
const CHILD: &str = "MOON_TEST_LOGS_CHILD";

/// The scenario installs a process-wide subscriber at debug level to see every log line, which
/// in the shared test binary would also capture (and slow down) every test running beside it, and
/// can be installed only once. So the test runs this same binary again, filtered to itself, with
/// [`CHILD`] set: the child installs the subscriber and runs the scenario alone.
#[test]
fn configured_secrets_never_appear_in_the_logs() {
    if std::env::var_os(CHILD).is_some() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(scenario());
        return;
    }
    // `module_path!()` starts with the crate's name, which libtest's test paths leave out.
    let path = module_path!().split_once("::").map_or("", |(_, m)| m);
    let name = format!("{path}::configured_secrets_never_appear_in_the_logs");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name.as_str(), "--exact", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the scenario failed in its own process:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "the child process ran no test (filter {name}):\n{stdout}");
}

async fn scenario() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter("debug")
        .json()
        .with_current_span(true)
        .with_span_list(true)
        .with_writer(move || writer.clone())
        .init();

    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.security.secret_key = Some(moon_server::Secret::new(SECRET_KEY));
    })
    .await
    .unwrap();
    let mut secrets: Vec<String> = vec![SECRET_KEY.to_owned(), app.admin_token.clone()];

    let (_, name, password) = app.user("admin", None).await;
    secrets.push(password.clone());
    let r = app.anonymous().sign_in(&name, &password).await;
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    secrets.push(cookie.split_once('=').unwrap().1.to_owned());
    secrets.push(csrf.clone());
    let me = app.anonymous().with_header("cookie", &cookie).with_header("x-csrf-token", &csrf);
    let (_, e) = me.post("/api/v1/auth/mfa/enrol", json!({})).await;
    let totp = e["secret"].as_str().unwrap().to_owned();
    secrets.push(totp.clone());
    let code = moon_server::auth::mfa::code_at(&totp, u64::try_from(moon_db::now().timestamp()).unwrap()).unwrap();
    let (s, r) = me.post("/api/v1/auth/mfa/confirm", json!({"code": code})).await;
    assert_eq!(s, 200, "{r}");
    secrets.extend(r["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()));
    let (_, t) = me.post("/api/v1/tokens", json!({"name": "script"})).await;
    secrets.push(t["secret"].as_str().unwrap().to_owned());
    // Wrong credentials are logged as refusals, without what was typed.
    let wrong = "wrong-password-typed-by-someone";
    secrets.push(wrong.to_owned());
    app.anonymous().post("/api/v1/auth/sign-in", json!({"username": name, "password": wrong})).await;
    app.bearer("moon_guessed-token-value-123").get("/api/v1/agents").await;
    secrets.push(String::from("moon_guessed-token-value-123"));
    // The configuration itself, as it would be logged with {:?}.
    let mut config = moon_server::Config::for_database("postgres://moon:db-password-123@db/moon");
    config.security.secret_key = Some(moon_server::Secret::new(SECRET_KEY));
    tracing::info!(?config, "configuration");
    secrets.push(String::from("db-password-123"));
    app.stop().await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("signed in") && logs.contains("sign-in refused"), "the scenario was logged");
    assert!(logs.lines().count() > 20, "debug logs were captured");
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret reached the logs: {secret}");
    }
}
