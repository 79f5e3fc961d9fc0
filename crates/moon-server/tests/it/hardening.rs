//! The findings of the outside security and API review (issue 18), each reproduced as the
//! reviewers did and shown fixed, on every backend: control characters (a NUL was a 500 on
//! PostgreSQL), agents editing notification text, the sign-in `next`, user names kept in clear by
//! the throttle, oversized bodies, and connections that never finish their headers.

use std::time::Duration;

use crate::common::TestApp;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

on_every_backend!(
    control_characters_are_refused_wherever_text_enters,
    agents_may_only_mark_their_notifications_read,
    sign_in_only_follows_local_paths,
    the_sign_in_throttle_keeps_no_typed_names,
    oversized_bodies_are_413_problems,
    the_openapi_document_says_what_the_api_answers,
);

on_every_backend_with!(
    short_header_timeout,
    |c: &mut moon_server::Config| c.connections.header_read_timeout = std::time::Duration::from_secs(1),
    connections_that_never_finish_their_headers_are_closed,
);

fn fields(b: &Value) -> Vec<String> {
    b["errors"]
        .as_array()
        .map_or_else(Vec::new, |e| e.iter().map(|e| e["field"].as_str().unwrap_or_default().to_owned()).collect())
}

/// The reviewers' requests: each was a 500 on PostgreSQL ("invalid byte sequence for encoding
/// UTF8: 0x00"), some without credentials. Now a 4xx problem naming the field, on every backend.
async fn control_characters_are_refused_wherever_text_enters(app: &TestApp) {
    let anonymous = app.anonymous();
    let (s, b) = anonymous
        .post("/api/v1/auth/sign-in", json!({"username": "demo\u{0}admin", "password": "whatever-it-is"}))
        .await;
    assert_eq!((s, fields(&b)), (422, vec![String::from("username")]), "{b}");

    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url("/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=a%00b&password=whatever-it-is")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 422);
    let b: Value = res.json().await.unwrap();
    assert_eq!(fields(&b), ["username"], "{b}");

    for (path, field) in [
        ("/api/v1/agents?q=%00", "q"),
        ("/api/v1/sales?policy_number=A%00", "policy_number"),
        ("/api/v1/kpis/teams?team=%00", "team"),
        ("/api/v1/kpis/trend?branch=%1b", "branch"),
        ("/api/v1/audit?action=%00", "action"),
        ("/api/v1/notifications?kind=%7f", "kind"),
        ("/agent/get?agent_code=A%00", "agent_code"),
        ("/dashboard?team=%00", "team"),
        ("/agents?q=%0a", "q"),
        ("/api/v1/agents/A%00", "path"),
        ("/api/v1/agents/A%00B/erase", "path"),
    ] {
        let (s, b) = app.get(path).await;
        assert_eq!((s, fields(&b)), (400, vec![field.to_owned()]), "{path}: {b}");
        assert_eq!(b["code"], "invalid_characters", "{path}");
    }
    let (s, b) = app.post("/api/v1/agents/A%00B/erase", json!({})).await;
    assert_eq!(s, 400, "{b}");

    // Bodies: NUL is refused in any field; a line break is for the fields that take several
    // lines (a notification message), and the domain types refuse it in a name.
    app.agent("CTL1", "Colombo", "Alpha").await;
    let (s, b) = app.post("/api/v1/notifications", json!({"agent_code": "CTL1", "message": "a\u{0}b"})).await;
    assert_eq!((s, fields(&b)), (422, vec![String::from("message")]), "{b}");
    let (s, b) =
        app.post("/api/v1/notifications", json!({"agent_code": "CTL1", "message": "line one\nline two"})).await;
    assert_eq!(s, 201, "a multi-line message is fine: {b}");
    let (s, b) = app
        .post(
            "/api/v1/agents",
            json!({"agent_code": "CTL2", "first_name": "A\u{0}B", "last_name": "x\u{1b}", "branch": "Colombo", "team": "Alpha"}),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    let mut named = fields(&b);
    named.sort();
    assert_eq!(named, ["first_name", "last_name"], "every bad field at once: {b}");
    let (s, b) = app
        .post(
            "/api/v1/agents",
            json!({"agent_code": "CTL2", "first_name": "A\nB", "last_name": "x", "branch": "Colombo", "team": "Alpha"}),
        )
        .await;
    assert_eq!((s, fields(&b)), (422, vec![String::from("first_name")]), "a name is one line: {b}");
    // Nothing was written by the refused requests.
    let (_, agents) = app.get("/api/v1/agents?q=ctl2").await;
    assert_eq!(agents["items"].as_array().unwrap().len(), 0);
}

/// An agent marks their own notifications read or unread, and nothing else: the text stays what
/// the branch sent. Staff may still correct it.
async fn agents_may_only_mark_their_notifications_read(app: &TestApp) {
    app.agent("NTA1", "Colombo", "Alpha").await;
    let (s, n) =
        app.post("/api/v1/notifications", json!({"agent_code": "NTA1", "message": "Target due Friday."})).await;
    assert_eq!(s, 201, "{n}");
    let path = format!("/api/v1/notifications/{}", n["id"]);
    let agent = app.client_as("agent", Some("NTA1")).await;
    let (s, b) = agent.patch(&path, json!({"message": "edited by agent"})).await;
    assert_eq!((s, b["code"].as_str()), (403, Some("agents_mark_read_only")), "{b}");
    let (s, b) = agent.patch(&path, json!({"message": "edited by agent", "read": true})).await;
    assert_eq!(s, 403, "nothing half done: {b}");
    let (_, now) = agent.get(&path).await;
    assert_eq!(now["message"], "Target due Friday.");
    assert!(now["read_at"].is_null(), "the refused request marked nothing: {now}");
    let (s, b) = agent.patch(&path, json!({"read": true})).await;
    assert_eq!(s, 200, "{b}");
    assert!(b["read_at"].is_string());
    let manager = app.client_as("manager", Some("Colombo")).await;
    let (s, b) = manager.patch(&path, json!({"message": "Target due Thursday."})).await;
    assert_eq!((s, b["message"].as_str()), (200, Some("Target due Thursday.")), "{b}");
}

/// `next` after signing in is followed only when it is a local path without control characters
/// or backslashes: CR/LF was a 500 after the session was made; a tab made `/\t/evil.example`,
/// which a browser reads as `//evil.example`.
async fn sign_in_only_follows_local_paths(app: &TestApp) {
    let (_, name, password) = app.user("admin", None).await;
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for (next, expected) in [
        ("/\r\nX-Injected: 1", "/home"),
        ("/\t/evil.example", "/home"),
        ("/\\evil.example", "/home"),
        ("//evil.example", "/home"),
        ("https://evil.example/", "/home"),
        ("/sales?from=2026-01-01", "/sales?from=2026-01-01"),
    ] {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("username", name.as_str()), ("password", password.as_str()), ("next", next)])
            .finish();
        let res = browser
            .post(app.url("/sign-in"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 303, "{next:?}");
        assert_eq!(res.headers()["location"], expected, "{next:?}");
        assert!(res.headers().get("x-injected").is_none());
    }
    // In the query string of the sign-in page, control characters are refused outright.
    let res = browser.get(app.url("/sign-in?next=/%0d%0aX-Injected:%201")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let res = browser.get(app.url("/sign-in?next=/%09/evil.example")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 400);
}

/// What the throttle stores for a mistyped user name (often a password typed one field early)
/// is a keyed digest, never the text.
async fn the_sign_in_throttle_keeps_no_typed_names(app: &TestApp) {
    let typed = "tr0ub4dor&3-secretpw";
    let s = app.anonymous().sign_in(typed, "whatever-it-is").await.status().as_u16();
    assert_eq!(s, 401);
    let keys: Vec<(String,)> = {
        use moon_db::sea_query::Query;
        let mut q = Query::select();
        q.column("throttle_key").from("sign_in_throttle");
        app.store.fetch_all(&q).await.unwrap()
    };
    assert!(keys.iter().any(|(k,)| k.starts_with("account:h1:")), "the failure was counted: {keys:?}");
    for (k,) in &keys {
        assert!(!k.contains(typed) && !k.contains("tr0ub4dor"), "a typed name is stored in clear: {k}");
    }
    // The digest still finds the account: the next failures of the same name are counted on it.
    for _ in 0..6 {
        app.anonymous().sign_in(typed, "whatever-it-is").await;
    }
    let r = app.anonymous().sign_in(typed, "whatever-it-is").await;
    assert_eq!(r.status().as_u16(), 429, "the throttle still recognises the name");
}

/// Sends a raw HTTP/1.1 request (for bodies without a Content-Length) and returns the status and
/// the response text.
async fn raw(app: &TestApp, request: &[u8]) -> (u16, String) {
    let addr = app.base.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

/// A chunked body of `size` bytes of JSON-ish filler.
fn chunked(path: &str, content_type: &str, extra: &str, size: usize) -> Vec<u8> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n{extra}\r\n"
    )
    .into_bytes();
    let chunk = vec![b'a'; 8192];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len());
        req.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        req.extend_from_slice(&chunk[..n]);
        req.extend_from_slice(b"\r\n");
        left -= n;
    }
    req.extend_from_slice(b"0\r\n\r\n");
    req
}

/// A body over the limit is a 413 problem whatever the route: the JSON sign-in (it was a
/// text/plain 413), a console form (it was a 403 CSRF failure), an original route; announced
/// or not.
async fn oversized_bodies_are_413_problems(app: &TestApp) {
    let big = app.config.body_limit + 1024;
    let (s, text) = raw(app, &chunked("/api/v1/auth/sign-in", "application/json", "", big)).await;
    assert_eq!(s, 413, "{text}");
    assert!(text.to_ascii_lowercase().contains("content-type: application/problem+json"), "{text}");
    let (s, text) = raw(app, &chunked("/sign-in", "application/x-www-form-urlencoded", "", big)).await;
    assert_eq!(s, 413, "{text}");
    assert!(text.to_ascii_lowercase().contains("application/problem+json"), "{text}");

    // A signed-in console user's oversized form: 413, not a CSRF failure.
    let (_, name, password) = app.user("admin", None).await;
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = browser
        .post(app.url("/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs([("username", &name), ("password", &password)])
                .finish(),
        )
        .send()
        .await
        .unwrap();
    let cookie = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let (s, text) =
        raw(app, &chunked("/agents", "application/x-www-form-urlencoded", &format!("Cookie: {cookie}\r\n"), big)).await;
    assert_eq!(s, 413, "{text}");
    let auth = format!("Authorization: Bearer {}\r\n", app.admin_token);
    let (s, text) = raw(app, &chunked("/agent/add", "application/json", &auth, big)).await;
    assert_eq!(s, 413, "{text}");
    let (s, text) = raw(app, &chunked("/api/v1/agents", "text/plain", &auth, big)).await;
    assert_eq!(s, 413, "{text}");
}

/// A client that sends part of a request's headers and stops is disconnected after the header
/// read timeout (1 s here); so is an idle keep-alive connection. A complete request is served.
async fn connections_that_never_finish_their_headers_are_closed(app: &TestApp) {
    let addr = app.base.trim_start_matches("http://").to_owned();
    let closed_within = |mut tcp: tokio::net::TcpStream, limit: Duration| async move {
        let started = std::time::Instant::now();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(limit, tcp.read_to_end(&mut buf)).await;
        (read.is_ok(), started.elapsed(), String::from_utf8_lossy(&buf).into_owned())
    };

    let mut partial = tokio::net::TcpStream::connect(&addr).await.unwrap();
    partial.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ").await.unwrap();
    let (closed, after, text) = closed_within(partial, Duration::from_secs(8)).await;
    assert!(closed, "a connection with unfinished headers is still open after 8 s");
    assert!(after >= Duration::from_millis(900), "closed too early ({after:?}): {text}");
    assert!(!text.contains("200 OK"), "{text}");

    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let (closed, _, text) = closed_within(idle, Duration::from_secs(8)).await;
    assert!(closed, "an idle keep-alive connection is still open after 8 s");
    assert!(text.starts_with("HTTP/1.1 200"), "the complete request was served first: {text}");
    let (s, _) = app.get("/healthz").await;
    assert_eq!(s, 200);
}

/// The OpenAPI document is complete where it was not: every response has a description (OpenAPI
/// 3.1 requires one; 143 were missing), errors are documented as problem+json with the shared
/// statuses, and `changes: null` in the audit is allowed. The API agrees with it: an empty filter
/// is no filter (it was a 422), and the console's audit page refuses a bad cursor like the API.
async fn the_openapi_document_says_what_the_api_answers(app: &TestApp) {
    let (s, doc) = app.anonymous().get("/api/v1/openapi.json").await;
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(responses) = op["responses"].as_object() else { continue };
            operations += 1;
            for (status, r) in responses {
                assert!(
                    r["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status}: no description"
                );
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(r["content"]["application/problem+json"].is_object(), "{method} {path} {status}: {r}");
                }
            }
            for status in ["400", "429", "503"] {
                assert!(responses.contains_key(status), "{method} {path} does not document {status}");
            }
            if op.get("requestBody").is_some() {
                for status in ["413", "415", "422"] {
                    assert!(responses.contains_key(status), "{method} {path} does not document {status}");
                }
            }
        }
    }
    assert!(operations > 60, "{operations} operations");
    let changes = &doc["components"]["schemas"]["Entry"]["properties"]["changes"];
    assert!(changes.to_string().contains("null"), "audit changes may be null: {changes}");

    // An empty filter is no filter.
    app.agent("EMPTY1", "Colombo", "Alpha").await;
    let (_, all) = app.get("/api/v1/agents").await;
    for path in
        ["/api/v1/agents?agent_code=&branch=&q=", "/api/v1/sales?agent_code=", "/api/v1/notifications?kind=&unread="]
    {
        let (s, b) = app.get(path).await;
        assert_eq!(s, 200, "{path}: {b}");
    }
    let (_, empty) = app.get("/api/v1/agents?branch=&team=").await;
    assert_eq!(empty["items"], all["items"]);

    // The console's audit page: a cursor that cannot be read is a 4xx page, as the API's 422.
    let (s, _) = app.get("/api/v1/audit?cursor=zzz").await;
    assert_eq!(s, 422);
    let res =
        app.request(reqwest::Method::GET, "/audit?cursor=zzz").header("accept", "text/html").send().await.unwrap();
    assert_eq!(res.status().as_u16(), 422);
    let res =
        app.request(reqwest::Method::GET, "/audit?before=abc").header("accept", "text/html").send().await.unwrap();
    assert_eq!(res.status().as_u16(), 422);
    let res = app.request(reqwest::Method::GET, "/audit").header("accept", "text/html").send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
}

/// Reads from `conn` until `done` holds for what arrived, or `limit` passes; returns the text and
/// whether the peer closed the connection.
async fn read_until(conn: &mut tokio::net::TcpStream, limit: Duration, done: impl Fn(&str) -> bool) -> (String, bool) {
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&buf).into_owned();
        if done(&text) {
            return (text, false);
        }
        match tokio::time::timeout_at(deadline, conn.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (text, true),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return (text, false),
        }
    }
}

/// At `max_open_connections`, a new connection is not left waiting behind idle keep-alive ones:
/// the connection idle longest closes to make room (the header read timeout is a minute here, so
/// it is not what closes it). Connections answering a request (a live notification stream) are
/// never closed for room; when every connection is busy, a new one waits until one ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_bound_idle_connections_make_room_and_busy_ones_are_kept() {
    let app = TestApp::spawn_with(moon_db::Backend::Sqlite, |c| {
        c.connections.max_connections = 2;
        c.connections.header_read_timeout = Duration::from_secs(60);
    })
    .await
    .unwrap();
    let addr = app.base.trim_start_matches("http://").to_owned();
    let healthz = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let answered = |t: &str| t.contains("\r\n\r\n") && t.ends_with('}');
    let stream = format!(
        "GET /api/v1/notifications/stream HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\r\n",
        app.admin_token
    );
    let streaming = |t: &str| t.contains("\r\n\r\n");

    // A: a live stream (busy for as long as it lasts). B: one request answered, then idle.
    let mut a = tokio::net::TcpStream::connect(&addr).await.unwrap();
    a.write_all(stream.as_bytes()).await.unwrap();
    let (text, closed) = read_until(&mut a, Duration::from_secs(10), streaming).await;
    assert!(text.starts_with("HTTP/1.1 200") && !closed, "{text}");
    let mut b = tokio::net::TcpStream::connect(&addr).await.unwrap();
    b.write_all(healthz.as_bytes()).await.unwrap();
    let (text, closed) = read_until(&mut b, Duration::from_secs(10), answered).await;
    assert!(text.starts_with("HTTP/1.1 200") && !closed, "{text}");

    // C arrives at the bound: B, idle, closes for it; C is answered at once.
    let started = std::time::Instant::now();
    let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let (text, _) = read_until(&mut c, Duration::from_secs(10), answered).await;
    assert!(text.starts_with("HTTP/1.1 200"), "the new connection is served: {text}");
    assert!(started.elapsed() < Duration::from_secs(5), "served after {:?}", started.elapsed());
    let (text, closed) = read_until(&mut b, Duration::from_secs(5), |_| false).await;
    assert!(closed && text.is_empty(), "the idle connection was closed, without a word: {text:?}");
    // A, streaming, is still open.
    let (text, closed) = read_until(&mut a, Duration::from_millis(300), |_| false).await;
    assert!(!closed, "the busy stream was kept: {text:?}");
    drop(c);

    // D: a second stream, so both connections are busy. E must wait: nothing is idle.
    let mut d = tokio::net::TcpStream::connect(&addr).await.unwrap();
    d.write_all(stream.as_bytes()).await.unwrap();
    let (text, closed) = read_until(&mut d, Duration::from_secs(10), streaming).await;
    assert!(text.starts_with("HTTP/1.1 200") && !closed, "{text}");
    let mut e = tokio::net::TcpStream::connect(&addr).await.unwrap();
    e.write_all(healthz.as_bytes()).await.unwrap();
    let (text, closed) = read_until(&mut e, Duration::from_millis(1500), answered).await;
    assert!(text.is_empty() && !closed, "with every connection busy the new one waits: {text:?}");
    assert!(!read_until(&mut a, Duration::from_millis(100), |_| false).await.1, "no stream was cut");
    // One stream ends: E is served.
    drop(d);
    let (text, _) = read_until(&mut e, Duration::from_secs(30), answered).await;
    assert!(text.starts_with("HTTP/1.1 200"), "served once a connection ended: {text:?}");
    drop((a, e));
    app.stop().await;
}
