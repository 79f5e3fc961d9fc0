//! Traces leave the real binary over OTLP/HTTP (built with the `otel` feature, as the image is):
//! a tiny HTTP receiver in the test stands in for the collector, and a request that arrives with
//! a W3C `traceparent` is exported as part of the caller's trace.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::served::Served;

/// One request the receiver got: path, content type, body.
struct Export {
    path: String,
    content_type: String,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 request (headers, then a Content-Length body) and answers 200 with an
/// empty protobuf message, which is a successful OTLP export response.
fn serve_one(mut stream: TcpStream) -> Option<Export> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_owned();
    let (mut length, mut content_type) = (0usize, String::new());
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "content-type" => content_type = value.trim().to_owned(),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    stream
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .ok()?;
    Some(Export { path, content_type, body })
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn spans_are_exported_over_otlp_in_the_callers_trace() {
    let receiver = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", receiver.local_addr().unwrap());
    let (exports_tx, exports) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in receiver.incoming().map_while(Result::ok) {
            if let Some(export) = serve_one(stream)
                && exports_tx.send(export).is_err()
            {
                break;
            }
        }
    });

    let server =
        Served::start("tracer", &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint), ("OTEL_BSP_SCHEDULE_DELAY", "100")]);
    let (addr, token) = (&server.addr, &server.token);

    let (trace_id, parent_id) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET /api/v1/agents HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         traceparent: 00-{trace_id}-{parent_id}-01\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{}", response.lines().next().unwrap_or_default());

    // The batch processor sends within OTEL_BSP_SCHEDULE_DELAY; wait for the request's span.
    let deadline = Instant::now() + Duration::from_secs(20);
    let export = loop {
        let export = exports
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("an OTLP export with the request's span within 20 s");
        if contains(&export.body, &hex(trace_id)) {
            break export;
        }
    };
    assert_eq!(export.path, "/v1/traces");
    assert_eq!(export.content_type, "application/x-protobuf");
    assert!(contains(&export.body, &hex(parent_id)), "the caller's span is the parent");
    assert!(contains(&export.body, b"request"), "the request span is exported");
    assert!(contains(&export.body, b"moon"), "with the service name");
}
