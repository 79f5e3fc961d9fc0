//! Hostile input over every route of the policy table, on every backend: control characters
//! (NUL, escape, CR/LF) in path, query and body, malformed and mistyped JSON, malformed forms,
//! invalid UTF-8, oversized bodies and values, odd numbers and wrong content types; as an admin
//! (so requests reach the handlers), as a console session with its CSRF token (so forms do),
//! and without credentials. The one assertion: no answer is a server error (5xx), and an API
//! route's error is problem+json.
//!
//! The routes come from `auth::policy::POLICY`, the table every served route must be in, so a new
//! route is covered here without anyone adding it.

use crate::common::TestApp;
use moon_server::auth::policy::POLICY;
use reqwest::Method;

on_every_backend!(no_hostile_input_is_a_server_error);

/// Values for a path parameter: an existing-looking one, and hostile ones.
fn path_values(param: &str, method: &str) -> Vec<&'static str> {
    // Changes go to a record that does not exist, so the suite cannot disable its own admin
    // or revoke its own token halfway through; reads go to real ones.
    let plain = match (param, method) {
        ("file", _) => "console.js",
        ("code" | "agent_code", _) => "HOSTILE1",
        (_, "GET") => "1",
        _ => "999999",
    };
    vec![
        plain,
        "%00",
        "A%00B",
        "%0d%0aX-Injected:%201",
        "-1",
        "99999999999999999999",
        "1e5",
        "..%2F..%2Fetc%2Fpasswd",
        "%E2%80%AE",
        "%FF%FE",
    ]
}

/// Query strings, hostile in value and in shape.
const QUERIES: &[&str] = &[
    "",
    "?q=%00",
    "?q=%1b%5B31m",
    "?next=/%0d%0aX-Injected:%201",
    "?next=/%09/evil.example",
    "?q=%27%20OR%201%3D1--",
    "?q=%25%5F%25",
    "?limit=-1",
    "?limit=99999999999999999999",
    "?cursor=zzz",
    "?cursor=%00",
    "?from=2026-13-45&to=0000-00-00",
    "?sort=;DROP%20TABLE%20agents",
    "?agent_code=&branch=&team=",
    "?agent_id=1e400",
    "?unread=maybe",
    "?format=csv&bucket=century",
    "?%00=1",
    "?q=%FF%FE",
    "?a=1&a=2&a=3",
    "?policy_number=%00&user=%1b&entity=%00&entity_id=%0d%0a&page=-1",
];

/// A request body: its content type and bytes.
type Body = (&'static str, Vec<u8>);

/// Bodies: (content type, bytes).
fn bodies(long: &str) -> Vec<Body> {
    let json = "application/json";
    let form = "application/x-www-form-urlencoded";
    vec![
        (json, br#"{"username":"demo\u0000admin","password":"x\u0000"}"#.to_vec()),
        (json, br#"{"message":"a\u0000b","agent_code":"A\u001bB"}"#.to_vec()),
        (json, br#"{"first_name":"line\r\nX-Injected: 1","message":"\r\n"}"#.to_vec()),
        (json, br#"{"a":"#.to_vec()),
        (json, b"[]".to_vec()),
        (json, b"\"string\"".to_vec()),
        (json, b"null".to_vec()),
        (json, br#"{"amount":1e400,"product_id":99999999999999999999,"agent_id":-1}"#.to_vec()),
        (json, br#"{"amount":"NaN","sale_date":"2026-02-30","read":"yes"}"#.to_vec()),
        (json, br#"{"message":"\ud800"}"#.to_vec()),
        (json, b"{\"message\":\"\xff\xfe\"}".to_vec()),
        (json, format!(r#"{{"message":"{long}","first_name":"{long}","q":"{long}"}}"#).into_bytes()),
        (json, br#"{"x":{"x":{"x":{"x":{"x":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}}}}}"#.to_vec()),
        (json, Vec::new()),
        (form, b"username=a%00b&password=x&next=/%0d%0aX:%201".to_vec()),
        (form, b"message=a%0d%0ab&first_name=%1b&agent_code=%00".to_vec()),
        (form, b"%zz=%&&==&a".to_vec()),
        (form, b"amount=1e400&sale_date=2026-02-30&product_id=-1&active=maybe".to_vec()),
        (form, b"q=%FF%FE&name=\xff".to_vec()),
        (form, format!("message={long}&first_name={long}").into_bytes()),
        ("text/plain", b"\x00\x01\x02".to_vec()),
        ("application/xml", b"<a>&xxe;</a>".to_vec()),
    ]
}

struct Caller {
    name: &'static str,
    client: reqwest::Client,
    headers: reqwest::header::HeaderMap,
    /// A CSRF token to put in form bodies (console session).
    csrf: Option<String>,
}

async fn session(app: &TestApp) -> Caller {
    let (_, name, password) = app.user("admin", None).await;
    let res = app.anonymous().sign_in(&name, &password).await;
    assert_eq!(res.status().as_u16(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let body: serde_json::Value = res.json().await.unwrap();
    let csrf = body["csrf_token"].as_str().map(str::to_owned);
    assert!(csrf.is_some(), "{body}");
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("cookie", cookie.parse().unwrap());
    Caller { name: "session", client: no_redirects(), headers, csrf }
}

/// A client that follows no redirects and opens a connection per request: the server closes a
/// connection whose request body it refused unread, and reusing such a connection from a pool
/// is a client-side race that says nothing about the server.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).pool_max_idle_per_host(0).build().unwrap()
}

async fn no_hostile_input_is_a_server_error(app: &TestApp) {
    // Something to read, so GETs of id 1 and the agent code reach real records.
    app.agent("HOSTILE1", "Colombo", "Alpha").await;
    let product = app.product("Hostile product", "100.00").await;
    app.sale("HOSTILE1", product, "10.00", "2026-03-01").await;

    let mut admin_headers = reqwest::header::HeaderMap::new();
    admin_headers.insert("authorization", format!("Bearer {}", app.admin_token).parse().unwrap());
    let callers = [
        Caller { name: "admin", client: no_redirects(), headers: admin_headers, csrf: None },
        session(app).await,
        Caller { name: "anonymous", client: no_redirects(), headers: Default::default(), csrf: None },
    ];
    let long = "x".repeat(20_000);
    let oversized = vec![b'a'; app.config.body_limit + 10];
    let mut failures = Vec::new();
    let mut sent = 0usize;
    for rule in POLICY {
        // The event stream never ends by itself; its parameters are checked like any other GET's
        // (the request is cut off after the headers).
        let stream = rule.path.ends_with("/stream") || rule.path == "/dashboard/live" || rule.path == "/live/events";
        let param = rule.path.split('{').nth(1).and_then(|p| p.split('}').next());
        let paths: Vec<String> = match param {
            Some(p) => {
                path_values(p, rule.method).into_iter().map(|v| rule.path.replace(&format!("{{{p}}}"), v)).collect()
            }
            None => vec![rule.path.to_owned()],
        };
        let method = Method::from_bytes(rule.method.as_bytes()).unwrap();
        for caller in &callers {
            let mut requests: Vec<(String, Option<Body>)> = Vec::new();
            for path in &paths {
                requests.push((path.clone(), None));
            }
            for q in QUERIES {
                requests.push((format!("{}{q}", paths[0]), None));
            }
            if rule.method != "GET" {
                for (ct, mut body) in bodies(&long) {
                    if let (Some(csrf), true) = (&caller.csrf, ct.ends_with("urlencoded")) {
                        body.extend_from_slice(format!("&csrf_token={csrf}").as_bytes());
                    }
                    requests.push((paths[0].clone(), Some((ct, body))));
                }
                requests.push((paths[0].clone(), Some(("application/json", oversized.clone()))));
                requests.push((paths[0].clone(), Some(("application/x-www-form-urlencoded", oversized.clone()))));
            }
            for (path, body) in requests {
                let mut req = caller.client.request(method.clone(), app.url(&path)).headers(caller.headers.clone());
                if let Some(csrf) = &caller.csrf
                    && body.as_ref().is_none_or(|(ct, _)| !ct.ends_with("urlencoded"))
                {
                    req = req.header("x-csrf-token", csrf);
                }
                if let Some((ct, bytes)) = body.clone() {
                    req = req.header("content-type", ct).body(bytes);
                }
                sent += 1;
                let res = match tokio::time::timeout(std::time::Duration::from_secs(20), req.send()).await {
                    Ok(Ok(res)) => res,
                    Ok(Err(e)) => {
                        failures.push(format!(
                            "{} {} {path} ({}): transport error {e}",
                            caller.name,
                            rule.method,
                            body_note(&body)
                        ));
                        continue;
                    }
                    Err(_) => {
                        failures.push(format!("{} {} {path}: no answer within 20 s", caller.name, rule.method));
                        continue;
                    }
                };
                let status = res.status().as_u16();
                let ct = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                let text = if stream && status == 200 { String::new() } else { res.text().await.unwrap_or_default() };
                if status >= 500 {
                    failures.push(format!(
                        "{} {} {path} ({}): {status} {}",
                        caller.name,
                        rule.method,
                        body_note(&body),
                        text.chars().take(300).collect::<String>()
                    ));
                } else if status >= 400
                    && path.starts_with("/api/")
                    && !text.is_empty()
                    && ct != "application/problem+json"
                {
                    failures
                        .push(format!("{} {} {path}: {status} as {ct}, not problem+json", caller.name, rule.method));
                }
            }
        }
    }
    assert!(sent > 5_000, "the suite sent only {sent} requests");
    assert!(failures.is_empty(), "{} of {sent} hostile requests failed:\n{}", failures.len(), failures.join("\n"));
}

fn body_note(body: &Option<Body>) -> String {
    match body {
        None => String::from("no body"),
        Some((ct, b)) => format!("{ct}, {} bytes: {:?}", b.len(), String::from_utf8_lossy(&b[..b.len().min(80)])),
    }
}
