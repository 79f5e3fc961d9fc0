//! The real binary writes one JSON log line per request on stdout, with the fields a log store
//! needs, and echoes or generates `X-Request-Id`.

use std::io::{Read, Write};
use std::net::TcpStream;

use crate::served::Served;

/// One HTTP/1.1 GET; returns the status line and the headers, lower-cased.
fn get(addr: &str, path: &str, request_id: Option<&str>, token: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut extra = request_id.map(|id| format!("X-Request-Id: {id}\r\n")).unwrap_or_default();
    extra.push_str(&format!("Authorization: Bearer {token}\r\n"));
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let head = response.split("\r\n\r\n").next().unwrap_or_default().to_lowercase();
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, head)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(':')).map(str::trim))
}

#[test]
fn each_request_is_one_json_line_on_stdout_with_its_request_id_route_status_and_principal() {
    let server = Served::start("logger", &[]);
    let (addr, token) = (&server.addr, &server.token);

    // A client's request id is echoed and logged.
    let (status, head) = get(addr, "/api/v1/agents/12345?q=secret-looking", Some("test-req-42"), token);
    assert!(status.contains(" 404 "), "{status}");
    assert_eq!(header(&head, "x-request-id"), Some("test-req-42"));
    let line = server.next_line(|v| v["message"] == "request completed");
    assert_eq!(line["request_id"], "test-req-42");
    assert_eq!(line["route"], "/api/v1/agents/{id}", "the route template, never the raw path");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["status"], 404);
    let principal = line["principal"].as_str().unwrap_or_default();
    assert!(!principal.is_empty() && !principal.contains("logger"), "a stable id, not the user name: {line}");
    assert_eq!(line["level"], "INFO");
    assert!(line["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{line}");
    assert!(line["timestamp"].as_str().is_some_and(|t| t.contains('T')), "{line}");
    assert!(line["target"].is_string(), "{line}");
    let text = line.to_string();
    assert!(!text.contains("12345") && !text.contains("secret-looking"), "raw path or query logged: {text}");
    assert!(!text.contains(token.as_str()), "the token is never logged: {text}");

    // Without one, the server makes one up, returns it and logs the same value.
    let (status, head) = get(addr, "/healthz", None, token);
    assert!(status.contains(" 200 "), "{status}");
    let generated = header(&head, "x-request-id").expect("a generated request id").to_owned();
    assert!(!generated.is_empty());
    let line = server.next_line(|v| v["message"] == "request completed");
    assert_eq!(line["request_id"], generated.as_str());
    assert_eq!(line["route"], "/healthz");
    assert_eq!(line["status"], 200);
}
